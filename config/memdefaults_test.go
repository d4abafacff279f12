package config

import (
	"testing"

	"github.com/raftkv/raftkv/kv"
)

// TestBadgerDefaultsMatchKV: the config's badger defaults are the kv
// package's, so a node started from a config without a badger block gets
// the sizes kv documents (the memtable size is what bounds badger's heap).
func TestBadgerDefaultsMatchKV(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg, kv int64
	}{
		{"memtable", DefaultMemTableBytes, kv.DefaultMemTableBytes},
		{"block cache", DefaultBlockCacheBytes, kv.DefaultBlockCacheBytes},
		{"index cache", DefaultIndexCacheBytes, kv.DefaultIndexCacheBytes},
	} {
		if tc.cfg != tc.kv {
			t.Errorf("%s: config default %d, kv default %d", tc.name, tc.cfg, tc.kv)
		}
	}
}
