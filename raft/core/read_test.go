package core

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

// On a leader a read is released only once a quorum answered a heartbeat
// sent after the read arrived, with the commit index of the moment of the
// call, even if more commits land meanwhile.
func TestReadIndexNeedsQuorum(t *testing.T) {
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("nodes=%d", n), func(t *testing.T) {
			net := newTestNetN(t, n, nil)
			net.elect(0)
			ld := net.cores[0]
			ld.Propose([]byte("x"))
			net.settle()
			commit := ld.Committed()
			// y is in the log but not committed when the read arrives, and
			// commits before the read is confirmed: neither changes its index.
			ld.Propose([]byte("y"))
			if err := ld.ReadIndex(42); err != nil {
				t.Fatal(err)
			}
			rd := flush(ld)
			hbs := msgsOf(rd.Messages, wire.MsgHeartbeat)
			if len(hbs) != n-1 || len(rd.ReadStates) != 0 {
				t.Fatalf("want %d heartbeats and no read state yet, got %d and %+v", n-1, len(hbs), rd.ReadStates)
			}
			// Deliver the appends first so y commits, then the heartbeats one
			// follower at a time.
			for _, m := range msgsOf(rd.Messages, wire.MsgApp) {
				net.cores[m.To].Step(m)
				for _, r := range flush(net.cores[m.To]).Messages {
					ld.Step(r)
				}
			}
			if ld.Committed() != commit+1 {
				t.Fatalf("y not committed: %d", ld.Committed())
			}
			var got []ReadState
			for i, hb := range hbs {
				net.cores[hb.To].Step(hb)
				for _, r := range flush(net.cores[hb.To]).Messages {
					ld.Step(r)
				}
				got = append(got, flush(ld).ReadStates...)
				acks := i + 1
				if confirmed := acks+1 >= n/2+1; confirmed != (len(got) > 0) {
					t.Fatalf("after %d of %d acks: read states %+v", acks, n-1, got)
				}
			}
			if len(got) != 1 || got[0] != (ReadState{Context: 42, Index: commit}) {
				t.Fatalf("read states %+v, want one for 42 at index %d", got, commit)
			}
		})
	}
}

// Reads issued before the next Ready share one heartbeat round; a read
// after it starts a new one.
func TestReadIndexBatching(t *testing.T) {
	net := newTestNetN(t, 5, nil)
	net.elect(0)
	ld := net.cores[0]
	hbCount := func() int { return net.count(func(m wire.Message) bool { return m.Type == wire.MsgHeartbeat }) }
	for ctx := uint64(1); ctx <= 50; ctx++ {
		if err := ld.ReadIndex(ctx); err != nil {
			t.Fatal(err)
		}
	}
	net.settle()
	if got := hbCount(); got != 4 {
		t.Fatalf("50 reads sent %d heartbeats, want one round (4)", got)
	}
	if got := net.reads[0]; len(got) != 50 {
		t.Fatalf("%d of 50 reads released", len(got))
	}
	for i, rs := range net.reads[0] {
		if rs.Context != uint64(i+1) || rs.Index != 1 || rs.Dropped {
			t.Fatalf("read %d: %+v", i, rs)
		}
	}
	ld.ReadIndex(51)
	ld.ReadIndex(52)
	net.settle()
	if got := hbCount(); got != 8 {
		t.Fatalf("a later batch sent %d heartbeats in all, want 8", got)
	}
	if got := net.reads[0]; len(got) != 52 {
		t.Fatalf("%d of 52 reads released", len(got))
	}
}

// A new leader does not know the real commit index until an entry of its
// own term commits, so reads wait for its no-op.
func TestReadIndexNewLeaderWaitsForNoop(t *testing.T) {
	cores := make([]*Core, 3)
	for i := range cores {
		// Entries 1-3 of term 1 are on every node, but nobody knows they
		// committed.
		cores[i] = mustCore(t, testCfg(wire.NodeID(i), 3), wire.HardState{Term: 1, Vote: 0}, logOf(1, 1, 1), 0)
	}
	net := newTestNet(t, cores...)
	net.drop = func(m *wire.Message) bool { return m.Type == wire.MsgApp } // the no-op stays out
	net.elect(0)
	ld := net.cores[0]
	ld.ReadIndex(7)
	rd := flush(ld)
	if len(msgsOf(rd.Messages, wire.MsgHeartbeat)) != 0 || len(rd.ReadStates) != 0 {
		t.Fatalf("read round started before the no-op committed: %+v", rd)
	}
	net.drop = nil
	ld.Tick() // heartbeat; the answers make the leader resend the no-op
	net.settle()
	if got := net.reads[0]; len(got) != 1 || got[0] != (ReadState{Context: 7, Index: 4}) {
		t.Fatalf("read states %+v, want 7 at the no-op's index 4", got)
	}
}

// A follower's read goes through the leader and comes back with the
// leader's commit index.
func TestReadIndexFollower(t *testing.T) {
	net := newTestNetN(t, 3, nil)
	net.elect(0)
	net.cores[0].Propose([]byte("x"))
	net.settle()
	f := net.cores[2]
	if err := f.ReadIndex(9); err != nil {
		t.Fatal(err)
	}
	rd := f.Ready()
	if ms := msgsOf(rd.Messages, wire.MsgReadIndex); len(ms) != 1 || ms[0].To != 0 || ms[0].Context != 9 || !ms[0].SafeBeforePersist() {
		t.Fatalf("follower's read request: %+v", rd.Messages)
	}
	net.settle()
	if !slices.Equal(net.reads[2], []ReadState{{Context: 9, Index: 2}}) || len(net.reads[0]) != 0 {
		t.Fatalf("read states: follower %+v, leader %+v", net.reads[2], net.reads[0])
	}
	if n := net.count(func(m wire.Message) bool { return m.Type == wire.MsgReadIndexResp }); n != 1 {
		t.Fatalf("%d read answers, want 1", n)
	}
	// Without a known leader there is nobody to ask.
	lone := mustCore(t, testCfg(1, 3), wire.HardState{Term: 3}, nil, 0)
	if err := lone.ReadIndex(1); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("ReadIndex without a leader: %v", err)
	}
	// A node asked by mistake (it does not lead) refuses, and the asker
	// learns its read was dropped.
	lone.Step(wire.Message{Type: wire.MsgReadIndex, From: 2, To: 1, Term: 3, Context: 5})
	ans := msgsOf(flush(lone).Messages, wire.MsgReadIndexResp)
	if len(ans) != 1 || !ans[0].Reject || ans[0].Context != 5 {
		t.Fatalf("non-leader's answer: %+v", ans)
	}
	asker := mustCore(t, testCfg(2, 3), wire.HardState{Term: 3}, nil, 0)
	asker.Step(ans[0])
	if rs := flush(asker).ReadStates; !slices.Equal(rs, []ReadState{{Context: 5, Dropped: true}}) {
		t.Fatalf("asker's read states %+v", rs)
	}
}

// A leader that loses leadership before confirming its pending reads fails
// them all, its own and those it serves for followers.
func TestReadIndexDroppedOnStepDown(t *testing.T) {
	tests := []struct {
		name   string
		depose func(net *testNet)
	}{
		{"higher term", func(net *testNet) {
			net.cores[0].Step(wire.Message{Type: wire.MsgAppResp, From: 2, To: 0, Term: 9})
		}},
		{"check-quorum", func(net *testNet) {
			for range 2 * net.cores[0].cfg.ElectionTickMin {
				net.cores[0].Tick()
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			net := newTestNetN(t, 3, func(c *Config) { c.CheckQuorum = true })
			net.elect(0)
			ld := net.cores[0]
			// The leader hears nothing more but read requests: no read can
			// be confirmed.
			net.drop = func(m *wire.Message) bool { return m.To == 0 && m.Type != wire.MsgReadIndex }
			ld.ReadIndex(1)
			net.cores[1].ReadIndex(2)
			net.settle()
			if len(net.reads[0]) != 0 || len(net.reads[1]) != 0 {
				t.Fatalf("reads released without a quorum: %+v %+v", net.reads[0], net.reads[1])
			}
			tt.depose(net)
			if ld.role == Leader {
				t.Fatal("leader not deposed")
			}
			net.drop = nil
			rd := flush(ld)
			if !slices.Equal(rd.ReadStates, []ReadState{{Context: 1, Dropped: true}}) {
				t.Fatalf("deposed leader's read states %+v", rd.ReadStates)
			}
			ans := msgsOf(rd.Messages, wire.MsgReadIndexResp)
			if len(ans) != 1 || ans[0].To != 1 || !ans[0].Reject || ans[0].Context != 2 {
				t.Fatalf("deposed leader's answers %+v", ans)
			}
			net.cores[1].Step(ans[0])
			rs := flush(net.cores[1]).ReadStates
			if !slices.Equal(rs, []ReadState{{Context: 2, Dropped: true}}) {
				t.Fatalf("follower's read states %+v", rs)
			}
		})
	}
}

func TestReadIndexSingleNode(t *testing.T) {
	c := mustCore(t, testCfg(0, 1), wire.HardState{Term: 1, Vote: 0}, logOf(1, 1), 0)
	if err := c.ReadIndex(1); !errors.Is(err, ErrNoLeader) {
		t.Fatalf("ReadIndex on a follower without leader: %v", err)
	}
	c.campaign(false)
	if err := c.ReadIndex(2); err != nil {
		t.Fatal(err)
	}
	rd := flush(c) // the no-op is durable only now: the read waits
	if len(rd.ReadStates) != 0 {
		t.Fatalf("read released before the no-op committed: %+v", rd.ReadStates)
	}
	rd = flush(c)
	if !slices.Equal(rd.ReadStates, []ReadState{{Context: 2, Index: 3}}) {
		t.Fatalf("read states %+v, want 2 at 3", rd.ReadStates)
	}
	c.ReadIndex(3) // confirmed at once: the node is its own quorum
	if rd := flush(c); !slices.Equal(rd.ReadStates, []ReadState{{Context: 3, Index: 3}}) || len(rd.Messages) != 0 {
		t.Fatalf("single-node read: %+v", rd)
	}
}
