package kv

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"go.uber.org/goleak"

	"github.com/raftkv/raftkv/internal/syncbuf"
	"github.com/raftkv/raftkv/raft/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// logBuffer collects log output; badger logs from its own goroutines.
type logBuffer = syncbuf.Buffer

// testOptions keeps badger small: many stores run in one test process.
func testOptions(dir string) Options {
	return Options{
		Dir:             dir,
		MemTableBytes:   4 << 20,
		BlockCacheBytes: 1 << 20,
		IndexCacheBytes: 1 << 20,
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		GCInterval:      -1,
	}
}

func openStore(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// reopen closes s and opens the same directory again.
func reopen(t testing.TB, s *Store, opts Options) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openStore(t, opts)
}

func set(index uint64, key, value string) wire.Entry {
	return wire.Entry{Index: index, Term: 1, Data: EncodeSet([]byte(key), []byte(value))}
}

func del(index uint64, key string) wire.Entry {
	return wire.Entry{Index: index, Term: 1, Data: EncodeDel([]byte(key))}
}

func noop(index uint64) wire.Entry {
	return wire.Entry{Index: index, Term: 1, Type: 1}
}

func mustApply(t testing.TB, s *Store, entries ...wire.Entry) {
	t.Helper()
	if err := s.Apply(entries); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func wantValue(t testing.TB, s *Store, key, want string) {
	t.Helper()
	got, err := s.Get([]byte(key))
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if string(got) != want {
		t.Fatalf("Get(%q) = %q, want %q", key, got, want)
	}
}

func wantApplied(t testing.TB, s *Store, want uint64) {
	t.Helper()
	if got := s.AppliedIndex(); got != want {
		t.Fatalf("AppliedIndex = %d, want %d", got, want)
	}
}

func itemsString(items []Item) string {
	var b bytes.Buffer
	for _, it := range items {
		fmt.Fprintf(&b, "%s=%s ", it.Key, it.Value)
	}
	return b.String()
}

// requestIndex is RequestResult's index, for tests that check only where
// a request was applied.
func requestIndex(s *Store, client string, seq uint64) (uint64, bool) {
	r, ok := s.RequestResult(client, seq)
	return r.Index, ok
}
