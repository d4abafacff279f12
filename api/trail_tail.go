package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

const (
	// trailTailLines is how many trail lines a dashboard gets on connect,
	// and the most it gets per poll: it shows a tail, and the gap in the
	// indexes tells it how many entries a burst skipped.
	trailTailLines = 20
	// trailReadBytes bounds one read of the trail: when further behind,
	// the tail jumps ahead, since only the last lines would be shown.
	trailReadBytes = 64 << 10
	// trailLineChars cuts very long lines (the trail already shortens
	// values, but it is a plain file anyone may have edited).
	trailLineChars = 300
)

// trailTail follows the committed-entry trail file like `tail -F`: it
// notices when logs.Trail rotates the file to "<path>.1" and carries on with
// the new one. Not safe for concurrent use: one goroutine polls it.
type trailTail struct {
	path    string
	f       *os.File
	off     int64  // bytes of f consumed, the held-back partial line included
	partial []byte // an incomplete last line, held back until its newline
	// skipping drops bytes up to the next newline: the tail jumped into
	// the middle of a line, or met a "line" too long to be a trail line.
	skipping bool
}

func newTrailTail(path string) *trailTail { return &trailTail{path: path} }

// start returns the last trailTailLines lines (reaching into "<path>.1"
// when the current file has fewer, as just after a rotation) and positions
// the tail after them.
func (t *trailTail) start() ([]string, error) {
	var lines []string
	f, err := os.Open(t.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Nothing committed yet: poll will find the file.
	case err != nil:
		return nil, fmt.Errorf("open trail %s: %w", t.path, err)
	default:
		var off int64
		if lines, off, err = lastLines(f, trailTailLines); err != nil {
			f.Close()
			return nil, fmt.Errorf("read trail %s: %w", t.path, err)
		}
		t.f, t.off, t.partial, t.skipping = f, off, nil, false
	}
	if len(lines) < trailTailLines {
		// Best effort: the previous file only adds context.
		if old, err := os.Open(t.path + ".1"); err == nil {
			if more, _, err := lastLines(old, trailTailLines-len(lines)); err == nil {
				lines = append(more, lines...)
			}
			old.Close()
		}
	}
	return lines, nil
}

// poll returns the complete lines added since the last call, at most the
// last trailTailLines of them.
func (t *trailTail) poll() ([]string, error) {
	var lines []string
	if t.f != nil {
		rotated, err := t.rotated()
		if err != nil {
			return nil, err
		}
		if !rotated {
			lines, err = t.readNew(nil)
			return lastN(lines, trailTailLines), err
		}
		// A renamed file is complete: drain it, then go on with the new one.
		if lines, err = t.readNew(nil); err != nil {
			return nil, err
		}
		t.close()
	}
	f, err := os.Open(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return lastN(lines, trailTailLines), nil
	}
	if err != nil {
		return nil, fmt.Errorf("open trail %s: %w", t.path, err)
	}
	t.f, t.off, t.partial, t.skipping = f, 0, nil, false
	lines, err = t.readNew(lines)
	return lastN(lines, trailTailLines), err
}

func lastN(lines []string, n int) []string { return lines[max(len(lines)-n, 0):] }

// rotated reports whether the path no longer names the open file.
func (t *trailTail) rotated() (bool, error) {
	cur, err := os.Stat(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil // mid-rotation, or removed: finish the old file
	}
	if err != nil {
		return false, fmt.Errorf("stat trail %s: %w", t.path, err)
	}
	open, err := t.f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat trail %s: %w", t.path, err)
	}
	return !os.SameFile(cur, open), nil
}

// readNew appends the complete lines of t.f past t.off to lines.
func (t *trailTail) readNew(lines []string) ([]string, error) {
	info, err := t.f.Stat()
	if err != nil {
		return lines, fmt.Errorf("stat trail %s: %w", t.path, err)
	}
	size := info.Size()
	if size < t.off {
		// Cut back (logs.Trail truncates a failed append): what was held
		// back went with it.
		t.off, t.partial, t.skipping = size, nil, false
		return lines, nil
	}
	if size-t.off > trailReadBytes {
		t.off, t.partial, t.skipping = size-trailReadBytes, nil, true
		lines = lines[:0]
	}
	if size == t.off {
		return lines, nil
	}
	buf := make([]byte, size-t.off)
	n, err := t.f.ReadAt(buf, t.off)
	if err != nil && !errors.Is(err, io.EOF) {
		return lines, fmt.Errorf("read trail %s: %w", t.path, err)
	}
	t.off += int64(n)
	data := buf[:n]
	if t.skipping {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			return lines, nil
		}
		data, t.skipping = data[nl+1:], false
	}
	if len(t.partial) > 0 {
		data = append(t.partial, data...)
		t.partial = nil
	}
	for {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			break
		}
		lines = append(lines, clipLine(data[:nl]))
		data = data[nl+1:]
	}
	switch {
	case len(data) > trailReadBytes:
		t.skipping = true
	case len(data) > 0:
		t.partial = append([]byte(nil), data...)
	}
	return lines, nil
}

func (t *trailTail) close() {
	if t.f != nil {
		t.f.Close()
		t.f = nil
	}
}

// lastLines returns up to n complete lines from the end of f, and the
// offset just past the last of them (where a torn last line begins).
func lastLines(f *os.File, n int) ([]string, int64, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := info.Size()
	from := max(size-trailReadBytes, 0)
	buf := make([]byte, size-from)
	if _, err := f.ReadAt(buf, from); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	end := bytes.LastIndexByte(buf, '\n')
	if end < 0 {
		// No complete line in reach: poll takes it from here (and drops
		// it, should it grow too long to be a trail line).
		return nil, from, nil
	}
	body := buf[:end+1]
	if from > 0 {
		// The window may start mid-line; drop that part.
		body = body[bytes.IndexByte(body, '\n')+1:]
	}
	var lines []string
	for len(body) > 0 {
		nl := bytes.IndexByte(body, '\n')
		lines = append(lines, clipLine(body[:nl]))
		body = body[nl+1:]
	}
	return lastN(lines, n), from + int64(end) + 1, nil
}

func clipLine(b []byte) string {
	b = bytes.TrimSuffix(b, []byte{'\r'})
	if len(b) > trailLineChars {
		return string(b[:trailLineChars]) + "…"
	}
	return string(b)
}
