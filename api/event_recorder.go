package api

import (
	"sync"
	"time"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/wire"
)

const (
	// recentEvents is how many of this node's Raft events are kept for
	// the dashboard's timeline.
	recentEvents = 64
	// peerEvents is how many of them status?detail=1 hands to a peer's
	// dashboard twice a second: more than a burst of elections makes
	// between two polls, few enough to stay small.
	peerEvents = 16
)

// raftEvent is one election, leader, role or membership event as JSON.
// Boot and Seq identify it across nodes and reconnects: Seq counts up
// within one run of the node, Boot tells runs apart.
type raftEvent struct {
	Node   uint64    `json:"node"`
	Boot   int64     `json:"boot"`
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"`
	Term   uint64    `json:"term"`
	Role   string    `json:"role"` // precandidate kept apart here: the timeline teaches the phases
	Leader *uint64   `json:"leader"`
	Cause  string    `json:"cause,omitempty"`
	// A membership event's entry index and members, by id: enough for a
	// line of the timeline (/v1/cluster/members has the addresses).
	// Omitted from other events, whose JSON stays as it was.
	ConfigIndex uint64   `json:"config_index,omitempty"`
	Voters      []uint64 `json:"voters,omitempty"`
	Learners    []uint64 `json:"learners,omitempty"`
}

// eventRecorder keeps this node's recent Raft events. It subscribes to the
// node lazily (on the first dashboard or detail request, or RecordEvents)
// so that a Server nobody watches starts no goroutine.
type eventRecorder struct {
	node uint64
	boot int64
	// notify wakes the one reader (the dashboard hub) after new events; a
	// pending wake-up is enough, so it never blocks the recorder.
	notify chan struct{}

	mu      sync.Mutex // guards ring, seq, started, closed, stop and done
	ring    []raftEvent
	seq     uint64
	started bool
	closed  bool
	stop    chan struct{}
	done    chan struct{}
}

func newEventRecorder(node uint64) *eventRecorder {
	return &eventRecorder{node: node, boot: time.Now().UnixNano(), notify: make(chan struct{}, 1)}
}

// start subscribes to cons once; later calls, and calls after close, do
// nothing.
func (r *eventRecorder) start(cons Consensus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.closed {
		return
	}
	r.started = true
	ch, cancel := cons.Subscribe(recentEvents)
	r.stop, r.done = make(chan struct{}), make(chan struct{})
	go r.run(ch, cancel, r.stop, r.done)
}

func (r *eventRecorder) run(ch <-chan raft.Event, cancel func(), stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	defer cancel()
	for {
		select {
		case <-stop:
			return
		case e := <-ch:
			r.add(e)
		}
	}
}

func (r *eventRecorder) add(e raft.Event) {
	r.mu.Lock()
	r.seq++
	ev := raftEvent{Node: r.node, Boot: r.boot, Seq: r.seq, Time: e.Time, Kind: e.Kind, Term: e.Term,
		Role: e.Role.String(), Cause: e.Cause}
	if e.Leader != wire.None {
		lead := e.Leader
		ev.Leader = &lead
	}
	if e.Kind == raft.EventMembership {
		ev.ConfigIndex = e.ConfigIndex
		for _, mb := range e.Membership.Members {
			if mb.Learner {
				ev.Learners = append(ev.Learners, mb.ID)
			} else {
				ev.Voters = append(ev.Voters, mb.ID)
			}
		}
	}
	if len(r.ring) == recentEvents {
		r.ring = append(r.ring[:0], r.ring[1:]...)
	}
	r.ring = append(r.ring, ev)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// since returns the kept events with Seq above seq, oldest first.
func (r *eventRecorder) since(seq uint64) []raftEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []raftEvent
	for _, e := range r.ring {
		if e.Seq > seq {
			out = append(out, e)
		}
	}
	return out
}

// recent returns up to n of the newest events, oldest first.
func (r *eventRecorder) recent(n int) []raftEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	from := max(len(r.ring)-n, 0)
	return append([]raftEvent(nil), r.ring[from:]...)
}

// close ends the subscription and waits for the goroutine. Idempotent.
func (r *eventRecorder) close() {
	r.mu.Lock()
	r.closed = true
	stop, done := r.stop, r.done
	r.stop = nil
	r.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}
