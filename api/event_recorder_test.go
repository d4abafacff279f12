package api

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

func TestEventRecorder(t *testing.T) {
	store := newFakeStore()
	node := newLeader(store)
	r := newEventRecorder(5)
	r.start(node)
	r.start(node) // idempotent
	if n := node.subscribers(); n != 1 {
		t.Fatalf("%d subscriptions, want 1", n)
	}
	at := time.Unix(50, 0)
	node.emit(raft.Event{Time: at, Kind: raft.EventElection, Node: 5, Term: 2, Role: core.Candidate, Leader: wire.None, Cause: core.CauseTransfer})
	node.emit(raft.Event{Time: at, Kind: raft.EventLeader, Node: 5, Term: 2, Role: core.Follower, Leader: 3})
	waitFor(t, "two events", func() bool { return len(r.since(0)) == 2 })
	evs := r.since(0)
	if e := evs[0]; e.Node != 5 || e.Seq != 1 || e.Boot != r.boot || !e.Time.Equal(at) || e.Kind != "election" ||
		e.Role != "candidate" || e.Leader != nil || e.Cause != "transfer" || e.Term != 2 {
		t.Errorf("first event %+v", e)
	}
	if e := evs[1]; e.Seq != 2 || e.Leader == nil || *e.Leader != 3 || e.Cause != "" {
		t.Errorf("second event %+v", e)
	}
	if got := r.since(1); len(got) != 1 || got[0].Seq != 2 {
		t.Errorf("since(1) = %+v", got)
	}
	select {
	case <-r.notify:
	default:
		t.Error("no wake-up after new events")
	}

	// In two halves, each within the subscription's buffer: a full channel
	// drops events, as the real node's does.
	for _, upTo := range []uint64{recentEvents/2 + 2, recentEvents + 12} {
		for n := r.since(0)[len(r.since(0))-1].Seq; n < upTo; n++ {
			node.emit(raft.Event{Kind: raft.EventRole, Leader: wire.None})
		}
		waitFor(t, "the events", func() bool { evs := r.since(0); return evs[len(evs)-1].Seq == upTo })
	}
	if all := r.since(0); len(all) != recentEvents || all[0].Seq != 13 {
		t.Errorf("ring holds %d events from seq %d, want %d from 13", len(all), all[0].Seq, recentEvents)
	}
	if got := r.recent(3); len(got) != 3 || got[2].Seq != recentEvents+12 {
		t.Errorf("recent(3) = %+v", got)
	}

	r.close()
	r.close()
	if n := node.subscribers(); n != 0 {
		t.Errorf("%d subscriptions after close, want 0", n)
	}
	r.start(node)
	if n := node.subscribers(); n != 0 {
		t.Error("start after close subscribed again")
	}
}

// TestEventRecorderMembership: a membership event is kept with its index
// and members by id, and adds its fields to the JSON of no other event.
func TestEventRecorderMembership(t *testing.T) {
	store := newFakeStore()
	node := newLeader(store)
	r := newEventRecorder(5)
	r.start(node)
	defer r.close()
	at := time.Unix(50, 0).UTC()
	m := core.Membership{ClusterID: 9, Members: []core.Member{
		{ID: 1, RaftAddr: "tcp://a:1"}, {ID: 3, RaftAddr: "tcp://c:3", Learner: true}, {ID: 5, RaftAddr: "tcp://e:5"}}}
	node.emit(raft.Event{Time: at, Kind: raft.EventElection, Node: 5, Term: 2, Role: core.PreCandidate, Leader: wire.None, Cause: core.CauseTimeout})
	node.emit(raft.Event{Time: at, Kind: raft.EventMembership, Node: 5, Term: 2, Role: core.Leader, Leader: 5, Membership: m, ConfigIndex: 12})
	waitFor(t, "two events", func() bool { return len(r.since(0)) == 2 })
	evs := r.since(0)
	want := []string{
		`{"node":5,"boot":0,"seq":1,"time":"1970-01-01T00:00:50Z","kind":"election","term":2,"role":"precandidate","leader":null,"cause":"timeout"}`,
		`{"node":5,"boot":0,"seq":2,"time":"1970-01-01T00:00:50Z","kind":"membership","term":2,"role":"leader","leader":5,"config_index":12,"voters":[1,5],"learners":[3]}`,
	}
	for i, e := range evs {
		e.Boot = 0 // a clock reading
		got, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want[i] {
			t.Errorf("event %d as JSON:\n got %s\nwant %s", i, got, want[i])
		}
	}
}
