package core

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

// HardState is handed out only when term or vote change; commit and
// leadership changes do not cost an fsync of the hard state.
func TestReadyHardStateOnlyOnChange(t *testing.T) {
	c := mustCore(t, testCfg(1, 3), wire.HardState{Term: 1, Vote: wire.None}, nil, 0)
	steps := []struct {
		name string
		msg  wire.Message
		want *wire.HardState
	}{
		{"heartbeat names a leader", wire.Message{Type: wire.MsgHeartbeat, From: 0, Term: 1}, nil},
		{"append and commit", wire.Message{Type: wire.MsgApp, From: 0, Term: 1, Entries: []wire.Entry{{Index: 1, Term: 1}}, Commit: 1}, nil},
		{"same-term heartbeat", wire.Message{Type: wire.MsgHeartbeat, From: 0, Term: 1, Commit: 1}, nil},
		{"vote in a new term", wire.Message{Type: wire.MsgVote, From: 2, Term: 2, Index: 1, LogTerm: 1}, &wire.HardState{Term: 2, Vote: 2}},
		{"repeated vote", wire.Message{Type: wire.MsgVote, From: 2, Term: 2, Index: 1, LogTerm: 1}, nil},
		{"newer leader", wire.Message{Type: wire.MsgApp, From: 0, Term: 3, Index: 1, LogTerm: 1}, &wire.HardState{Term: 3, Vote: wire.None}},
		{"stale message", wire.Message{Type: wire.MsgApp, From: 2, Term: 2}, nil},
	}
	for _, st := range steps {
		m := st.msg
		m.To = 1
		c.Step(m)
		rd := flush(c)
		if (rd.HardState == nil) != (st.want == nil) || (st.want != nil && *rd.HardState != *st.want) {
			t.Fatalf("%s: HardState %+v, want %+v", st.name, rd.HardState, st.want)
		}
	}
}

// SoftState is reported when role, leader or the election count change,
// once.
func TestReadySoftState(t *testing.T) {
	net := newTestNetN(t, 3, nil)
	c := net.cores[1]
	c.campaign(false)
	rd := c.Ready()
	if rd.SoftState == nil || *rd.SoftState != (SoftState{Lead: wire.None, Role: Candidate, Elections: 1, ElectionCause: CauseTimeout}) {
		t.Fatalf("SoftState %+v, want candidate", rd.SoftState)
	}
	c.Advance(rd)
	if rd := c.Ready(); rd.SoftState != nil {
		t.Fatalf("SoftState repeated: %+v", rd.SoftState)
	}
	net.queue = append(net.queue, rd.Messages...)
	net.settle()
	if c.role != Leader {
		t.Fatalf("node 1 is %v after its election", c.role)
	}
	c.Step(wire.Message{Type: wire.MsgVoteResp, From: 0, To: 1, Term: 1}) // a late grant changes nothing
	if rd := c.Ready(); rd.SoftState != nil || c.role != Leader {
		t.Fatalf("after the election: %v, SoftState %+v", c.role, rd.SoftState)
	}
	if ss := net.cores[2].softState(); ss != (SoftState{Lead: 1, Role: Follower}) { // it never campaigned
		t.Fatalf("follower's soft state %+v", ss)
	}
}

// Entries are handed out for persistence exactly once, and a follower's
// overwritten suffix is handed out again with the new entries.
func TestReadyEntriesHandedOutOnce(t *testing.T) {
	ld := mustCore(t, testCfg(0, 1), wire.HardState{Term: 1, Vote: 0}, nil, 0)
	makeLeader(ld)
	if rd := flush(ld); len(rd.Entries) != 1 || rd.Entries[0].Type != wire.EntryNoop {
		t.Fatalf("leader's first Ready entries %+v, want its no-op", rd.Entries)
	}
	ld.Propose([]byte("a"))
	ld.Propose([]byte("b"), []byte("c"))
	rd := flush(ld)
	if got := indexes(rd.Entries); !slices.Equal(got, []uint64{2, 3, 4}) {
		t.Fatalf("entries %v, want 2-4", got)
	}
	for ld.HasReady() {
		if rd := flush(ld); len(rd.Entries) != 0 {
			t.Fatalf("entries handed out twice: %+v", rd.Entries)
		}
	}

	f := mustCore(t, testCfg(1, 3), wire.HardState{Term: 2}, logOf(1, 1, 1), 1)
	f.Step(wire.Message{Type: wire.MsgApp, From: 0, To: 1, Term: 2, Index: 1, LogTerm: 1,
		Entries: []wire.Entry{{Index: 2, Term: 2}, {Index: 3, Term: 2}, {Index: 4, Term: 2}}})
	rd = flush(f)
	if got := indexes(rd.Entries); !slices.Equal(got, []uint64{2, 3, 4}) || rd.Entries[0].Term != 2 {
		t.Fatalf("overwritten suffix handed out as %+v, want 2-4 of term 2", rd.Entries)
	}
	if f.HasReady() {
		t.Fatalf("more work after the overwrite: %+v", f.Ready())
	}
}

func indexes(ents []wire.Entry) []uint64 {
	var out []uint64
	for _, e := range ents {
		out = append(out, e.Index)
	}
	return out
}

// Committed entries are handed out in index order, each exactly once, on
// every node, whatever mix of proposals, ticks and batch limits.
func TestReadyCommittedEntriesExactlyOnce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	net := newTestNetN(t, 3, func(c *Config) { c.MaxApplyEntries = 2; c.MaxInflight = 2 })
	net.elect(0)
	ld := net.cores[0]
	for i := range 200 {
		switch rng.IntN(4) {
		case 0:
			ld.Propose([]byte{byte(i)})
		case 1:
			ld.Propose([]byte{byte(i)}, []byte{byte(i + 1)}, []byte{byte(i + 2)})
		case 2:
			ld.Tick()
		case 3:
			net.settle()
		}
	}
	net.settle()
	ld.Tick()
	net.settle()
	last := ld.LastIndex()
	for id := range net.cores {
		got := indexes(net.committed[wire.NodeID(id)])
		if uint64(len(got)) != last {
			t.Fatalf("node %d applied %d entries, want %d", id, len(got), last)
		}
		for i, idx := range got {
			if idx != uint64(i+1) {
				t.Fatalf("node %d applied %v", id, got)
			}
		}
	}
}

// A leader counts itself towards the quorum only once its own entries are
// reported durable: until then, acknowledgements from followers alone
// (short of a quorum without it) commit nothing.
func TestLeaderCountsItselfOnlyAfterAdvance(t *testing.T) {
	net := newTestNetN(t, 5, nil)
	net.elect(0)
	ld := net.cores[0]
	ld.Propose([]byte("x"))
	rd := ld.Ready()
	if len(rd.Entries) != 1 {
		t.Fatalf("entries %+v", rd.Entries)
	}
	apps := msgsOf(rd.Messages, wire.MsgApp)
	for _, m := range apps {
		if !m.SafeBeforePersist() {
			t.Fatal("the leader's appends must be allowed out before its own fsync")
		}
	}
	notYet := rd
	notYet.Entries = nil // the driver's write is still under way
	ld.Advance(notYet)
	for _, m := range apps {
		if m.To == 1 || m.To == 2 { // two of four followers: a quorum only with the leader
			net.cores[m.To].Step(m)
			for _, r := range flush(net.cores[m.To]).Messages {
				ld.Step(r)
			}
		}
	}
	if ld.Committed() != 1 {
		t.Fatalf("committed %d with two followers and an unpersisted leader", ld.Committed())
	}
	rd = ld.Ready()
	if len(rd.Entries) != 1 {
		t.Fatalf("unpersisted entry not handed out again: %+v", rd.Entries)
	}
	ld.Advance(rd)
	if ld.Committed() != 2 {
		t.Fatalf("committed %d once the leader's entry is durable, want 2", ld.Committed())
	}
}
