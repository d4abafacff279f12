package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Key layout. Every badger key starts with a namespace byte so that user
// keys and the store's own bookkeeping can never collide, and a List over
// any user prefix stays inside the user namespace.
const (
	userPrefix = 'u'
	metaPrefix = 'm'
)

var (
	// metaApplied holds the index of the last applied entry, big-endian
	// uint64, written in the same transaction as the data it covers.
	metaApplied = []byte{metaPrefix, 'a', 'p', 'p', 'l', 'i', 'e', 'd'}
	// metaFormat holds the on-disk layout version, so a future layout is
	// refused loudly by old binaries instead of being misread.
	metaFormat = []byte{metaPrefix, 'f', 'o', 'r', 'm', 'a', 't'}
)

const storeFormat = 1

// maxUserKey is badger's key limit (65000) minus the namespace byte.
const maxUserKey = 65000 - 1

// Defaults for Options fields left zero.
const (
	DefaultMemTableBytes   = 16 << 20
	DefaultBlockCacheBytes = 32 << 20
	DefaultIndexCacheBytes = 16 << 20
	DefaultGCInterval      = 5 * time.Minute
)

// ErrClosed is returned by operations on a closed Store.
var ErrClosed = errors.New("kv: store closed")

// Options configures Open. Zero fields take the defaults above.
type Options struct {
	Dir             string
	MemTableBytes   int64 // default 16 MiB
	BlockCacheBytes int64 // default 32 MiB
	IndexCacheBytes int64 // default 16 MiB
	Logger          *slog.Logger
	// GCInterval is how often the value log is garbage collected
	// (values above the inline threshold live there and are only
	// reclaimed by GC). Zero means DefaultGCInterval; negative disables.
	GCInterval time.Duration
}

// Store is the replicated state machine: user data and the applied index
// in one badger database. It implements raft.StateMachine and
// raft.Describer.
type Store struct {
	db     *badger.DB
	logger *slog.Logger

	// applied is the index of the last entry whose effects are committed
	// to badger. Written only under applyMu; read lock-free.
	applied atomic.Uint64

	sessions sessionTable

	// applyMu serialises Apply calls, so chunks of one call never
	// interleave with another's and applied only moves forward.
	applyMu sync.Mutex

	// lifeMu guards closed: every operation that touches db holds it for
	// reading, Close takes it for writing, so db is never used after (or
	// while) it is closed.
	lifeMu sync.RWMutex
	closed bool

	stopOnce sync.Once
	stopGC   chan struct{} // closed by Close to end the GC loop
	gcDone   chan struct{} // closed when the GC loop has returned

	// chunkBytes is maxChunkBytes; tests lower it.
	chunkBytes int

	// commitHook, when set by tests, runs before each badger commit and
	// can fail it, to simulate a crash between the chunks of one Apply.
	commitHook func(lastIndex uint64) error
}

// Open opens (or creates) the store in opts.Dir and reads back the
// applied index.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("kv: open: Options.Dir is empty")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	bopts, err := badgerOptions(opts, logger)
	if err != nil {
		return nil, err
	}
	db, err := badger.Open(bopts)
	if err != nil {
		return nil, fmt.Errorf("kv: open badger in %s: %w", opts.Dir, err)
	}
	s := &Store{db: db, logger: logger, chunkBytes: maxChunkBytes, stopGC: make(chan struct{}), gcDone: make(chan struct{})}
	applied, err := s.loadMeta()
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	s.applied.Store(applied)
	if err := s.sessions.load(db); err != nil {
		return nil, errors.Join(err, db.Close())
	}

	interval := opts.GCInterval
	if interval == 0 {
		interval = DefaultGCInterval
	}
	if interval > 0 {
		go s.gcLoop(interval)
	} else {
		close(s.gcDone)
	}
	logger.Info("kv store opened", "dir", opts.Dir, "applied", applied)
	return s, nil
}

func badgerOptions(opts Options, logger *slog.Logger) (badger.Options, error) {
	mem := orDefault(opts.MemTableBytes, DefaultMemTableBytes)
	block := orDefault(opts.BlockCacheBytes, DefaultBlockCacheBytes)
	index := orDefault(opts.IndexCacheBytes, DefaultIndexCacheBytes)
	if mem < 1<<20 {
		return badger.Options{}, fmt.Errorf("kv: open: memtable of %d bytes is below the 1 MiB minimum", mem)
	}
	if block < 0 || index < 0 {
		return badger.Options{}, fmt.Errorf("kv: open: negative cache size (block %d, index %d)", block, index)
	}
	// Badger caps one transaction at 15% of a memtable and refuses to open
	// when a value that would stay inline could not fit in one. Keeping
	// the threshold at a quarter of that cap leaves room for other entries
	// beside a large inline value; bigger values go to the value log and
	// cost the transaction only a pointer, so 1 MiB values still work.
	threshold := min(int64(64<<10), mem*15/100/4)
	return badger.DefaultOptions(opts.Dir).
		WithSyncWrites(false). // the Raft log is the durable record; see ARCHITECTURE.md
		WithLogger(badgerLogger{logger.With("component", "badger")}).
		WithMemTableSize(mem).
		WithNumMemtables(2).
		WithBlockCacheSize(block).
		WithIndexCacheSize(index).
		WithValueThreshold(threshold).
		// Each value log file is mapped at twice this size, and GC
		// reclaims space a whole file at a time: the 1 GiB default is
		// too coarse for a store of this size. It must exceed
		// maxChunkBytes, which bounds one write.
		WithValueLogFileSize(256 << 20).
		WithNumCompactors(2).
		WithMetricsEnabled(false).
		// Apply is the only writer, so there is nothing to conflict with.
		WithDetectConflicts(false), nil
}

func orDefault(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// loadMeta checks the layout version (writing it into a fresh store) and
// returns the applied index.
func (s *Store) loadMeta() (uint64, error) {
	var applied uint64
	fresh := false
	err := s.db.View(func(txn *badger.Txn) error {
		v, err := getValue(txn, metaFormat)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			fresh = true
		case err != nil:
			return err
		case len(v) != 1 || v[0] != storeFormat:
			return fmt.Errorf("kv: store format %v is not the supported %d", v, storeFormat)
		}
		v, err = getValue(txn, metaApplied)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			return nil
		case err != nil:
			return err
		case len(v) != 8:
			return fmt.Errorf("kv: applied index record has %d bytes, want 8", len(v))
		}
		applied = binary.BigEndian.Uint64(v)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("kv: read metadata: %w", err)
	}
	if fresh {
		if applied != 0 {
			return 0, errors.New("kv: applied index present without a format record")
		}
		err := s.db.Update(func(txn *badger.Txn) error {
			return txn.Set(metaFormat, []byte{storeFormat})
		})
		if err != nil {
			return 0, fmt.Errorf("kv: write format record: %w", err)
		}
	}
	return applied, nil
}

func getValue(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

func userKey(key []byte) []byte {
	k := make([]byte, 1+len(key))
	k[0] = userPrefix
	copy(k[1:], key)
	return k
}

// AppliedIndex is the index of the last entry applied; after a restart it
// is the last one whose effects survived.
func (s *Store) AppliedIndex() uint64 { return s.applied.Load() }

// Get returns a copy of the value stored under key, or ErrNotFound.
func (s *Store) Get(key []byte) ([]byte, error) {
	s.lifeMu.RLock()
	defer s.lifeMu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	var val []byte
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		val, err = getValue(txn, userKey(key))
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("kv: get %q: %w", key, err)
	}
	return val, nil
}

// List returns up to limit items whose keys start with prefix, in key
// order, from one consistent read. limit must be positive: an unbounded
// scan is never what a caller serving requests wants.
func (s *Store) List(prefix []byte, limit int) ([]Item, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("kv: list limit must be positive, got %d", limit)
	}
	s.lifeMu.RLock()
	defer s.lifeMu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	p := userKey(prefix)
	var items []Item
	err := s.db.View(func(txn *badger.Txn) error {
		iopts := badger.DefaultIteratorOptions
		iopts.Prefix = p
		iopts.PrefetchSize = min(limit, iopts.PrefetchSize)
		it := txn.NewIterator(iopts)
		defer it.Close()
		for it.Seek(p); it.ValidForPrefix(p) && len(items) < limit; it.Next() {
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			items = append(items, Item{Key: item.KeyCopy(nil)[1:], Value: v})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kv: list %q: %w", prefix, err)
	}
	return items, nil
}

// Sync flushes badger's writes to disk. Call it before deleting Raft log
// entries the store would need to replay after a crash.
func (s *Store) Sync() error {
	s.lifeMu.RLock()
	defer s.lifeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("kv: sync: %w", err)
	}
	return nil
}

// Close stops background work and closes badger. It waits for in-flight
// calls; later calls return ErrClosed. Closing twice is a no-op.
func (s *Store) Close() error {
	// The GC loop uses db without lifeMu (it must not hold up Close for a
	// whole GC pass), so it is stopped before db can be closed.
	s.stopOnce.Do(func() { close(s.stopGC) })
	<-s.gcDone
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("kv: close badger: %w", err)
	}
	return nil
}
