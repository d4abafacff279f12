package kv

import (
	"fmt"
	"os"
)

// SizeBytes is the disk space the store's files take: badger's LSM
// tables, value log, memtable logs and manifest. It counts allocated
// blocks where the platform reports them, because badger preallocates
// its value log and memtable files (sparse) far beyond what they hold.
// badger's own db.Size() is not used: it reads metrics this store turns
// off, and refreshes them only once a minute.
func (s *Store) SizeBytes() int64 {
	s.lifeMu.RLock()
	defer s.lifeMu.RUnlock()
	n, err := dirUsage(s.opts.Dir)
	if err != nil {
		s.logger.Warn("could not measure the store's size", "err", err)
	}
	return n
}

// dirUsage sums the disk usage of the regular files directly in dir.
func dirUsage(dir string) (int64, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("kv: list %s: %w", dir, err)
	}
	var n int64
	for _, de := range des {
		if !de.Type().IsRegular() {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue // removed by a compaction since the listing
		}
		n += diskUsage(fi)
	}
	return n, nil
}
