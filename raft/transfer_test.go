package raft

import (
	"errors"
	"fmt"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

// An up-to-date follower told to take over wins at once, well before any
// election timeout could have fired, and the cluster keeps committing.
func TestTransferLeaderUpToDate(t *testing.T) {
	for _, seed := range testSeeds(5) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			s := newSimCluster(t, 3, seed)
			s.one("a", 3)
			old := s.waitLeader(100)
			term := s.nodes[old].core.term
			target := (old + 1) % 3
			if err := s.nodes[old].core.TransferLeader(target); err != nil {
				s.fatalf("TransferLeader: %v", err)
			}
			s.process()
			start := s.steps
			s.runUntil(100, "target leads", func() bool { l, ok := s.leader(); return ok && l == target })
			if took := s.steps - start; took >= s.cfg(target).ElectionTickMin {
				s.fatalf("transfer took %d steps, no faster than an election timeout", took)
			}
			if got := s.nodes[target].core.term; got != term+1 {
				s.fatalf("new leader's term %d, want %d", got, term+1)
			}
			s.one("b", 3)
			if c := s.nodes[old].core; c.role != Follower || c.lead != target {
				s.fatalf("old leader: %v following %d", c.role, c.lead)
			}
		})
	}
}

// A lagging target is brought up to date first, then takes over.
func TestTransferLeaderLagging(t *testing.T) {
	for _, seed := range testSeeds(5) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			s := newSimCluster(t, 3, seed)
			s.one("a", 3)
			old := s.waitLeader(100)
			target := (old + 2) % 3
			s.disconnect(target)
			for i := range 20 {
				s.one(fmt.Sprintf("x%d", i), 2)
			}
			if s.nodes[target].core.LastIndex() >= s.nodes[old].core.LastIndex() {
				s.fatalf("target is not behind")
			}
			s.connect(target)
			if err := s.nodes[old].core.TransferLeader(target); err != nil {
				s.fatalf("TransferLeader: %v", err)
			}
			s.process()
			term := s.nodes[old].core.term
			start := s.steps
			s.runUntil(100, "target leads", func() bool { l, ok := s.leader(); return ok && l == target })
			if got := s.nodes[target].core.term; got != term+1 {
				s.fatalf("new leader's term %d, want %d: it did not win by the transfer", got, term+1)
			}
			// Catching up costs a few round trips (the leader waits for a
			// heartbeat answer before it probes a node it lost track of).
			if took := s.steps - start; took > 2*s.cfg(target).ElectionTickMin {
				s.fatalf("transfer to a lagging node took %d steps", took)
			}
			s.one("b", 3)
		})
	}
}

// While a transfer is under way proposals fail fast; when the target never
// takes over, the leader gives up after an election timeout and serves
// proposals again.
func TestTransferLeaderProposalsFail(t *testing.T) {
	s := newSimCluster(t, 3, 1)
	s.one("a", 3)
	old := s.waitLeader(100)
	target := (old + 1) % 3
	s.disconnect(target)
	ld := s.nodes[old].core
	if err := ld.TransferLeader(target); err != nil {
		s.fatalf("TransferLeader: %v", err)
	}
	if _, _, err := ld.Propose([]byte("x")); !errors.Is(err, ErrProposalDropped) {
		s.fatalf("proposal during transfer: %v", err)
	}
	s.runUntil(3*s.cfg(old).ElectionTickMin, "transfer abandoned", func() bool {
		_, _, err := ld.Propose([]byte("y"))
		return err == nil
	})
	if l, _ := s.leader(); l != old || ld.term != s.nodes[(old+2)%3].core.term {
		s.fatalf("leadership moved although the target was unreachable")
	}
	s.one("b", 2)
}

func TestTransferLeaderArguments(t *testing.T) {
	f := mustCore(t, testCfg(1, 3), wire.HardState{Term: 1}, nil, 0)
	var nl *NotLeaderError
	if err := f.TransferLeader(2); !errors.As(err, &nl) {
		t.Fatalf("TransferLeader on a follower: %v", err)
	}
	ld := mustCore(t, testCfg(0, 3), wire.HardState{Term: 1}, nil, 0)
	makeLeader(ld)
	flush(ld)
	for _, to := range []wire.NodeID{0, 7} {
		if err := ld.TransferLeader(to); err != nil {
			t.Fatalf("TransferLeader(%d): %v", to, err)
		}
		if ld.transferee != wire.None || len(ld.Ready().Messages) != 0 {
			t.Fatalf("TransferLeader(%d) started a transfer", to)
		}
		if _, _, err := ld.Propose([]byte("x")); err != nil {
			t.Fatalf("proposal after TransferLeader(%d): %v", to, err)
		}
		flush(ld)
	}
	// None hands over to the most up-to-date follower.
	ld.prs[1].match, ld.prs[2].match = 0, ld.log.lastIndex()
	if err := ld.TransferLeader(wire.None); err != nil || ld.transferee != 2 {
		t.Fatalf("TransferLeader(None): err %v, transferee %d; want the up-to-date node 2", err, ld.transferee)
	}
	flush(ld)
	// MsgTimeoutNow makes the target campaign at once, past pre-vote and
	// past its peers' leases.
	cfg := testCfg(2, 3)
	cfg.PreVote, cfg.CheckQuorum = true, true
	tg := mustCore(t, cfg, wire.HardState{Term: 2}, logOf(1, 2), 0)
	tg.Step(wire.Message{Type: wire.MsgTimeoutNow, From: 0, To: 2, Term: 2})
	rd := flush(tg)
	votes := msgsOf(rd.Messages, wire.MsgVote)
	if tg.role != Candidate || tg.term != 3 || len(votes) != 2 || votes[0].Context == 0 {
		t.Fatalf("after MsgTimeoutNow: %v term %d votes %+v", tg.role, tg.term, votes)
	}
}
