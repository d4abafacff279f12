package api

import (
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
