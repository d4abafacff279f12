package logs

import (
	"bytes"
	"fmt"
	"os"
)

// tornTail describes an unfinished write found at the end of the last
// segment: the bytes from offset on never made it to disk whole.
type tornTail struct {
	offset int64
	bytes  int64
	reason error
}

// recover rebuilds the in-memory index from the directory. Invariant it
// restores: segments hold contiguous, ascending indexes with no gap between
// files, every record checks out, and only the last segment was ever
// allowed a torn tail (every earlier one was complete and synced before
// the next was created).
func (l *Log) recover() error {
	removed, err := removeTempFiles(l.fs, l.dir)
	if err != nil {
		return err
	}
	if removed {
		if err := l.syncDir(); err != nil {
			return err
		}
	}
	if l.hs, err = readHardState(l.fs, l.dir); err != nil {
		return err
	}
	if err := l.recoverReset(); err != nil {
		return err
	}
	firsts, err := listSegments(l.fs, l.dir)
	if err != nil {
		return err
	}
	var size int64
	for i, first := range firsts {
		path := l.segPath(first)
		isLast := i == len(firsts)-1
		if prev := l.tail(); prev != nil && first != prev.last()+1 {
			return corruptf(path, 0, "segment starts at index %d but the previous one ends at %d", first, prev.last())
		}
		if first == 0 {
			return corruptf(path, 0, "segment named after index 0; indexes start at 1")
		}
		data, err := l.fs.ReadFile(path)
		if err != nil {
			return fmt.Errorf("logs: read segment %s: %w", path, err)
		}
		seg, torn, err := scanSegment(path, data, first, isLast)
		if err != nil {
			return err
		}
		if torn != nil {
			if err := l.cutTornTail(path, torn); err != nil {
				return err
			}
		}
		if seg.count() == 0 {
			if !isLast {
				return corruptf(path, segmentHeaderSize, "segment holds no records but is not the last")
			}
			// A roll that crashed before its first batch landed; nothing
			// in it was ever acknowledged.
			if err := l.fs.Remove(path); err != nil {
				return fmt.Errorf("logs: remove empty segment %s: %w", path, err)
			}
			if err := l.syncDir(); err != nil {
				return err
			}
			l.logger.Warn("removed log segment left empty by a crash", "file", path)
			continue
		}
		l.segs = append(l.segs, seg)
		size += seg.size
	}
	if t := l.tail(); t != nil {
		f, err := l.fs.OpenFile(l.segPath(t.first), os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("logs: open last segment: %w", err)
		}
		l.active = f
	}
	l.sizeBytes.Store(size)
	l.setBounds()
	return nil
}

// cutTornTail truncates the last segment where its torn tail starts and
// makes the cut durable before anything is appended after it.
func (l *Log) cutTornTail(path string, torn *tornTail) error {
	f, err := l.fs.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("logs: open segment %s to cut torn tail: %w", path, err)
	}
	defer f.Close()
	if err := f.Truncate(torn.offset); err != nil {
		return fmt.Errorf("logs: cut torn tail of %s at %d: %w", path, torn.offset, err)
	}
	if err := l.syncFile(f); err != nil {
		return fmt.Errorf("logs: sync segment %s after cutting torn tail: %w", path, err)
	}
	l.logger.Warn("cut torn record at the tail of the log (a write the crash interrupted; it was never acknowledged)",
		"file", path, "offset", torn.offset, "bytes_cut", torn.bytes, "reason", torn.reason.Error())
	return nil
}

// scanSegment verifies a whole segment file held in data. A record that
// fails to decode is a torn tail only in the last segment and only when no
// valid record follows it anywhere in the file; otherwise it is corruption.
func scanSegment(path string, data []byte, first uint64, isLast bool) (*segment, *tornTail, error) {
	if reason := checkSegmentHeader(data, first); reason != "" {
		return nil, nil, corruptf(path, 0, "%s", reason)
	}
	seg := &segment{first: first}
	off := segmentHeaderSize
	for next := first; off < len(data); next++ {
		e, n, err := decodeRecord(data[off:])
		if err != nil && allZero(data[off:]) {
			// The preallocated rest of the segment: no record has a zero
			// header, and the index check across segments catches a loss.
			break
		}
		if err != nil {
			if !isLast {
				return nil, nil, corruptf(path, int64(off), "%v in a segment that is not the last", err)
			}
			if p := findValidRecord(data, off+1); p >= 0 {
				return nil, nil, corruptf(path, int64(off), "%v, yet a valid record follows at byte offset %d", err, p)
			}
			seg.size = int64(off)
			return seg, &tornTail{offset: int64(off), bytes: int64(len(data) - off), reason: err}, nil
		}
		if e.Index != next {
			return nil, nil, corruptf(path, int64(off), "record holds index %d, expected %d", e.Index, next)
		}
		seg.offsets = append(seg.offsets, int64(off))
		off += n
	}
	seg.size = int64(off)
	return seg, nil, nil
}

// findValidRecord returns the first offset at or after from where a whole,
// checksum-clean record starts, or -1. The header checksum makes probing
// every offset cheap: a payload is checksummed only behind a valid header.
func findValidRecord(data []byte, from int) int {
	// A record's header is never all zeros, so none starts in the zeros
	// of a preallocated tail: skip probing them.
	end := len(bytes.TrimRight(data, "\x00"))
	for p := from; p < end && p+recordHeaderSize <= len(data); p++ {
		if _, _, err := decodeRecord(data[p:]); err == nil {
			return p
		}
	}
	return -1
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	return len(bytes.TrimLeft(b, "\x00")) == 0
}
