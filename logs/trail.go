package logs

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/raftkv/raftkv/internal/vfs"
)

// TrailLine is one committed entry as the trail shows it to humans.
type TrailLine struct {
	Index, Term uint64
	Command     string
}

// Trail is the human-readable, append-only record of committed entries,
// one line per entry: "<index>, <term>, <command>". It is a view, not a
// source of truth: it is never fsynced, and damage in it is reported, not
// fatal.
type Trail struct {
	path   string
	fs     vfs.FS
	logger *slog.Logger

	mu     sync.Mutex // guards every field below and the file offset
	f      vfs.File   // opened O_APPEND
	size   int64      // bytes of whole lines; a failed write is cut back to it
	last   uint64     // index of the last line written or found on open
	buf    []byte     // line buffer reused by Append
	closed bool
	// maxBytes, when > 0, bounds the file: past it the trail moves to
	// "<path>.1" (replacing the one there) and starts afresh.
	maxBytes int64
}

// SetLogger routes the trail's warnings to l (slog.Default otherwise).
func (t *Trail) SetLogger(l *slog.Logger) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.logger = l.With("trail", t.path)
}

// RotateAt bounds the trail file to about n bytes: once past it, the file
// becomes "<path>.1" and a new one begins, so the trail of a long-lived node
// takes at most about 2n bytes. n <= 0 means no bound.
func (t *Trail) RotateAt(n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.maxBytes = n
}

// OpenTrail opens (creating it and its parent directories if needed) the
// trail at path and finds the last index already in it. A torn last line
// (no trailing newline) is cut off; lines that do not parse are left for
// humans to see, with a warning, and LastIndex comes from the last line
// that does.
func OpenTrail(path string) (*Trail, error) { return OpenTrailOn(vfs.OS, path) }

// OpenTrailOn is OpenTrail on the file system fsys (tests put a faulty
// one under it).
func OpenTrailOn(fsys vfs.FS, path string) (*Trail, error) {
	if err := fsys.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("logs: create trail dir for %s: %w", path, err)
	}
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("logs: open trail %s: %w", path, err)
	}
	t := &Trail{path: path, fs: fsys, logger: slog.Default().With("trail", path), f: f}
	if err := t.recover(); err != nil {
		_ = f.Close()
		return nil, err
	}
	if t.last == 0 {
		// Just rotated: the last index is in the previous file.
		if err := t.recoverRotated(); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	return t, nil
}

func (t *Trail) rotatedPath() string { return t.path + ".1" }

// recoverRotated finds the last index in the previous file, if any.
func (t *Trail) recoverRotated() error {
	f, err := t.fs.OpenFile(t.rotatedPath(), os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("logs: open trail %s: %w", t.rotatedPath(), err)
	}
	defer f.Close()
	old := &Trail{path: t.rotatedPath(), fs: t.fs, logger: t.logger, f: f}
	if err := old.recover(); err != nil {
		return err
	}
	t.last = old.last
	return nil
}

// rotate moves a full trail file aside and starts a new one.
func (t *Trail) rotate() error {
	if err := t.f.Close(); err != nil {
		return fmt.Errorf("logs: close trail %s: %w", t.path, err)
	}
	if err := t.fs.Rename(t.path, t.rotatedPath()); err != nil {
		return fmt.Errorf("logs: rotate trail %s: %w", t.path, err)
	}
	f, err := t.fs.OpenFile(t.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.closed = true
		return fmt.Errorf("logs: open trail %s: %w", t.path, err)
	}
	t.f, t.size = f, 0
	return nil
}

// LastIndex is the index of the last line in the trail; 0 when empty.
func (t *Trail) LastIndex() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// Append writes one line per entry whose index is above LastIndex (so
// replaying already-written entries is harmless), in one write and without
// fsync. Newlines and carriage returns in a command are written as the
// two-character escapes \n and \r so that every entry stays one line.
func (t *Trail) Append(lines []TrailLine) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("logs: append to trail %s: %w", t.path, ErrClosed)
	}
	buf, last := t.buf[:0], t.last
	for i := range lines {
		ln := &lines[i]
		if ln.Index <= last {
			continue
		}
		buf = appendTrailLine(buf, ln)
		last = ln.Index
	}
	if len(buf) == 0 {
		return nil
	}
	if _, err := t.f.Write(buf); err != nil {
		// Cut back whatever part landed, so the next Append does not glue
		// its first line onto a fragment.
		if terr := t.f.Truncate(t.size); terr != nil {
			t.logger.Warn("could not cut back a failed trail write", "err", terr)
		}
		return fmt.Errorf("logs: append to trail %s: %w", t.path, err)
	}
	t.size += int64(len(buf))
	t.last = last
	if t.maxBytes > 0 && t.size >= t.maxBytes {
		if err := t.rotate(); err != nil {
			return err
		}
	}
	if cap(buf) <= 1<<20 {
		t.buf = buf[:0]
	} else {
		t.buf = nil
	}
	return nil
}

// Close closes the file. Closing twice is harmless.
func (t *Trail) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	if err := t.f.Close(); err != nil {
		return fmt.Errorf("logs: close trail %s: %w", t.path, err)
	}
	return nil
}

func appendTrailLine(buf []byte, ln *TrailLine) []byte {
	buf = strconv.AppendUint(buf, ln.Index, 10)
	buf = append(buf, ", "...)
	buf = strconv.AppendUint(buf, ln.Term, 10)
	buf = append(buf, ", "...)
	cmd := ln.Command
	if !strings.ContainsAny(cmd, "\r\n") {
		buf = append(buf, cmd...)
	} else {
		for i := 0; i < len(cmd); i++ {
			switch c := cmd[i]; c {
			case '\n':
				buf = append(buf, `\n`...)
			case '\r':
				buf = append(buf, `\r`...)
			default:
				buf = append(buf, c)
			}
		}
	}
	return append(buf, '\n')
}

// parseTrailPrefix reads "<index>, <term>, " from the start of a line. The
// command after it may be anything, so the prefix is all that is checked.
func parseTrailPrefix(b []byte) (index, term uint64, ok bool) {
	s := string(b)
	idx, rest, ok := strings.Cut(s, ", ")
	if !ok {
		return 0, 0, false
	}
	trm, _, ok := strings.Cut(rest, ", ")
	if !ok {
		return 0, 0, false
	}
	index, err1 := strconv.ParseUint(idx, 10, 64)
	term, err2 := strconv.ParseUint(trm, 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return index, term, true
}
