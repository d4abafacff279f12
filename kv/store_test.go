package kv

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/raftkv/raftkv/raft/wire"
)

func TestApplyGetList(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	mustApply(t, s,
		set(1, "color", "blue"),
		set(2, "colour", "red"),
		set(3, "apple", "1"),
		set(4, "col", "x"),
		set(5, "zebra", "z"),
		set(6, "color", "green"), // overwrite within one batch
		del(7, "zebra"),
		del(8, "never-set"), // deleting an absent key is fine
		// A user key that spells the metadata key must stay a user key.
		set(9, "mapplied", "user"),
		set(10, "b\x00in", "\xff"),
	)
	wantApplied(t, s, 10)
	wantValue(t, s, "color", "green")
	wantValue(t, s, "mapplied", "user")
	wantValue(t, s, "b\x00in", "\xff")
	for _, k := range []string{"zebra", "never-set", "applied", "", "u", "m"} {
		if v, err := s.Get([]byte(k)); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q) = %q, %v; want ErrNotFound", k, v, err)
		}
	}

	tests := []struct {
		prefix string
		limit  int
		want   string
	}{
		{"", 100, "apple=1 b\x00in=\xff col=x color=green colour=red mapplied=user "},
		{"", 2, "apple=1 b\x00in=\xff "},
		{"col", 100, "col=x color=green colour=red "},
		{"col", 1, "col=x "},
		{"colo", 100, "color=green colour=red "},
		{"color", 100, "color=green "},
		{"colors", 100, ""},
		{"zebra", 100, ""},
		{"m", 100, "mapplied=user "},
		{"q", 100, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/%d", tt.prefix, tt.limit), func(t *testing.T) {
			items, err := s.List([]byte(tt.prefix), tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if got := itemsString(items); got != tt.want {
				t.Fatalf("List = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestListReturnsCopies(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	mustApply(t, s, set(1, "a", "1"), set(2, "b", "2"))
	items, err := s.List(nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	items[0].Key[0], items[0].Value[0] = 'X', 'X'
	wantValue(t, s, "a", "1")
	v, _ := s.Get([]byte("b"))
	v[0] = 'X'
	wantValue(t, s, "b", "2")
}

func TestListRejectsBadLimit(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	for _, limit := range []int{0, -1} {
		if _, err := s.List(nil, limit); err == nil || !strings.Contains(err.Error(), "limit") {
			t.Errorf("List(nil, %d) err = %v, want a limit error", limit, err)
		}
	}
}

func TestRestartKeepsDataAndIndex(t *testing.T) {
	opts := testOptions(t.TempDir())
	s := openStore(t, opts)
	wantApplied(t, s, 0)
	mustApply(t, s, set(1, "a", "1"), set(2, "b", "2"), del(3, "a"), noop(4))
	s = reopen(t, s, opts)
	wantApplied(t, s, 4)
	wantValue(t, s, "b", "2")
	if _, err := s.Get([]byte("a")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted key came back: %v", err)
	}
	mustApply(t, s, set(5, "c", "3"))
	s = reopen(t, s, opts)
	wantApplied(t, s, 5)
	wantValue(t, s, "c", "3")
}

// Replaying entries that were applied already must not apply them again.
// The replayed batch carries different commands at the old indexes (the
// log never does that), so any second application shows in the data.
func TestApplyIsExactlyOnce(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			opts := testOptions(t.TempDir())
			s := openStore(t, opts)
			var first []wire.Entry
			for i := uint64(1); i <= 10; i++ {
				switch i {
				case 7:
					first = append(first, set(i, "x", "seven"))
				case 8:
					first = append(first, del(i, "gone"))
				case 9:
					first = append(first, set(i, "x", "nine"))
				case 10:
					first = append(first, noop(i))
				default:
					first = append(first, set(i, "gone", fmt.Sprint(i)))
				}
			}
			mustApply(t, s, first...)
			if restart {
				s = reopen(t, s, opts)
			}
			wantApplied(t, s, 10)

			var replay []wire.Entry
			for i := uint64(5); i <= 15; i++ {
				switch {
				case i == 8:
					replay = append(replay, set(i, "gone", "back"))
				case i <= 10:
					replay = append(replay, set(i, "x", fmt.Sprintf("replayed-%d", i)))
				default:
					replay = append(replay, set(i, fmt.Sprintf("new%d", i), "n"))
				}
			}
			mustApply(t, s, replay...)
			wantApplied(t, s, 15)
			wantValue(t, s, "x", "nine")
			if v, err := s.Get([]byte("gone")); !errors.Is(err, ErrNotFound) {
				t.Fatalf("DEL at 8 undone by a replay: gone=%q err=%v", v, err)
			}
			wantValue(t, s, "new15", "n")

			// A batch entirely at or below the applied index changes nothing.
			mustApply(t, s, set(3, "x", "old"), set(15, "x", "old"))
			mustApply(t, s)
			wantValue(t, s, "x", "nine")
			wantApplied(t, s, 15)
		})
	}
}

func TestNoopAndInvalidEntriesAdvanceIndex(t *testing.T) {
	var logBuf logBuffer
	opts := testOptions(t.TempDir())
	opts.Logger = slog.New(slog.NewTextHandler(&logBuf, nil))
	s := openStore(t, opts)
	mustApply(t, s, set(1, "k", "v"))

	hugeKey := bytes.Repeat([]byte("k"), maxUserKey+1)
	tests := []struct {
		name    string
		entry   wire.Entry
		warning string // expected in the log, "" for none
	}{
		{"noop", noop(2), ""},
		{"unknown entry type", wire.Entry{Index: 3, Term: 1, Type: 9, Data: EncodeSet([]byte("k"), []byte("typed"))}, ""},
		{"empty normal entry", wire.Entry{Index: 4, Term: 1}, "index=4"},
		{"garbage", wire.Entry{Index: 5, Term: 1, Data: []byte{9, 9, 9}}, "index=5"},
		{"truncated set", wire.Entry{Index: 6, Term: 1, Data: EncodeSet([]byte("k"), []byte("x"))[:3]}, "index=6"},
		{"oversized key", wire.Entry{Index: 7, Term: 1, Data: EncodeSet(hugeKey, []byte("x"))}, "oversized key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustApply(t, s, tt.entry)
			wantApplied(t, s, tt.entry.Index)
			wantValue(t, s, "k", "v")
			if tt.warning != "" && !strings.Contains(logBuf.String(), tt.warning) {
				t.Fatalf("log %q does not mention %q", logBuf.String(), tt.warning)
			}
		})
	}
	if n := strings.Count(logBuf.String(), "level=WARN"); n != 4 {
		t.Errorf("%d warnings logged, want 4:\n%s", n, logBuf.String())
	}
	items, err := s.List(nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got := itemsString(items); got != "k=v " {
		t.Fatalf("List = %q, want only k=v", got)
	}
	s = reopen(t, s, opts)
	wantApplied(t, s, 7)

	// Skipped entries mixed into a batch with real ones.
	mustApply(t, s, noop(8), wire.Entry{Index: 9, Data: []byte("junk")}, set(10, "k", "w"))
	wantApplied(t, s, 10)
	wantValue(t, s, "k", "w")
}

func TestApplyRejectsGapsAndDisorder(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	mustApply(t, s, set(1, "a", "1"), set(2, "a", "2"), set(3, "a", "3"))
	tests := []struct {
		name    string
		entries []wire.Entry
	}{
		{"gap after applied", []wire.Entry{set(5, "a", "bad")}},
		{"gap inside batch", []wire.Entry{set(4, "a", "bad"), set(6, "a", "bad")}},
		{"duplicate inside batch", []wire.Entry{set(4, "a", "bad"), set(4, "a", "bad")}},
		{"reordered", []wire.Entry{set(5, "a", "bad"), set(4, "a", "bad")}},
		{"old entry after new", []wire.Entry{set(4, "a", "bad"), set(2, "a", "bad")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Apply(tt.entries)
			if err == nil || !strings.Contains(err.Error(), "expected") {
				t.Fatalf("Apply = %v, want an ordering error", err)
			}
			// Nothing of a rejected batch is written.
			wantApplied(t, s, 3)
			wantValue(t, s, "a", "3")
		})
	}
}

func TestLargeValues(t *testing.T) {
	opts := testOptions(t.TempDir())
	s := openStore(t, opts)
	longKey := strings.Repeat("k", maxUserKey)
	mustApply(t, s, set(1, longKey, "v"))
	wantValue(t, s, longKey, "v")

	sizes := []int{64<<10 - 1, 64 << 10, 1 << 20, 8 << 20}
	var entries []wire.Entry
	for i, n := range sizes {
		v := bytes.Repeat([]byte{byte('a' + i)}, n)
		entries = append(entries, wire.Entry{Index: uint64(i + 2), Data: EncodeSet([]byte(fmt.Sprint(n)), v)})
	}
	mustApply(t, s, entries...)
	s = reopen(t, s, opts)
	wantApplied(t, s, uint64(len(sizes)+1))
	for i, n := range sizes {
		got, err := s.Get([]byte(fmt.Sprint(n)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, bytes.Repeat([]byte{byte('a' + i)}, n)) {
			t.Fatalf("value of %d bytes came back as %d bytes", n, len(got))
		}
	}
}

// A batch larger than one badger transaction is split; every part is
// committed with its own last index.
func TestApplySplitsLargeBatch(t *testing.T) {
	opts := testOptions(t.TempDir())
	opts.MemTableBytes = 1 << 20 // a transaction holds about 150 KiB
	s := openStore(t, opts)
	var commits []uint64
	s.commitHook = func(last uint64) error {
		commits = append(commits, last)
		return nil
	}
	const n = 3000
	value := bytes.Repeat([]byte("v"), 1000)
	entries := make([]wire.Entry, n)
	for i := range entries {
		entries[i] = wire.Entry{Index: uint64(i + 1), Data: EncodeSet([]byte(fmt.Sprintf("k%05d", i)), value)}
	}
	mustApply(t, s, entries...)
	if len(commits) < 2 {
		t.Fatalf("%d commits for a %d-byte batch; expected a split", len(commits), n*len(value))
	}
	if commits[len(commits)-1] != n {
		t.Fatalf("last commit carried index %d, want %d", commits[len(commits)-1], n)
	}
	wantApplied(t, s, n)
	items, err := s.List([]byte("k"), 2*n)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != n {
		t.Fatalf("List found %d keys, want %d", len(items), n)
	}
}

// Values in the value log cost a transaction almost nothing in badger's
// accounting; the byte cap still splits a batch of large values.
func TestApplySplitsLargeValues(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	s.chunkBytes = 1 << 20
	var commits []uint64
	s.commitHook = func(last uint64) error {
		commits = append(commits, last)
		return nil
	}
	big := bytes.Repeat([]byte("b"), 400<<10)
	var entries []wire.Entry
	for i := uint64(1); i <= 6; i++ {
		entries = append(entries, wire.Entry{Index: i, Data: EncodeSet([]byte(fmt.Sprint(i)), big)})
	}
	mustApply(t, s, entries...)
	if want := []uint64{2, 4, 6}; !slices.Equal(commits, want) {
		t.Fatalf("commits ended at %v, want %v", commits, want)
	}
	for i := 1; i <= 6; i++ {
		if v, err := s.Get([]byte(fmt.Sprint(i))); err != nil || !bytes.Equal(v, big) {
			t.Fatalf("Get(%d) = %d bytes, %v", i, len(v), err)
		}
	}
}

// A crash between the parts of a split batch leaves the first part and
// its index on disk, and a retry applies the rest exactly once.
func TestCrashBetweenChunksIsConsistent(t *testing.T) {
	opts := testOptions(t.TempDir())
	opts.MemTableBytes = 1 << 20
	s := openStore(t, opts)
	mustApply(t, s, set(1, "counter", "start"))

	var firstLast uint64
	s.commitHook = func(last uint64) error {
		if firstLast == 0 {
			firstLast = last
			return nil
		}
		return errors.New("simulated crash")
	}
	const n = 3000
	value := bytes.Repeat([]byte("v"), 1000)
	var entries []wire.Entry
	for i := uint64(2); i <= n; i++ {
		entries = append(entries, wire.Entry{Index: i, Data: EncodeSet([]byte(fmt.Sprintf("k%05d", i)), value)})
	}
	entries[len(entries)-1] = set(n, "counter", "end")
	if err := s.Apply(entries); err == nil || !strings.Contains(err.Error(), "simulated crash") {
		t.Fatalf("Apply = %v, want the simulated crash", err)
	}
	if firstLast <= 1 || firstLast >= n {
		t.Fatalf("first part ended at %d; the test needs a split inside 2..%d", firstLast, n)
	}
	wantApplied(t, s, firstLast)

	s.commitHook = nil
	s = reopen(t, s, opts)
	wantApplied(t, s, firstLast)
	wantValue(t, s, "counter", "start")
	items, err := s.List([]byte("k"), 2*n)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(items)) != firstLast-1 {
		t.Fatalf("%d keys survived, want %d (entries 2..%d)", len(items), firstLast-1, firstLast)
	}

	mustApply(t, s, entries...)
	wantApplied(t, s, n)
	wantValue(t, s, "counter", "end")
	if items, _ = s.List([]byte("k"), 2*n); len(items) != n-2 {
		t.Fatalf("%d keys after retry, want %d", len(items), n-2)
	}
}

// Readers run concurrently with Apply and see each batch whole: a and b
// are always written together with the same value.
func TestReadsDuringApplySeeWholeBatches(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	mustApply(t, s, set(1, "a", "0"), set(2, "b", "0"))
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		defer close(errc)
		for {
			select {
			case <-done:
				return
			default:
			}
			items, err := s.List(nil, 10)
			if err != nil {
				errc <- err
				return
			}
			if len(items) != 2 || !bytes.Equal(items[0].Value, items[1].Value) {
				errc <- fmt.Errorf("torn batch: %s", itemsString(items))
				return
			}
			if _, err := s.Get([]byte("a")); err != nil {
				errc <- err
				return
			}
		}
	}()
	for i := uint64(1); i <= 300; i++ {
		v := fmt.Sprint(i)
		mustApply(t, s, set(2*i+1, "a", v), set(2*i+2, "b", v))
	}
	close(done)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	wantValue(t, s, "b", "300")
}

func TestClosedStore(t *testing.T) {
	s, err := Open(testOptions(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, set(1, "a", "1"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Apply([]wire.Entry{set(2, "a", "2")}); !errors.Is(err, ErrClosed) {
		t.Errorf("Apply after Close = %v", err)
	}
	if _, err := s.Get([]byte("a")); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close = %v", err)
	}
	if _, err := s.List(nil, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("List after Close = %v", err)
	}
	if err := s.Sync(); !errors.Is(err, ErrClosed) {
		t.Errorf("Sync after Close = %v", err)
	}
	wantApplied(t, s, 1)
}

func TestSync(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	mustApply(t, s, set(1, "a", "1"))
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	openStore(t, testOptions(dir))

	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no dir", Options{}, "Dir is empty"},
		{"tiny memtable", func() Options { o := testOptions(t.TempDir()); o.MemTableBytes = 1000; return o }(), "1 MiB minimum"},
		{"negative cache", func() Options { o := testOptions(t.TempDir()); o.BlockCacheBytes = -1; return o }(), "negative cache"},
		{"directory in use", testOptions(dir), dir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestOpenRefusesUnknownFormat(t *testing.T) {
	opts := testOptions(t.TempDir())
	s := openStore(t, opts)
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(metaFormat, []byte{storeFormat + 1}) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(opts)
	if err == nil {
		s2.Close()
		t.Fatal("Open accepted an unknown store format")
	}
	if !strings.Contains(err.Error(), "format") {
		t.Fatalf("error %q does not mention the format", err)
	}
}

// The GC loop must run alongside writes and stop with Close (goleak in
// TestMain catches a loop left running).
func TestGCLoopRunsAndStops(t *testing.T) {
	opts := testOptions(t.TempDir())
	opts.GCInterval = 5 // nanoseconds: the loop runs as often as it can
	s := openStore(t, opts)
	big := bytes.Repeat([]byte("g"), 100<<10) // above the inline threshold: goes to the value log
	for i := uint64(1); i <= 50; i++ {
		mustApply(t, s, wire.Entry{Index: i, Data: EncodeSet([]byte("k"), big)})
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBadgerLoggerLevels(t *testing.T) {
	var buf logBuffer
	l := badgerLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l.Debugf("debug %d\n", 1)
	l.Infof("info %d\n", 2)
	l.Warningf("warn %d\n", 3)
	l.Errorf("error %d\n", 4)
	out := buf.String()
	for _, quiet := range []string{"debug 1", "info 2"} {
		if strings.Contains(out, quiet) {
			t.Errorf("badger %q reached the log:\n%s", quiet, out)
		}
	}
	for _, loud := range []string{`level=WARN msg="warn 3"`, `level=ERROR msg="error 4"`} {
		if !strings.Contains(out, loud) {
			t.Errorf("log lacks %s:\n%s", loud, out)
		}
	}
}
