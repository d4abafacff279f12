package raft

import (
	"time"

	"github.com/raftkv/raftkv/raft/wire"
)

// Observer is told what a Node does, so that metrics can be kept outside
// this package (which stays free of any metrics library). Methods are
// called from the driver, the applier and snapshot goroutines, so they
// must be safe for concurrent use; they run on the hot path (every
// message, every fsync), so they must be quick, must not block and should
// not allocate.
type Observer interface {
	// ObserveProposals: a batch of n proposals reached the driver; accepted
	// is false when the core refused them all (this node does not lead).
	ObserveProposals(n int, accepted bool)
	// ObservePersist: one durable write of the log (Storage.Save: entries
	// and/or hard state, one fsync) took d.
	ObservePersist(entries int, d time.Duration)
	// ObserveApply: the state machine applied entries in d.
	ObserveApply(entries int, d time.Duration)
	// ObserveSnapshot: a snapshot was taken, sent to a follower or
	// installed (kind: SnapshotTaken, SnapshotSent, SnapshotInstalled).
	// bytes is the snapshot file's size, or -1 when unknown; err is nil
	// when it succeeded, and d then is how long it took.
	ObserveSnapshot(kind string, d time.Duration, bytes int64, err error)
	// ObserveMessage: a message was handed to the transport (DirSent; the
	// transport may still drop it) or taken from it (DirReceived). peer is
	// the other end; entries is len(Entries).
	ObserveMessage(dir Direction, peer wire.NodeID, t wire.MessageType, entries int)
	// ObserveEvent: the event Subscribe would publish (elections, leader,
	// role and membership changes). Unlike a subscriber, an Observer never
	// misses one, and it is called on the driver goroutine before the
	// driver acts on the change: an EventMembership reaches it before any
	// message to a member the change added is sent (and once during
	// StartNode, for the membership recovered).
	ObserveEvent(e Event)
}

// Snapshot kinds passed to Observer.ObserveSnapshot.
const (
	SnapshotTaken     = "taken"
	SnapshotSent      = "sent"
	SnapshotInstalled = "installed"
)

// Direction of a message relative to this node.
type Direction uint8

const (
	DirSent Direction = iota
	DirReceived
)

func (d Direction) String() string {
	if d == DirReceived {
		return "received"
	}
	return "sent"
}

// NopObserver ignores everything. Embed it to implement only part of
// Observer.
type NopObserver struct{}

func (NopObserver) ObserveProposals(int, bool)                                   {}
func (NopObserver) ObservePersist(int, time.Duration)                            {}
func (NopObserver) ObserveApply(int, time.Duration)                              {}
func (NopObserver) ObserveSnapshot(string, time.Duration, int64, error)          {}
func (NopObserver) ObserveMessage(Direction, wire.NodeID, wire.MessageType, int) {}
func (NopObserver) ObserveEvent(Event)                                           {}

// observedTransport counts what the node hands to the transport: every
// sender (driver, snapshot streams) goes through it. Received messages
// are counted where the driver takes them, since Receive is a channel.
type observedTransport struct {
	Transport
	obs Observer
}

func (t observedTransport) Send(msgs []wire.Message) {
	for i := range msgs {
		m := &msgs[i]
		t.obs.ObserveMessage(DirSent, m.To, m.Type, len(m.Entries))
	}
	t.Transport.Send(msgs)
}

// snapshotSize is the size of the snapshot file at index, or -1.
func (n *Node) snapshotSize(index uint64) int64 {
	if n.cfg.Snapshots == nil {
		return -1
	}
	r, size, err := n.cfg.Snapshots.OpenRaw(index)
	if err != nil {
		return -1
	}
	r.Close()
	return size
}
