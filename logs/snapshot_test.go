package logs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func openSnapStore(t testing.TB, dir string) *SnapshotStore {
	t.Helper()
	s, err := OpenSnapshotStore(dir)
	if err != nil {
		t.Fatalf("OpenSnapshotStore(%s): %v", dir, err)
	}
	return s
}

// snapBody is a deterministic body of n bytes that differs per index.
func snapBody(index uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(uint64(i)*31 + index*7)
	}
	return b
}

// writeSnap commits a snapshot with the given body, written in uneven
// pieces so buffering is exercised.
func writeSnap(t testing.TB, s *SnapshotStore, meta SnapshotMeta, body []byte) {
	t.Helper()
	w, err := s.Create(meta)
	if err != nil {
		t.Fatalf("Create(%+v): %v", meta, err)
	}
	for rest, step := body, 1; len(rest) > 0; step = step*3 + 1 {
		n := min(step, len(rest))
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		rest = rest[n:]
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func readBody(s *SnapshotStore, index uint64) (SnapshotMeta, []byte, error) {
	meta, rc, err := s.Open(index)
	if err != nil {
		return SnapshotMeta{}, nil, err
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	return meta, body, err
}

func snapFiles(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func metaEqual(a, b SnapshotMeta) bool {
	return a.Index == b.Index && a.Term == b.Term && slices.Equal(a.Peers, b.Peers) && bytes.Equal(a.Conf, b.Conf)
}

func TestSnapshotRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		meta SnapshotMeta
		size int
	}{
		{"empty body, no peers", SnapshotMeta{Index: 1, Term: 1}, 0},
		{"small", SnapshotMeta{Index: 10, Term: 2, Peers: []uint64{1, 2, 3}}, 100},
		{"with a membership record", SnapshotMeta{Index: 7, Term: 3, Peers: []uint64{0, 1}, Conf: []byte(`{"members":[]}`)}, 50},
		{"membership record past the first read", SnapshotMeta{Index: 8, Term: 3, Conf: bytes.Repeat([]byte("m"), 10000)}, 5},
		{"larger than the buffers", SnapshotMeta{Index: 1 << 40, Term: 1<<64 - 1, Peers: []uint64{0, 1<<64 - 1}}, 3*snapBufBytes + 17},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openSnapStore(t, dir)
			body := snapBody(tt.meta.Index, tt.size)
			writeSnap(t, s, tt.meta, body)

			want := snapName(tt.meta.Index, tt.meta.Term)
			if names := snapFiles(t, dir); !slices.Equal(names, []string{want}) {
				t.Fatalf("dir holds %v, want [%s]", names, want)
			}
			latest, err := s.Latest()
			if err != nil || !metaEqual(latest, tt.meta) {
				t.Fatalf("Latest = %+v, %v; want %+v", latest, err, tt.meta)
			}
			meta, got, err := readBody(s, tt.meta.Index)
			if err != nil || !metaEqual(meta, tt.meta) || !bytes.Equal(got, body) {
				t.Fatalf("Open: meta %+v, %d bytes, err %v; want %+v, %d bytes", meta, len(got), err, tt.meta, len(body))
			}
			path := filepath.Join(dir, want)
			if vm, err := VerifySnapshotFile(path); err != nil || !metaEqual(vm, tt.meta) {
				t.Fatalf("VerifySnapshotFile = %+v, %v", vm, err)
			}
			rc, size, err := s.OpenRaw(tt.meta.Index)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(rc)
			_ = rc.Close()
			st, _ := os.Stat(path)
			if err != nil || int64(len(raw)) != size || size != st.Size() {
				t.Fatalf("OpenRaw: %d bytes read, size %d, file %d, err %v", len(raw), size, st.Size(), err)
			}
			if want := int64(snapHeaderSize(len(tt.meta.Peers), len(tt.meta.Conf)) + tt.size + snapTrailerSize); size != want {
				t.Fatalf("file is %d bytes, want %d", size, want)
			}

			// The raw bytes, streamed into another store, arrive intact.
			s2 := openSnapStore(t, t.TempDir())
			rw, err := s2.CreateRaw()
			if err != nil {
				t.Fatal(err)
			}
			for rest := raw; len(rest) > 0; {
				n := min(len(rest), 3) // tiny chunks exercise the held-back checksum bytes
				if len(rest) > 1000 {
					n = 999
				}
				if _, err := rw.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			if got, err := rw.Commit(); err != nil || !metaEqual(got, tt.meta) {
				t.Fatalf("RawWriter.Commit = %+v, %v", got, err)
			}
			if _, got, err := readBody(s2, tt.meta.Index); err != nil || !bytes.Equal(got, body) {
				t.Fatalf("received snapshot body: %d bytes, %v", len(got), err)
			}
		})
	}
}

func TestSnapshotCreateRejectsBadMeta(t *testing.T) {
	s := openSnapStore(t, t.TempDir())
	for _, meta := range []SnapshotMeta{{Index: 0, Term: 1}, {Index: 1, Term: 1, Peers: make([]uint64, maxSnapPeers+1)}} {
		if w, err := s.Create(meta); err == nil {
			_ = w.Abort()
			t.Errorf("Create(index %d, %d peers) succeeded", meta.Index, len(meta.Peers))
		}
	}
	if names := snapFiles(t, s.Dir()); len(names) != 0 {
		t.Errorf("rejected Creates left %v", names)
	}
}

func TestSnapshotPruneKeepsTwo(t *testing.T) {
	dir := t.TempDir()
	s := openSnapStore(t, dir)
	for i := uint64(1); i <= 5; i++ {
		writeSnap(t, s, SnapshotMeta{Index: i * 100, Term: i}, snapBody(i, 10))
		want := []string{}
		for j := max(1, int(i)-1); j <= int(i); j++ {
			want = append(want, snapName(uint64(j)*100, uint64(j)))
		}
		if got := snapFiles(t, dir); !slices.Equal(got, want) {
			t.Fatalf("after snapshot %d: dir holds %v, want %v", i, got, want)
		}
	}
	if _, _, err := s.Open(300); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Open of a pruned snapshot = %v, want ErrNoSnapshot", err)
	}
	if _, _, err := s.OpenRaw(300); !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("OpenRaw of a pruned snapshot = %v, want ErrNoSnapshot", err)
	}
}

func TestSnapshotReaderSurvivesPrune(t *testing.T) {
	s := openSnapStore(t, t.TempDir())
	body := snapBody(1, 5000)
	writeSnap(t, s, SnapshotMeta{Index: 1, Term: 1}, body)
	_, rc, err := s.Open(1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	writeSnap(t, s, SnapshotMeta{Index: 2, Term: 1}, nil)
	writeSnap(t, s, SnapshotMeta{Index: 3, Term: 1}, nil) // prunes index 1
	if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("reading a snapshot pruned while open: %d bytes, %v", len(got), err)
	}
}

func TestSnapshotLatest(t *testing.T) {
	t.Run("empty store", func(t *testing.T) {
		s := openSnapStore(t, t.TempDir())
		if _, err := s.Latest(); !errors.Is(err, ErrNoSnapshot) {
			t.Fatalf("Latest = %v, want ErrNoSnapshot", err)
		}
		if _, _, err := s.Open(5); !errors.Is(err, ErrNoSnapshot) {
			t.Fatalf("Open = %v, want ErrNoSnapshot", err)
		}
	})
	damage := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"flipped header byte", func(t *testing.T, path string) { flipFileByte(t, path, 10) }},
		{"truncated", func(t *testing.T, path string) { truncateFile(t, path, 40) }},
		{"empty", func(t *testing.T, path string) { truncateFile(t, path, 0) }},
		{"renamed to another index", func(t *testing.T, path string) {
			if err := os.Rename(path, filepath.Join(filepath.Dir(path), snapName(31, 3))); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range damage {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openSnapStore(t, dir)
			older := SnapshotMeta{Index: 20, Term: 2, Peers: []uint64{1}}
			writeSnap(t, s, older, snapBody(20, 100))
			writeSnap(t, s, SnapshotMeta{Index: 30, Term: 3, Peers: []uint64{1, 2}}, snapBody(30, 100))
			tt.damage(t, filepath.Join(dir, snapName(30, 3)))
			// Junk that only looks like ours is ignored.
			for _, name := range []string{"notes.txt", "00000000000000000099.snap", "x-y.snap"} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := s.Latest(); err != nil || !metaEqual(got, older) {
				t.Fatalf("Latest = %+v, %v; want the older valid %+v", got, err, older)
			}
		})
	}
}

func TestSnapshotLeftoverTempFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	s := openSnapStore(t, dir)
	writeSnap(t, s, SnapshotMeta{Index: 5, Term: 1}, snapBody(5, 10))
	// An interrupted Create, an interrupted receive, and a stranger.
	w, err := s.Create(SnapshotMeta{Index: 9, Term: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	rw, err := s.CreateRaw()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rw.Write([]byte("partial")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keep.tmp"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if n := len(snapFiles(t, dir)); n != 4 {
		t.Fatalf("expected 4 files before reopening, got %v", snapFiles(t, dir))
	}
	// "Crash": reopen without Commit or Abort. The writers' files stay
	// open until the test ends; on Linux removing them is still fine.
	t.Cleanup(func() { _ = w.(*SnapshotWriter).f.Close(); _ = rw.(*RawWriter).f.Close() })

	openSnapStore(t, dir)
	want := []string{snapName(5, 1), "keep.tmp"}
	if got := snapFiles(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after reopen: %v, want %v", got, want)
	}
}

func TestSnapshotAbort(t *testing.T) {
	dir := t.TempDir()
	s := openSnapStore(t, dir)
	w, err := s.Create(SnapshotMeta{Index: 3, Term: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err == nil {
		t.Fatal("Commit after Abort succeeded")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after Abort succeeded")
	}
	rw, err := s.CreateRaw()
	if err != nil {
		t.Fatal(err)
	}
	if err := rw.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := rw.Commit(); err == nil {
		t.Fatal("RawWriter.Commit after Abort succeeded")
	}
	if names := snapFiles(t, dir); len(names) != 0 {
		t.Fatalf("aborted writers left %v", names)
	}
	// Abort after Commit is harmless and keeps the snapshot.
	writeSnapThen := func() {
		w, err := s.Create(SnapshotMeta{Index: 4, Term: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := w.Abort(); err != nil {
			t.Fatalf("Abort after Commit: %v", err)
		}
	}
	writeSnapThen()
	if _, err := s.Latest(); err != nil {
		t.Fatalf("Latest after Abort-after-Commit: %v", err)
	}
}

// goodSnapFile returns the bytes of a valid small snapshot file.
func goodSnapFile(t testing.TB) []byte {
	t.Helper()
	dir := t.TempDir()
	s := openSnapStore(t, dir)
	writeSnap(t, s, SnapshotMeta{Index: 7, Term: 2, Peers: []uint64{1, 2}}, []byte("the state machine image"))
	b, err := os.ReadFile(filepath.Join(dir, snapName(7, 2)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// receive streams b into a fresh store through a RawWriter.
func receive(t testing.TB, b []byte) (SnapshotMeta, *SnapshotStore, error) {
	t.Helper()
	s := openSnapStore(t, t.TempDir())
	w, err := s.CreateRaw()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	meta, err := w.Commit()
	return meta, s, err
}

// checkRejected asserts that both RawWriter.Commit and VerifySnapshotFile
// refuse b with ErrCorrupt mentioning want, and that nothing entered the
// store.
func checkRejected(t *testing.T, b []byte, want string) {
	t.Helper()
	_, s, err := receive(t, b)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want) {
		t.Fatalf("RawWriter.Commit = %v, want ErrCorrupt mentioning %q", err, want)
	}
	if names := snapFiles(t, s.Dir()); len(names) != 0 {
		t.Fatalf("rejected snapshot left %v in the store", names)
	}
	path := filepath.Join(t.TempDir(), "backup.snap")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = VerifySnapshotFile(path)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
		t.Fatalf("VerifySnapshotFile = %v, want ErrCorrupt naming %s and %q", err, path, want)
	}
	s2 := openSnapStore(t, t.TempDir())
	if _, err := CopySnapshotFile(path, s2); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("CopySnapshotFile = %v, want ErrCorrupt", err)
	}
	if names := snapFiles(t, s2.Dir()); len(names) != 0 {
		t.Fatalf("rejected import left %v in the store", names)
	}
}

func TestSnapshotTruncatedAtEveryByte(t *testing.T) {
	good := goodSnapFile(t)
	for cut := 0; cut < len(good); cut++ {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			checkRejected(t, good[:cut], "truncated")
		})
	}
}

func TestSnapshotFlippedBytes(t *testing.T) {
	good := goodSnapFile(t)
	hdr := snapHeaderSize(2, 0)
	tests := []struct {
		name string
		off  int
		want string
	}{
		{"magic", 0, "magic"},
		{"version", 7, "unsupported snapshot format version"},
		{"index", 9, "header checksum"},
		{"term", 16, "header checksum"},
		{"peer count", 24, "damaged header"},
		{"membership length", 28 + 16, "header checksum"},
		{"peer", 30, "header checksum"},
		{"header checksum", hdr - 1, "header checksum"},
		{"first body byte", hdr, "bad snapshot checksum"},
		{"last body byte", len(good) - snapTrailerSize - 1, "bad snapshot checksum"},
		{"trailer length", len(good) - snapTrailerSize, "trailer says the body"},
		{"trailer checksum", len(good) - 2, "bad snapshot checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkRejected(t, flip(good, tt.off), tt.want)
		})
	}
	t.Run("peer count beyond limit", func(t *testing.T) {
		b := append([]byte{}, good...)
		b[27] = 0x7f
		checkRejected(t, b, "peers")
	})
	t.Run("future version", func(t *testing.T) {
		meta := SnapshotMeta{Index: 1, Term: 1}
		b := encodeSnapHeader(meta)
		b[7] = 9
		n := len(b)
		b = append(b[:n-4], encodeCRC(b[:n-4])...)
		checkRejected(t, b, "version 9")
	})
	t.Run("extra byte at the end", func(t *testing.T) {
		checkRejected(t, append(append([]byte{}, good...), 0), "trailer says the body")
	})
	t.Run("good file passes", func(t *testing.T) {
		if meta, _, err := receive(t, good); err != nil || meta.Index != 7 {
			t.Fatalf("Commit of the good file = %+v, %v", meta, err)
		}
	})
}

func newCRC() hash.Hash32 { return crc32.New(castagnoli) }

func encodeCRC(b []byte) []byte {
	sum := crcOf(b)
	return []byte{byte(sum), byte(sum >> 8), byte(sum >> 16), byte(sum >> 24)}
}

func TestSnapshotOpenDetectsDamageAfterCommit(t *testing.T) {
	body := snapBody(9, 2*snapBufBytes+5)
	hdr := snapHeaderSize(1, 0)
	tests := []struct {
		name      string
		damage    func(t *testing.T, path string)
		openFails bool // the header is checked at Open; the body only at EOF
		want      string
	}{
		{"body byte", func(t *testing.T, path string) { flipFileByte(t, path, int64(hdr+len(body)/2)) }, false, "bad snapshot checksum"},
		{"last body byte", func(t *testing.T, path string) { flipFileByte(t, path, int64(hdr+len(body)-1)) }, false, "bad snapshot checksum"},
		{"trailer checksum", func(t *testing.T, path string) { flipFileByte(t, path, int64(hdr+len(body)+snapTrailerSize-1)) }, false, "bad snapshot checksum"},
		{"truncated body", func(t *testing.T, path string) { truncateFile(t, path, int64(hdr+1000)) }, false, "truncated"},
		{"truncated trailer", func(t *testing.T, path string) { truncateFile(t, path, int64(hdr+len(body)+3)) }, false, "trailer says the body"},
		{"header byte", func(t *testing.T, path string) { flipFileByte(t, path, 12) }, true, "header checksum"},
		{"truncated header", func(t *testing.T, path string) { truncateFile(t, path, 20) }, true, "truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openSnapStore(t, dir)
			writeSnap(t, s, SnapshotMeta{Index: 9, Term: 4, Peers: []uint64{3}}, body)
			tt.damage(t, filepath.Join(dir, snapName(9, 4)))
			_, got, err := readBody(s, 9)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("reading the damaged body: %d bytes, %v; want ErrCorrupt mentioning %q", len(got), err, tt.want)
			}
			if tt.openFails != (got == nil) {
				t.Errorf("got %d body bytes; Open should fail up front: %v", len(got), tt.openFails)
			}
		})
	}
}

func TestSnapshotBodyReaderStaysFailed(t *testing.T) {
	dir := t.TempDir()
	s := openSnapStore(t, dir)
	writeSnap(t, s, SnapshotMeta{Index: 1, Term: 1}, []byte("hello"))
	flipFileByte(t, filepath.Join(dir, snapName(1, 1)), int64(snapHeaderSize(0, 0)))
	_, rc, err := s.Open(1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadAll = %v", err)
	}
	if n, err := rc.Read(make([]byte, 10)); n != 0 || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Read after the failure = %d, %v; want 0, ErrCorrupt again", n, err)
	}
}

func TestCopySnapshotFile(t *testing.T) {
	good := goodSnapFile(t)
	path := filepath.Join(t.TempDir(), "backup.snap")
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	s := openSnapStore(t, t.TempDir())
	meta, err := CopySnapshotFile(path, s)
	if err != nil || meta.Index != 7 || meta.Term != 2 || !slices.Equal(meta.Peers, []uint64{1, 2}) {
		t.Fatalf("CopySnapshotFile = %+v, %v", meta, err)
	}
	if _, body, err := readBody(s, 7); err != nil || string(body) != "the state machine image" {
		t.Fatalf("imported body = %q, %v", body, err)
	}
	if _, err := CopySnapshotFile(filepath.Join(t.TempDir(), "missing"), s); err == nil || errors.Is(err, ErrCorrupt) {
		t.Fatalf("CopySnapshotFile of a missing file = %v, want a plain I/O error", err)
	}
	if _, err := VerifySnapshotFile(t.TempDir()); err == nil {
		t.Fatal("VerifySnapshotFile of a directory succeeded")
	}
}

func TestHeldBackCRC(t *testing.T) {
	data := snapBody(3, 50)
	for _, chunk := range []int{1, 2, 3, 4, 5, 7, 50} {
		h := heldBackCRC{crc: newCRC()}
		for rest := data; len(rest) > 0; {
			n := min(chunk, len(rest))
			h.write(rest[:n])
			rest = rest[n:]
		}
		if got, want := h.crc.Sum32(), crcOf(data[:len(data)-4]); got != want {
			t.Errorf("chunks of %d: crc %08x, want %08x", chunk, got, want)
		}
	}
}

func FuzzParseSnapHeader(f *testing.F) {
	f.Add(encodeSnapHeader(SnapshotMeta{Index: 1, Term: 1}))
	f.Add(encodeSnapHeader(SnapshotMeta{Index: 5, Term: 2, Peers: []uint64{1, 2, 3}}))
	f.Add(encodeSnapHeader(SnapshotMeta{Index: 5, Term: 2, Conf: []byte("conf")}))
	f.Add(snapHeaderV1(SnapshotMeta{Index: 5, Term: 2, Peers: []uint64{1}}))
	f.Add([]byte(snapMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		meta, n, err := parseSnapHeader(b)
		if err != nil {
			if n != 0 || meta.Index != 0 {
				t.Fatalf("error %v with n=%d meta=%+v", err, n, meta)
			}
			return
		}
		if n > len(b) || meta.Index == 0 {
			t.Fatalf("parsed n=%d of %d bytes, meta %+v", n, len(b), meta)
		}
		// A current header that parses re-encodes to exactly the bytes it
		// came from (an old one is rewritten as the current version).
		if b[7] != snapVersion {
			return
		}
		if enc := encodeSnapHeader(meta); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("re-encoding gives %x, input header %x", enc, b[:n])
		}
	})
}

func flipFileByte(t testing.TB, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatalf("read byte %d of %s: %v", off, path, err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func truncateFile(t testing.TB, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// snapHeaderV1 is a header as builds before membership records wrote it.
func snapHeaderV1(meta SnapshotMeta) []byte {
	b := append([]byte(snapMagic), snapVersionV1)
	b = binary.LittleEndian.AppendUint64(b, meta.Index)
	b = binary.LittleEndian.AppendUint64(b, meta.Term)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(meta.Peers)))
	for _, p := range meta.Peers {
		b = binary.LittleEndian.AppendUint64(b, p)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// TestSnapshotHeaderV1StillRead: files written before membership records
// open, with no record.
func TestSnapshotHeaderV1StillRead(t *testing.T) {
	want := SnapshotMeta{Index: 9, Term: 2, Peers: []uint64{0, 1, 2}}
	hdr := snapHeaderV1(want)
	meta, n, err := parseSnapHeader(append(hdr, "body"...))
	if err != nil || n != len(hdr) || !metaEqual(meta, want) || meta.Conf != nil {
		t.Fatalf("v1 header: %+v, %d of %d bytes, %v", meta, n, len(hdr), err)
	}
	big := encodeSnapHeader(SnapshotMeta{Index: 1, Term: 1})
	binary.LittleEndian.PutUint32(big[28:], maxSnapConf+1)
	if _, _, err := parseSnapHeader(big); err == nil || !strings.Contains(err.Error(), "membership record") {
		t.Fatalf("oversized membership record: %v", err)
	}
}
