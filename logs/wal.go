package logs

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/raftkv/raftkv/internal/vfs"
	"github.com/raftkv/raftkv/raft/wire"
)

// DefaultSegmentBytes is the segment size used when Options leaves it zero.
const DefaultSegmentBytes = 64 << 20

// Errors of the write-ahead log.
var (
	// ErrCorrupt is wrapped by every error that reports damaged data on
	// disk. The message names the file and byte offset. The node must not
	// go on with such a log: it would forget committed entries.
	ErrCorrupt = errors.New("logs: corrupt data")
	// ErrClosed is returned by calls on a closed Log.
	ErrClosed = errors.New("logs: log closed")
	// ErrOutOfRange is wrapped when Entries asks for indexes the log does
	// not hold (compacted away, or not written yet).
	ErrOutOfRange = errors.New("logs: index out of range")
)

// Options tune a Log. The zero value is production-ready.
type Options struct {
	SegmentBytes int64 // roll to a new segment file past this size; default 64 MiB
	NoSync       bool  // tests and benchmarks only: skip fsync
	// FS is the file system the log works through; nil is the host's.
	// Tests put a faulty one (internal/vfs/faultfs) under the real code.
	FS     vfs.FS
	Logger *slog.Logger // nil = slog.Default()
}

// Log is the durable Raft log: numbered segment files of checksummed
// records plus the hard-state file, in one directory that it owns (an
// exclusive lock file keeps a second process out). It is safe for
// concurrent use; Save is meant to be called from one goroutine at a time,
// as Raft does.
type Log struct {
	dir      string
	opts     Options
	logger   *slog.Logger
	lockFile *os.File // holds the directory lock until Close

	fs vfs.FS
	// syncFile makes a file's data durable; a field so tests can inject a
	// failing fsync.
	syncFile func(vfs.File) error

	// mu guards every field below and serialises all I/O on the directory:
	// appends, truncations and reads must see the same segment list.
	mu     sync.Mutex
	segs   []*segment     // ascending; only the last may hold zero entries
	active vfs.File       // the last segment, open read-write; nil when segs is empty
	hs     wire.HardState // what the hard-state file holds
	buf    []byte         // encoding buffer reused by Save
	offs   []int64        // record offsets of the batch being saved, reused
	failed error          // first write or sync error; once set, Save refuses
	closed bool

	// Copies of the bounds and size that status readers can load without
	// waiting behind an fsync that holds mu. Written only with mu held.
	firstIdx  atomic.Uint64
	lastIdx   atomic.Uint64
	sizeBytes atomic.Int64
}

// Open opens the log in dir, creating the directory if needed, and
// recovers it: a torn record at the tail of the last segment is cut off
// (with a warning); any other damage makes Open fail with an error
// wrapping ErrCorrupt.
func Open(dir string, opts Options) (*Log, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	if opts.FS == nil {
		opts.FS = vfs.OS
	}
	if err := makeDir(opts.FS, dir, !opts.NoSync); err != nil {
		return nil, err
	}
	lockFile, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l := &Log{
		dir:      dir,
		opts:     opts,
		logger:   logger.With("log_dir", dir),
		lockFile: lockFile,
		fs:       opts.FS,
		syncFile: vfs.File.Sync,
	}
	if opts.NoSync {
		l.syncFile = func(vfs.File) error { return nil }
	}
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, err
	}
	l.logger.Info("log opened", "first_index", l.FirstIndex(), "last_index", l.LastIndex(),
		"segments", len(l.segs), "bytes", l.SizeBytes(), "term", l.hs.Term)
	return l, nil
}

// FirstIndex is the index of the oldest stored entry; 0 when empty.
func (l *Log) FirstIndex() uint64 { return l.firstIdx.Load() }

// LastIndex is the index of the newest stored entry; 0 when empty.
func (l *Log) LastIndex() uint64 { return l.lastIdx.Load() }

// SizeBytes is the total size of the segment files.
func (l *Log) SizeBytes() int64 { return l.sizeBytes.Load() }

// Load returns the hard state and every stored entry, in index order: all
// that survived the last run, for Raft to restart from.
func (l *Log) Load() (wire.HardState, []wire.Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return wire.HardState{}, nil, ErrClosed
	}
	first, last := l.bounds()
	if last == 0 {
		return l.hs, nil, nil
	}
	ents, err := l.entries(first, last+1)
	if err != nil {
		return wire.HardState{}, nil, err
	}
	return l.hs, ents, nil
}

// Save makes hs (when non-nil and changed) and entries durable before it
// returns. entries must be contiguous and ascending; when entries[0].Index
// is at or below LastIndex the stored suffix from there on is discarded
// first. All records go out in one write followed by one fsync. After any
// write or sync error the Log refuses every later Save with that error:
// once an fsync has failed the page cache no longer says what is on disk.
func (l *Log) Save(hs *wire.HardState, entries []wire.Entry) error {
	if hs == nil && len(entries) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.failed != nil {
		return l.failed
	}
	if err := l.checkBatch(entries); err != nil {
		return err
	}
	// Hard state goes first: a crash between the two writes then leaves a
	// term at least as new as every entry, never entries from a term the
	// node does not know it has entered.
	if hs != nil && *hs != l.hs {
		if err := l.writeHardState(*hs); err != nil {
			return l.fail(err)
		}
		l.hs = *hs
	}
	if len(entries) == 0 {
		return nil
	}
	if last := l.lastIdx.Load(); last != 0 && entries[0].Index <= last {
		if err := l.truncateSuffix(entries[0].Index); err != nil {
			return l.fail(err)
		}
	}
	if err := l.append(entries); err != nil {
		return l.fail(err)
	}
	return nil
}

// checkBatch rejects a malformed batch before anything is written. These
// are caller bugs, not I/O failures, so they do not poison the log.
func (l *Log) checkBatch(entries []wire.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	first := entries[0].Index
	if first == 0 {
		return errors.New("logs: save: entry index 0 (indexes start at 1)")
	}
	for i := range entries {
		e := &entries[i]
		if e.Index != first+uint64(i) {
			return fmt.Errorf("logs: save: entries not contiguous: position %d holds index %d, want %d",
				i, e.Index, first+uint64(i))
		}
		if len(e.Data) > maxDataBytes {
			return fmt.Errorf("logs: save: entry %d holds %d bytes, limit %d", e.Index, len(e.Data), maxDataBytes)
		}
	}
	if last := l.lastIdx.Load(); last != 0 && first > last+1 {
		return fmt.Errorf("logs: save: entry %d would leave a gap after last index %d", first, last)
	}
	return nil
}

// append writes entries after the current tail, rolling to a new segment
// first when the tail is full. A batch never spans segments, so it is one
// write and one fsync; a segment may exceed SegmentBytes by one batch.
func (l *Log) append(entries []wire.Entry) error {
	if l.active == nil {
		if err := l.addSegment(entries[0].Index); err != nil {
			return err
		}
	} else if l.tail().size >= l.opts.SegmentBytes {
		if err := l.addSegment(l.lastIdx.Load() + 1); err != nil {
			return err
		}
	}
	tail := l.tail()
	buf, offs := l.buf[:0], l.offs[:0]
	for i := range entries {
		offs = append(offs, tail.size+int64(len(buf)))
		buf = appendRecord(buf, &entries[i])
	}
	path := l.segPath(tail.first)
	if _, err := l.active.WriteAt(buf, tail.size); err != nil {
		return fmt.Errorf("logs: append to segment %s: %w", path, err)
	}
	if err := l.syncFile(l.active); err != nil {
		return fmt.Errorf("logs: sync segment %s: %w", path, err)
	}
	tail.offsets = append(tail.offsets, offs...)
	tail.size += int64(len(buf))
	l.sizeBytes.Add(int64(len(buf)))
	l.setBounds()
	// Keep the buffers for the next batch unless one huge batch blew them up.
	const keepBytes = 4 << 20
	if cap(buf) <= keepBytes {
		l.buf, l.offs = buf[:0], offs[:0]
	} else {
		l.buf, l.offs = nil, nil
	}
	return nil
}

// addSegment creates the segment starting at first and makes it the tail.
func (l *Log) addSegment(first uint64) error {
	f, err := l.createSegment(first)
	if err != nil {
		return err
	}
	if l.active != nil {
		// Its data was synced by the Save that wrote it; a close error
		// cannot lose anything now.
		if err := l.active.Close(); err != nil {
			l.logger.Warn("close sealed segment", "err", err)
		}
	}
	l.active = f
	l.segs = append(l.segs, &segment{first: first, size: segmentHeaderSize})
	l.sizeBytes.Add(segmentHeaderSize)
	return nil
}

// Entries returns the entries with indexes in [lo, hi), read from disk and
// checked against their checksums. Their Data is freshly allocated, one
// buffer per segment read, which the returned entries share.
func (l *Log) Entries(lo, hi uint64) ([]wire.Entry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, ErrClosed
	}
	return l.entries(lo, hi)
}

func (l *Log) entries(lo, hi uint64) ([]wire.Entry, error) {
	first, last := l.bounds()
	if lo > hi {
		return nil, fmt.Errorf("logs: entries [%d, %d): inverted range", lo, hi)
	}
	if lo == hi {
		return nil, nil
	}
	if last == 0 || lo < first || hi > last+1 {
		return nil, fmt.Errorf("%w: entries [%d, %d) asked, log holds [%d, %d]", ErrOutOfRange, lo, hi, first, last)
	}
	out := make([]wire.Entry, 0, hi-lo)
	// The last segment whose first index is <= lo holds lo.
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].first > lo }) - 1
	for idx := lo; idx < hi; i++ {
		s := l.segs[i]
		to := min(hi, s.last()+1)
		var err error
		out, err = l.readSegment(out, s, idx, to)
		if err != nil {
			return nil, err
		}
		idx = to
	}
	return out, nil
}

// readSegment appends the entries [lo, hi) of segment s to out with one
// read. The entries' Data share one buffer per call.
func (l *Log) readSegment(out []wire.Entry, s *segment, lo, hi uint64) ([]wire.Entry, error) {
	path := l.segPath(s.first)
	f := l.active
	if s != l.tail() {
		var err error
		if f, err = l.fs.OpenFile(path, os.O_RDONLY, 0); err != nil {
			return nil, fmt.Errorf("logs: open segment %s: %w", path, err)
		}
		defer f.Close()
	}
	start, end := s.offsets[lo-s.first], s.end(int(hi-1-s.first))
	buf := make([]byte, end-start)
	if _, err := f.ReadAt(buf, start); err != nil {
		return nil, fmt.Errorf("logs: read segment %s at %d: %w", path, start, err)
	}
	for idx, off := lo, 0; idx < hi; idx++ {
		e, n, err := decodeRecord(buf[off:])
		if err != nil {
			return nil, corruptf(path, start+int64(off), "%v", err)
		}
		if e.Index != idx {
			return nil, corruptf(path, start+int64(off), "record holds index %d, expected %d", e.Index, idx)
		}
		out = append(out, e)
		off += n
	}
	return out, nil
}

// Close releases the files and the directory lock. Later calls return
// ErrClosed; closing twice is harmless.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return l.closeFiles()
}

func (l *Log) closeFiles() error {
	var errs []error
	if l.active != nil {
		if err := l.active.Close(); err != nil {
			errs = append(errs, fmt.Errorf("logs: close active segment: %w", err))
		}
		l.active = nil
	}
	if err := unlockDir(l.lockFile); err != nil {
		errs = append(errs, err)
	}
	l.lockFile = nil
	return errors.Join(errs...)
}

// fail records the first I/O error so that every later Save refuses.
func (l *Log) fail(err error) error {
	l.failed = err
	l.logger.Error("log write failed; refusing further writes", "err", err)
	return err
}

func (l *Log) tail() *segment {
	if len(l.segs) == 0 {
		return nil
	}
	return l.segs[len(l.segs)-1]
}

// bounds returns the first and last stored index, 0, 0 when empty.
func (l *Log) bounds() (first, last uint64) {
	return l.firstIdx.Load(), l.lastIdx.Load()
}

// setBounds refreshes the index mirrors after the segment list changed.
func (l *Log) setBounds() {
	var first, last uint64
	if t := l.tail(); t != nil && (len(l.segs) > 1 || t.count() > 0) {
		first, last = l.segs[0].first, t.last()
	}
	l.firstIdx.Store(first)
	l.lastIdx.Store(last)
}

func (l *Log) segPath(first uint64) string {
	return filepath.Join(l.dir, segmentName(first))
}

// syncDir makes creations, renames and removals in the directory durable.
func (l *Log) syncDir() error {
	if l.opts.NoSync {
		return nil
	}
	return syncDir(l.fs, l.dir)
}

// makeDir creates dir and any missing parents and, when sync is set,
// makes their entries durable: fsynced segments inside a directory whose
// own entry never reached the disk would vanish together after a crash.
func makeDir(fsys vfs.FS, dir string, sync bool) error {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		_, err := fsys.Stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("logs: stat %s: %w", d, err)
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("logs: create log dir %s: %w", dir, err)
	}
	if !sync {
		return nil
	}
	for _, d := range missing {
		if err := syncDir(fsys, filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(fsys vfs.FS, dir string) error {
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("logs: sync dir %s: %w", dir, err)
	}
	return nil
}

// corruptf builds an error wrapping ErrCorrupt that names file and offset.
func corruptf(path string, off int64, format string, args ...any) error {
	return fmt.Errorf("%w: %s at byte offset %d: %s", ErrCorrupt, path, off, fmt.Sprintf(format, args...))
}
