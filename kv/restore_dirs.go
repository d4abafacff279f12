package kv

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// Restore replaces the database directory Dir with one loaded from an
// image, using three names next to it:
//
//	Dir.restore           the new database while it is being loaded
//	Dir.restore-complete  marker: Dir.restore is whole, verified and synced
//	Dir.old               the old database between the two renames
//
// Steps: load and sync Dir.restore; create the marker; rename Dir to
// Dir.old; rename Dir.restore to Dir; remove the marker; remove Dir.old
// (the parent directory is synced after each step). recoverRestore, run
// by Open before badger sees Dir, reads the state a crash left and
// completes it one way or the other:
//
//   - no marker: whatever is in Dir.restore is partial; delete it. Dir
//     (old) is untouched.
//   - marker: the new database is complete; finish the renames it still
//     needs, then drop the marker.
//   - Dir.old next to a Dir: the swap finished; delete the old copy.
//
// So a store reopened after a crash holds the old state or the new one
// entirely, never a mix and never nothing.
type restorePaths struct {
	dir, restore, marker, old, parent string
}

func pathsFor(dir string) restorePaths {
	dir = filepath.Clean(dir)
	return restorePaths{
		dir:     dir,
		restore: dir + ".restore",
		marker:  dir + ".restore-complete",
		old:     dir + ".old",
		parent:  filepath.Dir(dir),
	}
}

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("kv: stat %s: %w", path, err)
	}
	return true, nil
}

// recoverRestore finishes or discards a Restore that a crash interrupted.
func recoverRestore(dir string, logger *slog.Logger) error {
	p := pathsFor(dir)
	marked, err := exists(p.marker)
	if err != nil {
		return err
	}
	if marked {
		if err := p.rollForward(); err != nil {
			return err
		}
		logger.Warn("finished a snapshot restore that a crash interrupted; the store holds the restored state", "dir", p.dir)
	} else if partial, err := exists(p.restore); err != nil {
		return err
	} else if partial {
		if err := removeDir(p.restore, p.parent); err != nil {
			return err
		}
		logger.Warn("discarded a snapshot restore that a crash interrupted; the store holds its previous state", "dir", p.dir)
	}
	old, err := exists(p.old)
	if err != nil || !old {
		return err
	}
	hasDir, err := exists(p.dir)
	if err != nil {
		return err
	}
	if !hasDir {
		// No step of Restore leaves this; guessing could throw away the
		// only copy of the data.
		return fmt.Errorf("kv: %s is missing but %s exists: an interrupted restore left a state this build does not know; move %s back by hand if it holds the data",
			p.dir, p.old, p.old)
	}
	return removeDir(p.old, p.parent)
}

// rollForward completes the swap once the marker says Dir.restore is
// whole. Each step is skipped when a crash happened after it.
func (p restorePaths) rollForward() error {
	hasNew, err := exists(p.restore)
	if err != nil {
		return err
	}
	if hasNew {
		hasDir, err := exists(p.dir)
		if err != nil {
			return err
		}
		if hasDir {
			// Dir is still the old database. A Dir.old from an earlier
			// restore would block the rename; it is older still.
			if err := removeDir(p.old, p.parent); err != nil {
				return err
			}
			if err := os.Rename(p.dir, p.old); err != nil {
				return fmt.Errorf("kv: restore: move old store aside: %w", err)
			}
		}
		if err := os.Rename(p.restore, p.dir); err != nil {
			return fmt.Errorf("kv: restore: move restored store into place: %w", err)
		}
		if err := syncDir(p.parent); err != nil {
			return err
		}
	}
	if err := os.Remove(p.marker); err != nil {
		return fmt.Errorf("kv: restore: remove marker: %w", err)
	}
	return syncDir(p.parent)
}

// removeDir deletes dir and everything in it, if present, and makes the
// removal durable.
func removeDir(dir, parent string) error {
	if ok, err := exists(dir); err != nil || !ok {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("kv: remove %s: %w", dir, err)
	}
	return syncDir(parent)
}

// writeMarker creates the (empty) marker file durably.
func writeMarker(path, parent string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("kv: restore: create marker: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("kv: restore: create marker: %w", err)
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("kv: open dir %s for sync: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("kv: sync dir %s: %w", dir, err)
	}
	return nil
}

// removeFile removes path; a file already gone is not an error.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("kv: remove %s: %w", path, err)
	}
	return nil
}

// renameSynced renames from to to and makes the rename durable.
func renameSynced(from, to, parent string) error {
	if err := os.Rename(from, to); err != nil {
		return err
	}
	return syncDir(parent)
}
