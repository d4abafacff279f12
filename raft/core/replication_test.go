package core

import (
	"fmt"
	"slices"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

// Appends lost on the wire are resent after a heartbeat shows the follower
// still lags, even when no new proposal comes to push replication along
// and even when the follower was streaming (every entry already sent).
func TestLostAppendsRetriedOnHeartbeat(t *testing.T) {
	for _, n := range []int{1, 3, 20} { // 20 > MaxInflight: the window is full too
		t.Run(fmt.Sprintf("entries=%d", n), func(t *testing.T) {
			net := newTestNetN(t, 3, func(c *Config) { c.MaxInflight = 4 })
			net.elect(0)
			ld := net.cores[0]
			if !ld.prs[1].replicating || !ld.prs[2].replicating {
				t.Fatal("followers not streaming after the election")
			}
			net.drop = func(m *wire.Message) bool { return m.Type == wire.MsgApp && len(m.Entries) > 0 }
			for i := range n {
				if _, _, err := ld.Propose(fmt.Appendf(nil, "x%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			net.settle()
			net.drop = nil
			want := ld.LastIndex()
			for beat := 0; ld.Committed() < want || net.cores[1].Committed() < want || net.cores[2].Committed() < want; beat++ {
				if beat == 3 {
					t.Fatalf("after 3 heartbeats: commit leader %d, followers %d %d, want %d",
						ld.Committed(), net.cores[1].Committed(), net.cores[2].Committed(), want)
				}
				ld.Tick()
				net.settle()
			}
		})
	}
}

// The leader streams up to MaxInflight appends to a follower that has not
// answered, one probe at a time to a follower it has not located yet.
func TestReplicationFlowControl(t *testing.T) {
	net := newTestNetN(t, 3, func(c *Config) { c.MaxInflight = 3 })
	net.elect(0)
	ld := net.cores[0]
	count := func() int {
		rd := flush(ld)
		return len(msgsOf(rd.Messages, wire.MsgApp)) // to both followers
	}
	for range 10 {
		ld.Propose([]byte("x"))
	}
	if got := count(); got != 2*3 {
		t.Fatalf("%d appends in flight to 2 streaming followers, want 2x3", got)
	}
	// A heartbeat answer frees one slot so lost appends cannot wedge it.
	ld.Step(wire.Message{Type: wire.MsgHeartbeatResp, From: 1, To: 0, Term: ld.term})
	if got := count(); got != 1 {
		t.Fatalf("%d appends after a heartbeat answer, want 1", got)
	}
	// An acknowledgement frees the slots up to it; the next append carries
	// everything not yet sent.
	ld.Step(wire.Message{Type: wire.MsgAppResp, From: 2, To: 0, Term: ld.term, Index: 3})
	rd := flush(ld)
	if apps := msgsOf(rd.Messages, wire.MsgApp); len(apps) != 1 || apps[0].To != 2 || apps[0].Index != 4 ||
		len(apps[0].Entries) != 7 || apps[0].Commit != 3 {
		t.Fatalf("after an ack of 2 entries: %+v, want one append of 5..11 to node 2", apps)
	}
	// A rejection sends the follower back to probing: one at a time.
	ld.Step(wire.Message{Type: wire.MsgAppResp, From: 2, To: 0, Term: ld.term, Index: 3, Reject: true, RejectHint: 3, LogTerm: ld.term})
	if got := count(); got != 0 {
		t.Fatalf("stale rejection (index %d <= match) changed the window: %d appends", 3, got)
	}
	ld.Step(wire.Message{Type: wire.MsgAppResp, From: 2, To: 0, Term: ld.term, Index: 8, Reject: true, RejectHint: 5, LogTerm: ld.term})
	if got := count(); got != 1 || ld.prs[2].replicating {
		t.Fatalf("after a rejection: %d appends, replicating=%v; want 1 probe", got, ld.prs[2].replicating)
	}
	ld.Propose([]byte("y"))
	if got := count(); got != 0 {
		t.Fatalf("%d appends while the probe is unanswered, want 0", got)
	}
}

// MaxMsgBytes bounds one append (but always carries at least one entry),
// and MaxApplyEntries bounds one Ready's committed entries.
func TestBatchLimits(t *testing.T) {
	net := newTestNetN(t, 3, func(c *Config) { c.MaxMsgBytes, c.MaxApplyEntries = 100, 3 })
	net.elect(0)
	ld := net.cores[0]
	big := make([]byte, 500)
	ld.Propose(big, big, []byte("a"), []byte("b"))
	net.settle()
	for _, m := range net.delivered {
		if m.Type != wire.MsgApp || len(m.Entries) < 2 {
			continue
		}
		size := 0
		for _, e := range m.Entries {
			size += len(e.Data)
		}
		if size > 100 {
			t.Fatalf("append of %d entries carries %d bytes", len(m.Entries), size)
		}
	}
	// Every node applied 1..5, in order, in batches of at most 3.
	for id := range net.cores {
		var idx []uint64
		for _, e := range net.committed[wire.NodeID(id)] {
			idx = append(idx, e.Index)
		}
		if !slices.Equal(idx, []uint64{1, 2, 3, 4, 5}) {
			t.Fatalf("node %d applied %v", id, idx)
		}
	}
	c := mustCore(t, func() Config { c := testCfg(0, 1); c.MaxApplyEntries = 3; return c }(), wire.HardState{Term: 1, Vote: 0}, logOf(1, 1, 1, 1, 1, 1, 1), 0)
	makeLeader(c)
	var sizes []int
	for c.HasReady() {
		sizes = append(sizes, len(flush(c).CommittedEntries))
	}
	if !slices.Equal(sizes, []int{0, 3, 3, 2}) {
		t.Fatalf("committed entries per Ready %v, want [0 3 3 2]", sizes)
	}
}

// BenchmarkProposeLongLog measures one proposal on a leader whose log is
// already long: appending must not copy the whole log.
func BenchmarkProposeLongLog(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("log=%d", n), func(b *testing.B) {
			terms := make([]uint64, n)
			for i := range terms {
				terms[i] = 1
			}
			c := mustCore(b, testCfg(0, 1), wire.HardState{Term: 1, Vote: 0}, logOf(terms...), uint64(n))
			makeLeader(c)
			flush(c)
			data := []byte("payload")
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, _, err := c.Propose(data); err != nil {
					b.Fatal(err)
				}
				for c.HasReady() {
					flush(c)
				}
			}
		})
	}
}
