package logs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

// buildLog writes entries 1..n in batches of per, with segments that roll
// after every batch when segBytes is 1, and closes the log.
func buildLog(t *testing.T, dir string, n, per int, segBytes int64) []wire.Entry {
	t.Helper()
	l := openLog(t, dir, segBytes)
	all := makeEntries(1, n, 1)
	for i := 0; i < n; i += per {
		mustSave(t, l, nil, all[i:min(i+per, n)])
	}
	mustClose(t, l)
	return all
}

// recordOffsets returns where each record of a segment file starts.
func recordOffsets(t *testing.T, path string) []int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first, _ := parseSegmentName(filepath.Base(path))
	seg, torn, err := scanSegment(path, data, first, true)
	if err != nil || torn != nil {
		t.Fatalf("scan %s: %v, torn %v", path, err, torn)
	}
	return seg.offsets
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// TestTornTailAtEveryOffset cuts the last record at each byte: recovery
// must keep everything before it and drop only it.
func TestTornTailAtEveryOffset(t *testing.T) {
	src := t.TempDir()
	all := buildLog(t, src, 6, 3, 1) // two segments: [1-3] [4-6]
	segs := segmentFiles(t, src)
	last := segs[len(segs)-1]
	offs := recordOffsets(t, last)
	lastRec, size := offs[len(offs)-1], fileSize(t, last)
	full, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	for cut := lastRec; cut < size; cut++ {
		dir := t.TempDir()
		for _, p := range segs[:len(segs)-1] {
			copyFile(t, p, filepath.Join(dir, filepath.Base(p)))
		}
		tornPath := filepath.Join(dir, filepath.Base(last))
		if err := os.WriteFile(tornPath, full[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		var logs logBuffer
		l, err := Open(dir, Options{NoSync: true, SegmentBytes: 1, Logger: logs.logger()})
		if err != nil {
			t.Fatalf("cut at %d: Open: %v", cut, err)
		}
		checkLoad(t, l, wire.HardState{}, all[:5])
		if got := fileSize(t, tornPath); got != lastRec {
			t.Errorf("cut at %d: segment is %d bytes after recovery, want %d", cut, got, lastRec)
		}
		if cut > lastRec && !strings.Contains(logs.String(), "level=WARN") {
			t.Errorf("cut at %d: no warning logged: %s", cut, logs.String())
		}
		// The log goes on from the cut.
		mustSave(t, l, nil, makeEntries(6, 1, 2))
		mustClose(t, l)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTornTailVariants(t *testing.T) {
	tests := []struct {
		name    string
		n, per  int // entries written, batch size (one segment per batch)
		damage  func(t *testing.T, path string, offs []int64)
		wantN   int // entries that must survive
		wantErr bool
	}{
		{"bad checksum on last record", 6, 3, func(t *testing.T, p string, offs []int64) {
			flipByte(t, p, fileSize(t, p)-1)
		}, 5, false},
		{"zeros after the last record", 6, 3, func(t *testing.T, p string, _ []int64) {
			appendBytes(t, p, make([]byte, 4096))
		}, 6, false},
		{"zeroed last record", 6, 3, func(t *testing.T, p string, offs []int64) {
			writeAt(t, p, offs[len(offs)-1], make([]byte, fileSize(t, p)-offs[len(offs)-1]))
		}, 5, false},
		{"garbage header after the last record", 6, 3, func(t *testing.T, p string, _ []int64) {
			appendBytes(t, p, []byte("not a record header at all"))
		}, 6, false},
		{"only record of last segment torn", 4, 3, func(t *testing.T, p string, offs []int64) {
			if err := os.Truncate(p, offs[0]+5); err != nil {
				t.Fatal(err)
			}
		}, 3, false},
		{"bad checksum with a valid record after it", 6, 3, func(t *testing.T, p string, offs []int64) {
			flipByte(t, p, offs[len(offs)-1]-1) // last byte of the second-to-last record
		}, 0, true},
		{"flipped length in an earlier record", 6, 3, func(t *testing.T, p string, offs []int64) {
			flipByte(t, p, offs[0]+1)
		}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			all := buildLog(t, dir, tt.n, tt.per, 1)
			segs := segmentFiles(t, dir)
			last := segs[len(segs)-1]
			tt.damage(t, last, recordOffsets(t, last))
			l, err := Open(dir, Options{NoSync: true, SegmentBytes: 1, Logger: quietLogger})
			if tt.wantErr {
				if err == nil {
					_ = l.Close()
					t.Fatal("Open succeeded on a corrupt log")
				}
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), last) {
					t.Fatalf("Open = %v, want ErrCorrupt naming %s", err, last)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer mustClose(t, l)
			checkLoad(t, l, wire.HardState{}, all[:tt.wantN])
			if got, want := l.SizeBytes(), dirSegmentBytes(t, dir); got != want {
				t.Errorf("SizeBytes = %d, files hold %d", got, want)
			}
		})
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	writeAt(t, path, fileSize(t, path), b)
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptionFailsOpen: damage anywhere but the tail must stop Open
// with ErrCorrupt naming the file and offset, and must not touch the files.
func TestCorruptionFailsOpen(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, segs []string) (file string)
		want   string
	}{
		{"flipped payload byte in an earlier record", func(t *testing.T, segs []string) string {
			p := segs[1]
			flipByte(t, p, recordOffsets(t, p)[0]+recordHeaderSize+3)
			return p
		}, "checksum"},
		{"flipped byte in the last record of a non-last segment", func(t *testing.T, segs []string) string {
			p := segs[0]
			flipByte(t, p, fileSize(t, p)-1)
			return p
		}, "not the last"},
		{"truncated non-last segment", func(t *testing.T, segs []string) string {
			p := segs[0]
			if err := os.Truncate(p, fileSize(t, p)-2); err != nil {
				t.Fatal(err)
			}
			return p
		}, "not the last"},
		{"gap between segments", func(t *testing.T, segs []string) string {
			if err := os.Remove(segs[1]); err != nil {
				t.Fatal(err)
			}
			return segs[2]
		}, "previous one ends"},
		{"bad segment magic", func(t *testing.T, segs []string) string {
			flipByte(t, segs[2], 0)
			return segs[2]
		}, "magic"},
		{"segment header checksum", func(t *testing.T, segs []string) string {
			flipByte(t, segs[1], 9)
			return segs[1]
		}, "header checksum"},
		{"segment shorter than its header", func(t *testing.T, segs []string) string {
			if err := os.Truncate(segs[2], 5); err != nil {
				t.Fatal(err)
			}
			return segs[2]
		}, "segment header is 5 bytes"},
		{"file renamed to another index", func(t *testing.T, segs []string) string {
			// Overwrite segment 7 with a copy of segment 4: contiguous
			// indexes, but the header disagrees with the name.
			moved := filepath.Join(filepath.Dir(segs[2]), segmentName(7))
			copyFile(t, segs[1], moved+".x")
			if err := os.Rename(moved+".x", moved); err != nil {
				t.Fatal(err)
			}
			return moved
		}, "file name says 7"},
		{"empty non-last segment", func(t *testing.T, segs []string) string {
			p := segs[1]
			if err := os.Truncate(p, segmentHeaderSize); err != nil {
				t.Fatal(err)
			}
			return p
		}, "no records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			buildLog(t, dir, 9, 3, 1) // [1-3] [4-6] [7-9]
			segs := segmentFiles(t, dir)
			file := tt.damage(t, segs)
			before := snapshotDir(t, dir)
			l, err := Open(dir, Options{NoSync: true, SegmentBytes: 1, Logger: quietLogger})
			if err == nil {
				_ = l.Close()
				t.Fatal("Open succeeded on a corrupt log")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, file) || !strings.Contains(msg, "byte offset") || !strings.Contains(msg, tt.want) {
				t.Fatalf("Open = %q, want it to name %s, an offset and %q", msg, file, tt.want)
			}
			if after := snapshotDir(t, dir); after != before {
				t.Fatalf("a failed Open changed the directory:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// snapshotDir summarises names and sizes of the segment files.
func snapshotDir(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	for _, p := range segmentFiles(t, dir) {
		fmt.Fprintf(&b, "%s:%d ", filepath.Base(p), fileSize(t, p))
	}
	return b.String()
}

func TestNonAscendingIndexInSegment(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, segmentName(1))
	buf := encodeSegmentHeader(1)
	for _, idx := range []uint64{1, 2, 4, 5} {
		buf = appendRecord(buf, &wire.Entry{Index: idx, Term: 1})
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, Options{NoSync: true, Logger: quietLogger})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "index 4, expected 3") {
		t.Fatalf("Open = %v, want ErrCorrupt about index 4", err)
	}
}

func TestRecoveryCleansUp(t *testing.T) {
	dir := t.TempDir()
	all := buildLog(t, dir, 6, 3, 1)
	// A roll that crashed after its header was in place but before its
	// first batch, and temp files of interrupted creates.
	if err := os.WriteFile(filepath.Join(dir, segmentName(7)), encodeSegmentHeader(7), 0o644); err != nil {
		t.Fatal(err)
	}
	leftovers := []string{segmentName(7) + tmpExt, hardStateFile + tmpExt}
	for _, name := range leftovers {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	unrelated := filepath.Join(dir, "notes.tmp")
	if err := os.WriteFile(unrelated, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	l := openLog(t, dir, 1)
	defer mustClose(t, l)
	checkLoad(t, l, wire.HardState{}, all)
	for _, name := range append(leftovers, segmentName(7)) {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived recovery (stat: %v)", name, err)
		}
	}
	if _, err := os.Stat(unrelated); err != nil {
		t.Errorf("recovery removed a file it does not own: %v", err)
	}
	mustSave(t, l, nil, makeEntries(7, 1, 1))
}
