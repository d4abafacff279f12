package logs

import (
	"fmt"
	"os"
)

// truncateSuffix discards every stored entry with index >= from. The order
// of steps keeps the log contiguous whatever point a crash stops it at:
//
//  1. remove whole segments newest first, syncing the directory after each
//     removal, so that the survivors are always a gap-free prefix;
//  2. cut the segment that holds from, and sync it before the caller
//     appends: otherwise new records could land on disk while the cut did
//     not, leaving stale records of the old tail after the new ones.
//
// Every intermediate state is a prefix of the old log that still holds all
// entries below from, which is what Raft needs.
func (l *Log) truncateSuffix(from uint64) error {
	defer l.setBounds()
	for t := l.tail(); t != nil && t.first >= from; t = l.tail() {
		path := l.segPath(t.first)
		if err := l.active.Close(); err != nil {
			l.logger.Warn("close segment before removing it", "file", path, "err", err)
		}
		l.active = nil
		if err := l.fs.Remove(path); err != nil {
			return fmt.Errorf("logs: truncate suffix: remove segment %s: %w", path, err)
		}
		l.segs[len(l.segs)-1] = nil
		l.segs = l.segs[:len(l.segs)-1]
		l.sizeBytes.Add(-t.size)
		if err := l.syncDir(); err != nil {
			return err
		}
		if t := l.tail(); t != nil {
			f, err := l.fs.OpenFile(l.segPath(t.first), os.O_RDWR, 0)
			if err != nil {
				return fmt.Errorf("logs: truncate suffix: reopen segment: %w", err)
			}
			l.active = f
		}
	}
	t := l.tail()
	if t == nil || from > t.last() {
		return nil // the cut fell on a segment boundary
	}
	k := from - t.first
	cut := t.offsets[k]
	path := l.segPath(t.first)
	if err := l.active.Truncate(cut); err != nil {
		return fmt.Errorf("logs: truncate segment %s at %d: %w", path, cut, err)
	}
	if err := l.syncFile(l.active); err != nil {
		return fmt.Errorf("logs: sync segment %s after truncation: %w", path, err)
	}
	l.sizeBytes.Add(cut - t.size)
	t.offsets = t.offsets[:k]
	t.size = cut
	l.logger.Debug("discarded conflicting log suffix", "from_index", from)
	return nil
}

// TruncatePrefix drops whole segments whose entries all have indexes <=
// upTo, oldest first; it never drops an entry above upTo, and it keeps the
// segment being written even when all of it is <= upTo, so FirstIndex may
// stay below upTo+1. The state machine must be durable up to upTo first.
func (l *Log) TruncatePrefix(upTo uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.failed != nil {
		return l.failed
	}
	n := 0
	for n < len(l.segs)-1 && l.segs[n].last() <= upTo {
		s := l.segs[n]
		path := l.segPath(s.first)
		if err := l.fs.Remove(path); err != nil {
			return l.fail(fmt.Errorf("logs: truncate prefix: remove segment %s: %w", path, err))
		}
		l.sizeBytes.Add(-s.size)
		n++
		// One sync per removal: removals that reached the disk out of
		// order could leave a gap, which recovery rightly calls corrupt.
		if err := l.syncDir(); err != nil {
			l.dropFirst(n)
			return l.fail(err)
		}
	}
	l.dropFirst(n)
	if n > 0 {
		l.logger.Info("dropped log segments", "count", n, "up_to_index", upTo, "first_index", l.FirstIndex())
	}
	return nil
}

// dropFirst forgets the n oldest segments.
func (l *Log) dropFirst(n int) {
	if n == 0 {
		return
	}
	l.segs = append(l.segs[:0:0], l.segs[n:]...)
	l.setBounds()
}
