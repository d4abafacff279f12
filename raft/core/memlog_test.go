package core

import (
	"slices"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

func TestMemLogTermAndSlice(t *testing.T) {
	l, err := newMemLog(SnapshotInfo{}, []wire.Entry{{Index: 1, Term: 1, Data: make([]byte, 10)}, {Index: 2, Term: 2, Data: make([]byte, 10)},
		{Index: 3, Term: 2, Data: make([]byte, 10)}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range map[uint64]struct {
		term uint64
		ok   bool
	}{0: {0, true}, 1: {1, true}, 3: {2, true}, 4: {0, false}} {
		if tm, ok := l.term(i); tm != want.term || ok != want.ok {
			t.Errorf("term(%d) = %d, %v", i, tm, ok)
		}
	}
	tests := []struct {
		lo, hi   uint64
		maxBytes int
		want     []uint64
	}{
		{1, 4, 1 << 20, []uint64{1, 2, 3}},
		{2, 4, 1 << 20, []uint64{2, 3}},
		{1, 4, 40, []uint64{1}}, // one entry is 10+24 bytes
		{1, 4, 68, []uint64{1, 2}},
		{1, 4, 1, []uint64{1}}, // at least one entry, however large
		{0, 2, 1 << 20, nil},   // the sentinel is not an entry
		{3, 3, 1 << 20, nil},
		{2, 5, 1 << 20, nil}, // past the end
	}
	for _, tt := range tests {
		got := l.slice(tt.lo, tt.hi, tt.maxBytes)
		if !slices.Equal(indexes(got), tt.want) {
			t.Errorf("slice(%d, %d, %d) = %v, want %v", tt.lo, tt.hi, tt.maxBytes, indexes(got), tt.want)
		}
		if cap(got) != len(got) {
			t.Errorf("slice(%d, %d) can be appended to in place", tt.lo, tt.hi)
		}
	}
}

func TestMemLogFindConflictAndHint(t *testing.T) {
	l, _ := newMemLog(SnapshotInfo{}, logOf(1, 1, 2, 2, 4), 0)
	conflicts := []struct {
		ents []wire.Entry
		want uint64
	}{
		{nil, 0},
		{[]wire.Entry{{Index: 2, Term: 1}, {Index: 3, Term: 2}}, 0},
		{[]wire.Entry{{Index: 3, Term: 2}, {Index: 4, Term: 3}}, 4},
		{[]wire.Entry{{Index: 5, Term: 4}, {Index: 6, Term: 4}}, 6},
		{[]wire.Entry{{Index: 1, Term: 5}}, 1},
	}
	for _, tt := range conflicts {
		if got := l.findConflict(tt.ents); got != tt.want {
			t.Errorf("findConflict(%v) = %d, want %d", tt.ents, got, tt.want)
		}
	}
	hints := []struct{ idx, term, want, wantTerm uint64 }{
		{5, 4, 5, 4},
		{5, 3, 4, 2}, // skips the whole of term 4
		{9, 9, 5, 4}, // capped at the last entry
		{4, 1, 2, 1},
		{5, 0, 0, 0},
	}
	for _, tt := range hints {
		if got, gt := l.conflictHint(tt.idx, tt.term); got != tt.want || gt != tt.wantTerm {
			t.Errorf("conflictHint(%d, %d) = %d/%d, want %d/%d", tt.idx, tt.term, got, gt, tt.want, tt.wantTerm)
		}
	}
}

func TestMemLogRefusesToTruncateCommitted(t *testing.T) {
	l, _ := newMemLog(SnapshotInfo{}, logOf(1, 1, 1), 2)
	defer func() {
		if recover() == nil {
			t.Fatal("truncating a committed entry did not panic")
		}
	}()
	l.appendEntries([]wire.Entry{{Index: 2, Term: 5}})
}

// Slices handed out (to be persisted, sent or applied) never change, even
// when the log is later truncated and rewritten.
func TestMemLogHandedOutSlicesNeverChange(t *testing.T) {
	l, _ := newMemLog(SnapshotInfo{}, logOf(1), 1)
	l.appendEntries(logOf(1, 1, 1, 1)[1:])
	unstable := l.unstable()
	l.stable = 4 // persisted (Advance)
	sent := l.slice(2, 5, 1<<20)
	l.committed = 2
	apply := l.toApply(10)
	l.appendEntries([]wire.Entry{{Index: 3, Term: 2}, {Index: 4, Term: 2}})
	l.appendEntries([]wire.Entry{{Index: 5, Term: 2}})
	for _, s := range [][]wire.Entry{unstable, sent, apply} {
		for _, e := range s {
			if e.Term != 1 {
				t.Fatalf("handed-out entry %d changed to term %d", e.Index, e.Term)
			}
		}
	}
	// The overwritten entries must be persisted again.
	if !slices.Equal(termsOfLog(l), []uint64{1, 1, 2, 2, 2}) || l.stable != 2 {
		t.Fatalf("log %v stable %d", termsOfLog(l), l.stable)
	}
}

// Appending one entry at a time reallocates the log only now and then:
// the cost of an append does not grow with the log.
func TestMemLogAppendAmortized(t *testing.T) {
	l, _ := newMemLog(SnapshotInfo{}, nil, 0)
	arrays := 0
	for i := uint64(1); i <= 10000; i++ {
		before := &l.ents[0]
		l.appendEntries([]wire.Entry{{Index: i, Term: 1}})
		if &l.ents[0] != before {
			arrays++
		}
	}
	if arrays > 64 {
		t.Fatalf("10000 appends copied the log %d times", arrays)
	}
}

func termsOfLog(l *memLog) []uint64 {
	var ts []uint64
	for _, e := range l.ents[1:] {
		ts = append(ts, e.Term)
	}
	return ts
}
