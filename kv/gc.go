package kv

import (
	"errors"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// gcDiscardRatio is the share of a value log file that must be garbage
// before GC rewrites it: lower reclaims more space for more write work.
const gcDiscardRatio = 0.5

// gcLoop reclaims value log space every interval until Close. Values above
// the inline threshold live in the value log, and overwriting or deleting
// them frees nothing until a GC pass rewrites the file.
func (s *Store) gcLoop(interval time.Duration) {
	defer close(s.gcDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stopGC:
			return
		case <-t.C:
		}
		// One call rewrites at most one file; keep going while it finds
		// work, but give Close a chance between files.
		for rewrites := 0; ; rewrites++ {
			select {
			case <-s.stopGC:
				return
			default:
			}
			err := s.db.RunValueLogGC(gcDiscardRatio)
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
