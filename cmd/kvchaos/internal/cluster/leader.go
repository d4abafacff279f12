package cluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/raftkv/raftkv/api/client"
)

// statusTimeout bounds one status request: a paused node never answers.
const statusTimeout = 300 * time.Millisecond

// statuses asks every running node for its status, in parallel.
func (c *Cluster) statuses(ctx context.Context) map[uint64]client.Status {
	var (
		mu  sync.Mutex // guards out
		out = map[uint64]client.Status{}
		wg  sync.WaitGroup
	)
	for _, id := range c.Running() {
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, statusTimeout)
			defer cancel()
			if st, err := c.Status(sctx, id); err == nil {
				mu.Lock()
				out[id] = st
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// Leader returns the node that says it leads in the highest term, as far
// as the running nodes answer now.
func (c *Cluster) Leader(ctx context.Context) (uint64, bool) {
	var (
		lead  uint64
		term  uint64
		found bool
	)
	for id, st := range c.statuses(ctx) {
		if st.State == "leader" && (!found || st.Term > term) {
			lead, term, found = id, st.Term, true
		}
	}
	return lead, found
}

// WaitLeader waits until a majority of all nodes answer and name, as
// leader, a node that says it leads in their term: a leader that can serve.
func (c *Cluster) WaitLeader(ctx context.Context, timeout time.Duration) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		sts := c.statuses(ctx)
		for id, st := range sts {
			if st.State != "leader" {
				continue
			}
			agree := 0
			for _, o := range sts {
				if o.Leader != nil && *o.Leader == id && o.Term == st.Term {
					agree++
				}
			}
			if agree > len(c.ids)/2 {
				return id, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("no leader agreed by a majority within %s", timeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
