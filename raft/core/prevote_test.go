package core

import (
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

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
