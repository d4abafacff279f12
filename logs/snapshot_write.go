package logs

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"

	"github.com/raftkv/raftkv/internal/vfs"
)

// errWriterDone is returned by writes after Commit or Abort.
var errWriterDone = errors.New("logs: snapshot writer already committed or aborted")

// SnapshotSink is where a snapshot is written. Nothing shows in the store
// until Commit returns; Abort (or a crash) leaves no trace.
type SnapshotSink interface {
	io.Writer
	Commit() error
	Abort() error
}

// RawSnapshotSink receives a whole snapshot file, as OpenRaw reads one;
// Commit verifies it before it shows in the store and returns its metadata.
type RawSnapshotSink interface {
	io.Writer
	Commit() (SnapshotMeta, error)
	Abort() error
}

// SnapshotWriter writes a snapshot taken locally. Nothing is visible in
// the store until Commit returns; Abort (or a crash) leaves no trace but a
// temporary file that the next OpenSnapshotStore removes.
type SnapshotWriter struct {
	s    *SnapshotStore
	f    vfs.File
	w    *bufio.Writer
	crc  hash.Hash32 // of every byte written so far
	meta SnapshotMeta
	body uint64
	err  error // sticky: the first write error, or errWriterDone
}

// Create starts a snapshot covering the log up to meta.Index, whose entry
// has meta.Term; the body is the state machine image written through the
// returned writer.
func (s *SnapshotStore) Create(meta SnapshotMeta) (SnapshotSink, error) {
	if meta.Index == 0 {
		return nil, errors.New("logs: create snapshot: index 0 (indexes start at 1)")
	}
	if len(meta.Peers) > maxSnapPeers {
		return nil, fmt.Errorf("logs: create snapshot: %d peers, limit %d", len(meta.Peers), maxSnapPeers)
	}
	f, err := s.createTemp("local")
	if err != nil {
		return nil, err
	}
	meta.Peers = append([]uint64(nil), meta.Peers...)
	w := &SnapshotWriter{s: s, f: f, w: bufio.NewWriterSize(f, snapBufBytes), crc: crc32.New(castagnoli), meta: meta}
	hdr := encodeSnapHeader(meta)
	if _, err := w.write(hdr); err != nil {
		_ = w.Abort()
		return nil, err
	}
	return w, nil
}

// Write appends body bytes.
func (w *SnapshotWriter) Write(p []byte) (int, error) {
	n, err := w.write(p)
	w.body += uint64(n)
	return n, err
}

func (w *SnapshotWriter) write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.w.Write(p)
	w.crc.Write(p[:n])
	if err != nil {
		w.err = fmt.Errorf("logs: write snapshot %s: %w", w.f.Name(), err)
		return n, w.err
	}
	return n, nil
}

// Commit writes the trailer, makes the file durable and moves it into the
// store under its final name, then removes all but the two newest
// snapshots. On error the snapshot is discarded.
func (w *SnapshotWriter) Commit() error {
	if w.err != nil {
		err := w.err
		_ = w.Abort()
		return err
	}
	trailer := binary.LittleEndian.AppendUint64(make([]byte, 0, snapTrailerSize), w.body)
	w.crc.Write(trailer)
	trailer = binary.LittleEndian.AppendUint32(trailer, w.crc.Sum32())
	_, err := w.w.Write(trailer)
	if err == nil {
		err = w.w.Flush()
	}
	w.err = errWriterDone
	if err := w.s.finish(w.f, err, w.meta); err != nil {
		return fmt.Errorf("logs: finish snapshot %s: %w", w.f.Name(), err)
	}
	w.s.logger.Debug("snapshot written", "index", w.meta.Index, "term", w.meta.Term, "body_bytes", w.body)
	return nil
}

// Abort discards the snapshot. It is a no-op after Commit.
func (w *SnapshotWriter) Abort() error {
	if errors.Is(w.err, errWriterDone) {
		return nil
	}
	w.err = errWriterDone
	return w.s.discardTemp(w.f)
}

// finish makes a complete temporary snapshot file durable and moves it
// into the store, or, when err (what went wrong before) is set or anything
// fails, removes it.
func (s *SnapshotStore) finish(f vfs.File, err error, meta SnapshotMeta) error {
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = s.fs.Remove(f.Name())
		return err
	}
	return s.install(f.Name(), meta)
}

func (s *SnapshotStore) discardTemp(f vfs.File) error {
	_ = f.Close() // the file is going away; only the removal matters
	if err := s.fs.Remove(f.Name()); err != nil {
		return fmt.Errorf("logs: remove snapshot temp file: %w", err)
	}
	return nil
}

// RawWriter receives a snapshot file byte for byte (from a peer or a
// backup) and lets it into the store only once every check passes.
type RawWriter struct {
	s    *SnapshotStore
	f    vfs.File
	w    *bufio.Writer
	sum  heldBackCRC
	size int64
	err  error // sticky: the first write error, or errWriterDone
}

// CreateRaw starts receiving a snapshot file.
func (s *SnapshotStore) CreateRaw() (RawSnapshotSink, error) {
	f, err := s.createTemp("incoming")
	if err != nil {
		return nil, err
	}
	return &RawWriter{s: s, f: f, w: bufio.NewWriterSize(f, snapBufBytes), sum: heldBackCRC{crc: crc32.New(castagnoli)}}, nil
}

// Write appends the next bytes of the file.
func (w *RawWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.w.Write(p)
	w.sum.write(p[:n])
	w.size += int64(n)
	if err != nil {
		w.err = fmt.Errorf("logs: write received snapshot %s: %w", w.f.Name(), err)
		return n, w.err
	}
	return n, nil
}

// Commit verifies the whole file (magic, version, header checksum, body
// length and checksum); only then is it made durable and moved into the
// store. Any failure discards the file; damage is reported as an error
// wrapping ErrCorrupt that says what is wrong.
func (w *RawWriter) Commit() (SnapshotMeta, error) {
	if w.err != nil {
		err := w.err
		_ = w.Abort()
		return SnapshotMeta{}, err
	}
	meta, err := w.verify()
	w.err = errWriterDone
	if err := w.s.finish(w.f, err, meta); err != nil {
		return SnapshotMeta{}, err
	}
	w.s.logger.Debug("snapshot received", "index", meta.Index, "term", meta.Term, "bytes", w.size)
	return meta, nil
}

func (w *RawWriter) verify() (SnapshotMeta, error) {
	if err := w.w.Flush(); err != nil {
		return SnapshotMeta{}, fmt.Errorf("logs: write received snapshot %s: %w", w.f.Name(), err)
	}
	return verifySnapshot(w.f, "received snapshot", w.size, w.sum.crc.Sum32())
}

// Abort discards what was received. It is a no-op after Commit.
func (w *RawWriter) Abort() error {
	if errors.Is(w.err, errWriterDone) {
		return nil
	}
	w.err = errWriterDone
	return w.s.discardTemp(w.f)
}

// heldBackCRC checksums a stream except its last four bytes, which in a
// snapshot file are the checksum itself; the end is only known at Commit.
type heldBackCRC struct {
	crc  hash.Hash32
	tail [4]byte
	n    int // valid bytes in tail
}

func (h *heldBackCRC) write(p []byte) {
	if len(p) >= len(h.tail) {
		h.crc.Write(h.tail[:h.n])
		h.crc.Write(p[:len(p)-len(h.tail)])
		h.n = copy(h.tail[:], p[len(p)-len(h.tail):])
		return
	}
	for _, c := range p {
		if h.n == len(h.tail) {
			h.crc.Write(h.tail[:1])
			copy(h.tail[:], h.tail[1:])
			h.n--
		}
		h.tail[h.n] = c
		h.n++
	}
}

// verifySnapshot checks a whole snapshot file of size bytes, given the
// CRC32C of all but its last four bytes.
func verifySnapshot(r io.ReaderAt, name string, size int64, sum uint32) (SnapshotMeta, error) {
	if size == 0 {
		return SnapshotMeta{}, corruptf(name, 0, "truncated: the file is empty")
	}
	meta, hdrLen, err := parseSnapHeaderAt(r, size)
	if errors.Is(err, errSnapHeaderIO) {
		return SnapshotMeta{}, fmt.Errorf("logs: snapshot %s: %w", name, err)
	}
	if errors.Is(err, errShortSnapHeader) {
		return SnapshotMeta{}, corruptf(name, size, "truncated: the file ends inside the header after %d bytes", size)
	}
	if err != nil {
		return SnapshotMeta{}, corruptf(name, 0, "%v", err)
	}
	if size < int64(hdrLen)+snapTrailerSize {
		return SnapshotMeta{}, corruptf(name, size, "truncated: the file ends %d bytes after the header, before the trailer", size-int64(hdrLen))
	}
	trailer := make([]byte, snapTrailerSize)
	if _, err := r.ReadAt(trailer, size-snapTrailerSize); err != nil {
		return SnapshotMeta{}, fmt.Errorf("logs: read snapshot trailer of %s: %w", name, err)
	}
	if reason, off := checkTrailer(trailer, size, hdrLen, sum); reason != "" {
		return SnapshotMeta{}, corruptf(name, off, "%s", reason)
	}
	return meta, nil
}

// VerifySnapshotFile fully checks the snapshot file at path, which may be
// anywhere (a backup, say), and returns its metadata. Damage is an error
// wrapping ErrCorrupt that names the file and what is wrong.
func VerifySnapshotFile(path string) (SnapshotMeta, error) {
	f, err := vfs.OS.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return SnapshotMeta{}, fmt.Errorf("logs: open snapshot %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return SnapshotMeta{}, fmt.Errorf("logs: stat snapshot %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return SnapshotMeta{}, fmt.Errorf("logs: snapshot %s is not a regular file", path)
	}
	size := st.Size()
	crc := crc32.New(castagnoli)
	if size > 4 {
		if _, err := io.CopyN(crc, bufio.NewReaderSize(f, snapBufBytes), size-4); err != nil {
			return SnapshotMeta{}, fmt.Errorf("logs: read snapshot %s: %w", path, err)
		}
	}
	return verifySnapshot(f, path, size, crc.Sum32())
}

// CopySnapshotFile verifies the snapshot file at path and imports it into
// s, as a peer's snapshot would be: nothing enters the store unless the
// whole file checks out.
func CopySnapshotFile(path string, s *SnapshotStore) (SnapshotMeta, error) {
	f, err := os.Open(path) // from outside the store: the host's file system
	if err != nil {
		return SnapshotMeta{}, fmt.Errorf("logs: open snapshot %s: %w", path, err)
	}
	defer f.Close()
	w, err := s.CreateRaw()
	if err != nil {
		return SnapshotMeta{}, err
	}
	if _, err := io.Copy(w, f); err != nil {
		_ = w.Abort()
		return SnapshotMeta{}, fmt.Errorf("logs: import snapshot %s: %w", path, err)
	}
	meta, err := w.Commit()
	if err != nil {
		return SnapshotMeta{}, fmt.Errorf("logs: import snapshot %s: %w", path, err)
	}
	return meta, nil
}
