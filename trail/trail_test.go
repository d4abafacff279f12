package trail

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/raftkv/raftkv/logs"
	"github.com/raftkv/raftkv/raft/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeSM applies by remembering; failNext makes the next Apply fail.
type fakeSM struct {
	applied  uint64
	failNext error
	restored uint64
}

func (f *fakeSM) Apply(ents []wire.Entry) error {
	if err := f.failNext; err != nil {
		f.failNext = nil
		return err
	}
	f.applied = ents[len(ents)-1].Index
	return nil
}
func (f *fakeSM) AppliedIndex() uint64                                       { return f.applied }
func (f *fakeSM) AppliedTerm() uint64                                        { return 1 }
func (f *fakeSM) Snapshot(func(index, term uint64) (io.Writer, error)) error { return nil }
func (f *fakeSM) Sync() error                                                { return nil }
func (f *fakeSM) Restore(_ io.Reader, index, _ uint64) error {
	f.restored, f.applied = index, index
	return nil
}

// sliceLog is an EntryReader over entries from index first.
type sliceLog []wire.Entry

func (l sliceLog) FirstIndex() uint64 {
	if len(l) == 0 {
		return 0
	}
	return l[0].Index
}
func (l sliceLog) LastIndex() uint64 {
	if len(l) == 0 {
		return 0
	}
	return l[len(l)-1].Index
}
func (l sliceLog) Entries(lo, hi uint64) ([]wire.Entry, error) {
	if lo < l.FirstIndex() || hi > l.LastIndex()+1 {
		return nil, errors.New("out of range")
	}
	return l[lo-l.FirstIndex() : hi-l.FirstIndex()], nil
}

func entries(from, to uint64) sliceLog {
	var out sliceLog
	for i := from; i <= to; i++ {
		out = append(out, wire.Entry{Index: i, Term: 2, Type: wire.EntryNormal, Data: []byte{byte('a' + i%26)}})
	}
	return out
}

func describe(data []byte) string { return "SET " + string(data) }

func openTrail(t *testing.T) (*logs.Trail, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "trail.txt")
	tr, err := logs.OpenTrail(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, path
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

func TestApplyAndRestoreWriteLines(t *testing.T) {
	tr, path := openTrail(t)
	sm := &fakeSM{}
	s, err := Wrap(sm, tr, sliceLog(nil), describe, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(append(entries(1, 2), wire.Entry{Index: 3, Term: 2, Type: wire.EntryNoop},
		wire.Entry{Index: 4, Term: 2, Type: wire.EntryConfChange, Data: []byte{1, 2}})); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(strings.NewReader(""), 10, 3); err != nil || sm.restored != 10 {
		t.Fatalf("restore: %v (state machine at %d)", err, sm.restored)
	}
	sm.failNext = errors.New("disk full")
	if err := s.Apply(entries(11, 11)); err == nil || err.Error() != "disk full" {
		t.Fatalf("a failed Apply: %v", err)
	}
	s.Close()
	s.Close() // twice is harmless
	want := []string{"1, 2, SET b", "2, 2, SET c", "3, 2, NOOP", "4, 2, CONFCHANGE", "10, 3, SNAPSHOT"}
	if got := lines(t, path); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("trail %q, want %q (nothing for the failed Apply)", got, want)
	}
}

// Without a describe function a normal entry is shown by its size.
func TestNoDescribe(t *testing.T) {
	tr, path := openTrail(t)
	s, err := Wrap(&fakeSM{}, tr, sliceLog(nil), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(entries(1, 1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := lines(t, path); len(got) != 1 || got[0] != "1, 2, DATA 1 bytes" {
		t.Errorf("trail %q", got)
	}
}

// Wrap writes what the trail missed: entries the state machine applied
// before a crash, as far as the log still holds them, and no more.
func TestCatchUp(t *testing.T) {
	for _, tc := range []struct {
		name      string
		log       sliceLog
		trailLast uint64 // lines already written
		applied   uint64
		want      []string
	}{
		{"behind", entries(1, 9), 2, 5, []string{"3, 2, SET d", "4, 2, SET e", "5, 2, SET f"}},
		{"compacted", entries(4, 9), 1, 5, []string{"4, 2, SET e", "5, 2, SET f"}},
		{"log shorter than applied", entries(1, 3), 0, 5, []string{"1, 2, SET b", "2, 2, SET c", "3, 2, SET d"}},
		{"up to date", entries(1, 9), 5, 5, nil},
		{"empty log", nil, 0, 5, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, path := openTrail(t)
			if tc.trailLast > 0 {
				var pre []logs.TrailLine
				for i := uint64(1); i <= tc.trailLast; i++ {
					pre = append(pre, logs.TrailLine{Index: i, Term: 2, Command: "OLD"})
				}
				if err := tr.Append(pre); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Wrap(&fakeSM{applied: tc.applied}, tr, tc.log, describe, nil)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			var got []string
			for _, l := range lines(t, path) {
				if l != "" && !strings.HasSuffix(l, "OLD") {
					got = append(got, l)
				}
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("caught up %q, want %q", got, tc.want)
			}
		})
	}
}

// A log that cannot be read stops Wrap with an error, not a silent gap.
func TestCatchUpReadError(t *testing.T) {
	tr, _ := openTrail(t)
	_, err := Wrap(&fakeSM{applied: 5}, tr, brokenLog{}, describe, nil)
	if err == nil || !strings.Contains(err.Error(), "catch up") {
		t.Fatalf("Wrap over an unreadable log: %v", err)
	}
}

type brokenLog struct{}

func (brokenLog) FirstIndex() uint64 { return 1 }
func (brokenLog) LastIndex() uint64  { return 9 }
func (brokenLog) Entries(lo, hi uint64) ([]wire.Entry, error) {
	return nil, errors.New("bad sector")
}
