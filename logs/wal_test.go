package logs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/raftkv/raftkv/internal/vfs"
	"github.com/raftkv/raftkv/raft/wire"
)

func TestRoundTripAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	// Real fsyncs here, so the sync path is exercised at least once.
	l, err := Open(dir, Options{SegmentBytes: 300, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	var all []wire.Entry
	next := uint64(1)
	for _, n := range []int{1, 3, 10, 1, 25, 7, 2} {
		batch := makeEntries(next, n, 1)
		mustSave(t, l, nil, batch)
		all = append(all, batch...)
		next += uint64(n)
	}
	checkLoad(t, l, wire.HardState{}, all)
	if segs := segmentFiles(t, dir); len(segs) < 3 {
		t.Fatalf("want several segments with SegmentBytes=300, got %d", len(segs))
	}
	if got, want := l.SizeBytes(), dirSegmentBytes(t, dir); got != want {
		t.Errorf("SizeBytes = %d, files hold %d", got, want)
	}
	// Every sub-range, including ones spanning segments.
	for lo := uint64(1); lo <= next; lo++ {
		for hi := lo; hi <= next; hi++ {
			got, err := l.Entries(lo, hi)
			if err != nil {
				t.Fatalf("Entries(%d, %d): %v", lo, hi, err)
			}
			if err := equalEntries(got, all[lo-1:hi-1]); err != nil {
				t.Fatalf("Entries(%d, %d): %v", lo, hi, err)
			}
		}
	}
	mustClose(t, l)

	l = openLog(t, dir, 300)
	defer mustClose(t, l)
	checkLoad(t, l, wire.HardState{}, all)
	// Appending after a reopen continues in the recovered tail.
	more := makeEntries(next, 4, 2)
	mustSave(t, l, nil, more)
	checkLoad(t, l, wire.HardState{}, append(all, more...))
}

func TestSegmentFilesNamedByFirstIndex(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 1) // every batch rolls
	defer mustClose(t, l)
	mustSave(t, l, nil, makeEntries(7, 2, 1))
	mustSave(t, l, nil, makeEntries(9, 3, 1))
	var names []string
	for _, p := range segmentFiles(t, dir) {
		names = append(names, filepath.Base(p))
	}
	want := []string{"00000000000000000007.wal", "00000000000000000009.wal"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("segments = %v, want %v", names, want)
	}
}

func TestEmptyLogStartsAtAnyIndex(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	checkLoad(t, l, wire.HardState{}, nil)
	if err := l.Save(nil, nil); err != nil {
		t.Fatalf("empty Save: %v", err)
	}
	if segs := segmentFiles(t, dir); len(segs) != 0 {
		t.Fatalf("empty Save created %v", segs)
	}
	ents := makeEntries(5001, 3, 4)
	mustSave(t, l, nil, ents)
	mustClose(t, l)
	l = openLog(t, dir, 0)
	defer mustClose(t, l)
	checkLoad(t, l, wire.HardState{}, ents)
}

func TestSaveRejectsBadBatches(t *testing.T) {
	tests := []struct {
		name string
		ents []wire.Entry
		want string
	}{
		{"index zero", []wire.Entry{{Index: 0, Term: 1}}, "index 0"},
		{"not contiguous", []wire.Entry{{Index: 6, Term: 1}, {Index: 8, Term: 1}}, "not contiguous"},
		{"descending", []wire.Entry{{Index: 6, Term: 1}, {Index: 5, Term: 1}}, "not contiguous"},
		{"gap after last", makeEntries(7, 1, 1), "gap"},
		{"too big", []wire.Entry{{Index: 6, Term: 1, Data: make([]byte, maxDataBytes+1)}}, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := openLog(t, t.TempDir(), 0)
			defer mustClose(t, l)
			base := makeEntries(1, 5, 1)
			mustSave(t, l, nil, base)
			err := l.Save(nil, tt.ents)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Save = %v, want error containing %q", err, tt.want)
			}
			// A caller bug is not an I/O failure: the log keeps working.
			next := makeEntries(6, 2, 1)
			mustSave(t, l, nil, next)
			checkLoad(t, l, wire.HardState{}, append(base, next...))
		})
	}
}

func TestEntriesOutOfRange(t *testing.T) {
	l := openLog(t, t.TempDir(), 0)
	defer mustClose(t, l)
	if _, err := l.Entries(1, 2); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("Entries on empty log = %v, want ErrOutOfRange", err)
	}
	mustSave(t, l, nil, makeEntries(10, 5, 1)) // holds [10, 14]
	tests := []struct {
		lo, hi  uint64
		wantN   int
		wantErr error
	}{
		{10, 15, 5, nil},
		{12, 12, 0, nil},
		{14, 15, 1, nil},
		{9, 12, 0, ErrOutOfRange},
		{10, 16, 0, ErrOutOfRange},
		{15, 16, 0, ErrOutOfRange},
		{0, 1, 0, ErrOutOfRange},
	}
	for _, tt := range tests {
		got, err := l.Entries(tt.lo, tt.hi)
		if !errors.Is(err, tt.wantErr) || len(got) != tt.wantN {
			t.Errorf("Entries(%d, %d) = %d entries, %v; want %d, %v", tt.lo, tt.hi, len(got), err, tt.wantN, tt.wantErr)
		}
	}
	if _, err := l.Entries(13, 11); err == nil {
		t.Errorf("Entries(13, 11) succeeded on an inverted range")
	}
}

func TestEntriesDataIsIndependent(t *testing.T) {
	l := openLog(t, t.TempDir(), 0)
	defer mustClose(t, l)
	ents := makeEntries(1, 3, 1)
	mustSave(t, l, nil, ents)
	got, err := l.Entries(1, 4)
	if err != nil {
		t.Fatal(err)
	}
	// Appending to one entry's data must not overwrite the next one's.
	_ = append(got[0].Data, "CLOBBER"...)
	if err := equalEntries(got, ents); err != nil {
		t.Fatal(err)
	}
}

func TestSuffixTruncation(t *testing.T) {
	// Segments of 3 entries each: [1-3] [4-6] [7-9] [10-12].
	tests := []struct {
		name string
		from uint64 // first index of the overwriting batch
	}{
		{"last entry", 12},
		{"inside last segment", 11},
		{"first entry of last segment", 10},
		{"inside earlier segment", 5},
		{"segment boundary", 7},
		{"whole log", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, dir, 1)
			for first := uint64(1); first <= 12; first += 3 {
				mustSave(t, l, nil, makeEntries(first, 3, 1))
			}
			repl := makeEntries(tt.from, 4, 2)
			mustSave(t, l, nil, repl)
			want := append(makeEntries(1, int(tt.from-1), 1), repl...)
			checkLoad(t, l, wire.HardState{}, want)
			if got, want := l.SizeBytes(), dirSegmentBytes(t, dir); got != want {
				t.Errorf("SizeBytes = %d, files hold %d", got, want)
			}
			mustClose(t, l)

			l = openLog(t, dir, 1)
			defer mustClose(t, l)
			checkLoad(t, l, wire.HardState{}, want)
			more := makeEntries(tt.from+4, 2, 3)
			mustSave(t, l, nil, more)
			checkLoad(t, l, wire.HardState{}, append(want, more...))
		})
	}
}

func TestTruncatePrefix(t *testing.T) {
	// Segments of 3 entries each: [1-3] [4-6] [7-9] [10-12].
	tests := []struct {
		upTo      uint64
		wantFirst uint64
	}{
		{0, 1},
		{2, 1},   // segment 1-3 still holds 3
		{3, 4},   // first segment goes
		{8, 7},   // never drops 9
		{9, 10},  // three segments go
		{12, 10}, // the segment being written stays
		{100, 10},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		l := openLog(t, dir, 1)
		all := makeEntries(1, 12, 1)
		for i := 0; i < 12; i += 3 {
			mustSave(t, l, nil, all[i:i+3])
		}
		if err := l.TruncatePrefix(tt.upTo); err != nil {
			t.Fatalf("TruncatePrefix(%d): %v", tt.upTo, err)
		}
		want := all[tt.wantFirst-1:]
		checkLoad(t, l, wire.HardState{}, want)
		if got, want := l.SizeBytes(), dirSegmentBytes(t, dir); got != want {
			t.Errorf("upTo %d: SizeBytes = %d, files hold %d", tt.upTo, got, want)
		}
		mustClose(t, l)
		l = openLog(t, dir, 1)
		checkLoad(t, l, wire.HardState{}, want)
		more := makeEntries(13, 2, 1)
		mustSave(t, l, nil, more)
		checkLoad(t, l, wire.HardState{}, append(want[:len(want):len(want)], more...))
		mustClose(t, l)
	}
}

func TestConcurrentReadersDuringSaves(t *testing.T) {
	l := openLog(t, t.TempDir(), 512)
	defer mustClose(t, l)
	mustSave(t, l, nil, makeEntries(1, 1, 1))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errc := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			first, last := l.FirstIndex(), l.LastIndex()
			if _, err := l.Entries(first, last+1); err != nil {
				select {
				case errc <- err:
				default:
				}
				return
			}
			_ = l.SizeBytes()
		}
	}()
	for i := uint64(2); i < 300; i += 3 {
		mustSave(t, l, nil, makeEntries(i, 3, 1))
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatalf("concurrent Entries: %v", err)
	default:
	}
}

func TestOpenTwiceIsRefused(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	if l2, err := Open(dir, Options{NoSync: true, Logger: quietLogger}); err == nil {
		_ = l2.Close()
		t.Fatal("second Open of a locked dir succeeded")
	} else if !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open: %v, want an in-use error", err)
	}
	mustClose(t, l)
	l = openLog(t, dir, 0)
	mustClose(t, l)
}

func TestCallsAfterClose(t *testing.T) {
	l := openLog(t, t.TempDir(), 0)
	mustSave(t, l, nil, makeEntries(1, 2, 1))
	mustClose(t, l)
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := l.Save(nil, makeEntries(3, 1, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Save after Close = %v", err)
	}
	if _, err := l.Entries(1, 2); !errors.Is(err, ErrClosed) {
		t.Errorf("Entries after Close = %v", err)
	}
	if _, _, err := l.Load(); !errors.Is(err, ErrClosed) {
		t.Errorf("Load after Close = %v", err)
	}
	if err := l.TruncatePrefix(1); !errors.Is(err, ErrClosed) {
		t.Errorf("TruncatePrefix after Close = %v", err)
	}
}

func TestSaveRefusesAfterFailedSync(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	base := makeEntries(1, 3, 1)
	mustSave(t, l, nil, base)

	injected := errors.New("injected: EIO")
	l.syncFile = func(vfs.File) error { return injected }
	err := l.Save(nil, makeEntries(4, 1, 1))
	if !errors.Is(err, injected) || !strings.Contains(err.Error(), "sync segment") {
		t.Fatalf("Save with failing fsync = %v, want wrapped injected error", err)
	}
	if l.LastIndex() != 3 {
		t.Errorf("LastIndex after failed Save = %d, want 3 (nothing was made durable)", l.LastIndex())
	}
	l.syncFile = func(vfs.File) error { return nil } // even a healthy disk now is not trusted
	for _, call := range []func() error{
		func() error { return l.Save(nil, makeEntries(4, 1, 1)) },
		func() error { return l.Save(&wire.HardState{Term: 9}, nil) },
		func() error { return l.TruncatePrefix(1) },
	} {
		if got := call(); got != err {
			t.Errorf("call after failed fsync = %v, want the same error %v", got, err)
		}
	}
	// Reads still work.
	if got, rerr := l.Entries(1, 4); rerr != nil || equalEntries(got, base) != nil {
		t.Errorf("Entries after failure = %v, %v", got, rerr)
	}
	mustClose(t, l)
	l = openLog(t, dir, 0)
	defer mustClose(t, l)
	if l.LastIndex() < 3 {
		t.Fatalf("reopened log lost acknowledged entries: last = %d", l.LastIndex())
	}
}

func TestSaveRefusesAfterFailedWrite(t *testing.T) {
	l := openLog(t, t.TempDir(), 0)
	defer func() { _ = l.Close() }() // reports the segment closed underneath it
	mustSave(t, l, nil, makeEntries(1, 2, 1))
	// Close the segment underneath the log: the next write fails.
	if err := l.active.Close(); err != nil {
		t.Fatal(err)
	}
	err := l.Save(nil, makeEntries(3, 1, 1))
	if !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Save on closed file = %v, want os.ErrClosed wrapped", err)
	}
	if again := l.Save(nil, makeEntries(3, 1, 1)); again != err {
		t.Fatalf("second Save = %v, want the same error", again)
	}
}

func TestSaveRefusesAfterFailedHardStateWrite(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	defer mustClose(t, l)
	// A directory where the temp file must go makes the create fail.
	if err := os.Mkdir(filepath.Join(dir, hardStateFile+tmpExt), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, hardStateFile+tmpExt, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := l.Save(&wire.HardState{Term: 1, Vote: 2}, makeEntries(1, 1, 1))
	if err == nil || !strings.Contains(err.Error(), "hard state") {
		t.Fatalf("Save = %v, want a hard state error", err)
	}
	if l.LastIndex() != 0 {
		t.Errorf("entries were written although the hard state failed")
	}
	if again := l.Save(nil, makeEntries(1, 1, 1)); again != err {
		t.Fatalf("Save after failure = %v, want the same error", again)
	}
}

func TestOpenCreatesNestedDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "node0", "wal")
	l, err := Open(dir, Options{Logger: quietLogger}) // with syncs: parents are synced too
	if err != nil {
		t.Fatal(err)
	}
	mustSave(t, l, &wire.HardState{Term: 1, Vote: 0}, makeEntries(1, 1, 1))
	mustClose(t, l)
	l = openLog(t, dir, 0)
	defer mustClose(t, l)
	checkLoad(t, l, wire.HardState{Term: 1, Vote: 0}, makeEntries(1, 1, 1))
}
