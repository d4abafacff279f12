package kv

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/raftkv/raftkv/raft/wire"
)

func cmdEntry(index uint64, c Command) wire.Entry {
	return wire.Entry{Index: index, Term: 1, Data: c.Encode()}
}

func wantMeta(t *testing.T, s *Store, key string, want Meta) {
	t.Helper()
	it, err := s.GetItem([]byte(key))
	if err != nil {
		t.Fatalf("GetItem(%q): %v", key, err)
	}
	if it.Meta != want {
		t.Fatalf("GetItem(%q).Meta = %+v, want %+v", key, it.Meta, want)
	}
}

func TestRevisions(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	mustApply(t, s, set(1, "a", "1"), set(2, "b", "x"), set(3, "a", "2"))
	wantMeta(t, s, "a", Meta{CreateRevision: 1, ModRevision: 3, Version: 2})
	wantMeta(t, s, "b", Meta{CreateRevision: 2, ModRevision: 2, Version: 1})
	wantValue(t, s, "a", "2")
	// Deleting ends the key's life: a new write starts a new one.
	mustApply(t, s, del(4, "a"), set(5, "a", "3"))
	wantMeta(t, s, "a", Meta{CreateRevision: 5, ModRevision: 5, Version: 1})
	// A no-op entry changes no revision.
	mustApply(t, s, noop(6))
	wantMeta(t, s, "b", Meta{CreateRevision: 2, ModRevision: 2, Version: 1})
	// Revisions are stored: they survive a restart and List carries them.
	s = reopen(t, s, s.opts)
	wantMeta(t, s, "a", Meta{CreateRevision: 5, ModRevision: 5, Version: 1})
	items, err := s.List(nil, 10)
	if err != nil || len(items) != 2 {
		t.Fatalf("List = %v, %v", items, err)
	}
	if items[1].Meta != (Meta{CreateRevision: 2, ModRevision: 2, Version: 1}) || string(items[1].Value) != "x" {
		t.Errorf("List's b = %+v", items[1])
	}
}

// Two writes to one key in one Apply call: the second sees the first.
func TestRevisionsWithinOneBatch(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	mustApply(t, s, set(1, "k", "a"), set(2, "k", "b"), set(3, "k", "c"),
		cmdEntry(4, Command{Op: OpSet, Key: []byte("k"), Value: []byte("d"), Cond: CondModRevision, CondRevision: 3}))
	wantMeta(t, s, "k", Meta{CreateRevision: 1, ModRevision: 4, Version: 4})
	wantValue(t, s, "k", "d")
}

func TestConditionalWrites(t *testing.T) {
	type step struct {
		cmd     Command
		applied bool
		meta    Meta // the outcome's
	}
	k := []byte("k")
	tests := []struct {
		name  string
		steps []step
		value string // k's value at the end; "" means absent
	}{
		{"create only, absent", []step{
			{Command{Op: OpSet, Key: k, Value: []byte("v"), Cond: CondAbsent}, true, Meta{1, 1, 1, 0}},
		}, "v"},
		{"create only, present", []step{
			{Command{Op: OpSet, Key: k, Value: []byte("v")}, true, Meta{1, 1, 1, 0}},
			{Command{Op: OpSet, Key: k, Value: []byte("w"), Cond: CondAbsent}, false, Meta{1, 1, 1, 0}},
		}, "v"},
		{"if-match, right revision", []step{
			{Command{Op: OpSet, Key: k, Value: []byte("v")}, true, Meta{1, 1, 1, 0}},
			{Command{Op: OpSet, Key: k, Value: []byte("w"), Cond: CondModRevision, CondRevision: 1}, true, Meta{1, 2, 2, 0}},
		}, "w"},
		{"if-match, stale revision", []step{
			{Command{Op: OpSet, Key: k, Value: []byte("v")}, true, Meta{1, 1, 1, 0}},
			{Command{Op: OpSet, Key: k, Value: []byte("w")}, true, Meta{1, 2, 2, 0}},
			{Command{Op: OpSet, Key: k, Value: []byte("x"), Cond: CondModRevision, CondRevision: 1}, false, Meta{1, 2, 2, 0}},
		}, "w"},
		{"if-match on an absent key", []step{
			{Command{Op: OpSet, Key: k, Value: []byte("v"), Cond: CondModRevision, CondRevision: 1}, false, Meta{}},
		}, ""},
		{"delete if-match, right revision", []step{
			{Command{Op: OpSet, Key: k, Value: []byte("v")}, true, Meta{1, 1, 1, 0}},
			{Command{Op: OpDel, Key: k, Cond: CondModRevision, CondRevision: 1}, true, Meta{}},
		}, ""},
		{"delete if-match, stale revision", []step{
			{Command{Op: OpSet, Key: k, Value: []byte("v")}, true, Meta{1, 1, 1, 0}},
			{Command{Op: OpDel, Key: k, Cond: CondModRevision, CondRevision: 7}, false, Meta{1, 1, 1, 0}},
		}, "v"},
		{"delete if exists, absent", []step{
			{Command{Op: OpDel, Key: k, Cond: CondExists}, false, Meta{}},
		}, ""},
		{"set if exists, present", []step{
			{Command{Op: OpSet, Key: k, Value: []byte("v")}, true, Meta{1, 1, 1, 0}},
			{Command{Op: OpSet, Key: k, Value: []byte("w"), Cond: CondExists}, true, Meta{1, 2, 2, 0}},
		}, "w"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, testOptions(t.TempDir()))
			for i, st := range tt.steps {
				st.cmd.Nonce = uint64(100 + i)
				s.Expect(st.cmd.Nonce)
				mustApply(t, s, cmdEntry(uint64(i+1), st.cmd))
				o, ok := s.Outcome(st.cmd.Nonce)
				if !ok {
					t.Fatalf("step %d: no outcome", i)
				}
				if o.Applied != st.applied || o.Meta != st.meta {
					t.Fatalf("step %d: outcome %+v, want applied=%v meta=%+v", i, o, st.applied, st.meta)
				}
				if _, again := s.Outcome(st.cmd.Nonce); again {
					t.Fatalf("step %d: the outcome was handed out twice", i)
				}
			}
			got, err := s.Get(k)
			switch {
			case tt.value == "" && !errors.Is(err, ErrNotFound):
				t.Fatalf("k = %q, %v; want absent", got, err)
			case tt.value != "" && (err != nil || string(got) != tt.value):
				t.Fatalf("k = %q, %v; want %q", got, err, tt.value)
			}
			if s.AppliedIndex() != uint64(len(tt.steps)) {
				t.Errorf("applied index %d, want %d: a failed condition still applies its entry", s.AppliedIndex(), len(tt.steps))
			}
		})
	}
}

// Only a registered nonce keeps an outcome: other replicas apply the same
// entry and must not pile outcomes up.
func TestOutcomeOnlyWhenExpected(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	mustApply(t, s, cmdEntry(1, Command{Op: OpSet, Key: []byte("k"), Cond: CondAbsent, Nonce: 5}))
	if _, ok := s.Outcome(5); ok {
		t.Fatal("an outcome nobody expected was kept")
	}
	if n := len(s.outcomes.m); n != 0 {
		t.Fatalf("%d outcomes held", n)
	}
	s.Expect(6)
	s.Forget(6)
	mustApply(t, s, cmdEntry(2, Command{Op: OpSet, Key: []byte("k"), Cond: CondAbsent, Nonce: 6}))
	if _, ok := s.Outcome(6); ok {
		t.Fatal("a forgotten nonce got an outcome")
	}
}

// A retried conditional write answers its first outcome, failed or not,
// and a failure is remembered across restarts.
func TestRetriedConditionalWriteKeepsItsOutcome(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	mustApply(t, s, set(1, "k", "v"))
	ok1 := Command{Op: OpSet, Key: []byte("k"), Value: []byte("w"), Cond: CondModRevision, CondRevision: 1, Client: "c", Seq: 1}
	fail := Command{Op: OpSet, Key: []byte("k"), Value: []byte("x"), Cond: CondModRevision, CondRevision: 1, Client: "c", Seq: 2}
	noLease := Command{Op: OpSet, Key: []byte("k"), Value: []byte("y"), Lease: 77, Client: "c", Seq: 3}
	mustApply(t, s, cmdEntry(2, ok1), cmdEntry(3, fail), cmdEntry(4, noLease))
	// The retry of the success would now fail its condition (k is at 2);
	// the retry of the failure would now... still fail. Both are skipped.
	s.Expect(9)
	ok1.Nonce = 9
	mustApply(t, s, cmdEntry(5, ok1), cmdEntry(6, fail), cmdEntry(7, noLease))
	if _, ok := s.Outcome(9); ok {
		t.Error("a skipped retry got an outcome of its own")
	}
	s = reopen(t, s, s.opts)
	for _, c := range []struct {
		seq    uint64
		want   RequestOutcome
		reason string
	}{{1, RequestOutcome{Index: 2}, "success"}, {2, RequestOutcome{Index: 3, CondFailed: true}, "failure"},
		{3, RequestOutcome{Index: 4, LeaseMissing: true}, "missing lease"}} {
		got, ok := s.RequestResult("c", c.seq)
		if !ok || got != c.want {
			t.Errorf("RequestResult(c, %d) = %+v, %v; want the first %s %+v", c.seq, got, ok, c.reason, c.want)
		}
	}
	wantValue(t, s, "k", "w")
	wantMeta(t, s, "k", Meta{CreateRevision: 1, ModRevision: 2, Version: 2})
}

// A format 1 store (bare values) is migrated on open: values kept, zero
// revisions, and the first write after it starts counting.
func TestMigrateFormat1(t *testing.T) {
	opts := testOptions(t.TempDir())
	s := openStore(t, opts)
	// Write the old layout by hand, more keys than one migration chunk.
	n := migrateChunk*2 + 17
	err := s.db.Update(func(txn *badger.Txn) error {
		for i := range n {
			if err := txn.Set(userKey(fmt.Appendf(nil, "k%05d", i)), fmt.Appendf(nil, "v%d", i)); err != nil {
				return err
			}
		}
		return txn.Set(metaFormat, []byte{storeFormatNoHeader})
	})
	if err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, opts)
	for _, i := range []int{0, migrateChunk - 1, migrateChunk, n - 1} {
		key := fmt.Sprintf("k%05d", i)
		wantValue(t, s, key, fmt.Sprint("v", i))
		wantMeta(t, s, key, Meta{})
	}
	mustApply(t, s, set(1, "k00003", "new"))
	wantMeta(t, s, "k00003", Meta{CreateRevision: 0, ModRevision: 1, Version: 1})
	// Reopening does not migrate again (that would add a second header).
	s = reopen(t, s, opts)
	wantValue(t, s, "k00003", "new")
	wantValue(t, s, "k00004", "v4")
	err = s.db.View(func(txn *badger.Txn) error {
		v, err := getValue(txn, metaFormat)
		if err != nil || !bytes.Equal(v, []byte{storeFormat}) {
			return fmt.Errorf("format record %v, %v", v, err)
		}
		if _, err := txn.Get(metaMigrateCursor); !errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("migration cursor left behind: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A migration a crash interrupted resumes after its cursor.
func TestMigrateResumes(t *testing.T) {
	opts := testOptions(t.TempDir())
	s := openStore(t, opts)
	err := s.db.Update(func(txn *badger.Txn) error {
		// k0 was migrated before the crash, k1 not yet.
		if err := txn.Set(userKey([]byte("k0")), encodeValue(Meta{}, []byte("a"))); err != nil {
			return err
		}
		if err := txn.Set(userKey([]byte("k1")), []byte("b")); err != nil {
			return err
		}
		if err := txn.Set(metaMigrateCursor, userKey([]byte("k0"))); err != nil {
			return err
		}
		return txn.Set(metaFormat, []byte{storeFormatNoHeader})
	})
	if err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, opts)
	wantValue(t, s, "k0", "a")
	wantValue(t, s, "k1", "b")
}

func TestCorruptHeaderIsAnError(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(userKey([]byte("bad")), []byte{0x80}) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get([]byte("bad")); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a value with a torn header = %v, want an error", err)
	}
	if _, err := s.List(nil, 10); err == nil {
		t.Fatal("List over a value with a torn header succeeded")
	}
	// Applying a write over it fails the Apply rather than guessing.
	if err := s.Apply([]wire.Entry{set(1, "bad", "v")}); err == nil {
		t.Fatal("Apply over a torn header succeeded")
	}
}

// The revision cache only saves reads: with it evicting all the time, or
// emptied by a failed Apply, revisions come out the same.
func TestRevisionCache(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	s.cache.max = 1
	mustApply(t, s, set(1, "a", "1"), set(2, "b", "1"))
	mustApply(t, s, set(3, "a", "2"))
	mustApply(t, s, set(4, "b", "2"), set(5, "a", "3"))
	wantMeta(t, s, "a", Meta{CreateRevision: 1, ModRevision: 5, Version: 3})
	wantMeta(t, s, "b", Meta{CreateRevision: 2, ModRevision: 4, Version: 2})
	if len(s.cache.m) > 1 {
		t.Fatalf("cache holds %d keys, bound 1", len(s.cache.m))
	}
	// A failed commit must not leave the cache ahead of badger.
	s.cache.max = 0
	s.commitHook = func(uint64) error { return errors.New("disk full") }
	if err := s.Apply([]wire.Entry{set(6, "a", "lost")}); err == nil {
		t.Fatal("Apply succeeded through a failing commit")
	}
	s.commitHook = nil
	mustApply(t, s, set(6, "a", "4"))
	wantMeta(t, s, "a", Meta{CreateRevision: 1, ModRevision: 6, Version: 4})
	// A delete is cached as absent: the next put starts a new life.
	mustApply(t, s, del(7, "a"), noop(8))
	mustApply(t, s, set(9, "a", "new"))
	wantMeta(t, s, "a", Meta{CreateRevision: 9, ModRevision: 9, Version: 1})
}
