package kv

import (
	"log/slog"
	"testing"
)

// TestBadgerOptionsMemory: zero Options take the memory defaults, explicit
// sizes are passed through, and the value threshold stays within what
// badger accepts for the memtable (it refuses to open otherwise).
func TestBadgerOptionsMemory(t *testing.T) {
	for _, tc := range []struct {
		name              string
		in                Options
		mem, block, index int64
		maxThreshold      int64
	}{
		{"defaults", Options{Dir: "x"}, 8 << 20, 32 << 20, 16 << 20, 64 << 10},
		{"explicit", Options{Dir: "x", MemTableBytes: 4 << 20, BlockCacheBytes: 1 << 20, IndexCacheBytes: 2 << 20}, 4 << 20, 1 << 20, 2 << 20, 4 << 20 * 15 / 100 / 4},
		{"minimum memtable", Options{Dir: "x", MemTableBytes: 1 << 20}, 1 << 20, 32 << 20, 16 << 20, 1 << 20 * 15 / 100 / 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := badgerOptions(tc.in, slog.Default())
			if err != nil {
				t.Fatal(err)
			}
			if o.MemTableSize != tc.mem || o.BlockCacheSize != tc.block || o.IndexCacheSize != tc.index {
				t.Errorf("memtable/block/index = %d/%d/%d, want %d/%d/%d", o.MemTableSize, o.BlockCacheSize, o.IndexCacheSize, tc.mem, tc.block, tc.index)
			}
			if o.NumMemtables != 2 {
				t.Errorf("NumMemtables = %d, want 2", o.NumMemtables)
			}
			if o.ValueThreshold > tc.maxThreshold {
				t.Errorf("ValueThreshold = %d, above %d", o.ValueThreshold, tc.maxThreshold)
			}
		})
	}
}
