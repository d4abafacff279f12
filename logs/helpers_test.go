package logs

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/raftkv/raftkv/internal/syncbuf"
	"github.com/raftkv/raftkv/internal/vfs"
	"github.com/raftkv/raftkv/raft/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var quietLogger = slog.New(slog.DiscardHandler)

// logBuffer collects log output so tests can check what was reported.
type logBuffer struct{ syncbuf.Buffer }

func (lb *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// makeEntries returns n contiguous entries from index first, with data of
// varying length (including empty) so record sizes differ.
func makeEntries(first uint64, n int, term uint64) []wire.Entry {
	ents := make([]wire.Entry, n)
	for i := range ents {
		idx := first + uint64(i)
		ents[i] = wire.Entry{Index: idx, Term: term, Type: wire.EntryType(idx % 2)}
		if idx%5 != 0 {
			ents[i].Data = []byte(fmt.Sprintf("t%d-entry-%d-%s", term, idx, bytes.Repeat([]byte("x"), int(idx%7))))
		}
	}
	return ents
}

func openLog(t testing.TB, dir string, segBytes int64) *Log {
	t.Helper()
	l, err := Open(dir, Options{SegmentBytes: segBytes, NoSync: true, Logger: quietLogger})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return l
}

func mustSave(t testing.TB, l *Log, hs *wire.HardState, ents []wire.Entry) {
	t.Helper()
	if err := l.Save(hs, ents); err != nil {
		t.Fatalf("Save(%v, %d entries from %d): %v", hs, len(ents), firstIndexOf(ents), err)
	}
}

func firstIndexOf(ents []wire.Entry) uint64 {
	if len(ents) == 0 {
		return 0
	}
	return ents[0].Index
}

func mustClose(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// equalEntries reports the first difference between two entry lists.
func equalEntries(got, want []wire.Entry) error {
	if len(got) != len(want) {
		return fmt.Errorf("got %d entries, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Index != w.Index || g.Term != w.Term || g.Type != w.Type || !bytes.Equal(g.Data, w.Data) {
			return fmt.Errorf("entry %d: got {%d %d %d %q}, want {%d %d %d %q}",
				i, g.Index, g.Term, g.Type, g.Data, w.Index, w.Term, w.Type, w.Data)
		}
	}
	return nil
}

func checkLoad(t testing.TB, l *Log, wantHS wire.HardState, want []wire.Entry) {
	t.Helper()
	hs, got, err := l.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if hs != wantHS {
		t.Errorf("Load hard state = %+v, want %+v", hs, wantHS)
	}
	if err := equalEntries(got, want); err != nil {
		t.Fatalf("Load: %v", err)
	}
	wantFirst, wantLast := uint64(0), uint64(0)
	if len(want) > 0 {
		wantFirst, wantLast = want[0].Index, want[len(want)-1].Index
	}
	if l.FirstIndex() != wantFirst || l.LastIndex() != wantLast {
		t.Errorf("bounds = [%d, %d], want [%d, %d]", l.FirstIndex(), l.LastIndex(), wantFirst, wantLast)
	}
}

// segmentFiles lists the segment files in dir, oldest first.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	firsts, err := listSegments(vfs.OS, dir)
	if err != nil {
		t.Fatal(err)
	}
	paths := make([]string, len(firsts))
	for i, f := range firsts {
		paths[i] = filepath.Join(dir, segmentName(f))
	}
	return paths
}

func dirSegmentBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var n int64
	for _, p := range segmentFiles(t, dir) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		// Count up to the end of the last record: a preallocated segment
		// holds zeros past it.
		off := segmentHeaderSize
		for off < len(data) {
			_, size, err := decodeRecord(data[off:])
			if err != nil {
				break
			}
			off += size
		}
		if rest := data[off:]; len(bytes.Trim(rest, "\x00")) != 0 {
			t.Fatalf("%s: %d bytes after the last record are not zeros", p, len(rest))
		}
		n += int64(off)
	}
	return n
}
