package logs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// resetMarkerFile, while it exists, says "every segment in this directory
// is to be discarded". Reset makes it durable before it removes the first
// segment, and recovery finishes the job when it finds it: so a crash
// during a Reset leaves either the whole old log (marker never reached the
// disk) or an empty one, never a log with entries missing in the middle
// or at the start.
const resetMarkerFile = "RESET"

// Reset discards every entry and segment, typically because an installed
// snapshot supersedes the whole log. Afterwards the log is empty and the
// next Save may start at any index. The hard state is untouched.
func (l *Log) Reset() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.failed != nil {
		return l.failed
	}
	if err := l.writeResetMarker(); err != nil {
		return l.fail(err)
	}
	if l.active != nil {
		// Every byte in it was synced by the Save that wrote it, and the
		// file is about to go: a close error cannot lose anything.
		if err := l.active.Close(); err != nil {
			l.logger.Warn("close segment before reset", "err", err)
		}
		l.active = nil
	}
	n := len(l.segs)
	l.segs = nil
	l.sizeBytes.Store(0)
	l.setBounds()
	// From here on the marker makes the reset happen whatever else fails,
	// so the in-memory view is already the empty log.
	if err := l.finishReset(); err != nil {
		return l.fail(err)
	}
	l.logger.Info("log reset: all entries discarded", "segments_removed", n)
	return nil
}

func (l *Log) writeResetMarker() error {
	path := filepath.Join(l.dir, resetMarkerFile)
	f, err := l.fs.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("logs: reset: create marker %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("logs: reset: create marker %s: %w", path, err)
	}
	// The file is empty: only its directory entry has to be durable.
	return l.syncDir()
}

// finishReset removes every segment, then the marker. Used by Reset and by
// recovery when a marker shows a reset was interrupted.
func (l *Log) finishReset() error {
	firsts, err := listSegments(l.fs, l.dir)
	if err != nil {
		return err
	}
	for _, first := range firsts {
		if err := l.fs.Remove(l.segPath(first)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("logs: reset: remove segment: %w", err)
		}
	}
	// The removals must be durable before the marker goes, or a crash
	// could bring back some segments without the marker that discards them.
	if err := l.syncDir(); err != nil {
		return err
	}
	if err := l.fs.Remove(filepath.Join(l.dir, resetMarkerFile)); err != nil {
		return fmt.Errorf("logs: reset: remove marker: %w", err)
	}
	return l.syncDir()
}

// recoverReset finishes a Reset that a crash interrupted.
func (l *Log) recoverReset() error {
	_, err := l.fs.Stat(filepath.Join(l.dir, resetMarkerFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("logs: stat reset marker: %w", err)
	}
	if err := l.finishReset(); err != nil {
		return err
	}
	l.logger.Warn("finished a log reset that a crash interrupted: the log is empty")
	return nil
}
