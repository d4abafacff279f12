package core

import (
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

func leaseNet(t *testing.T) *testNet {
	net := newTestNetN(t, 3, func(c *Config) { c.CheckQuorum, c.LeaseTicks = true, 6 })
	net.elect(0)
	return net
}

func TestLeaseReadHoldsThenExpires(t *testing.T) {
	net := leaseNet(t)
	ld := net.cores[0]
	ld.Tick() // a heartbeat round the followers answer
	net.settle()
	idx, ok := ld.LeaseRead()
	if !ok || idx != ld.log.committed {
		t.Fatalf("LeaseRead with fresh acks = %d, %v; want %d, true", idx, ok, ld.log.committed)
	}
	// The followers fall silent: the lease ends LeaseTicks after the last
	// answered heartbeat was sent, well before they could elect anyone.
	net.drop = func(m *wire.Message) bool { return m.To == 0 }
	for i := 1; i <= ld.cfg.LeaseTicks; i++ {
		ld.Tick()
		net.settle()
		if _, ok := ld.LeaseRead(); ok && i >= ld.cfg.LeaseTicks {
			t.Fatalf("lease still held %d ticks after the last answered heartbeat", i)
		}
	}
	if _, ok := ld.LeaseRead(); ok {
		t.Fatal("lease held after expiry")
	}
}

func TestLeaseReadRefused(t *testing.T) {
	t.Run("follower", func(t *testing.T) {
		net := leaseNet(t)
		if _, ok := net.cores[1].LeaseRead(); ok {
			t.Fatal("a follower served a lease read")
		}
	})
	t.Run("during transfer", func(t *testing.T) {
		net := leaseNet(t)
		ld := net.cores[0]
		ld.Tick()
		net.settle()
		net.drop = func(m *wire.Message) bool { return m.Type == wire.MsgTimeoutNow }
		if err := ld.TransferLeader(1); err != nil {
			t.Fatal(err)
		}
		net.settle()
		if _, ok := ld.LeaseRead(); ok {
			t.Fatal("lease read served while leadership is being transferred")
		}
	})
	t.Run("before the no-op commits", func(t *testing.T) {
		net := leaseNet(t)
		// Depose 0 and elect 1 with its no-op undelivered.
		for _, c := range net.cores {
			c.ticks += uint64(c.cfg.ElectionTickMin)
		}
		net.drop = func(m *wire.Message) bool { return m.Type == wire.MsgApp && m.From == 1 }
		net.cores[1].campaign(true)
		net.settle()
		ld := net.cores[1]
		if ld.role != Leader {
			t.Fatalf("node 1 is %v", ld.role)
		}
		ld.Tick()
		net.settle()
		if _, ok := ld.LeaseRead(); ok {
			t.Fatal("lease read served before the leader committed an entry of its term")
		}
	})
	t.Run("disabled", func(t *testing.T) {
		net := newTestNetN(t, 3, func(c *Config) { c.CheckQuorum = true })
		net.elect(0)
		net.cores[0].Tick()
		net.settle()
		if _, ok := net.cores[0].LeaseRead(); ok {
			t.Fatal("lease read served with LeaseTicks 0")
		}
	})
}

func TestLeaseConfigValidation(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cq    bool
		lease int
	}{{"without check-quorum", false, 5}, {"not below the election minimum", true, 10}} {
		cfg := testCfg(0, 3)
		cfg.CheckQuorum, cfg.LeaseTicks = tt.cq, tt.lease
		if _, err := NewCore(cfg, wire.HardState{}, nil, 0); err == nil {
			t.Errorf("%s: config accepted", tt.name)
		}
	}
}

// TestRestartedNodeHoldsItsVote: a node that just started may have
// answered a heartbeat a leader's lease counts on; under check-quorum it
// grants no vote for ElectionTickMin ticks.
func TestRestartedNodeHoldsItsVote(t *testing.T) {
	cfg := testCfg(1, 3)
	cfg.CheckQuorum = true
	c := mustCore(t, cfg, wire.HardState{Term: 1, Vote: 0}, logOf(1), 1)
	vote := wire.Message{Type: wire.MsgVote, From: 2, To: 1, Term: 2, Index: 1, LogTerm: 1}
	c.Step(vote)
	if rd := flush(c); len(msgsOf(rd.Messages, wire.MsgVoteResp)) != 0 || c.term != 1 {
		t.Fatalf("a node in its first ticks answered a vote: %+v, term %d", rd.Messages, c.term)
	}
	for range cfg.ElectionTickMin {
		c.Tick()
	}
	flush(c)
	c.Step(vote)
	resp := msgsOf(flush(c).Messages, wire.MsgVoteResp)
	if len(resp) != 1 || resp[0].Reject {
		t.Fatalf("after ElectionTickMin ticks the vote was not granted: %+v", resp)
	}
}

// TestLeaseRevokedByTimeoutNow: the election a MsgTimeoutNow triggers
// ignores the voters' leases and may start late, after the leader gave
// the transfer up. So once it sent one, the leader serves no lease read
// for the rest of its term, however fresh its heartbeat acks.
func TestLeaseRevokedByTimeoutNow(t *testing.T) {
	net := leaseNet(t)
	ld := net.cores[0]
	ld.Tick()
	net.settle()
	net.drop = func(m *wire.Message) bool { return m.Type == wire.MsgTimeoutNow } // delayed, say
	if err := ld.TransferLeader(1); err != nil {
		t.Fatal(err)
	}
	net.settle()
	for range ld.cfg.ElectionTickMin + 2 { // the transfer is given up
		ld.Tick()
		net.settle()
	}
	if ld.role != Leader || ld.transferee != wire.None {
		t.Fatalf("role %v, transferee %d: want a leader that gave the transfer up", ld.role, ld.transferee)
	}
	if _, ok := ld.LeaseRead(); ok {
		t.Fatal("lease read served after a MsgTimeoutNow was sent in this term")
	}
	// Linearizable reads still work.
	if err := ld.ReadIndex(99); err != nil {
		t.Fatal(err)
	}
	net.settle()
	if rs := net.reads[0]; len(rs) == 0 || rs[len(rs)-1].Context != 99 {
		t.Fatalf("ReadIndex after the revoked lease: %+v", rs)
	}
}
