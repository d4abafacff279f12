package core

import (
	"fmt"

	"github.com/raftkv/raftkv/raft/wire"
)

// memLog is the core's in-memory view of the log. ents[0] is a sentinel
// holding the index and term of the entry just before the first one kept
// (0/0 for a log that was never compacted), so term lookups at the boundary
// work without special cases.
//
// Invariants: ents[i].Index == ents[0].Index+i; committed <= lastIndex();
// applied <= committed; stable <= lastIndex() (entries above stable have not
// been handed to storage yet).
type memLog struct {
	ents []wire.Entry
	// sentinelKnown is false when the log was compacted at a point that is
	// not a snapshot: ents[0].Term is then unknown, and a leader must send
	// a snapshot rather than an append that starts there.
	sentinelKnown bool
	committed     uint64
	applied       uint64 // highest index handed to the state machine
	stable        uint64 // highest index handed to storage for persistence
}

// newMemLog builds the log from the latest snapshot (index and term; 0/0
// for none), the entries stored after it and the state machine's applied
// index.
func newMemLog(snap SnapshotInfo, entries []wire.Entry, applied uint64) (*memLog, error) {
	l := &memLog{ents: []wire.Entry{{Index: snap.Index, Term: snap.Term}}, sentinelKnown: true}
	if len(entries) > 0 {
		first := entries[0].Index
		if first > snap.Index+1 && snap.Index > 0 {
			return nil, fmt.Errorf("raft: log starts at %d, after a gap behind the snapshot at %d", first, snap.Index)
		}
		if first != snap.Index+1 {
			// Compacted at a point other than the snapshot: the term
			// there is unknown.
			l.ents[0] = wire.Entry{Index: first - 1}
			l.sentinelKnown = first == 1
		}
		for i, e := range entries {
			if e.Index != first+uint64(i) {
				return nil, fmt.Errorf("raft: log is not contiguous at index %d (found %d)", first+uint64(i), e.Index)
			}
		}
		l.ents = append(l.ents, entries...)
	}
	last := l.lastIndex()
	if applied > last {
		return nil, fmt.Errorf("raft: state machine applied index %d is beyond the last log index %d", applied, last)
	}
	if applied < l.ents[0].Index {
		return nil, fmt.Errorf("raft: state machine applied index %d is behind the log, which starts after %d: restore it from a snapshot", applied, l.ents[0].Index)
	}
	l.committed, l.applied, l.stable = applied, applied, last
	return l, nil
}

// restore replaces the whole log by a snapshot's position.
func (l *memLog) restore(snap SnapshotInfo) {
	l.ents = []wire.Entry{{Index: snap.Index, Term: snap.Term}}
	l.sentinelKnown = true
	l.committed, l.applied, l.stable = snap.Index, snap.Index, snap.Index
}

// compact drops the entries up to and including i, which must be applied.
func (l *memLog) compact(i uint64) {
	off := l.ents[0].Index
	if i <= off || i > l.applied {
		return
	}
	// Copy what is kept: the old array stays untouched for whoever holds
	// slices of it.
	kept := make([]wire.Entry, 0, l.lastIndex()-i+1)
	l.ents = append(kept, l.ents[i-off:]...)
	l.ents[0].Data = nil // the sentinel keeps index and term only
	l.sentinelKnown = true
}

func (l *memLog) firstIndex() uint64 { return l.ents[0].Index + 1 }
func (l *memLog) lastIndex() uint64  { return l.ents[0].Index + uint64(len(l.ents)) - 1 }
func (l *memLog) lastTerm() uint64   { return l.ents[len(l.ents)-1].Term }

// term returns the term of entry i, and false when i is outside the log.
func (l *memLog) term(i uint64) (uint64, bool) {
	off := l.ents[0].Index
	if i < off || i > l.lastIndex() || (i == off && !l.sentinelKnown) {
		return 0, false
	}
	return l.ents[i-off].Term, true
}

func (l *memLog) matchTerm(i, term uint64) bool {
	t, ok := l.term(i)
	return ok && t == term
}

// slice returns entries [lo, hi) capped at maxBytes (at least one entry).
// The result aliases the log; callers must not modify it.
func (l *memLog) slice(lo, hi uint64, maxBytes int) []wire.Entry {
	off := l.ents[0].Index
	if lo <= off || lo >= hi || hi > l.lastIndex()+1 {
		return nil
	}
	ents := l.ents[lo-off : hi-off]
	size := 0
	for i := range ents {
		size += len(ents[i].Data) + 24
		if i > 0 && size > maxBytes {
			return ents[:i:i]
		}
	}
	return ents[:len(ents):len(ents)]
}

// appendEntries appends ents after truncating any conflicting suffix.
// ents[0].Index must be in (committed, lastIndex+1].
func (l *memLog) appendEntries(ents []wire.Entry) {
	if len(ents) == 0 {
		return
	}
	at := ents[0].Index
	if at <= l.committed {
		panic(fmt.Sprintf("raft: truncating committed entry %d (committed %d)", at, l.committed))
	}
	off := l.ents[0].Index
	if at-off == uint64(len(l.ents)) {
		// A plain append writes only past the end, where no handed-out
		// slice can see; it must not copy the log each time.
		l.ents = append(l.ents, ents...)
	} else {
		// Capping the capacity makes a truncating append copy to a new
		// array: entries handed out (in messages being sent, in Ready
		// batches being persisted or applied) are never overwritten in place.
		l.ents = append(l.ents[:at-off:at-off], ents...)
	}
	if l.stable >= at {
		l.stable = at - 1
	}
}

// findConflict returns the index of the first entry of ents whose term
// differs from ours, or that we lack; 0 when all of ents is already present.
func (l *memLog) findConflict(ents []wire.Entry) uint64 {
	for _, e := range ents {
		if !l.matchTerm(e.Index, e.Term) {
			return e.Index
		}
	}
	return 0
}

// conflictHint returns the largest index <= idx whose term is <= term, with
// its term: where a leader's probe can jump to skip a whole mismatched term.
func (l *memLog) conflictHint(idx, term uint64) (uint64, uint64) {
	if last := l.lastIndex(); idx > last {
		idx = last
	}
	for {
		t, ok := l.term(idx)
		if !ok || t <= term {
			return idx, t
		}
		idx--
	}
}

func (l *memLog) commitTo(i uint64) bool {
	if i > l.lastIndex() {
		i = l.lastIndex()
	}
	if i <= l.committed {
		return false
	}
	l.committed = i
	return true
}

func (l *memLog) unstable() []wire.Entry {
	if l.stable >= l.lastIndex() {
		return nil
	}
	return l.ents[l.stable+1-l.ents[0].Index:]
}

func (l *memLog) toApply(max int) []wire.Entry {
	if l.applied >= l.committed {
		return nil
	}
	lo, hi := l.applied+1, l.committed+1
	if hi-lo > uint64(max) {
		hi = lo + uint64(max)
	}
	off := l.ents[0].Index
	return l.ents[lo-off : hi-off : hi-off]
}
