package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrNoLeader is returned by Leader when nodes answered but none knows a
// leader it can name: an election is under way, or no quorum is up.
var ErrNoLeader = errors.New("no leader known")

// NodeStatus is one endpoint's answer to GET /v1/status, or why it gave none.
type NodeStatus struct {
	Endpoint string // normalized, as given to New
	Status   Status // valid when Err is nil
	Err      error
}

// StatusAll asks every endpoint at once, so a dead one costs the timeout
// once rather than once per dead node, and returns the answers in endpoint
// order.
func (c *Client) StatusAll(ctx context.Context) []NodeStatus {
	out := make([]NodeStatus, len(c.endpoints))
	var wg sync.WaitGroup
	for i, ep := range c.endpoints {
		wg.Go(func() {
			st, err := c.Status(ctx, ep)
			out[i] = NodeStatus{Endpoint: ep, Status: st, Err: err}
		})
	}
	wg.Wait()
	return out
}

// StatusCluster is StatusAll plus the members the endpoints do not cover:
// the membership in the most recent answer (highest term, a leader's
// first) names nodes that joined after the endpoint list was written, and
// those are asked too. Extra nodes come after the endpoints, by id.
func (c *Client) StatusCluster(ctx context.Context) []NodeStatus {
	nodes := c.StatusAll(ctx)
	var ref *NodeStatus
	known := map[uint64]bool{}
	asked := map[string]bool{}
	for i := range nodes {
		asked[nodes[i].Endpoint] = true
		if nodes[i].Err != nil {
			continue
		}
		st := &nodes[i].Status
		known[st.ID] = true
		if ref == nil || st.Term > ref.Status.Term || st.Term == ref.Status.Term && st.State == "leader" {
			ref = &nodes[i]
		}
	}
	if ref == nil {
		return nodes
	}
	var extra []string
	for _, m := range ref.Status.Members {
		ep, err := normalizeLike(m.HTTPAddr, ref.Endpoint)
		if known[m.ID] || err != nil || asked[ep] {
			continue
		}
		asked[ep] = true
		extra = append(extra, ep)
	}
	more := make([]NodeStatus, len(extra))
	var wg sync.WaitGroup
	for i, ep := range extra {
		wg.Go(func() {
			st, err := c.Status(ctx, ep)
			more[i] = NodeStatus{Endpoint: ep, Status: st, Err: err}
		})
	}
	wg.Wait()
	return append(nodes, more...)
}

// LeaderInfo names the leader and where to reach it.
type LeaderInfo struct {
	ID       uint64
	Term     uint64
	Endpoint string // normalized HTTP address
}

// Leader finds the current leader from the endpoints' status. The answer
// with the highest term wins, so a deposed leader cut off from the others
// loses to what the majority knows. At equal terms a node that says it leads
// beats a follower naming it, because the address it was asked on is known
// to work; a follower's leader_http finds a leader missing from the endpoint
// list. It returns ErrUnavailable (wrapped) when no endpoint answered and
// ErrNoLeader when none knows a leader it can name.
func (c *Client) Leader(ctx context.Context) (LeaderInfo, error) {
	return leaderOf(c.StatusAll(ctx))
}

// leaderOf picks the leader out of a StatusAll answer (see Leader).
func leaderOf(nodes []NodeStatus) (LeaderInfo, error) {
	var (
		best     LeaderInfo
		bestSelf bool // best is a node speaking for itself
		found    bool
		answered bool
		lastErr  error
	)
	consider := func(li LeaderInfo, self bool) {
		if !found || li.Term > best.Term || (li.Term == best.Term && self && !bestSelf) {
			best, bestSelf, found = li, self, true
		}
	}
	for _, n := range nodes {
		if n.Err != nil {
			lastErr = n.Err
			continue
		}
		answered = true
		st := n.Status
		switch {
		case st.State == "leader":
			consider(LeaderInfo{ID: st.ID, Term: st.Term, Endpoint: n.Endpoint}, true)
		case st.Leader != nil && st.LeaderHTTP != nil:
			if ep, err := normalizeLike(*st.LeaderHTTP, n.Endpoint); err == nil { // an unusable address is as good as none
				consider(LeaderInfo{ID: *st.Leader, Term: st.Term, Endpoint: ep}, false)
			}
		}
	}
	switch {
	case found:
		return best, nil
	case !answered && lastErr != nil:
		return LeaderInfo{}, fmt.Errorf("%w: no endpoint answered: %w", ErrUnavailable, lastErr)
	}
	return LeaderInfo{}, ErrNoLeader
}
