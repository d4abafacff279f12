package logs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/internal/vfs"
	"github.com/raftkv/raftkv/internal/vfs/faultfs"
	"github.com/raftkv/raftkv/internal/vfs/memfs"
	"github.com/raftkv/raftkv/raft/wire"
)

// walModel is what the log has acknowledged: every Save that returned nil.
type walModel struct {
	hs   wire.HardState
	ents []wire.Entry
}

func (m *walModel) apply(hs *wire.HardState, ents []wire.Entry) {
	if hs != nil {
		m.hs = *hs
	}
	if len(ents) == 0 {
		return
	}
	keep := 0
	for keep < len(m.ents) && m.ents[keep].Index < ents[0].Index {
		keep++
	}
	m.ents = append(m.ents[:keep:keep], ents...)
}

// randomSave is the next Save of a seeded schedule: mostly appends, now and
// then a new term that overwrites part of the unacknowledged-looking tail,
// as a follower's log does when a new leader disagrees.
func randomSave(rng *rand.Rand, m *walModel) (*wire.HardState, []wire.Entry) {
	var hs *wire.HardState
	next := uint64(len(m.ents)) + 1
	if len(m.ents) > 0 {
		next = m.ents[len(m.ents)-1].Index + 1
	}
	term := max(m.hs.Term, 1)
	if rng.IntN(6) == 0 {
		term++
		hs = &wire.HardState{Term: term, Vote: uint64(rng.IntN(3))}
		if back := uint64(rng.IntN(4)); back < next-1 {
			next -= back
		}
	}
	return hs, makeEntries(next, 1+rng.IntN(12), term)
}

// TestWALSurvivesDiskFaults runs the real WAL on a faulty disk: a seeded
// schedule of Saves until an injected fault (a failed write, a torn
// write, a failed fsync) makes one fail, then a crash that loses a random
// part of what was not synced. Reopened on a healthy disk, the log must
// recover without error and hold everything acknowledged; past that, at
// most the failed Save's entries.
//
// It runs on the host's disk and on memfs, which the raft simulation
// crashes the log on: recovery must not tell them apart.
func TestWALSurvivesDiskFaults(t *testing.T) {
	for name, newFS := range map[string]func() vfs.FS{
		"os":    func() vfs.FS { return vfs.OS },
		"memfs": func() vfs.FS { return memfs.New() },
	} {
		t.Run(name, func(t *testing.T) {
			kinds := map[string]int{}
			for seed := uint64(1); seed <= 150; seed++ {
				kind := walFaultRun(t, seed, newFS())
				kinds[kind]++
			}
			// Each kind of fault must have been exercised, or the test
			// proves less than it claims.
			for _, k := range []string{"write", "torn", "sync"} {
				if kinds[k] == 0 {
					t.Errorf("no run injected a %s fault: %v", k, kinds)
				}
			}
		})
	}
}

// walFaultRun is one seed of TestWALSurvivesDiskFaults on inner. The
// directory is a real one whichever inner is, for the log's lock file.
func walFaultRun(t *testing.T, seed uint64, inner vfs.FS) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	dir := t.TempDir()
	disk := faultfs.New(inner)
	l, err := Open(dir, Options{SegmentBytes: 2048, Logger: quietLogger, FS: disk})
	if err != nil {
		t.Fatalf("seed %d: open: %v", seed, err)
	}
	var m walModel
	for range rng.IntN(30) { // a history to lose nothing of
		hs, ents := randomSave(rng, &m)
		if err := l.Save(hs, ents); err != nil {
			t.Fatalf("seed %d: save before any fault: %v", seed, err)
		}
		m.apply(hs, ents)
	}
	kind := []string{"write", "torn", "sync"}[rng.IntN(3)]
	at := 1 + rng.IntN(4)
	switch kind {
	case "write":
		disk.FailNth(faultfs.OpWrite, at, nil)
	case "torn":
		disk.TearNth(at, rng.IntN(64), nil)
	case "sync":
		disk.FailNth(faultfs.OpSync, at, nil)
	}
	var failedHS *wire.HardState
	var failed []wire.Entry
	for i := 0; ; i++ {
		if i > 100 {
			t.Fatalf("seed %d: the %s fault at operation %d never fired", seed, kind, at)
		}
		hs, ents := randomSave(rng, &m)
		if err := l.Save(hs, ents); err != nil {
			if !errors.Is(err, faultfs.ErrInjected) {
				t.Fatalf("seed %d: save failed with %v, not the injected fault", seed, err)
			}
			failedHS, failed = hs, ents
			break
		}
		m.apply(hs, ents)
	}
	if err := l.Save(nil, makeEntries(1, 1, 1)); err == nil {
		t.Fatalf("seed %d: a Save after a failed one was accepted", seed)
	}
	if err := disk.Crash(func(string, int) int { return rng.IntN(3) }); err != nil {
		t.Fatalf("seed %d: crash: %v", seed, err)
	}
	_ = l.Close() // lets go of the lock; its files are past saving

	r, err := Open(dir, Options{Logger: quietLogger, FS: inner})
	if err != nil {
		t.Fatalf("seed %d (%s fault at %d): reopen after the crash: %v", seed, kind, at, err)
	}
	defer r.Close()
	hs, got, err := r.Load()
	if err != nil {
		t.Fatalf("seed %d: load: %v", seed, err)
	}
	if err := checkRecovered(m, failedHS, failed, hs, got); err != nil {
		t.Fatalf("seed %d (%s fault at operation %d): %v", seed, kind, at, err)
	}
	return kind
}

// checkRecovered: the acknowledged state, or the acknowledged state with a
// prefix of the failed Save applied over it.
func checkRecovered(m walModel, failedHS *wire.HardState, failed []wire.Entry, hs wire.HardState, got []wire.Entry) error {
	if hs != m.hs && (failedHS == nil || hs != *failedHS) {
		return fmt.Errorf("hard state %+v, acknowledged %+v, failed save's %v", hs, m.hs, failedHS)
	}
	with := m
	with.ents = append([]wire.Entry(nil), m.ents...)
	with.apply(nil, failed)
	// Entries the failed Save would have overwritten may be gone, and any
	// prefix of its own may have landed; nothing else may differ.
	cut := len(m.ents)
	if len(failed) > 0 {
		cut = min(cut, int(failed[0].Index-1))
	}
	if len(got) < cut {
		return fmt.Errorf("recovered %d entries, but %d were acknowledged and never overwritten", len(got), cut)
	}
	if err := equalEntries(got[:cut], m.ents[:cut]); err != nil {
		return fmt.Errorf("acknowledged entries: %v", err)
	}
	rest := got[cut:]
	if err := equalEntries(rest, m.ents[cut:]); err == nil {
		return nil // the failed Save left no trace
	}
	if len(rest) > len(with.ents)-cut {
		return fmt.Errorf("recovered %d entries past %d; the acknowledged and failed saves hold %d", len(rest), cut, len(with.ents)-cut)
	}
	if err := equalEntries(rest, with.ents[cut:cut+len(rest)]); err != nil {
		return fmt.Errorf("entries past %d are neither the acknowledged ones nor a prefix of the failed save: %v", cut, err)
	}
	return nil
}

// TestRecoveryStopsOnDiskError: recovery writes too (it cuts a torn tail
// and makes the cut durable). When the disk fails there, Open must fail,
// not go on with a log whose tail it could not fix; a later Open on a
// healthy disk recovers everything acknowledged.
func TestRecoveryStopsOnDiskError(t *testing.T) {
	dir := t.TempDir()
	disk := faultfs.New(vfs.OS)
	l, err := Open(dir, Options{Logger: quietLogger, FS: disk})
	if err != nil {
		t.Fatal(err)
	}
	acked := makeEntries(1, 10, 1)
	mustSave(t, l, &wire.HardState{Term: 1, Vote: 2}, acked)
	disk.TearNth(1, 9, nil) // part of the next batch's records lands
	if err := l.Save(nil, makeEntries(11, 5, 1)); !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("torn save: %v", err)
	}
	// The torn bytes survive the crash: the tail recovery must cut.
	if err := disk.Crash(func(_ string, n int) int { return n }); err != nil {
		t.Fatal(err)
	}
	_ = l.Close()

	bad := faultfs.New(vfs.OS)
	bad.FailNth(faultfs.OpSync, 1, nil)
	if r, err := Open(dir, Options{Logger: quietLogger, FS: bad}); !errors.Is(err, faultfs.ErrInjected) {
		if err == nil {
			r.Close()
		}
		t.Fatalf("open with its first fsync failing: %v, want the injected error", err)
	}
	// The cut it made was never synced: a crash takes it back.
	if err := bad.Crash(nil); err != nil {
		t.Fatal(err)
	}
	var lb logBuffer
	r, err := Open(dir, Options{Logger: lb.logger()})
	if err != nil {
		t.Fatalf("open on a healthy disk: %v", err)
	}
	defer r.Close()
	checkLoad(t, r, wire.HardState{Term: 1, Vote: 2}, acked)
	if !strings.Contains(lb.String(), "cut torn record") {
		t.Errorf("no warning about the torn tail:\n%s", lb.String())
	}
}

// writeSnapshot writes a snapshot at index with body through store.
func writeSnapshot(store *SnapshotStore, index uint64, body []byte) error {
	w, err := store.Create(SnapshotMeta{Index: index, Term: 1})
	if err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		_ = w.Abort()
		return err
	}
	return w.Commit()
}

// TestSnapshotStoreSurvivesDiskFaults: a snapshot is either whole in the
// store or absent, whichever way the disk fails while it is written; the
// one before it stays readable.
func TestSnapshotStoreSurvivesDiskFaults(t *testing.T) {
	body := func(index uint64) []byte { return snapBody(index, 45000) }
	for _, tc := range []struct {
		name   string
		inject func(*faultfs.FS)
		crash  bool // crash before the commit returns (mid-write)
	}{
		{"fsync fails", func(d *faultfs.FS) { d.FailNth(faultfs.OpSync, 1, nil) }, false},
		{"write fails", func(d *faultfs.FS) { d.FailNth(faultfs.OpWrite, 1, nil) }, false},
		{"torn write", func(d *faultfs.FS) { d.TearNth(1, 100, nil) }, false},
		{"crash mid-write", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			disk := faultfs.New(vfs.OS)
			store, err := OpenSnapshotStoreOn(disk, dir)
			if err != nil {
				t.Fatal(err)
			}
			writeSnap(t, store, SnapshotMeta{Index: 10, Term: 1}, body(10))
			if tc.inject != nil {
				tc.inject(disk)
				if err := writeSnapshot(store, 20, body(20)); !errors.Is(err, faultfs.ErrInjected) {
					t.Fatalf("snapshot 20 on a failing disk: %v, want the injected error", err)
				}
			}
			if tc.crash {
				w, err := store.Create(SnapshotMeta{Index: 20, Term: 1})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := w.Write(body(20)); err != nil {
					t.Fatal(err)
				}
				// No Commit: the power goes with the image half on disk.
			}
			if err := disk.Crash(func(_ string, n int) int { return n / 2 }); err != nil {
				t.Fatal(err)
			}
			again, err := OpenSnapshotStore(dir)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			meta, err := again.Latest()
			if err != nil || meta.Index != 10 {
				t.Fatalf("latest after the fault: %+v, %v; want snapshot 10", meta, err)
			}
			if _, got, err := readBody(again, 10); err != nil || string(got) != string(body(10)) {
				t.Fatalf("snapshot 10 reads back %d bytes, %v", len(got), err)
			}
			if des, _ := os.ReadDir(dir); len(des) != 1 {
				t.Errorf("the store holds %d files after reopening, want only snapshot 10", len(des))
			}
		})
	}
}

// TestTrailSurvivesDiskFaults: the trail is never fsynced, so a crash may
// leave a torn line behind (here: a write torn part-way, whose cut-back
// the crash loses). Reopened, the trail drops the torn bytes and goes on
// after the last whole line.
func TestTrailSurvivesDiskFaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "0.txt")
	disk := faultfs.New(vfs.OS)
	tr, err := OpenTrailOn(disk, path)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 2; i++ {
		if err := tr.Append([]TrailLine{{Index: i, Term: 1, Command: fmt.Sprintf("SET k%d v", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	disk.TearNth(1, 5, nil)
	if err := tr.Append([]TrailLine{{Index: 3, Term: 1, Command: "SET k3 v"}}); !errors.Is(err, faultfs.ErrInjected) {
		t.Fatalf("torn append: %v", err)
	}
	// The torn bytes were cut back; the crash loses that cut, not the lines.
	if err := disk.Crash(func(_ string, n int) int { return n - 1 }); err != nil {
		t.Fatal(err)
	}
	_ = tr.Close()
	if b, _ := os.ReadFile(path); !strings.HasSuffix(string(b), "3, 1,") {
		t.Fatalf("the crash was meant to leave the torn line: %q", b)
	}
	r, err := OpenTrail(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer r.Close()
	if r.LastIndex() != 2 {
		t.Errorf("last index %d, want 2", r.LastIndex())
	}
	if b, _ := os.ReadFile(path); string(b) != "1, 1, SET k1 v\n2, 1, SET k2 v\n" {
		t.Errorf("trail after reopening: %q", b)
	}
	if err := r.Append([]TrailLine{{Index: 3, Term: 1, Command: "SET k3 v"}}); err != nil {
		t.Fatal(err)
	}
}
