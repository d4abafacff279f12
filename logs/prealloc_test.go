//go:build linux

package logs

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

func openSynced(t *testing.T, dir string, segBytes int64, lb *logBuffer) *Log {
	t.Helper()
	l, err := Open(dir, Options{SegmentBytes: segBytes, Logger: lb.logger()})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return l
}

// TestPreallocatedSegments: segments are created at their full size, and
// the zeros past the last record read back as the end of the log, in the
// last segment and in sealed ones, with no warning and nothing cut.
func TestPreallocatedSegments(t *testing.T) {
	const segBytes = 4096
	dir := t.TempDir()
	var lb logBuffer
	l := openSynced(t, dir, segBytes, &lb)
	var all []wire.Entry
	for next := uint64(1); next <= 120; next += 20 {
		batch := makeEntries(next, 20, 1)
		mustSave(t, l, nil, batch)
		all = append(all, batch...)
	}
	segs := segmentFiles(t, dir)
	if len(segs) < 2 {
		t.Fatalf("want several segments, got %v", segs)
	}
	for _, p := range segs {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() < segBytes {
			t.Errorf("%s is %d bytes, want it preallocated to %d", p, st.Size(), segBytes)
		}
	}
	mustClose(t, l)

	l = openSynced(t, dir, segBytes, &lb)
	checkLoad(t, l, wire.HardState{}, all)
	if got, want := l.SizeBytes(), dirSegmentBytes(t, dir); got != want {
		t.Errorf("SizeBytes = %d, records hold %d", got, want)
	}
	// Appends go on right after the last record, not after the zeros.
	more := makeEntries(121, 5, 2)
	mustSave(t, l, nil, more)
	all = append(all, more...)
	mustClose(t, l)
	l = openSynced(t, dir, segBytes, &lb)
	defer mustClose(t, l)
	checkLoad(t, l, wire.HardState{}, all)
	if out := lb.String(); strings.Contains(out, "level=WARN") {
		t.Errorf("recovering preallocated segments warned:\n%s", out)
	}
}

// TestPreallocatedTornTail: a record torn inside the preallocated space
// (its start written, the rest still zeros) is cut like any torn tail;
// damage followed by a valid record is still corruption.
func TestPreallocatedTornTail(t *testing.T) {
	build := func(t *testing.T) (string, []wire.Entry, string) {
		dir := t.TempDir()
		var lb logBuffer
		l := openSynced(t, dir, 1<<20, &lb)
		ents := makeEntries(1, 10, 1)
		mustSave(t, l, nil, ents)
		mustClose(t, l)
		segs := segmentFiles(t, dir)
		return dir, ents, segs[len(segs)-1]
	}
	t.Run("torn record before the zeros", func(t *testing.T) {
		dir, ents, seg := build(t)
		offs := recordOffsets(t, seg)
		data, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		// Copy the first 20 bytes of the last record past its end: a
		// valid-looking start whose payload never landed.
		last := offs[len(offs)-1]
		end := int64(dirSegmentBytes(t, dir))
		f, err := os.OpenFile(seg, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(data[last:last+20], end); err != nil {
			t.Fatal(err)
		}
		mustCloseFile(t, f)
		var lb logBuffer
		l := openSynced(t, dir, 1<<20, &lb)
		defer mustClose(t, l)
		checkLoad(t, l, wire.HardState{}, ents)
		if !strings.Contains(lb.String(), "cut torn record") {
			t.Errorf("the torn record was not reported:\n%s", lb.String())
		}
		more := makeEntries(11, 3, 1)
		mustSave(t, l, nil, more)
		checkLoad(t, l, wire.HardState{}, append(ents, more...))
	})
	t.Run("zeroed record before a valid one", func(t *testing.T) {
		dir, _, seg := build(t)
		offs := recordOffsets(t, seg)
		f, err := os.OpenFile(seg, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(make([]byte, offs[5]-offs[4]), offs[4]); err != nil {
			t.Fatal(err)
		}
		mustCloseFile(t, f)
		var lb logBuffer
		l, err := Open(dir, Options{SegmentBytes: 1 << 20, Logger: lb.logger()})
		if err == nil {
			_ = l.Close()
			t.Fatal("Open accepted a zeroed record followed by valid ones")
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open = %v, want ErrCorrupt", err)
		}
	})
}

func mustCloseFile(t *testing.T, f *os.File) {
	t.Helper()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
