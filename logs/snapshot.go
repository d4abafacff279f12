package logs

import (
	"bufio"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/raftkv/raftkv/internal/vfs"
)

// ErrNoSnapshot is returned (wrapped) when the store holds no usable
// snapshot, or none at the index asked for.
var ErrNoSnapshot = errors.New("logs: no snapshot")

// snapKeep is how many snapshots a store keeps: the newest, and one older
// in case the newest turns out damaged or is being streamed to a peer.
const snapKeep = 2

// snapBufBytes sizes the write and read buffers of snapshot files.
const snapBufBytes = 256 << 10

// SnapshotStore is a directory of snapshot files named by index and term.
// A file only ever appears under its final name complete and synced (it
// is written under a temporary name and renamed), so a crash leaves at
// worst a temporary file, which OpenSnapshotStore removes. Safe for
// concurrent use; each writer and reader it hands out is for one
// goroutine.
type SnapshotStore struct {
	dir    string
	logger *slog.Logger

	// mu serialises renames into the directory with pruning, so a prune
	// never judges "newest" from a listing that misses a rename in flight.
	mu sync.Mutex

	fs vfs.FS // every file it touches goes through it
}

// OpenSnapshotStore opens the snapshot directory, creating it if needed,
// and removes temporary files an interrupted write left behind.
func OpenSnapshotStore(dir string) (*SnapshotStore, error) {
	return OpenSnapshotStoreOn(vfs.OS, dir)
}

// OpenSnapshotStoreOn is OpenSnapshotStore on the file system fsys (tests
// put a faulty one under it).
func OpenSnapshotStoreOn(fsys vfs.FS, dir string) (*SnapshotStore, error) {
	if err := makeDir(fsys, dir, true); err != nil {
		return nil, err
	}
	s := &SnapshotStore{dir: dir, logger: slog.Default().With("snapshot_dir", dir), fs: fsys}
	des, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("logs: list snapshot dir %s: %w", dir, err)
	}
	removed := 0
	for _, de := range des {
		if !strings.HasSuffix(de.Name(), snapTmpExt) || !de.Type().IsRegular() {
			continue
		}
		if err := fsys.Remove(filepath.Join(dir, de.Name())); err != nil {
			return nil, fmt.Errorf("logs: remove leftover snapshot temp file: %w", err)
		}
		removed++
	}
	if removed > 0 {
		if err := syncDir(fsys, dir); err != nil {
			return nil, err
		}
		s.logger.Warn("removed unfinished snapshot files left by a crash", "count", removed)
	}
	return s, nil
}

// SetLogger routes the store's messages to l (slog.Default otherwise).
// Call it before the store is shared.
func (s *SnapshotStore) SetLogger(l *slog.Logger) {
	s.logger = l.With("snapshot_dir", s.dir)
}

// Dir is the directory the store lives in.
func (s *SnapshotStore) Dir() string { return s.dir }

// createTemp creates a new temporary file of a kind ("local",
// "incoming") under a name no other has, as os.CreateTemp would.
func (s *SnapshotStore) createTemp(kind string) (vfs.File, error) {
	for {
		name := filepath.Join(s.dir, fmt.Sprintf("%s-%016x%s", kind, rand.Uint64(), snapTmpExt))
		f, err := s.fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("logs: create snapshot temp file in %s: %w", s.dir, err)
		}
		return f, nil
	}
}

// install makes the synced, closed temp file the snapshot named after
// meta, then prunes old snapshots. A failed prune is only logged: the new
// snapshot is durable, which is what the caller asked for.
func (s *SnapshotStore) install(tmp string, meta SnapshotMeta) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := filepath.Join(s.dir, snapName(meta.Index, meta.Term))
	if err := s.fs.Rename(tmp, path); err != nil {
		_ = s.fs.Remove(tmp)
		return fmt.Errorf("logs: rename snapshot into place %s: %w", path, err)
	}
	if err := syncDir(s.fs, s.dir); err != nil {
		return err
	}
	if err := s.prune(); err != nil {
		s.logger.Warn("could not remove old snapshots", "err", err)
	}
	return nil
}

// snapFile is a snapshot file as its name describes it.
type snapFile struct {
	index, term uint64
	name        string
}

// list returns the snapshot files, newest first.
func (s *SnapshotStore) list() ([]snapFile, error) {
	des, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("logs: list snapshot dir %s: %w", s.dir, err)
	}
	var files []snapFile
	for _, de := range des {
		if idx, term, ok := parseSnapName(de.Name()); ok && de.Type().IsRegular() {
			files = append(files, snapFile{idx, term, de.Name()})
		}
	}
	slices.SortFunc(files, func(a, b snapFile) int {
		if a.index != b.index {
			return cmpDesc(a.index, b.index)
		}
		return cmpDesc(a.term, b.term)
	})
	return files, nil
}

func cmpDesc(a, b uint64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// prune removes all but the snapKeep newest snapshots. Called with mu held.
func (s *SnapshotStore) prune() error {
	files, err := s.list()
	if err != nil || len(files) <= snapKeep {
		return err
	}
	for _, f := range files[snapKeep:] {
		// A reader that has the file open keeps its data until it closes.
		if err := s.fs.Remove(filepath.Join(s.dir, f.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("logs: remove old snapshot %s: %w", f.name, err)
		}
		s.logger.Debug("removed old snapshot", "index", f.index, "term", f.term)
	}
	return syncDir(s.fs, s.dir)
}

// Latest returns the newest snapshot whose header is valid and whose size
// agrees with its trailer; damaged newer files are skipped with a warning.
// The body is not read: Open checks it as it is consumed.
func (s *SnapshotStore) Latest() (SnapshotMeta, error) {
	files, err := s.list()
	if err != nil {
		return SnapshotMeta{}, err
	}
	for _, f := range files {
		path := filepath.Join(s.dir, f.name)
		meta, err := s.checkSnapFile(path, f)
		if err == nil {
			return meta, nil
		}
		if !errors.Is(err, fs.ErrNotExist) { // pruned under us: not worth a warning
			s.logger.Warn("skipping unusable snapshot", "file", path, "err", err)
		}
	}
	return SnapshotMeta{}, fmt.Errorf("%w in %s", ErrNoSnapshot, s.dir)
}

// checkSnapFile verifies what can be verified without reading the body:
// the header, that it agrees with the name, and the file size.
func (s *SnapshotStore) checkSnapFile(path string, sf snapFile) (SnapshotMeta, error) {
	f, err := s.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return SnapshotMeta{}, fmt.Errorf("logs: open snapshot: %w", err)
	}
	defer f.Close()
	meta, hdrLen, size, err := readSnapHeader(f, path)
	if err != nil {
		return SnapshotMeta{}, err
	}
	if meta.Index != sf.index || meta.Term != sf.term {
		return SnapshotMeta{}, corruptf(path, 8, "header says index %d term %d, the file name says %d, %d",
			meta.Index, meta.Term, sf.index, sf.term)
	}
	if size < int64(hdrLen)+snapTrailerSize {
		return SnapshotMeta{}, corruptf(path, size, "truncated: %d bytes cannot hold the header and the trailer", size)
	}
	trailer := make([]byte, snapTrailerSize)
	if _, err := f.ReadAt(trailer, size-snapTrailerSize); err != nil {
		return SnapshotMeta{}, fmt.Errorf("logs: read snapshot trailer %s: %w", path, err)
	}
	// The checksum is not known without reading the body: pass the one in
	// the trailer so only the length is compared here.
	if reason, off := checkTrailer(trailer, size, hdrLen, leUint32(trailer[8:])); reason != "" {
		return SnapshotMeta{}, corruptf(path, off, "%s", reason)
	}
	return meta, nil
}

func leUint32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// readSnapHeader parses the header at the start of f and returns it with
// its length and the file size.
func readSnapHeader(f vfs.File, name string) (SnapshotMeta, int, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return SnapshotMeta{}, 0, 0, fmt.Errorf("logs: stat snapshot %s: %w", name, err)
	}
	size := st.Size()
	meta, hdrLen, err := parseSnapHeaderAt(f, size)
	if errors.Is(err, errSnapHeaderIO) {
		return SnapshotMeta{}, 0, 0, fmt.Errorf("logs: snapshot %s: %w", name, err)
	}
	if err != nil {
		if errors.Is(err, errShortSnapHeader) {
			return SnapshotMeta{}, 0, 0, corruptf(name, size, "truncated: the file ends inside the header after %d bytes", size)
		}
		return SnapshotMeta{}, 0, 0, corruptf(name, 0, "%v", err)
	}
	return meta, hdrLen, size, nil
}

// find returns the path of the snapshot at index.
func (s *SnapshotStore) find(index uint64) (string, error) {
	files, err := s.list()
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if f.index == index {
			return filepath.Join(s.dir, f.name), nil
		}
	}
	return "", fmt.Errorf("%w at index %d in %s", ErrNoSnapshot, index, s.dir)
}

// OpenRaw returns the whole snapshot file at index, byte for byte, and its
// size, for streaming to another node. It is not verified here: the
// receiver verifies everything before it uses any of it.
func (s *SnapshotStore) OpenRaw(index uint64) (io.ReadCloser, int64, error) {
	path, err := s.find(index)
	if err != nil {
		return nil, 0, err
	}
	f, err := s.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) { // pruned since the listing
			return nil, 0, fmt.Errorf("%w at index %d: %v", ErrNoSnapshot, index, err)
		}
		return nil, 0, fmt.Errorf("logs: open snapshot %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("logs: stat snapshot %s: %w", path, err)
	}
	return f, st.Size(), nil
}

// Open returns the metadata of the snapshot at index and a reader of its
// body. The reader checks the file's checksum as it goes: its final Read
// returns io.EOF only when the whole file checks out, and otherwise an
// error wrapping ErrCorrupt (also when the file is shorter than its
// trailer says). Consumers must treat what they read as provisional until
// that EOF.
func (s *SnapshotStore) Open(index uint64) (SnapshotMeta, io.ReadCloser, error) {
	path, err := s.find(index)
	if err != nil {
		return SnapshotMeta{}, nil, err
	}
	f, err := s.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return SnapshotMeta{}, nil, fmt.Errorf("%w at index %d: %v", ErrNoSnapshot, index, err)
		}
		return SnapshotMeta{}, nil, fmt.Errorf("logs: open snapshot %s: %w", path, err)
	}
	meta, hdrLen, size, err := readSnapHeader(f, path)
	if err == nil && meta.Index != index {
		err = corruptf(path, 8, "header says index %d, the file name says %d", meta.Index, index)
	}
	if err == nil && size < int64(hdrLen)+snapTrailerSize {
		err = corruptf(path, size, "truncated: %d bytes cannot hold the header and the trailer", size)
	}
	if err != nil {
		_ = f.Close()
		return SnapshotMeta{}, nil, err
	}
	crc := crc32.New(castagnoli)
	hdr := make([]byte, hdrLen)
	if _, err := io.ReadFull(f, hdr); err != nil {
		_ = f.Close()
		return SnapshotMeta{}, nil, fmt.Errorf("logs: read snapshot header %s: %w", path, err)
	}
	crc.Write(hdr)
	body := size - int64(hdrLen) - snapTrailerSize
	return meta, &bodyReader{f: f, r: bufio.NewReaderSize(f, snapBufBytes), path: path, crc: crc,
		left: body, hdrLen: hdrLen, size: size}, nil
}

// bodyReader reads a snapshot body and verifies the file at its end.
type bodyReader struct {
	f      vfs.File
	r      *bufio.Reader
	path   string
	crc    hash.Hash32
	left   int64 // body bytes not yet returned
	hdrLen int
	size   int64
	err    error // sticky: io.EOF after a clean finish, or the failure
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.left == 0 {
		b.err = b.finish()
		return 0, b.err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.crc.Write(p[:n])
	b.left -= int64(n)
	if errors.Is(err, io.EOF) && b.left > 0 {
		// The file shrank after Open measured it.
		b.err = corruptf(b.path, b.size-b.left-snapTrailerSize, "truncated: the body ends %d bytes early", b.left)
		return n, b.err
	}
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = fmt.Errorf("logs: read snapshot %s: %w", b.path, err)
		return n, b.err
	}
	return n, nil
}

func (b *bodyReader) finish() error {
	trailer := make([]byte, snapTrailerSize)
	if _, err := io.ReadFull(b.r, trailer); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return corruptf(b.path, b.size-snapTrailerSize, "truncated: the trailer is missing")
		}
		return fmt.Errorf("logs: read snapshot trailer %s: %w", b.path, err)
	}
	b.crc.Write(trailer[:8])
	if reason, off := checkTrailer(trailer, b.size, b.hdrLen, b.crc.Sum32()); reason != "" {
		return corruptf(b.path, off, "%s", reason)
	}
	return io.EOF
}

func (b *bodyReader) Close() error {
	if err := b.f.Close(); err != nil {
		return fmt.Errorf("logs: close snapshot %s: %w", b.path, err)
	}
	return nil
}
