//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package logs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

const lockFileName = "LOCK"

// lockDir takes an exclusive advisory lock on dir, so that two processes
// (say, two nodes misconfigured with one data dir) cannot interleave
// writes into the same log. The kernel drops the lock if the process dies.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("logs: open lock file %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("logs: log dir %s is in use by another process or Log", dir)
		}
		return nil, fmt.Errorf("logs: lock %s: %w", path, err)
	}
	return f, nil
}

// unlockDir releases the lock; closing the descriptor drops the flock.
func unlockDir(f *os.File) error {
	if f == nil {
		return nil
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("logs: release dir lock: %w", err)
	}
	return nil
}
