package core

import (
	"errors"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

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
