package raft_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

func member(id wire.NodeID) core.Member {
	return core.Member{ID: id, RaftAddr: fmt.Sprintf("tcp://127.0.0.1:%d", 17000+id), HTTPAddr: fmt.Sprintf("127.0.0.1:%d", 18000+id)}
}

// join starts node id with no membership, as `kvserver --join` does.
func (c *testCluster) join(id wire.NodeID) {
	c.ids = append(c.ids, id)
	c.nodes[id] = &testNode{id: id, dir: c.t.TempDir(), sm: newCounterSM(0)}
	c.start(id)
}

func (c *testCluster) change(id wire.NodeID, cc core.ConfChange) (core.Membership, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, _, err := c.nodes[id].node.ChangeMembership(ctx, cc)
	return m, err
}

// proposeToLeader proposes v on whichever node leads, retrying as a client
// would when an election (a loaded machine can miss heartbeats) moves the
// leadership part-way through a test's writes.
func (c *testCluster) proposeToLeader(v string) {
	c.t.Helper()
	waitFor(c.t, "proposal of "+v, func() bool {
		_, err := c.propose(c.leader(), v)
		if err != nil && !errors.As(err, new(*core.NotLeaderError)) && !errors.Is(err, core.ErrNoLeader) && !errors.Is(err, core.ErrProposalDropped) {
			c.t.Fatalf("propose %s: %v", v, err)
		}
		return err == nil
	})
}

// promote retries while the learner is still catching up.
func (c *testCluster) promote(id wire.NodeID) {
	c.t.Helper()
	waitFor(c.t, fmt.Sprintf("promotion of %d", id), func() bool {
		_, err := c.change(c.leader(), core.ConfChange{Type: core.ConfPromote, Member: core.Member{ID: id}})
		if err != nil && !errors.Is(err, core.ErrLearnerBehind) && !errors.Is(err, core.ErrConfChangeTooEarly) {
			c.t.Fatalf("promote %d: %v", id, err)
		}
		return err == nil
	})
}

// TestNodeMembershipGrowReplaceRestart: a node joins through a snapshot
// (the log it needs was compacted), is promoted, the leader is removed,
// the cluster still commits with the joined node counting, and a restart
// of every node brings back the same membership.
func TestNodeMembershipGrowReplaceRestart(t *testing.T) {
	c := newSnapCluster(t, 3, 10)
	for i := range 150 {
		c.proposeToLeader(fmt.Sprintf("before-%d", i))
	}
	lead := c.leader()
	waitFor(t, "the leader to compact its log", func() bool { return c.nodes[lead].node.Status().FirstIndex > 50 })
	c.join(3)
	m, err := c.change(lead, core.ConfChange{Type: core.ConfAddLearner, Member: member(3)})
	if err != nil {
		t.Fatalf("add learner: %v", err)
	}
	if mb, ok := m.Get(3); !ok || !mb.Learner {
		t.Fatalf("membership after add: %+v", m)
	}
	waitFor(t, "the learner to catch up through a snapshot", func() bool { return c.nodes[3].sm.has("before-149") })
	if c.nodes[3].sm.restoreCount() == 0 {
		t.Errorf("the learner caught up without a snapshot; the test wants one")
	}
	if _, err := c.change((lead+1)%3, core.ConfChange{Type: core.ConfRemove, Member: core.Member{ID: 3}}); !errors.As(err, new(*core.NotLeaderError)) {
		t.Fatalf("change on a follower: %v, want NotLeaderError", err)
	}
	c.promote(3)

	if _, err := c.change(lead, core.ConfChange{Type: core.ConfRemove, Member: core.Member{ID: lead}}); err != nil {
		t.Fatalf("remove the leader: %v", err)
	}
	waitFor(t, "a new leader", func() bool {
		for _, id := range c.ids {
			if st := c.nodes[id].node.Status(); id != lead && st.Role == core.Leader {
				return true
			}
		}
		return false
	})
	// Only two of the three remaining voters are needed: stop one that is
	// not the joined node, and the joined node must count.
	var newLead wire.NodeID
	waitFor(t, "the old leader to step down", func() bool {
		newLead = c.nodes[3].node.Status().Leader
		return newLead != lead && newLead != wire.None
	})
	c.stop(lead)
	for _, id := range []wire.NodeID{0, 1, 2} {
		if id != lead && id != newLead {
			c.stop(id)
			break
		}
	}
	if _, err := c.propose(newLead, "after"); err != nil {
		t.Fatalf("write with two of three voters, one of them joined: %v", err)
	}
	want := c.nodes[newLead].node.Status().Membership
	if want.Contains(lead) || !want.IsVoter(3) || len(want.Voters()) != 3 {
		t.Fatalf("membership %+v", want)
	}

	for _, id := range c.ids {
		c.stop(id)
	}
	for _, id := range c.ids {
		if id != lead {
			c.start(id)
		}
	}
	for _, id := range c.ids {
		if id == lead {
			continue
		}
		if got := c.nodes[id].node.Status().Membership; !got.Equal(want) {
			t.Errorf("node %d restarted with membership %+v, want %+v", id, got, want)
		}
	}
	// Right after a restart an election may still be settling (a node
	// that named a leader can see it step down a moment later), so the
	// test waits for a write to go through rather than for a leader.
	ld := c.nodes[3].node
	waitFor(t, "a write after restart", func() bool {
		lead := ld.Status().Leader
		if lead == wire.None {
			return false
		}
		_, err := c.propose(lead, "after-restart")
		return err == nil
	})
}

func (s *counterSM) restoreCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restores
}
