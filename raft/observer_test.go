package raft_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// recorder is an Observer that keeps everything it is told.
type recorder struct {
	mu               sync.Mutex // guards every field
	proposed         int
	refused          int
	persists         int
	persistedEntries int
	applies          int
	appliedEntries   int
	snaps            map[string][]snapObs
	sent, recv       map[wire.NodeID]map[wire.MessageType]int
	events           []raft.Event
	// told holds every member a membership event named; untold, the
	// peers sent to before one did.
	told   map[wire.NodeID]bool
	untold []wire.NodeID
}

type snapObs struct {
	took  time.Duration
	bytes int64
	err   error
}

func newRecorder() *recorder {
	return &recorder{snaps: map[string][]snapObs{}, told: map[wire.NodeID]bool{},
		sent: map[wire.NodeID]map[wire.MessageType]int{}, recv: map[wire.NodeID]map[wire.MessageType]int{}}
}

func (r *recorder) ObserveProposals(n int, accepted bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if accepted {
		r.proposed += n
	} else {
		r.refused += n
	}
}

func (r *recorder) ObservePersist(entries int, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.persists++
	r.persistedEntries += entries
}

func (r *recorder) ObserveApply(entries int, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applies++
	r.appliedEntries += entries
}

func (r *recorder) ObserveSnapshot(kind string, d time.Duration, bytes int64, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snaps[kind] = append(r.snaps[kind], snapObs{d, bytes, err})
}

func (r *recorder) ObserveMessage(dir raft.Direction, peer wire.NodeID, t wire.MessageType, entries int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.sent
	if dir == raft.DirReceived {
		m = r.recv
	} else if !r.told[peer] {
		r.untold = append(r.untold, peer)
	}
	if m[peer] == nil {
		m[peer] = map[wire.MessageType]int{}
	}
	m[peer][t]++
}

func (r *recorder) ObserveEvent(e raft.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	for _, mb := range e.Membership.Members {
		r.told[mb.ID] = true
	}
}

func (r *recorder) memberships() []raft.Event {
	var evs []raft.Event
	r.read(func(r *recorder) bool {
		for _, e := range r.events {
			if e.Kind == raft.EventMembership {
				evs = append(evs, e)
			}
		}
		return true
	})
	return evs
}

// read runs f under the lock, for a consistent look at several fields.
func (r *recorder) read(f func(r *recorder) bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return f(r)
}

func (r *recorder) hasEvent(match func(raft.Event) bool) bool {
	return r.read(func(r *recorder) bool {
		for _, e := range r.events {
			if match(e) {
				return true
			}
		}
		return false
	})
}

func (r *recorder) goodSnapshots(kind string) int {
	n := 0
	r.read(func(r *recorder) bool {
		for _, s := range r.snaps[kind] {
			if s.err == nil && s.bytes > 0 && s.took > 0 {
				n++
			}
		}
		return true
	})
	return n
}

func observedCluster(t *testing.T, snapEvery uint64) (*testCluster, map[wire.NodeID]*recorder) {
	recs := map[wire.NodeID]*recorder{}
	obs := map[wire.NodeID]raft.Observer{}
	for id := range wire.NodeID(3) {
		recs[id] = newRecorder()
		obs[id] = recs[id]
	}
	return newObservedCluster(t, 3, snapEvery, obs), recs
}

// TestObserverSeesNodeWork: the Observer hears of proposals, fsyncs,
// applies, messages each way, events and snapshots, on the node where
// each happens.
func TestObserverSeesNodeWork(t *testing.T) {
	c, recs := observedCluster(t, 1<<30)
	lead := c.leader()
	follower := (lead + 1) % 3
	c.write(lead, "v", 20)
	// The first leader's no-op and the 20 writes.
	for id, r := range recs {
		waitFor(t, "every entry applied and observed", func() bool {
			return r.read(func(r *recorder) bool { return r.appliedEntries >= 21 && r.applies >= 1 })
		})
		if id != lead && !r.hasEvent(func(e raft.Event) bool { return e.Kind == raft.EventLeader && e.Leader == lead }) {
			t.Errorf("node %d: no leader event naming %d", id, lead)
		}
	}
	lr := recs[lead]
	lr.read(func(r *recorder) bool {
		if r.proposed != 20 || r.refused != 0 {
			t.Errorf("leader: %d proposals accepted, %d refused; want 20 and 0", r.proposed, r.refused)
		}
		if r.persists == 0 || r.persistedEntries < 21 {
			t.Errorf("leader: %d persists of %d entries; want at least 21 entries", r.persists, r.persistedEntries)
		}
		for _, id := range c.ids {
			if id == lead {
				continue
			}
			if r.sent[id][wire.MsgApp] == 0 || r.recv[id][wire.MsgAppResp] == 0 {
				t.Errorf("leader: MsgApp sent to %d: %d, MsgAppResp received: %d", id, r.sent[id][wire.MsgApp], r.recv[id][wire.MsgAppResp])
			}
		}
		if r.sent[lead] != nil || r.recv[lead] != nil {
			t.Errorf("leader counted messages to or from itself: %v %v", r.sent[lead], r.recv[lead])
		}
		return true
	})
	if !lr.hasEvent(func(e raft.Event) bool { return e.Kind == raft.EventElection && e.Cause == core.CauseTimeout }) {
		t.Error("leader: no election event with cause timeout")
	}
	fr := recs[follower]
	fr.read(func(r *recorder) bool {
		if r.recv[lead][wire.MsgApp] == 0 || r.sent[lead][wire.MsgAppResp] == 0 {
			t.Errorf("follower: MsgApp received %d, MsgAppResp sent %d", r.recv[lead][wire.MsgApp], r.sent[lead][wire.MsgAppResp])
		}
		return true
	})

	// A proposal on a follower is forwarded: the leader counts it, the
	// follower counts nothing.
	if _, err := c.propose(follower, "x"); err != nil {
		t.Fatalf("propose on follower: %v", err)
	}
	fr.read(func(r *recorder) bool {
		if r.refused != 0 || r.proposed != 0 {
			t.Errorf("follower: refused %d accepted %d, want 0 and 0", r.refused, r.proposed)
		}
		return true
	})
	lr.read(func(r *recorder) bool {
		if r.proposed != 21 || r.refused != 0 {
			t.Errorf("leader after a forwarded proposal: %d accepted, %d refused; want 21 and 0", r.proposed, r.refused)
		}
		return true
	})

	// A transfer makes the target campaign with cause "transfer".
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.nodes[lead].node.TransferLeadership(ctx, follower); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a transfer election observed", func() bool {
		return fr.hasEvent(func(e raft.Event) bool { return e.Kind == raft.EventElection && e.Cause == core.CauseTransfer })
	})

	// A snapshot taken is observed with its size.
	if _, err := c.nodes[follower].node.SnapshotNow(ctx); err != nil {
		t.Fatal(err)
	}
	if n := fr.goodSnapshots(raft.SnapshotTaken); n != 1 {
		t.Fatalf("follower observed %d good snapshots taken, want 1: %+v", n, fr.snaps)
	}
}

// TestObserverSeesSnapshotSentAndInstalled: a follower that fell behind
// the compacted log gets a snapshot; the leader observes sending it and
// the follower installing it.
func TestObserverSeesSnapshotSentAndInstalled(t *testing.T) {
	c, recs := observedCluster(t, 20)
	lead := c.leader()
	lagger := (lead + 1) % 3
	c.net.Isolate(lagger)
	c.stop(lagger)
	c.write(lead, "v", 100)
	waitFor(t, "the leader to compact past the lagger", func() bool {
		return c.nodes[lead].node.Status().FirstIndex > 50
	})
	if recs[lead].goodSnapshots(raft.SnapshotTaken) == 0 {
		t.Fatal("the leader compacted without an observed snapshot")
	}
	c.net.Heal()
	c.start(lagger)
	waitFor(t, "the snapshot sent and installed", func() bool {
		return recs[lead].goodSnapshots(raft.SnapshotSent) > 0 && recs[lagger].goodSnapshots(raft.SnapshotInstalled) > 0
	})
	// The chunks are the transport's traffic (its counters see them); the
	// Observer sees the file: the same size left the leader and arrived.
	sent, installed := recs[lead].snapshotBytes(raft.SnapshotSent), recs[lagger].snapshotBytes(raft.SnapshotInstalled)
	if !slices.ContainsFunc(sent, func(b int64) bool { return slices.Contains(installed, b) }) {
		t.Errorf("snapshot bytes sent %v, installed %v: want the same file", sent, installed)
	}
}

// snapshotBytes lists the sizes of the good snapshots of kind observed.
func (r *recorder) snapshotBytes(kind string) []int64 {
	var out []int64
	r.read(func(r *recorder) bool {
		for _, s := range r.snaps[kind] {
			if s.err == nil {
				out = append(out, s.bytes)
			}
		}
		return true
	})
	return out
}

// TestObserverAndSubscriberSeeMembershipChange: a membership change is
// one EventMembership, to the Observer and to a subscriber alike, with
// the membership the change made and its entry's index; and the Observer
// hears of a new member before the first message to it is sent, which is
// what lets kvserver point its transport at a new learner in time.
func TestObserverAndSubscriberSeeMembershipChange(t *testing.T) {
	c, recs := observedCluster(t, 1<<30)
	// Before any subscriber can exist, during StartNode, the Observer is
	// told the membership the node starts with.
	for id, r := range recs {
		if evs := r.memberships(); len(evs) != 1 || evs[0].Node != id || !slices.Equal(evs[0].Membership.Voters(), c.boot) {
			t.Fatalf("node %d: membership events at start %+v, want one with voters %v", id, evs, c.boot)
		}
	}
	lead := c.leader()
	sub, cancel := c.nodes[lead].node.Subscribe(64)
	defer cancel()
	recs[3] = newRecorder()
	c.obs[3] = recs[3]
	c.join(3)
	ctx, cancelCtx := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelCtx()
	m, index, err := c.nodes[lead].node.ChangeMembership(ctx, core.ConfChange{Type: core.ConfAddLearner, Member: member(3)})
	if err != nil {
		t.Fatalf("add learner: %v", err)
	}
	if mb, ok := m.Get(3); !ok || !mb.Learner || len(m.Members) != 4 {
		t.Fatalf("membership after add: %+v", m)
	}
	// Events are emitted on the driver goroutine, so once every node has
	// applied a later entry, any further event the change caused would
	// have been recorded and queued.
	if _, err := c.propose(lead, "after"); err != nil {
		t.Fatalf("propose after the change: %v", err)
	}
	for _, id := range c.ids {
		waitFor(t, fmt.Sprintf("node %d to apply the entry after the change", id), func() bool { return c.nodes[id].sm.has("after") })
	}
	var published []raft.Event
	for len(sub) > 0 { // this test is the only reader: a receive cannot block
		if e := <-sub; e.Kind == raft.EventMembership {
			published = append(published, e)
		}
	}
	isChange := func(what string, e raft.Event, node wire.NodeID) {
		t.Helper()
		if e.Kind != raft.EventMembership || e.Node != node || e.ConfigIndex != index || !e.Membership.Equal(m) {
			t.Errorf("%s: %+v, want node %d's membership event for %+v at index %d", what, e, node, m, index)
		}
	}
	if len(published) != 1 {
		t.Fatalf("the subscriber got %d membership events, want 1: %+v", len(published), published)
	}
	isChange("published", published[0], lead)
	for _, id := range c.boot {
		evs := recs[id].memberships()
		if len(evs) != 2 {
			t.Fatalf("node %d observed %d membership events, want the one at start and the change's: %+v", id, len(evs), evs)
		}
		isChange(fmt.Sprintf("node %d observed", id), evs[1], id)
	}
	if e := recs[lead].memberships()[1]; !e.Time.Equal(published[0].Time) || e.Term != published[0].Term {
		t.Errorf("the Observer and the subscriber were told different events: %+v and %+v", e, published[0])
	}
	// The learner started with no membership and its log holds no older
	// configuration entry.
	if evs := recs[3].memberships(); len(evs) != 1 {
		t.Errorf("the new learner observed %d membership events, want 1: %+v", len(evs), evs)
	} else {
		isChange("the new learner observed", evs[0], 3)
	}
	recs[lead].read(func(r *recorder) bool {
		if r.sent[3][wire.MsgApp] == 0 {
			t.Errorf("the leader sent the learner no MsgApp: %v", r.sent[3])
		}
		if len(r.untold) > 0 {
			t.Errorf("the leader sent to %v before the Observer was told of them", r.untold)
		}
		return true
	})
}
