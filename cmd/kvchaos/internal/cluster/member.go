package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/raftkv/raftkv/api/client"
)

// Replace takes node id out of the cluster and brings it back as a new
// node, the way an operator replaces a machine: kill it, remove it from
// the membership (through another node), wipe its data directory, and
// start it with --join on the same addresses. It returns once the join
// was accepted; the leader promotes it when it has caught up.
func (c *Cluster) Replace(ctx context.Context, id uint64) error {
	var via []string
	for _, o := range c.ids {
		if o != id {
			via = append(via, c.httpAddr[o])
		}
	}
	cl, err := client.New(via, 2*time.Second)
	if err != nil {
		return err
	}
	defer cl.Close()
	c.Kill(id)
	if err := retry(ctx, func() error { _, err := cl.RemoveMember(ctx, id); return err }); err != nil {
		return fmt.Errorf("remove node %d: %w", id, err)
	}
	if err := os.RemoveAll(c.nodeDir(id)); err != nil {
		return fmt.Errorf("wipe node %d: %w", id, err)
	}
	return c.start(id, "--join", "http://"+via[0]+",http://"+via[len(via)-1],
		"--raft-addr", "tcp://"+c.raftAddr[id], "--http-addr", c.httpAddr[id])
}

// IsVoter reports whether the leader's membership has id as a voter.
func (c *Cluster) IsVoter(ctx context.Context, id uint64) bool {
	var eps []string
	for _, o := range c.ids {
		eps = append(eps, c.httpAddr[o])
	}
	cl, err := client.New(eps, time.Second)
	if err != nil {
		return false
	}
	defer cl.Close()
	m, err := cl.Members(ctx, false)
	if err != nil {
		return false
	}
	for _, mb := range m.Members {
		if mb.ID == id {
			return mb.Role == "voter"
		}
	}
	return false
}

func (c *Cluster) nodeDir(id uint64) string {
	return filepath.Join(c.dir, "data", fmt.Sprintf("node-%d", id))
}

// retry calls f until it succeeds, a 404 says there is nothing to do, or
// ctx ends (a change in flight or an election answers 409 or 503 for a
// moment).
func retry(ctx context.Context, f func() error) error {
	for {
		err := f()
		var apiErr *client.APIError
		if err == nil || errors.As(err, &apiErr) && apiErr.Status == 404 {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}
