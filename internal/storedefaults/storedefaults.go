// Package storedefaults holds badger's memory sizes: kv applies them to
// Options left zero, and config fills them into a config without a badger
// block. One place, so the two cannot drift (config must not import kv,
// which would pull badger into every reader of the config).
package storedefaults

// MemTableBytes drives most of badger's Go heap under a write load: two
// skiplist arenas of that size (the open memtable and one being flushed)
// and, per flush, a table builder whose allocator grows to about the
// memtable's size and is then kept in badger's allocator pool (up to 8 of
// them, released only after 2 s without any table build, so never during
// steady writes). A heap profile after 1M writes of 256 B at 16 MiB showed
// 21 MB of arenas and 60 MB of pooled builder buffers of 118 MB live; with
// GOGC=100 the process holds about twice the live heap. At 8 MiB the same
// run showed 10 MB of arenas and 28 MB of builder buffers, at the cost of
// twice as many (smaller) L0 flushes.
const MemTableBytes = 8 << 20

// BlockCacheBytes and IndexCacheBytes are badger's caches, sized for
// several nodes in one process (kvserver --all, tests): badger's own
// defaults assume one large database per machine.
const (
	BlockCacheBytes = 32 << 20
	IndexCacheBytes = 16 << 20
)
