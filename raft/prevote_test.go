package raft

import (
	"fmt"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

// A node cut off for many election timeouts does not raise its term (it
// only ever asks for pre-votes), so when it comes back it neither deposes
// the leader nor bumps the cluster's term; it just catches up.
func TestPreVoteIsolatedNodeDoesNotDisrupt(t *testing.T) {
	for _, busy := range []bool{false, true} {
		for _, seed := range testSeeds(4) {
			t.Run(fmt.Sprintf("busy=%v/seed=%d", busy, seed), func(t *testing.T) {
				s := newSimCluster(t, 5, seed)
				s.one("a", 5)
				ld := s.waitLeader(100)
				term := s.nodes[ld].core.term
				f := (ld + 1) % 5
				s.isolate(f)
				for i := range 400 {
					if busy && i%40 == 0 {
						s.one(fmt.Sprintf("b%d", i), 4)
					}
					s.step()
					c := s.nodes[f].core
					if c.term != term || c.role == Candidate || c.role == Leader {
						s.fatalf("isolated node %d: role %v term %d (cluster term %d)", f, c.role, c.term, term)
					}
				}
				s.heal()
				last := s.nodes[ld].core.LastIndex()
				s.runUntil(100, "rejoined node catches up", func() bool { return s.nodes[f].core.Committed() >= last })
				s.run(100)
				if l2, _ := s.leader(); l2 != ld || s.nodes[ld].core.term != term || s.nodes[f].core.term != term {
					s.fatalf("rejoin disrupted the cluster: leader %d term %d, was %d term %d", l2, s.nodes[l2].core.term, ld, term)
				}
			})
		}
	}
}

// The control for the test above: without pre-vote the same isolation does
// raise the node's term, and its return deposes the leader.
func TestWithoutPreVoteIsolatedNodeDisrupts(t *testing.T) {
	s := newSimClusterWith(t, 5, 1, func(c *Config) { c.PreVote, c.CheckQuorum = false, false })
	s.one("a", 5)
	ld := s.waitLeader(100)
	term := s.nodes[ld].core.term
	f := (ld + 1) % 5
	s.isolate(f)
	s.run(200)
	if s.nodes[f].core.term <= term {
		s.fatalf("isolated node kept term %d without pre-vote", term)
	}
	s.heal()
	s.runUntil(100, "the cluster moves to the rejoined node's term", func() bool {
		l2, ok := s.leader()
		return ok && s.nodes[l2].core.term > term
	})
}

// A leader cut off from the majority steps down within about an election
// timeout (check-quorum); the majority elects a new leader; on healing the
// old leader follows it.
func TestCheckQuorumLeaderStepsDown(t *testing.T) {
	for _, seed := range testSeeds(5) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			s := newSimCluster(t, 5, seed)
			old := s.waitLeader(100)
			s.one("a", 5)
			term := s.nodes[old].core.term
			s.partition([]wire.NodeID{old, (old + 1) % 5}, []wire.NodeID{(old + 2) % 5, (old + 3) % 5, (old + 4) % 5})
			start := s.steps
			s.runUntil(100, "old leader steps down", func() bool { return s.nodes[old].core.role != Leader })
			if took, limit := s.steps-start, 2*s.cfg(old).ElectionTickMin+1; took > limit {
				s.fatalf("cut-off leader stepped down after %d ticks, want <= %d", took, limit)
			}
			s.runUntil(200, "majority elects a new leader", func() bool {
				l2, ok := s.leader()
				return ok && l2 != old && s.nodes[l2].core.term > term
			})
			s.one("b", 3)
			s.heal()
			s.runUntil(200, "old leader follows the new one", func() bool {
				l2, _ := s.leader()
				c := s.nodes[old].core
				return c.role == Follower && c.lead == l2 && c.term == s.nodes[l2].core.term
			})
			s.one("c", 5)
		})
	}
}

// The control: without check-quorum the cut-off leader keeps believing it
// leads, which is what makes check-quorum (or ReadIndex) necessary.
func TestWithoutCheckQuorumLeaderStaysLeader(t *testing.T) {
	s := newSimClusterWith(t, 5, 3, func(c *Config) { c.CheckQuorum = false })
	old := s.waitLeader(100)
	s.isolate(old)
	s.run(200)
	if s.nodes[old].core.role != Leader {
		s.fatalf("isolated leader stepped down without check-quorum")
	}
}

// With check-quorum a node that hears from its leader ignores vote requests
// (so a partitioned node cannot depose a live leader), except for a
// leadership transfer, which asks voters to ignore the lease.
func TestCheckQuorumLease(t *testing.T) {
	tests := []struct {
		name     string
		typ      wire.MessageType
		ctx      uint64
		idle     int // ticks since the leader was last heard
		wantTerm uint64
		wantResp bool
	}{
		{"vote in lease ignored", wire.MsgVote, 0, 0, 2, false},
		{"pre-vote in lease ignored", wire.MsgPreVote, 0, 0, 2, false},
		{"vote after the lease", wire.MsgVote, 0, 10, 3, true},
		{"pre-vote after the lease", wire.MsgPreVote, 0, 10, 2, true},
		{"transfer vote in lease", wire.MsgVote, 1, 0, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testCfg(1, 3)
			cfg.CheckQuorum, cfg.PreVote = true, true
			cfg.ElectionTickMin, cfg.ElectionTickMax = 10, 1000 // no own campaign here
			c := mustCore(t, cfg, wire.HardState{Term: 2, Vote: 0}, logOf(1, 2), 0)
			c.Step(wire.Message{Type: wire.MsgHeartbeat, From: 0, To: 1, Term: 2})
			flush(c)
			for range tt.idle {
				c.Tick()
			}
			flush(c)
			c.Step(wire.Message{Type: tt.typ, From: 2, To: 1, Term: 3, Index: 2, LogTerm: 2, Context: tt.ctx})
			rd := flush(c)
			if c.term != tt.wantTerm {
				t.Fatalf("term %d, want %d", c.term, tt.wantTerm)
			}
			if got := len(rd.Messages) == 1 && !rd.Messages[0].Reject; got != tt.wantResp {
				t.Fatalf("granted=%v, want %v (messages %+v)", got, tt.wantResp, rd.Messages)
			}
		})
	}
	// The leader itself is always in its lease.
	cfg := testCfg(0, 3)
	cfg.CheckQuorum = true
	ld := mustCore(t, cfg, wire.HardState{Term: 1}, logOf(1), 1)
	makeLeader(ld)
	flush(ld)
	ld.Step(wire.Message{Type: wire.MsgVote, From: 2, To: 0, Term: 9, Index: 5, LogTerm: 9})
	if ld.role != Leader || ld.term != 2 {
		t.Fatalf("leader deposed by a vote request: %v term %d", ld.role, ld.term)
	}
}

// A pre-candidate whose pre-vote fails keeps its term however many times
// its timer fires, and winning a pre-vote starts an ordinary election that
// respects leases (only a transfer forces one).
func TestPreCandidateTimeout(t *testing.T) {
	cfg := testCfg(0, 3)
	cfg.PreVote, cfg.CheckQuorum = true, true
	c := mustCore(t, cfg, wire.HardState{Term: 5, Vote: 1}, logOf(1, 5), 0)
	preVotes := 0
	for range 10 * cfg.ElectionTickMax {
		c.Tick()
		rd := flush(c)
		preVotes += len(msgsOf(rd.Messages, wire.MsgPreVote))
		if rd.HardState != nil || c.term != 5 || c.role == Candidate {
			t.Fatalf("unanswered pre-candidate: role %v term %d hard state %+v", c.role, c.term, rd.HardState)
		}
		for _, m := range rd.Messages {
			if m.Type != wire.MsgPreVote || m.Term != 6 {
				t.Fatalf("unexpected %+v", m)
			}
		}
	}
	if preVotes < 2*4 { // at least 4 rounds to 2 peers
		t.Fatalf("only %d pre-vote requests in %d ticks", preVotes, 10*cfg.ElectionTickMax)
	}
	c.Step(wire.Message{Type: wire.MsgPreVoteResp, From: 1, To: 0, Term: 6})
	rd := flush(c)
	if c.role != Candidate || c.term != 6 {
		t.Fatalf("after a pre-vote majority: role %v term %d", c.role, c.term)
	}
	votes := msgsOf(rd.Messages, wire.MsgVote)
	if len(votes) != 2 {
		t.Fatalf("want 2 vote requests, got %+v", rd.Messages)
	}
	for _, m := range votes {
		if m.Context != 0 {
			t.Fatalf("an election after a pre-vote asked voters to ignore their lease: %+v", m)
		}
	}
}
