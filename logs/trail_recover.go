package logs

import (
	"bytes"
	"fmt"
	"io"
)

// trailPrefixBytes is enough of a line to hold "<index>, <term>, " with
// two 20-digit numbers; the command after it is never parsed.
const trailPrefixBytes = 64

// recover cuts a torn last line and finds the last line that parses. It
// reads the file backwards from its end, so opening a long trail costs
// only its tail.
func (t *Trail) recover() error {
	st, err := t.f.Stat()
	if err != nil {
		return fmt.Errorf("logs: stat trail %s: %w", t.path, err)
	}
	size := st.Size()
	sc := &backScanner{f: t.f}
	nl, err := sc.lastNewline(size)
	if err != nil {
		return fmt.Errorf("logs: read trail %s: %w", t.path, err)
	}
	if whole := nl + 1; whole < size {
		if err := t.f.Truncate(whole); err != nil {
			return fmt.Errorf("logs: cut torn last line of trail %s: %w", t.path, err)
		}
		t.logger.Warn("cut torn last line of the trail", "offset", whole, "bytes_cut", size-whole)
		size = whole
	}
	t.size = size

	bad := 0
	for end := size; end > 0; {
		// The line is [start, end-1); end-1 holds its newline.
		prev, err := sc.lastNewline(end - 1)
		if err != nil {
			return fmt.Errorf("logs: read trail %s: %w", t.path, err)
		}
		start := prev + 1
		prefix := make([]byte, min(end-1-start, trailPrefixBytes))
		if _, err := t.f.ReadAt(prefix, start); err != nil && err != io.EOF {
			return fmt.Errorf("logs: read trail %s at %d: %w", t.path, start, err)
		}
		if index, _, ok := parseTrailPrefix(prefix); ok {
			t.last = index
			break
		}
		bad++
		end = start
	}
	if bad > 0 {
		t.logger.Warn("trail has lines that do not parse; appending after the last line that does",
			"unparsable_lines_at_end", bad, "last_index", t.last)
	}
	return nil
}

// backScanner finds newlines in a file from its end backwards, reading it
// in chunks and keeping the last chunk so successive short lines cost one
// read between them.
type backScanner struct {
	f   io.ReaderAt
	buf []byte // file bytes [off, off+len(buf))
	off int64
}

const backScanChunk = 64 << 10

// lastNewline returns the offset of the last '\n' in [0, pos), or -1.
func (s *backScanner) lastNewline(pos int64) (int64, error) {
	for pos > 0 {
		if pos <= s.off || pos > s.off+int64(len(s.buf)) {
			start := max(0, pos-backScanChunk)
			if s.buf == nil {
				s.buf = make([]byte, backScanChunk)
			}
			s.buf = s.buf[:pos-start]
			if _, err := s.f.ReadAt(s.buf, start); err != nil {
				return 0, err
			}
			s.off = start
		}
		if i := bytes.LastIndexByte(s.buf[:pos-s.off], '\n'); i >= 0 {
			return s.off + int64(i), nil
		}
		pos = s.off
	}
	return -1, nil
}
