package raft

import (
	"sync"
	"time"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// Event kinds.
const (
	EventElection = "election" // this node started a campaign (Cause says why)
	EventLeader   = "leader"   // the leader this node knows changed (Leader may be None)
	EventRole     = "role"     // this node's role changed
	// EventMembership: the latest membership in this node's log changed,
	// committed or not (an entry appended, truncated, or a snapshot
	// installed); the Observer is also told the one recovered at start.
	EventMembership = "membership"
)

// Event is something an operator watches happen: elections, leader,
// role and membership changes, as this node saw them.
type Event struct {
	Time   time.Time
	Kind   string
	Node   wire.NodeID
	Term   uint64
	Role   core.Role
	Leader wire.NodeID
	Cause  string
	// Membership and ConfigIndex, for EventMembership only: the
	// membership and the index of the entry (or snapshot) it is from.
	// The Observer and every subscriber share Membership's slice, so none
	// may modify it.
	Membership  core.Membership
	ConfigIndex uint64
}

// eventHub fans events out to subscribers. A slow subscriber loses events
// rather than slowing the driver.
type eventHub struct {
	mu   sync.Mutex // guards subs and next
	subs map[int]chan Event
	next int
}

// Subscribe returns a channel of events (buffered to buf) and a function
// that ends the subscription. Events a full channel cannot take are dropped.
// Only later events come: not the membership StartNode recovered, which
// Status has.
func (n *Node) Subscribe(buf int) (<-chan Event, func()) {
	h := &n.events
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[int]chan Event{}
	}
	id := h.next
	h.next++
	ch := make(chan Event, buf)
	h.subs[id] = ch
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.subs, id)
	}
}

func (h *eventHub) publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ch := range h.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// publishChanges turns a change of soft state into events. Driver only.
func (n *Node) publishChanges(prev, cur core.SoftState) {
	base := Event{Time: time.Now(), Node: n.cfg.ID, Term: n.core.Term(), Role: cur.Role, Leader: cur.Lead}
	if cur.Elections != prev.Elections {
		e := base
		e.Kind, e.Cause = EventElection, cur.ElectionCause
		n.emit(e)
	}
	if cur.Role != prev.Role {
		e := base
		e.Kind = EventRole
		if prev.Role == core.PreCandidate && cur.Role == core.Follower && cur.ElectionCause == core.CausePreVoteFailed {
			e.Cause = core.CausePreVoteFailed
		}
		n.emit(e)
	}
	if cur.Lead != prev.Lead {
		e := base
		e.Kind = EventLeader
		n.emit(e)
	}
}

// emit tells the Observer and the subscribers of e. Driver only.
func (n *Node) emit(e Event) {
	n.cfg.Observer.ObserveEvent(e)
	n.events.publish(e)
}
