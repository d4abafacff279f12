package kv

import (
	"errors"
	"fmt"
	"sync"
)

// EventType says what a change did.
type EventType uint8

const (
	EventPut EventType = 1
	EventDel EventType = 2
)

// Event is one change to a key, at Revision (the entry's index). A put
// carries the value and the key's new revisions; a delete carries the key
// and ModRevision = Revision. A transaction makes several events at one
// revision.
type Event struct {
	Type     EventType
	Revision uint64
	Item     Item
}

// CompactedError is what Changes returns when the history no longer holds the
// changes asked for (they were dropped to bound memory, the node
// restarted, or it installed a snapshot): the caller must read the
// current state and watch from there.
type CompactedError struct {
	CompactRevision uint64 // changes at or below this revision are gone
}

func (e *CompactedError) Error() string {
	return fmt.Sprintf("kv: changes up to revision %d are no longer kept", e.CompactRevision)
}

// IsCompacted reports whether err is a *CompactedError.
func IsCompacted(err error) bool {
	var ce *CompactedError
	return errors.As(err, &ce)
}

// History bounds.
const (
	DefaultHistoryEvents = 10000
	DefaultHistoryBytes  = 16 << 20
)

// history keeps the latest changes in memory, for watchers to read at
// their own pace: a watcher that falls behind costs nothing here, and one
// that falls out of the window is told it was compacted. It is not
// durable: after a restart it starts at the applied index.
type history struct {
	mu sync.Mutex // guards every field below
	// events[head:] are the changes kept, ascending by revision; the
	// dropped ones before head are cut off only once they are half the
	// slice, so trimming costs O(1) per change, not a copy of the window.
	events    []Event
	head      int
	bytes     int
	compacted uint64        // changes at or below this are gone
	last      uint64        // the history is complete up to this applied index
	notify    chan struct{} // closed (and replaced) when last moves
	maxEvents int
	maxBytes  int
}

func (h *history) reset(at uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events, h.head, h.bytes, h.compacted, h.last = nil, 0, 0, at, at
	if h.maxEvents == 0 {
		h.maxEvents, h.maxBytes = DefaultHistoryEvents, DefaultHistoryBytes
	}
	h.wake()
}

func (h *history) wake() {
	if h.notify != nil {
		close(h.notify)
	}
	h.notify = make(chan struct{})
}

func eventBytes(e Event) int { return 64 + len(e.Item.Key) + len(e.Item.Value) }

// publish appends the changes of applied entries up to index.
func (h *history) publish(muts []mutation, index uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range muts {
		for _, e := range m.events {
			h.events = append(h.events, e)
			h.bytes += eventBytes(e)
		}
	}
	// Drop whole revisions from the front: a watcher must never see half
	// of a transaction.
	for h.head < len(h.events) && (len(h.events)-h.head > h.maxEvents || h.bytes > h.maxBytes) {
		rev := h.events[h.head].Revision
		for h.head < len(h.events) && h.events[h.head].Revision == rev {
			// Not zeroed in place: a watcher may be reading this
			// part of the slice outside the lock (Changes).
			h.bytes -= eventBytes(h.events[h.head])
			h.head++
		}
		h.compacted = rev
	}
	if h.head > 0 && h.head >= len(h.events)/2 {
		h.events = append(make([]Event, 0, 2*(len(h.events)-h.head)+16), h.events[h.head:]...)
		h.head = 0
	}
	h.last = index
	h.wake()
}

// Changes returns the changes after revision after whose key match
// accepts, at most about max of them or MaxChangesBytes of keys and
// values (never part of a revision), the
// revision up to which the answer is complete, and a channel closed when
// more may be there. A *CompactedError when after is below what is kept.
func (s *Store) Changes(after uint64, match func(key []byte) bool, max int) ([]Event, uint64, <-chan struct{}, error) {
	window, last, notify, err := s.history.since(after)
	if err != nil || len(window) == 0 {
		return nil, last, notify, err
	}
	// Filtered outside the lock: a watcher scanning the window never
	// holds up the apply path's publish.
	var out []Event
	upTo, bytes := last, 0
	for _, e := range window {
		full := len(out) >= max || bytes >= MaxChangesBytes
		if full && e.Revision != out[len(out)-1].Revision {
			upTo = out[len(out)-1].Revision
			break
		}
		if match(e.Item.Key) {
			out = append(out, e)
			bytes += len(e.Item.Key) + len(e.Item.Value)
		}
	}
	return out, upTo, notify, nil
}

// MaxChangesBytes bounds the keys and values one Changes call returns
// (past its last revision's events): a watcher blocked writing a batch
// pins that much, however large the values.
const MaxChangesBytes = 1 << 20

// since returns the kept events after revision after, the revision the
// history is complete up to, and the channel closed at the next publish.
// The events are never written again once published (publish only
// appends, and trimming copies to a new slice), so the caller may read
// them without the lock.
func (h *history) since(after uint64) ([]Event, uint64, <-chan struct{}, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if after < h.compacted {
		return nil, 0, nil, &CompactedError{CompactRevision: h.compacted}
	}
	if after >= h.last {
		return nil, after, h.notify, nil
	}
	lo, hi := h.head, len(h.events)
	for lo < hi { // the first event after the revision
		mid := (lo + hi) / 2
		if h.events[mid].Revision <= after {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return h.events[lo:len(h.events):len(h.events)], h.last, h.notify, nil
}

// HistoryRevision is the revision the history is complete up to: a watch
// that starts now starts after it.
func (s *Store) HistoryRevision() uint64 {
	s.history.mu.Lock()
	defer s.history.mu.Unlock()
	return s.history.last
}
