package kv

import (
	"errors"
	"fmt"
	"io"

	badger "github.com/dgraph-io/badger/v4"
)

// Snapshot writes a consistent image of the whole store (user data,
// applied index and term, session table). It pins one badger read
// transaction, i.e. one read timestamp, reads the applied index and term
// there, calls begin with them to get the writer, and streams the image
// as of that same timestamp: the image is exactly the state after entry
// index. Apply keeps running meanwhile (badger readers do not block
// writers); Close and Restore wait for it to finish. This is the
// raft.StateMachine method.
func (s *Store) Snapshot(begin func(index, term uint64) (io.Writer, error)) error {
	s.lifeMu.RLock()
	defer s.lifeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	pos, err := readPos(txn)
	if err != nil {
		return fmt.Errorf("kv: snapshot: %w", err)
	}
	w, err := begin(pos.index, pos.term)
	if err != nil {
		return fmt.Errorf("kv: snapshot at index %d: %w", pos.index, err)
	}
	iw, err := newImageWriter(w, pos.index, pos.term)
	if err != nil {
		return err
	}
	it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 100})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		err := item.Value(func(v []byte) error { return iw.add(item.Key(), v) })
		if err != nil {
			return fmt.Errorf("kv: snapshot at index %d: %w", pos.index, err)
		}
	}
	return iw.finish()
}

// SnapshotTo is Snapshot into w, for callers that need the index and term
// only afterwards (a backup to a file, tests).
func (s *Store) SnapshotTo(w io.Writer) (index, term uint64, err error) {
	err = s.Snapshot(func(i, t uint64) (io.Writer, error) {
		index, term = i, t
		return w, nil
	})
	if err != nil {
		return 0, 0, err
	}
	return index, term, nil
}

// Restore replaces the whole state with the image in r, which must hold
// the state after the entry (index, term). The image is loaded into a
// fresh database next to the store and checked; only then is it swapped
// in. A failure before the swap keeps the old state and the store open;
// an I/O failure during the swap leaves the store closed (Open then
// finishes or discards the restore, see restore_dirs.go). A crash at any
// point leaves a directory that Open turns into the old state or the new
// one. Get and List during a Restore see the old state until the swap and
// wait while it happens.
func (s *Store) Restore(r io.Reader, index, term uint64) (err error) {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if s.isClosed() {
		return ErrClosed
	}
	p := pathsFor(s.opts.Dir)
	// Leftovers of an earlier attempt that failed in this process.
	if err := removeDir(p.restore, p.parent); err != nil {
		return err
	}
	if err := removeDir(p.old, p.parent); err != nil {
		return err
	}
	if err := s.loadImage(r, p.restore, index, term); err != nil {
		return errors.Join(err, removeDir(p.restore, p.parent))
	}
	if s.crashAt("loaded") {
		return errCrashed
	}

	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return errors.Join(ErrClosed, removeDir(p.restore, p.parent))
	}
	s.stopGC()
	if err := writeMarker(p.marker, p.parent); err != nil {
		if rerr := removeFile(p.marker); rerr != nil {
			// Whether the marker is on disk is unknown: a restart could
			// roll forward under a store that went on applying.
			s.fail()
			return fmt.Errorf("%w (and removing the marker failed: %v; store closed)", err, rerr)
		}
		s.startGC()
		return errors.Join(err, removeDir(p.restore, p.parent))
	}
	if s.crashAt("marked") {
		return errCrashed
	}
	// From here on the old database is gone from this process; a failure
	// closes the store and leaves the rest to Open.
	oldErr := s.db.Close()
	s.closed = true
	if oldErr != nil {
		return fmt.Errorf("kv: restore: close old store: %w (store closed; reopen it to finish the restore)", oldErr)
	}
	if s.crashAt("old-closed") {
		return errCrashed
	}
	if err := s.swapDirs(p); err != nil {
		return fmt.Errorf("%w (store closed; reopen it to finish the restore)", err)
	}
	if err := s.openDB(); err != nil {
		return fmt.Errorf("kv: restore: reopen: %w (store closed)", err)
	}
	s.closed = false
	s.startGC()
	s.logger.Info("kv store restored from snapshot", "index", index, "term", term)
	return nil
}

// errCrashed is what Restore returns when restoreHook simulated a crash.
var errCrashed = errors.New("kv: restore: simulated crash")

// crashAt runs the test hook for step and reports whether it asked
// Restore to stop dead there.
func (s *Store) crashAt(step string) bool {
	return s.restoreHook != nil && s.restoreHook(step) != nil
}

// fail marks the store closed after its database is no longer usable.
func (s *Store) fail() {
	if !s.closed {
		_ = s.db.Close() // the store is unusable either way
		s.closed = true
	}
}

func (s *Store) isClosed() bool {
	s.lifeMu.RLock()
	defer s.lifeMu.RUnlock()
	return s.closed
}

// swapDirs moves the restored database into place; see restore_dirs.go
// for why each step is safe to crash after.
func (s *Store) swapDirs(p restorePaths) error {
	if err := renameSynced(p.dir, p.old, p.parent); err != nil {
		return fmt.Errorf("kv: restore: move old store aside: %w", err)
	}
	if s.crashAt("old-moved") {
		return errCrashed
	}
	if err := renameSynced(p.restore, p.dir, p.parent); err != nil {
		return fmt.Errorf("kv: restore: move restored store into place: %w", err)
	}
	if s.crashAt("new-moved") {
		return errCrashed
	}
	if err := removeFile(p.marker); err != nil {
		return fmt.Errorf("kv: restore: remove marker: %w", err)
	}
	if err := syncDir(p.parent); err != nil {
		return err
	}
	if s.crashAt("unmarked") {
		return errCrashed
	}
	if err := removeDir(p.old, p.parent); err != nil {
		// Only disk space is at stake; the next Open removes it.
		s.logger.Warn("could not remove the replaced store; the next open will", "dir", p.old, "err", err)
	}
	if s.crashAt("cleaned") {
		return errCrashed
	}
	return nil
}

// loadImage writes the image in r into a fresh badger database in dir,
// checks that it holds the state after (index, term), and leaves it
// synced and closed.
func (s *Store) loadImage(r io.Reader, dir string, index, term uint64) error {
	ir, err := newImageReader(r)
	if err != nil {
		return fmt.Errorf("kv: restore: %w", err)
	}
	if ir.index != index || ir.term != term {
		return fmt.Errorf("kv: restore: the image holds the state at index %d term %d, not the expected index %d term %d",
			ir.index, ir.term, index, term)
	}
	opts := s.opts
	opts.Dir = dir
	bopts, err := badgerOptions(opts, s.logger)
	if err != nil {
		return err
	}
	db, err := badger.Open(bopts)
	if err != nil {
		return fmt.Errorf("kv: restore: open badger in %s: %w", dir, err)
	}
	err = fillDB(db, ir)
	if err == nil {
		err = checkLoaded(db, index, term)
	}
	if err == nil {
		err = db.Sync()
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Badger syncs its files; their names must reach the disk too.
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("kv: restore into %s: %w", dir, err)
	}
	return nil
}

func fillDB(db *badger.DB, ir *imageReader) error {
	wb := db.NewWriteBatch()
	defer wb.Cancel() // harmless after Flush; releases the batch after an error
	if err := ir.each(wb.Set); err != nil {
		return err
	}
	return wb.Flush()
}

// checkLoaded confirms the loaded database is a store at (index, term).
func checkLoaded(db *badger.DB, index, term uint64) error {
	return db.View(func(txn *badger.Txn) error {
		v, err := getValue(txn, metaFormat)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return fmt.Errorf("%w: no store format record", ErrBadImage)
		}
		if err != nil {
			return err
		}
		if len(v) != 1 || (v[0] != storeFormat && v[0] != storeFormatNoHeader) {
			return fmt.Errorf("%w: store format %v is not the supported %d", ErrBadImage, v, storeFormat)
		}
		pos, err := readPos(txn)
		if err != nil {
			return err
		}
		if pos.index != index || pos.term != term {
			return fmt.Errorf("%w: the loaded data is at index %d term %d, the image header says %d, %d",
				ErrBadImage, pos.index, pos.term, index, term)
		}
		return nil
	})
}
