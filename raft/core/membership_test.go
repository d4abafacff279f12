package core

import (
	"errors"
	"fmt"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

func testMember(id wire.NodeID) Member {
	return Member{ID: id, RaftAddr: fmt.Sprintf("tcp://127.0.0.1:%d", 7000+id), HTTPAddr: fmt.Sprintf("127.0.0.1:%d", 8000+id)}
}

// newGrowNet builds voters bootstrapped cores plus extra cores that start
// empty, as `kvserver --join` does, and elects node 0.
func newGrowNet(t *testing.T, voters, extra int) *testNet {
	t.Helper()
	cores := make([]*Core, voters+extra)
	for i := range cores {
		cfg := testCfg(wire.NodeID(i), voters)
		cfg.Peers = nil
		if i < voters {
			for v := range voters {
				cfg.Bootstrap.Members = append(cfg.Bootstrap.Members, testMember(wire.NodeID(v)))
			}
		}
		cores[i] = mustCore(t, cfg, wire.HardState{}, nil, 0)
	}
	n := newTestNet(t, cores...)
	n.elect(0)
	return n
}

func mustConf(t *testing.T, n *testNet, cc ConfChange) uint64 {
	t.Helper()
	idx, _, err := n.cores[0].ProposeConfChange(cc)
	if err != nil {
		t.Fatalf("%v %d: %v", cc.Type, cc.Member.ID, err)
	}
	n.settle()
	if got := n.cores[0].Committed(); got < idx {
		t.Fatalf("%v %d at %d not committed (commit %d)", cc.Type, cc.Member.ID, idx, got)
	}
	return idx
}

func TestLearnerReceivesLogButNeverCampaigns(t *testing.T) {
	n := newGrowNet(t, 3, 1)
	mustConf(t, n, ConfChange{Type: ConfAddLearner, Member: testMember(3)})
	if _, _, err := n.cores[0].Propose([]byte("x")); err != nil {
		t.Fatal(err)
	}
	n.settle()
	l := n.cores[3]
	if l.LastIndex() != n.cores[0].LastIndex() || l.Committed() != n.cores[0].Committed() {
		t.Fatalf("learner log %d/%d, leader %d/%d", l.LastIndex(), l.Committed(), n.cores[0].LastIndex(), n.cores[0].Committed())
	}
	m, _ := l.Membership()
	if mb, ok := m.Get(3); !ok || !mb.Learner || mb.RaftAddr != testMember(3).RaftAddr {
		t.Fatalf("learner's own view of itself: %+v (found %v)", mb, ok)
	}
	for range 10 * l.cfg.ElectionTickMax {
		l.Tick()
	}
	if l.role != Follower || l.term != n.cores[0].term {
		t.Fatalf("learner campaigned: role %v term %d", l.role, l.term)
	}
	l.Step(wire.Message{Type: wire.MsgTimeoutNow, From: 0, To: 3, Term: l.term})
	if l.role != Follower {
		t.Fatalf("learner obeyed MsgTimeoutNow: role %v", l.role)
	}
}

func TestLearnerAcksDoNotCommit(t *testing.T) {
	n := newGrowNet(t, 3, 1)
	mustConf(t, n, ConfChange{Type: ConfAddLearner, Member: testMember(3)})
	// Only the learner hears the leader now.
	n.drop = func(m *wire.Message) bool { return m.To == 1 || m.To == 2 }
	idx, _, _ := n.cores[0].Propose([]byte("x"))
	n.settle()
	if n.cores[3].LastIndex() < idx {
		t.Fatalf("learner did not get entry %d", idx)
	}
	if c := n.cores[0].Committed(); c >= idx {
		t.Fatalf("entry %d committed with only the leader and a learner (commit %d)", idx, c)
	}
}

func TestLearnerVoteNotCounted(t *testing.T) {
	c := mustCore(t, Config{ID: 0, Bootstrap: Membership{Members: []Member{
		testMember(0), testMember(1), testMember(2), {ID: 3, RaftAddr: "tcp://x:1", HTTPAddr: "x:2", Learner: true},
		{ID: 4, RaftAddr: "tcp://y:1", HTTPAddr: "y:2", Learner: true}}},
		ElectionTickMin: 10, ElectionTickMax: 20, HeartbeatTick: 1}, wire.HardState{}, nil, 0)
	c.campaign(false)
	for _, m := range msgsOf(flush(c).Messages, wire.MsgVote) {
		if m.To == 3 || m.To == 4 {
			t.Fatalf("vote requested from learner %d", m.To)
		}
	}
	for _, from := range []wire.NodeID{3, 4} {
		c.Step(wire.Message{Type: wire.MsgVoteResp, From: from, To: 0, Term: c.term})
	}
	if c.role != Candidate {
		t.Fatalf("learners' grants decided the election: role %v", c.role)
	}
	c.Step(wire.Message{Type: wire.MsgVoteResp, From: 1, To: 0, Term: c.term})
	if c.role != Leader {
		t.Fatalf("two of three voters granted, role %v", c.role)
	}
}

func TestConfChangeRefusals(t *testing.T) {
	n := newGrowNet(t, 3, 1)
	ld := n.cores[0]
	bad := testMember(5)
	bad.RaftAddr = "127.0.0.1:7005"
	dupAddr := testMember(6)
	dupAddr.HTTPAddr = testMember(1).HTTPAddr
	tests := []struct {
		name string
		cc   ConfChange
		want error
	}{
		{"add existing id", ConfChange{Type: ConfAddLearner, Member: testMember(1)}, ErrMemberExists},
		{"add with an address in use", ConfChange{Type: ConfAddLearner, Member: dupAddr}, ErrMemberExists},
		{"add without tcp://", ConfChange{Type: ConfAddLearner, Member: bad}, ErrBadMember},
		{"add without http addr", ConfChange{Type: ConfAddLearner, Member: Member{ID: 7, RaftAddr: "tcp://h:1"}}, ErrBadMember},
		{"promote unknown", ConfChange{Type: ConfPromote, Member: Member{ID: 9}}, ErrNoSuchMember},
		{"promote a voter", ConfChange{Type: ConfPromote, Member: Member{ID: 1}}, ErrNotLearner},
		{"remove unknown", ConfChange{Type: ConfRemove, Member: Member{ID: 9}}, ErrNoSuchMember},
		{"unknown type", ConfChange{Type: 99, Member: testMember(8)}, ErrBadMember},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			last := ld.LastIndex()
			if _, _, err := ld.ProposeConfChange(tt.cc); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if ld.LastIndex() != last {
				t.Fatal("a refused change was appended")
			}
		})
	}
	t.Run("follower", func(t *testing.T) {
		var nl *NotLeaderError
		if _, _, err := n.cores[1].ProposeConfChange(ConfChange{Type: ConfAddLearner, Member: testMember(3)}); !errors.As(err, &nl) || nl.Leader != 0 {
			t.Fatalf("err = %v, want NotLeaderError naming 0", err)
		}
	})
	t.Run("second change in flight", func(t *testing.T) {
		n.drop = func(*wire.Message) bool { return true } // nothing commits
		if _, _, err := ld.ProposeConfChange(ConfChange{Type: ConfAddLearner, Member: testMember(3)}); err != nil {
			t.Fatal(err)
		}
		_, _, err := ld.ProposeConfChange(ConfChange{Type: ConfRemove, Member: Member{ID: 2}})
		if !errors.Is(err, ErrConfChangeInFlight) {
			t.Fatalf("err = %v, want ErrConfChangeInFlight", err)
		}
		n.drop = nil
		n.settle()
		if _, _, err := ld.ProposeConfChange(ConfChange{Type: ConfRemove, Member: Member{ID: 2}}); err != nil {
			t.Fatalf("after the first committed: %v", err)
		}
	})
}

func TestNewLeaderRefusesChangeBeforeItsFirstCommit(t *testing.T) {
	c := mustCore(t, testCfg(0, 3), wire.HardState{}, nil, 0)
	makeLeader(c)
	_, _, err := c.ProposeConfChange(ConfChange{Type: ConfAddLearner, Member: testMember(3)})
	if !errors.Is(err, ErrConfChangeTooEarly) {
		t.Fatalf("err = %v, want ErrConfChangeTooEarly", err)
	}
	flush(c)
	c.Step(wire.Message{Type: wire.MsgAppResp, From: 1, To: 0, Term: c.term, Index: c.LastIndex()})
	if _, _, err := c.ProposeConfChange(ConfChange{Type: ConfAddLearner, Member: testMember(3)}); err != nil {
		t.Fatalf("after the no-op committed: %v", err)
	}
}

func TestPromoteLaggingLearnerRefused(t *testing.T) {
	n := newGrowNet(t, 3, 1)
	ld := n.cores[0]
	ld.cfg.MaxPromoteLag = 5
	mustConf(t, n, ConfChange{Type: ConfAddLearner, Member: testMember(3)})
	n.drop = func(m *wire.Message) bool { return m.To == 3 }
	for range 10 {
		ld.Propose([]byte("x"))
	}
	n.settle()
	_, _, err := ld.ProposeConfChange(ConfChange{Type: ConfPromote, Member: Member{ID: 3}})
	var lb *LearnerBehindError
	if !errors.As(err, &lb) || !errors.Is(err, ErrLearnerBehind) || lb.Last-lb.Match < 10 {
		t.Fatalf("err = %v, want LearnerBehindError at least 10 behind", err)
	}
	n.drop = nil
	ld.bcastHeartbeat(0)
	n.settle()
	mustConf(t, n, ConfChange{Type: ConfPromote, Member: Member{ID: 3}})
	for _, c := range n.cores {
		if m, _ := c.Membership(); !m.IsVoter(3) {
			t.Fatalf("node %d does not see 3 as a voter: %+v", c.id, m)
		}
	}
}

func TestRemoveLastVoterRefused(t *testing.T) {
	c := mustCore(t, testCfg(0, 1), wire.HardState{}, nil, 0)
	c.campaign(false)
	flush(c)
	if _, _, err := c.ProposeConfChange(ConfChange{Type: ConfRemove, Member: Member{ID: 0}}); !errors.Is(err, ErrLastVoter) {
		t.Fatalf("err = %v, want ErrLastVoter", err)
	}
}

func TestRemovedLeaderHandsOverAndStepsDown(t *testing.T) {
	n := newGrowNet(t, 3, 0)
	ld := n.cores[0]
	idx, _, err := ld.ProposeConfChange(ConfChange{Type: ConfRemove, Member: Member{ID: 0}})
	if err != nil {
		t.Fatal(err)
	}
	n.settle()
	if ld.role == Leader {
		t.Fatal("removed leader still leads")
	}
	if n.count(func(m wire.Message) bool { return m.Type == wire.MsgTimeoutNow && m.From == 0 }) != 1 {
		t.Fatal("removed leader did not hand over")
	}
	newLead := n.cores[1].lead
	if newLead != 1 && newLead != 2 || n.cores[newLead].role != Leader {
		t.Fatalf("no leader among the remaining voters (1 sees %d)", newLead)
	}
	if c := n.cores[newLead].Committed(); c < idx {
		t.Fatalf("new leader committed %d < removal %d", c, idx)
	}
	// The remaining two commit without node 0.
	n.drop = func(m *wire.Message) bool { return m.To == 0 || m.From == 0 }
	i, _, _ := n.cores[newLead].Propose([]byte("y"))
	n.settle()
	if n.cores[newLead].Committed() < i {
		t.Fatal("the two remaining voters cannot commit")
	}
	for range 10 * ld.cfg.ElectionTickMax {
		ld.Tick()
	}
	if ld.role != Follower {
		t.Fatalf("removed node campaigns: %v", ld.role)
	}
}

func TestTransferNeverPicksLearner(t *testing.T) {
	n := newGrowNet(t, 2, 1)
	mustConf(t, n, ConfChange{Type: ConfAddLearner, Member: testMember(2)})
	ld := n.cores[0]
	// The learner is the most up to date; the voter lags.
	n.drop = func(m *wire.Message) bool { return m.To == 1 }
	ld.Propose([]byte("x"))
	n.settle()
	if got := ld.bestTransferee(); got != 1 {
		t.Fatalf("bestTransferee = %d, want the voter 1", got)
	}
	if err := ld.TransferLeader(2); err != nil || ld.Transferee() != wire.None {
		t.Fatalf("transfer to a learner started: err %v transferee %d", err, ld.Transferee())
	}
}

func TestUncommittedConfChangeRolledBack(t *testing.T) {
	f := mustCore(t, testCfg(1, 3), wire.HardState{}, nil, 0)
	grown, _ := NewMembership(0, 1, 2).apply(ConfChange{Type: ConfAddLearner, Member: testMember(3)})
	// Leader 0 of term 1 sends a change that never commits...
	f.Step(wire.Message{Type: wire.MsgApp, From: 0, To: 1, Term: 1, Entries: []wire.Entry{
		{Index: 1, Term: 1, Type: wire.EntryNoop}, {Index: 2, Term: 1, Type: wire.EntryConfChange, Data: EncodeMembership(grown)}}})
	if m, idx := f.Membership(); !m.Contains(3) || idx != 2 {
		t.Fatalf("follower did not adopt the appended change: %+v at %d", m, idx)
	}
	// ...and leader 2 of term 2 overwrites it.
	f.Step(wire.Message{Type: wire.MsgApp, From: 2, To: 1, Term: 2, Index: 1, LogTerm: 1, Entries: []wire.Entry{{Index: 2, Term: 2, Type: wire.EntryNoop}}})
	if m, idx := f.Membership(); m.Contains(3) || idx != 0 {
		t.Fatalf("follower kept an overwritten change: %+v at %d", m, idx)
	}
}

func TestMembershipSurvivesRestart(t *testing.T) {
	n := newGrowNet(t, 3, 1)
	mustConf(t, n, ConfChange{Type: ConfAddLearner, Member: testMember(3)})
	n.cores[0].Propose([]byte("x"))
	n.settle()
	want, wantIdx := n.cores[0].Membership()
	var ents []wire.Entry
	src := n.cores[3]
	for i := src.log.firstIndex(); i <= src.log.lastIndex(); i++ {
		ents = append(ents, src.log.ents[i-src.log.ents[0].Index])
	}
	cfgJoin := testCfg(3, 3)
	cfgJoin.Peers = nil
	t.Run("from the log", func(t *testing.T) {
		c := mustCore(t, cfgJoin, wire.HardState{Term: src.term}, ents, src.Committed())
		if m, idx := c.Membership(); !m.Equal(want) || idx != wantIdx {
			t.Fatalf("restarted with %+v at %d, want %+v at %d", m, idx, want, wantIdx)
		}
	})
	t.Run("from a snapshot that compacted the change away", func(t *testing.T) {
		last := ents[len(ents)-1]
		snapConf := want.Clone()
		c, err := NewCoreFrom(cfgJoin, InitialState{Hard: wire.HardState{Term: src.term},
			Snapshot: SnapshotInfo{Index: last.Index, Term: last.Term}, SnapshotConf: &snapConf, Applied: last.Index})
		if err != nil {
			t.Fatal(err)
		}
		if m, idx := c.Membership(); !m.Equal(want) || idx != last.Index {
			t.Fatalf("restarted with %+v at %d, want %+v at %d", m, idx, want, last.Index)
		}
		if !c.isVoter() == want.IsVoter(3) {
			t.Fatal("voter status not recovered")
		}
	})
	t.Run("compaction keeps the current one", func(t *testing.T) {
		c := mustCore(t, cfgJoin, wire.HardState{Term: src.term}, ents, src.Committed())
		c.SetSnapshot(SnapshotInfo{Index: c.Committed(), Term: src.term})
		if err := c.Compact(c.Committed()); err != nil {
			t.Fatal(err)
		}
		if m, _ := c.Membership(); !m.Equal(want) || len(c.confs) != 1 {
			t.Fatalf("after compaction: %+v (%d configurations kept)", m, len(c.confs))
		}
	})
}

func TestAutoPromote(t *testing.T) {
	n := newGrowNet(t, 3, 1)
	ld := n.cores[0]
	ld.cfg.AutoPromoteTicks = 5
	mustConf(t, n, ConfChange{Type: ConfAddLearner, Member: testMember(3)})
	for i := 0; i < 4; i++ {
		ld.Tick()
		n.settle()
	}
	if m, _ := ld.Membership(); m.IsVoter(3) {
		t.Fatal("promoted before AutoPromoteTicks")
	}
	for i := 0; i < 5; i++ {
		ld.Tick()
		n.settle()
	}
	if m, _ := n.cores[3].Membership(); !m.IsVoter(3) {
		t.Fatalf("not promoted after %d ticks caught up: %+v", 9, m)
	}
}

func TestMembershipCodec(t *testing.T) {
	m := Membership{Members: []Member{testMember(2), {ID: 1, RaftAddr: "tcp://a:1", HTTPAddr: "a:2", Learner: true}}}
	got, err := DecodeMembership(EncodeMembership(m))
	if err != nil {
		t.Fatal(err)
	}
	if got.Members[0].ID != 1 || !got.Members[0].Learner || got.Members[1] != testMember(2) {
		t.Fatalf("round trip: %+v", got)
	}
	for _, bad := range []string{"", "{", `{"members":[{"id":1},{"id":1}]}`, `{"members":"x"}`} {
		if _, err := DecodeMembership([]byte(bad)); err == nil {
			t.Errorf("DecodeMembership(%q) accepted", bad)
		}
	}
}

func TestRemovedFollowerLearnsItIsOut(t *testing.T) {
	n := newGrowNet(t, 3, 0)
	idx := mustConf(t, n, ConfChange{Type: ConfRemove, Member: Member{ID: 2}})
	gone := n.cores[2]
	if m, _ := gone.Membership(); m.Contains(2) || gone.Committed() < idx {
		t.Fatalf("removed node: membership %+v, commit %d < removal %d", m, gone.Committed(), idx)
	}
	// The leader forgets it: later entries commit on 0 and 1 and are not sent to 2.
	before := n.count(func(m wire.Message) bool { return m.To == 2 })
	i, _, _ := n.cores[0].Propose([]byte("x"))
	n.settle()
	if n.cores[0].Committed() < i || n.count(func(m wire.Message) bool { return m.To == 2 }) != before {
		t.Fatal("leader still replicates to the removed node, or cannot commit without it")
	}
	if _, ok := n.cores[0].prs[2]; ok {
		t.Fatal("leader kept the removed node's progress")
	}
}

// TestWhoMayVote: a node votes unless it cannot know it is the member the
// candidate counts on. Refusing a removed member's vote can deadlock a
// configuration that still needs it (simulation seed 483); a node that
// joined must not take an entry about its id from before it was recorded
// as its own (a wiped member replaying its old life's log: seed 539).
func TestWhoMayVote(t *testing.T) {
	old := testMember(0)
	old.Incarnation = 7
	self := testMember(0)
	self.Incarnation = 3
	learner := Member{ID: 0, RaftAddr: "tcp://x:1", HTTPAddr: "x:2", Learner: true}
	tests := []struct {
		name  string
		boot  bool // started from a bootstrap membership (else: joined)
		confs [][]Member
		grant bool
	}{
		{"bootstrap member, incarnation not recorded", true, [][]Member{{testMember(0), testMember(1)}}, true},
		{"joined member, recorded", false, [][]Member{{self, testMember(1)}}, true},
		{"joined, named with no incarnation (another life's history)", false, [][]Member{{testMember(0), testMember(1)}}, false},
		{"no configuration (wiped or joining)", false, nil, false},
		{"configuration names another incarnation", true, [][]Member{{old, testMember(1)}}, false},
		{"bootstrap member the configuration does not name (removed or stale)", true, [][]Member{{testMember(1), testMember(2)}}, true},
		{"joined, never named", false, [][]Member{{testMember(1), testMember(2)}}, false},
		{"joined, named, then not (removed or stale)", false, [][]Member{{self, testMember(1)}, {testMember(1), testMember(2)}}, true},
		{"learner", true, [][]Member{{learner, testMember(1)}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testCfg(0, 0)
			cfg.Peers, cfg.Incarnation = nil, 3
			if tt.boot {
				cfg.Bootstrap = NewMembership(0, 1)
			}
			// The configurations come from the log, as a node that was
			// removed or demoted would hold them.
			var ents []wire.Entry
			for i, m := range tt.confs {
				ents = append(ents, wire.Entry{Index: uint64(i + 1), Term: 1, Type: wire.EntryConfChange, Data: EncodeMembership(Membership{Members: m})})
			}
			c := mustCore(t, cfg, wire.HardState{Term: 1}, ents, 0)
			c.Step(wire.Message{Type: wire.MsgVote, From: 1, To: 0, Term: 2, Index: 5, LogTerm: 1})
			resp := msgsOf(flush(c).Messages, wire.MsgVoteResp)
			if len(resp) != 1 {
				t.Fatalf("vote answers: %+v", resp)
			}
			if granted := !resp[0].Reject; granted != tt.grant {
				t.Fatalf("granted %v, want %v", granted, tt.grant)
			}
			if tt.grant != (c.vote == 1) {
				t.Fatalf("recorded vote %d with grant %v", c.vote, tt.grant)
			}
		})
	}
}

// TestRecordIncarnation: a bootstrap member's incarnation is recorded once;
// afterwards a wiped copy of it (another incarnation) learns from the log
// that it is not that member, and gives no vote.
func TestRecordIncarnation(t *testing.T) {
	n := newGrowNet(t, 3, 0)
	ld := n.cores[0]
	rec := func(id wire.NodeID, inc uint64) ConfChange {
		return ConfChange{Type: ConfRecordIncarnation, Member: Member{ID: id, Incarnation: inc}}
	}
	mustConf(t, n, rec(1, 101))
	if mb, _ := ld.members.Get(1); mb.Incarnation != 101 || mb.Learner {
		t.Fatalf("member 1 after recording: %+v", mb)
	}
	for _, tt := range []struct {
		name string
		cc   ConfChange
		want error
	}{
		{"again, same", rec(1, 101), ErrIncarnationRecorded},
		{"again, another", rec(1, 202), ErrMemberExists},
		{"unknown member", rec(9, 5), ErrNoSuchMember},
		{"zero", rec(2, 0), ErrBadMember},
	} {
		if _, _, err := ld.ProposeConfChange(tt.cc); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}

	// Node 1's disk is wiped: it comes back bootstrapped from config.json,
	// in a new incarnation. Until the leader's log reaches it, it cannot
	// know; once it does, it must not vote.
	cfg := testCfg(1, 3)
	cfg.Peers = nil
	cfg.Incarnation = 999
	for v := range 3 {
		cfg.Bootstrap.Members = append(cfg.Bootstrap.Members, testMember(wire.NodeID(v)))
	}
	n.cores[1] = mustCore(t, cfg, wire.HardState{}, nil, 0)
	mustConf(t, n, rec(2, 102)) // node 1 refuses it (empty log): the leader probes
	for range 3 {
		ld.Tick() // heartbeats resume the probe
		n.settle()
	}
	wiped := n.cores[1]
	if mb, _ := wiped.members.Get(1); mb.Incarnation != 101 {
		t.Fatalf("the wiped node did not get the log's membership: %+v", wiped.members)
	}
	if wiped.mayVote() || wiped.mayCampaign() {
		t.Fatal("a wiped copy of a recorded member may vote or campaign")
	}
}

// The first membership change names the cluster; later changes keep the
// name, and every member holds the same one.
func TestFirstChangeNamesCluster(t *testing.T) {
	n := newGrowNet(t, 3, 1)
	if id := n.cores[0].members.ClusterID; id != 0 {
		t.Fatalf("a bootstrap membership has cluster id %x", id)
	}
	mustConf(t, n, ConfChange{Type: ConfAddLearner, Member: testMember(3)})
	id := n.cores[0].members.ClusterID
	if id == 0 {
		t.Fatal("the first change left the cluster unnamed")
	}
	mustConf(t, n, ConfChange{Type: ConfRemove, Member: Member{ID: 3}})
	for i, c := range n.cores[:3] {
		if got := c.members.ClusterID; got != id {
			t.Errorf("node %d: cluster id %x, want %x", i, got, id)
		}
	}
}
