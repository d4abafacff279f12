package kv

import (
	"errors"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// gcDiscardRatio is the share of a value log file that must be garbage
// before GC rewrites it: lower reclaims more space for more write work.
const gcDiscardRatio = 0.5

// gcRunner tracks the value log GC loop, which Restore stops and restarts
// around a database swap and Close stops for good.
type gcRunner struct {
	mu   sync.Mutex    // guards stop and done
	stop chan struct{} // closed to end the running loop; nil when none runs
	done chan struct{} // closed when that loop has returned
}

// startGC starts the GC loop on s.db unless it is disabled or running.
// Callers hold lifeMu for writing or own s alone.
func (s *Store) startGC() {
	interval := s.opts.GCInterval
	if interval == 0 {
		interval = DefaultGCInterval
	}
	if interval < 0 {
		return
	}
	s.gc.mu.Lock()
	defer s.gc.mu.Unlock()
	if s.gc.stop != nil {
		return
	}
	s.gc.stop, s.gc.done = make(chan struct{}), make(chan struct{})
	go s.gcLoop(s.db, interval, s.gc.stop, s.gc.done)
}

// stopGC ends the GC loop, if one runs, and waits for it to return.
func (s *Store) stopGC() {
	s.gc.mu.Lock()
	stop, done := s.gc.stop, s.gc.done
	s.gc.stop, s.gc.done = nil, nil
	s.gc.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// gcLoop reclaims value log space of db every interval until stop is
// closed. Values above the inline threshold live in the value log, and
// overwriting or deleting them frees nothing until a GC pass rewrites the
// file. It uses db without lifeMu (it must not hold up readers for a whole
// pass), which is why db cannot be closed while it runs.
func (s *Store) gcLoop(db *badger.DB, interval time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		// One call rewrites at most one file; keep going while it finds
		// work, but give Close a chance between files.
		for rewrites := 0; ; rewrites++ {
			select {
			case <-stop:
				return
			default:
			}
			err := db.RunValueLogGC(gcDiscardRatio)
			if err == nil {
				continue
			}
			if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
				s.logger.Warn("value log GC failed", "err", err)
			} else if rewrites > 0 {
				s.logger.Debug("value log GC done", "files_rewritten", rewrites)
			}
			break
		}
	}
}
