package logs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/raftkv/raftkv/internal/vfs"
	"github.com/raftkv/raftkv/raft/wire"
)

// fillLog writes entries [1, 12] in segments of three and a hard state.
func fillLog(t *testing.T, dir string) (*Log, wire.HardState) {
	t.Helper()
	l := openLog(t, dir, 1)
	hs := wire.HardState{Term: 4, Vote: 2}
	mustSave(t, l, &hs, nil)
	for first := uint64(1); first <= 12; first += 3 {
		mustSave(t, l, nil, makeEntries(first, 3, 1))
	}
	if n := len(segmentFiles(t, dir)); n != 4 {
		t.Fatalf("setup: %d segments, want 4", n)
	}
	return l, hs
}

func TestReset(t *testing.T) {
	tests := []struct {
		name  string
		next  uint64 // first index saved after the reset
		empty bool   // reset an already empty log
	}{
		{"restart far ahead", 5000, false},
		{"restart below the old first", 1, false},
		{"restart inside the old range", 7, false},
		{"empty log", 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var l *Log
			hs := wire.HardState{}
			if tt.empty {
				l = openLog(t, dir, 1)
			} else {
				l, hs = fillLog(t, dir)
			}
			if err := l.Reset(); err != nil {
				t.Fatalf("Reset: %v", err)
			}
			checkLoad(t, l, hs, nil)
			if l.SizeBytes() != 0 || len(segmentFiles(t, dir)) != 0 {
				t.Fatalf("after Reset: SizeBytes %d, segments %v", l.SizeBytes(), segmentFiles(t, dir))
			}
			if _, err := os.Stat(filepath.Join(dir, resetMarkerFile)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("reset marker left behind: %v", err)
			}
			ents := makeEntries(tt.next, 5, 6)
			mustSave(t, l, nil, ents)
			checkLoad(t, l, hs, ents)
			mustClose(t, l)

			l = openLog(t, dir, 1)
			defer mustClose(t, l)
			checkLoad(t, l, hs, ents)
			if got, want := l.SizeBytes(), dirSegmentBytes(t, dir); got != want {
				t.Errorf("SizeBytes = %d, files hold %d", got, want)
			}
		})
	}
}

// A crash during Reset is simulated by leaving the directory as the crash
// would: the marker durable and any subset of the segments removed.
// Reopening must finish the reset: an empty log, never a partial one.
func TestResetInterruptedByCrash(t *testing.T) {
	tests := []struct {
		name   string
		remove []int // positions (oldest first) of segments already gone
	}{
		{"marker only", nil},
		{"newest removed", []int{3}},
		{"oldest removed", []int{0}},
		{"middle removed", []int{1, 2}},
		{"all removed", []int{0, 1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l, hs := fillLog(t, dir)
			segs := segmentFiles(t, dir)
			mustClose(t, l)
			if err := os.WriteFile(filepath.Join(dir, resetMarkerFile), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, i := range tt.remove {
				if err := os.Remove(segs[i]); err != nil {
					t.Fatal(err)
				}
			}
			l = openLog(t, dir, 1)
			defer mustClose(t, l)
			checkLoad(t, l, hs, nil)
			if left := segmentFiles(t, dir); len(left) != 0 {
				t.Fatalf("segments left after recovery: %v", left)
			}
			if _, err := os.Stat(filepath.Join(dir, resetMarkerFile)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("marker left after recovery: %v", err)
			}
			ents := makeEntries(100, 2, 5)
			mustSave(t, l, nil, ents)
			checkLoad(t, l, hs, ents)
		})
	}
}

// When the marker cannot be written nothing is removed: Reset fails, the
// log refuses further writes, and a restart finds the old log whole.
func TestResetMarkerNotWrittenKeepsOldLog(t *testing.T) {
	dir := t.TempDir()
	l, hs := fillLog(t, dir)
	marker := filepath.Join(dir, resetMarkerFile)
	if err := os.MkdirAll(filepath.Join(marker, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := l.Reset()
	if err == nil {
		t.Fatal("Reset succeeded although its marker could not be created")
	}
	if again := l.Save(nil, makeEntries(13, 1, 1)); again != err {
		t.Fatalf("Save after a failed Reset = %v, want %v", again, err)
	}
	if n := len(segmentFiles(t, dir)); n != 4 {
		t.Fatalf("failed Reset removed segments: %d left", n)
	}
	mustClose(t, l)
	if err := os.RemoveAll(marker); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, 1)
	defer mustClose(t, l)
	checkLoad(t, l, hs, makeEntries(1, 12, 1))
}

func TestResetRefusals(t *testing.T) {
	l := openLog(t, t.TempDir(), 0)
	mustSave(t, l, nil, makeEntries(1, 2, 1))
	injected := errors.New("injected: EIO")
	l.syncFile = func(vfs.File) error { return injected }
	failed := l.Save(nil, makeEntries(3, 1, 1))
	if !errors.Is(failed, injected) {
		t.Fatalf("Save = %v", failed)
	}
	if err := l.Reset(); err != failed {
		t.Fatalf("Reset on a failed log = %v, want %v", err, failed)
	}
	if l.LastIndex() != 2 {
		t.Fatalf("refused Reset changed the log: last %d", l.LastIndex())
	}
	mustClose(t, l)
	if err := l.Reset(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reset after Close = %v", err)
	}
}

// After a prefix truncation, later Saves and a reopen must agree: the
// first segment on disk now starts above 1, recovery must accept that,
// and appends continue after the kept tail.
func TestTruncatePrefixThenSaveThenReopen(t *testing.T) {
	dir := t.TempDir()
	l, hs := fillLog(t, dir)
	if err := l.TruncatePrefix(6); err != nil {
		t.Fatal(err)
	}
	more := makeEntries(13, 4, 2)
	mustSave(t, l, nil, more)
	want := append(makeEntries(7, 6, 1), more...)
	checkLoad(t, l, hs, want)
	// Overwrite a suffix that starts inside the kept range, then compact
	// again past it.
	repl := makeEntries(11, 3, 3)
	mustSave(t, l, nil, repl)
	want = append(makeEntries(7, 4, 1), repl...)
	checkLoad(t, l, hs, want)
	mustClose(t, l)

	l = openLog(t, dir, 1)
	checkLoad(t, l, hs, want)
	if err := l.TruncatePrefix(10); err != nil {
		t.Fatal(err)
	}
	mustSave(t, l, nil, makeEntries(14, 1, 3))
	mustClose(t, l)
	l = openLog(t, dir, 1)
	defer mustClose(t, l)
	if l.FirstIndex() > 11 || l.LastIndex() != 14 {
		t.Fatalf("bounds after second compaction and reopen = [%d, %d], want first <= 11, last 14", l.FirstIndex(), l.LastIndex())
	}
	got, err := l.Entries(11, 15)
	if err != nil {
		t.Fatal(err)
	}
	if err := equalEntries(got, append(repl, makeEntries(14, 1, 3)...)); err != nil {
		t.Fatal(err)
	}
}
