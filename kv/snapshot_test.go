package kv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/raftkv/raftkv/logs"
	"github.com/raftkv/raftkv/raft/wire"
)

func entryAt(index, term uint64, data []byte) wire.Entry {
	return wire.Entry{Index: index, Term: term, Data: data}
}

func snapshotBytes(t testing.TB, s *Store) (img []byte, index, term uint64) {
	t.Helper()
	var buf bytes.Buffer
	index, term, err := s.SnapshotTo(&buf)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return buf.Bytes(), index, term
}

func mustRestore(t testing.TB, s *Store, img []byte, index, term uint64) {
	t.Helper()
	if err := s.Restore(bytes.NewReader(img), index, term); err != nil {
		t.Fatalf("Restore(index %d, term %d): %v", index, term, err)
	}
}

func wantAbsent(t testing.TB, s *Store, key string) {
	t.Helper()
	if v, err := s.Get([]byte(key)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, v, err)
	}
}

func wantPos(t testing.TB, s *Store, index, term uint64) {
	t.Helper()
	if s.AppliedIndex() != index || s.AppliedTerm() != term {
		t.Fatalf("applied position = (%d, %d), want (%d, %d)", s.AppliedIndex(), s.AppliedTerm(), index, term)
	}
}

func allItems(t testing.TB, s *Store) string {
	t.Helper()
	items, err := s.List(nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return itemsString(items)
}

// leftovers lists the restore's side paths that still exist.
func leftovers(dir string) []string {
	p := pathsFor(dir)
	var left []string
	for _, path := range []string{p.restore, p.marker, p.old} {
		if _, err := os.Lstat(path); err == nil {
			left = append(left, filepath.Base(path))
		}
	}
	return left
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	src := openStore(t, testOptions(t.TempDir()))
	big := bytes.Repeat([]byte("B"), 200<<10) // goes to the value log
	mustApply(t, src,
		entryAt(1, 1, EncodeSet([]byte("a"), []byte("1"))),
		entryAt(2, 1, EncodeSet([]byte("big"), big)),
		entryAt(3, 2, EncodeSet([]byte("gone"), []byte("x"))),
		entryAt(4, 2, EncodeDel([]byte("gone"))),
		entryAt(5, 2, Command{Op: OpSet, Key: []byte("s"), Value: []byte("v1"), Client: "c1", Seq: 7}.Encode()),
		entryAt(6, 3, Command{Op: OpSet, Key: []byte("t"), Value: []byte("v2"), Client: "c2", Seq: 1}.Encode()),
		entryAt(7, 3, EncodeSet([]byte("\x00bin\xff"), nil)),
		wire.Entry{Index: 8, Term: 4, Type: 1}, // a no-op ends the log
	)
	img, index, term := snapshotBytes(t, src)
	if index != 8 || term != 4 {
		t.Fatalf("Snapshot reports (%d, %d), want (8, 4)", index, term)
	}

	dstOpts := testOptions(t.TempDir())
	dst := openStore(t, dstOpts)
	mustApply(t, dst, set(1, "only-in-dst", "x"), setWithID(2, "k", "v", "c9", 1))
	mustRestore(t, dst, img, index, term)

	check := func(s *Store) {
		t.Helper()
		wantPos(t, s, 8, 4)
		if got, want := allItems(t, s), allItems(t, src); got != want {
			t.Fatalf("restored data %q, want %q", got, want)
		}
		wantAbsent(t, s, "only-in-dst")
		wantAbsent(t, s, "gone")
		wantValue(t, s, "big", string(big))
		for _, r := range []struct {
			client string
			seq    uint64
			index  uint64
			ok     bool
		}{{"c1", 7, 5, true}, {"c2", 1, 6, true}, {"c9", 1, 0, false}} {
			if idx, ok := requestIndex(s, r.client, r.seq); idx != r.index || ok != r.ok {
				t.Fatalf("RequestResult(%s, %d) = %d, %v; want %d, %v", r.client, r.seq, idx, ok, r.index, r.ok)
			}
		}
	}
	check(dst)
	if left := leftovers(dstOpts.Dir); len(left) != 0 {
		t.Fatalf("Restore left %v next to the store", left)
	}
	// The session table came along: a retried write is still skipped.
	mustApply(t, dst, entryAt(9, 4, Command{Op: OpSet, Key: []byte("s"), Value: []byte("retry"), Client: "c1", Seq: 7}.Encode()))
	wantValue(t, dst, "s", "v1")
	wantPos(t, dst, 9, 4)

	dst = reopen(t, dst, dstOpts)
	wantPos(t, dst, 9, 4)
	wantValue(t, dst, "s", "v1")
	wantValue(t, dst, "big", string(big))

	// The image of the restored store is the same image again.
	dst2 := openStore(t, testOptions(t.TempDir()))
	mustRestore(t, dst2, img, 8, 4)
	if img2, _, _ := snapshotBytes(t, dst2); !bytes.Equal(img2, img) {
		t.Fatalf("a restored store's image differs from the one it came from (%d vs %d bytes)", len(img2), len(img))
	}
}

func TestSnapshotOfEmptyStore(t *testing.T) {
	img, index, term := snapshotBytes(t, openStore(t, testOptions(t.TempDir())))
	if index != 0 || term != 0 {
		t.Fatalf("empty store snapshot at (%d, %d)", index, term)
	}
	dst := openStore(t, testOptions(t.TempDir()))
	mustApply(t, dst, set(1, "x", "1"))
	mustRestore(t, dst, img, 0, 0)
	wantPos(t, dst, 0, 0)
	wantAbsent(t, dst, "x")
	mustApply(t, dst, set(1, "y", "1"))
	wantValue(t, dst, "y", "1")
}

// Entries SET k=<index> are applied in batches while snapshots are taken.
// Each image must hold exactly the state at the index it reports: k is
// the applied index, and so is the count of per-index keys.
func TestSnapshotConsistentUnderConcurrentApply(t *testing.T) {
	src := openStore(t, testOptions(t.TempDir()))
	const last = 3000
	done := make(chan error, 1)
	go func() {
		next := uint64(1)
		for batch := 1; next <= last; batch = batch%13 + 1 {
			var ents []wire.Entry
			for i := 0; i < batch && next <= last; i++ {
				v := []byte(strconv.FormatUint(next, 10))
				ents = append(ents, entryAt(next, next/100+1, EncodeSet([]byte("k"), v)))
				next++
			}
			if err := src.Apply(ents); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	type image struct {
		img         []byte
		index, term uint64
	}
	var images []image
	for len(images) < 40 {
		img, index, term := snapshotBytes(t, src)
		if len(images) == 0 || index != images[len(images)-1].index {
			images = append(images, image{img, index, term})
		}
		if index == last {
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(images) < 3 {
		t.Fatalf("only %d distinct snapshots while applying; the test needs several", len(images))
	}
	dst := openStore(t, testOptions(t.TempDir()))
	// Restoring every image is slow; the first, the last and a few
	// between cover it.
	for i, im := range images {
		if i != 0 && i != len(images)-1 && i%8 != 0 {
			continue
		}
		mustRestore(t, dst, im.img, im.index, im.term)
		if im.index == 0 {
			wantPos(t, dst, 0, 0)
			wantAbsent(t, dst, "k")
			continue
		}
		wantPos(t, dst, im.index, im.index/100+1)
		wantValue(t, dst, "k", strconv.FormatUint(im.index, 10))
	}
}

func TestRestoreRejectsBadImages(t *testing.T) {
	src := openStore(t, testOptions(t.TempDir()))
	for i := uint64(1); i <= 300; i++ {
		mustApply(t, src, entryAt(i, 2, EncodeSet([]byte(fmt.Sprintf("new%04d", i)), bytes.Repeat([]byte("n"), 100))))
	}
	img, index, term := snapshotBytes(t, src)
	firstFrame := imageHeaderSize
	endFrame := len(img) - frameHeaderSize - 9

	opts := testOptions(t.TempDir())
	s := openStore(t, opts)
	mustApply(t, s, entryAt(1, 1, EncodeSet([]byte("old"), []byte("kept"))))

	tests := []struct {
		name        string
		r           io.Reader
		index, term uint64
		want        error // nil: any error
	}{
		{"empty", bytes.NewReader(nil), index, term, ErrBadImage},
		{"half a header", bytes.NewReader(img[:10]), index, term, ErrBadImage},
		{"header only", bytes.NewReader(img[:imageHeaderSize]), index, term, ErrBadImage},
		{"cut in a frame header", bytes.NewReader(img[:firstFrame+5]), index, term, ErrBadImage},
		{"cut in a frame", bytes.NewReader(img[:firstFrame+500]), index, term, ErrBadImage},
		{"end frame missing", bytes.NewReader(img[:endFrame]), index, term, ErrBadImage},
		{"last byte missing", bytes.NewReader(img[:len(img)-1]), index, term, ErrBadImage},
		{"extra byte", bytes.NewReader(append(append([]byte{}, img...), 0)), index, term, ErrBadImage},
		{"bad magic", bytes.NewReader(flipped(img, 1)), index, term, ErrBadImage},
		{"bad header", bytes.NewReader(flipped(img, 12)), index, term, ErrBadImage},
		{"bad frame length", bytes.NewReader(flipped(img, firstFrame+1)), index, term, ErrBadImage},
		{"bad pair", bytes.NewReader(flipped(img, firstFrame+frameHeaderSize+40)), index, term, ErrBadImage},
		{"bad last pair", bytes.NewReader(flipped(img, endFrame-1)), index, term, ErrBadImage},
		{"bad end count", bytes.NewReader(flipped(img, len(img)-3)), index, term, ErrBadImage},
		{"wrong index", bytes.NewReader(img), index + 1, term, nil},
		{"wrong term", bytes.NewReader(img), index, term + 1, nil},
		{"carrier fails", io.MultiReader(bytes.NewReader(img[:firstFrame+100]), errReader{logs.ErrCorrupt}), index, term, logs.ErrCorrupt},
		{"carrier fails at the end", io.MultiReader(bytes.NewReader(img), errReader{logs.ErrCorrupt}), index, term, logs.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Restore(tt.r, tt.index, tt.term)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("Restore = %v, want an error wrapping %v", err, tt.want)
			}
			wantPos(t, s, 1, 1)
			wantValue(t, s, "old", "kept")
			wantAbsent(t, s, "new0001")
			if left := leftovers(opts.Dir); len(left) != 0 {
				t.Fatalf("failed Restore left %v", left)
			}
		})
	}
	// The store still works, and a good image still restores.
	mustApply(t, s, entryAt(2, 1, EncodeSet([]byte("old2"), []byte("x"))))
	mustRestore(t, s, img, index, term)
	wantPos(t, s, 300, 2)
	wantAbsent(t, s, "old")
	s = reopen(t, s, opts)
	wantValue(t, s, "new0300", string(bytes.Repeat([]byte("n"), 100)))
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func flipped(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 0x10
	return c
}

// The way the driver uses it: the image goes into a snapshot file, and
// is restored from the file's body reader, which verifies the file only
// at its end; damage found there must still keep the old state.
func TestRestoreFromSnapshotFile(t *testing.T) {
	src := openStore(t, testOptions(t.TempDir()))
	for i := uint64(1); i <= 50; i++ {
		mustApply(t, src, entryAt(i, 3, EncodeSet([]byte(fmt.Sprint("k", i)), []byte("v"))))
	}
	snaps, err := logs.OpenSnapshotStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var sw logs.SnapshotSink
	err = src.Snapshot(func(index, term uint64) (io.Writer, error) {
		var err error
		sw, err = snaps.Create(logs.SnapshotMeta{Index: index, Term: term, Peers: []uint64{1, 2, 3}})
		return sw, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.Commit(); err != nil {
		t.Fatal(err)
	}
	meta, err := snaps.Latest()
	if err != nil || meta.Index != 50 || meta.Term != 3 {
		t.Fatalf("Latest = %+v, %v", meta, err)
	}

	opts := testOptions(t.TempDir())
	dst := openStore(t, opts)
	mustApply(t, dst, set(1, "old", "kept"))
	path := filepath.Join(snaps.Dir(), fmt.Sprintf("%020d-%020d.snap", 50, 3))
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Flip a byte of the trailer's checksum: the body is intact, so only
	// the file check can refuse it, and it does so at EOF.
	data[st.Size()-1] ^= 1
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, rc, err := snaps.Open(50)
	if err != nil {
		t.Fatal(err)
	}
	err = dst.Restore(rc, 50, 3)
	_ = rc.Close()
	if !errors.Is(err, logs.ErrCorrupt) {
		t.Fatalf("Restore from a corrupt file = %v, want logs.ErrCorrupt", err)
	}
	wantValue(t, dst, "old", "kept")
	wantPos(t, dst, 1, 1)

	data[st.Size()-1] ^= 1
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, rc, err = snaps.Open(50)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := dst.Restore(rc, 50, 3); err != nil {
		t.Fatal(err)
	}
	wantPos(t, dst, 50, 3)
	wantValue(t, dst, "k50", "v")
}

// restoreSteps are the crash points of Restore, in order.
var restoreSteps = []string{"loaded", "marked", "old-closed", "old-moved", "new-moved", "unmarked", "cleaned"}

// A crash at every step of Restore, then Open: the store holds the old
// state or the new one, entirely, and nothing is left next to it.
func TestRestoreCrashAtEveryStep(t *testing.T) {
	src := openStore(t, testOptions(t.TempDir()))
	mustApply(t, src, entryAt(1, 3, EncodeSet([]byte("shared"), []byte("new"))))
	for i := uint64(2); i <= 20; i++ {
		mustApply(t, src, entryAt(i, 3, EncodeSet([]byte("new-only"), []byte(fmt.Sprint(i)))))
	}
	img, index, term := snapshotBytes(t, src)

	for i, step := range restoreSteps {
		t.Run(step, func(t *testing.T) {
			opts := testOptions(t.TempDir())
			s := openStore(t, opts)
			mustApply(t, s,
				entryAt(1, 2, EncodeSet([]byte("shared"), []byte("old"))),
				entryAt(2, 2, EncodeSet([]byte("old-only"), []byte("x"))))
			var seen []string
			s.restoreHook = func(got string) error {
				seen = append(seen, got)
				if got == step {
					return errors.New("crash")
				}
				return nil
			}
			if err := s.Restore(bytes.NewReader(img), index, term); !errors.Is(err, errCrashed) {
				t.Fatalf("Restore = %v, want the simulated crash", err)
			}
			if want := restoreSteps[:i+1]; fmt.Sprint(seen) != fmt.Sprint(want) {
				t.Fatalf("steps run = %v, want %v", seen, want)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = openStore(t, opts)
			wantNew := i > 0 // once the marker is durable the restore wins
			if wantNew {
				wantPos(t, s, 20, 3)
				wantValue(t, s, "shared", "new")
				wantValue(t, s, "new-only", "20")
				wantAbsent(t, s, "old-only")
			} else {
				wantPos(t, s, 2, 2)
				wantValue(t, s, "shared", "old")
				wantValue(t, s, "old-only", "x")
				wantAbsent(t, s, "new-only")
			}
			if left := leftovers(opts.Dir); len(left) != 0 {
				t.Fatalf("Open after the crash left %v", left)
			}
			// And the store goes on from there.
			next := s.AppliedIndex() + 1
			mustApply(t, s, entryAt(next, 4, EncodeSet([]byte("after"), []byte("1"))))
			s = reopen(t, s, opts)
			wantPos(t, s, next, 4)
		})
	}
	t.Run("no crash", func(t *testing.T) {
		opts := testOptions(t.TempDir())
		s := openStore(t, opts)
		var seen []string
		s.restoreHook = func(got string) error { seen = append(seen, got); return nil }
		mustRestore(t, s, img, index, term)
		if fmt.Sprint(seen) != fmt.Sprint(restoreSteps) {
			t.Fatalf("steps = %v, want %v", seen, restoreSteps)
		}
	})
}

// States a crash in the middle of a step (rather than between steps) or
// a stranger could leave.
func TestOpenAfterOddRestoreStates(t *testing.T) {
	t.Run("partial restore dir", func(t *testing.T) {
		opts := testOptions(t.TempDir())
		s := openStore(t, opts)
		mustApply(t, s, set(1, "a", "old"))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		p := pathsFor(opts.Dir)
		if err := os.MkdirAll(p.restore, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p.restore, "000001.vlog"), []byte("half written"), 0o644); err != nil {
			t.Fatal(err)
		}
		s = openStore(t, opts)
		wantValue(t, s, "a", "old")
		if left := leftovers(opts.Dir); len(left) != 0 {
			t.Fatalf("left %v", left)
		}
	})
	t.Run("only the old copy", func(t *testing.T) {
		opts := testOptions(t.TempDir())
		s := openStore(t, opts)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		p := pathsFor(opts.Dir)
		if err := os.Rename(p.dir, p.old); err != nil {
			t.Fatal(err)
		}
		if s, err := Open(opts); err == nil {
			_ = s.Close()
			t.Fatal("Open guessed with only Dir.old present")
		}
		if _, err := os.Stat(p.old); err != nil {
			t.Fatalf("Open removed the only copy: %v", err)
		}
	})
}

func TestRestoreReadersSeeOldOrNewNeverClosed(t *testing.T) {
	newSrc := openStore(t, testOptions(t.TempDir()))
	mustApply(t, newSrc, set(1, "a", "new"), set(2, "b", "new"))
	newImg, ni, nt := snapshotBytes(t, newSrc)
	oldSrc := openStore(t, testOptions(t.TempDir()))
	mustApply(t, oldSrc, set(1, "a", "old"), set(2, "b", "old"), set(3, "c", "pad"))
	oldImg, oi, ot := snapshotBytes(t, oldSrc)

	s := openStore(t, testOptions(t.TempDir()))
	mustRestore(t, s, oldImg, oi, ot)
	stop := make(chan struct{})
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				items, err := s.List([]byte("a"), 10)
				if err == nil && (len(items) != 1 || (string(items[0].Value) != "old" && string(items[0].Value) != "new")) {
					err = fmt.Errorf("List(a) = %s", itemsString(items))
				}
				if err == nil {
					var v []byte
					if v, err = s.Get([]byte("b")); err == nil && string(v) != "old" && string(v) != "new" {
						err = fmt.Errorf("Get(b) = %q", v)
					}
				}
				if err == nil {
					_ = s.SizeBytes()
					_, _ = s.AppliedIndex(), s.AppliedTerm()
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	for i := 0; i < 4; i++ {
		img, index, term := newImg, ni, nt
		if i%2 == 1 {
			img, index, term = oldImg, oi, ot
		}
		mustRestore(t, s, img, index, term)
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("reader during Restore: %v", err)
	}
	wantValue(t, s, "c", "pad")
}

func TestAppliedTermSurvivesRestart(t *testing.T) {
	opts := testOptions(t.TempDir())
	s := openStore(t, opts)
	wantPos(t, s, 0, 0)
	mustApply(t, s, entryAt(1, 1, EncodeSet([]byte("a"), []byte("1"))), entryAt(2, 2, EncodeSet([]byte("b"), []byte("2"))))
	wantPos(t, s, 2, 2)
	mustApply(t, s, wire.Entry{Index: 3, Term: 5, Type: 1}) // a no-op moves the term too
	wantPos(t, s, 3, 5)
	mustApply(t, s, entryAt(4, 5, []byte{0xff})) // so does an undecodable command
	wantPos(t, s, 4, 5)
	s = reopen(t, s, opts)
	wantPos(t, s, 4, 5)
	// A replay of already applied entries changes nothing.
	mustApply(t, s, entryAt(4, 9, EncodeSet([]byte("a"), []byte("x"))))
	s = reopen(t, s, opts)
	wantPos(t, s, 4, 5)
	wantValue(t, s, "a", "1")
}

// Each chunk of a split batch records its own last entry's term.
func TestAppliedTermOfSplitBatch(t *testing.T) {
	opts := testOptions(t.TempDir())
	opts.MemTableBytes = 1 << 20
	s := openStore(t, opts)
	var firstLast uint64
	s.commitHook = func(last uint64) error {
		if firstLast == 0 {
			firstLast = last
			return nil
		}
		return errors.New("simulated crash")
	}
	value := bytes.Repeat([]byte("v"), 1000)
	var entries []wire.Entry
	for i := uint64(1); i <= 3000; i++ {
		entries = append(entries, entryAt(i, 10+i, EncodeSet([]byte(fmt.Sprint("k", i)), value)))
	}
	if err := s.Apply(entries); err == nil {
		t.Fatal("Apply succeeded through the simulated crash")
	}
	if firstLast == 0 || firstLast >= 3000 {
		t.Fatalf("no split: first chunk ended at %d", firstLast)
	}
	wantPos(t, s, firstLast, 10+firstLast)
	s.commitHook = nil
	s = reopen(t, s, opts)
	wantPos(t, s, firstLast, 10+firstLast)
}

func TestSnapshotAndRestoreOnClosedStore(t *testing.T) {
	s, err := Open(testOptions(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, set(1, "a", "1"))
	img, index, term := snapshotBytes(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.SnapshotTo(io.Discard); !errors.Is(err, ErrClosed) {
		t.Errorf("Snapshot after Close = %v", err)
	}
	if err := s.Restore(bytes.NewReader(img), index, term); !errors.Is(err, ErrClosed) {
		t.Errorf("Restore after Close = %v", err)
	}
	wantPos(t, s, 1, 1)
}

func TestSnapshotBeginError(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	mustApply(t, s, entryAt(1, 7, EncodeSet([]byte("a"), []byte("1"))))
	refused := errors.New("no room")
	var gotIndex, gotTerm uint64
	err := s.Snapshot(func(index, term uint64) (io.Writer, error) {
		gotIndex, gotTerm = index, term
		return nil, refused
	})
	if !errors.Is(err, refused) || gotIndex != 1 || gotTerm != 7 {
		t.Fatalf("Snapshot = %v with begin(%d, %d); want the begin error after begin(1, 7)", err, gotIndex, gotTerm)
	}
	var short failingWriter
	if err := s.Snapshot(func(uint64, uint64) (io.Writer, error) { return &short, nil }); !errors.Is(err, errDiskFull) {
		t.Fatalf("Snapshot into a failing writer = %v", err)
	}
}

var errDiskFull = errors.New("disk full")

type failingWriter struct{}

func (*failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestSizeBytes(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	before := s.SizeBytes()
	if before <= 0 {
		t.Fatalf("SizeBytes of a fresh store = %d", before)
	}
	value := bytes.Repeat([]byte("z"), 100<<10) // value log
	for i := uint64(1); i <= 40; i++ {
		mustApply(t, s, entryAt(i, 1, EncodeSet([]byte(fmt.Sprint("k", i)), value)))
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if after := s.SizeBytes(); after < before+int64(40*len(value)) {
		t.Fatalf("SizeBytes = %d after writing %d bytes on top of %d", after, 40*len(value), before)
	}
}
