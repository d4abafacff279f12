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

	"github.com/raftkv/raftkv/internal/defaults"
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
	// metaAppliedTerm holds the term of that entry, big-endian uint64,
	// written in the same transaction; stores from before it existed read
	// as term 0.
	metaAppliedTerm = []byte{metaPrefix, 't', 'e', 'r', 'm'}
	// metaFormat holds the on-disk layout version, so a future layout is
	// refused loudly by old binaries instead of being misread.
	metaFormat = []byte{metaPrefix, 'f', 'o', 'r', 'm', 'a', 't'}
)

// storeFormat 2 stores every user value behind a revision header
// (revision.go); format 1 stores bare values and is migrated on open.
const (
	storeFormat         = 2
	storeFormatNoHeader = 1
)

// maxUserKey is badger's key limit (65000) minus the namespace byte.
const maxUserKey = 65000 - 1

// Defaults for Options fields left zero: badger's memory sizes are
// config.json's (why they are what they are is at config.BadgerConfig).
const (
	DefaultMemTableBytes   = defaults.BadgerMemTableBytes
	DefaultBlockCacheBytes = defaults.BadgerBlockCacheBytes
	DefaultIndexCacheBytes = defaults.BadgerIndexCacheBytes
	DefaultGCInterval      = 5 * time.Minute
)

// ErrClosed is returned by operations on a closed Store.
var ErrClosed = errors.New("kv: store closed")

// Options configures Open. Zero fields take the defaults above.
type Options struct {
	Dir             string
	MemTableBytes   int64 // default 8 MiB
	BlockCacheBytes int64 // default 32 MiB
	IndexCacheBytes int64 // default 16 MiB
	Logger          *slog.Logger
	// GCInterval is how often the value log is garbage collected
	// (values above the inline threshold live there and are only
	// reclaimed by GC). Zero means DefaultGCInterval; negative disables.
	GCInterval time.Duration
}

// Store is the replicated state machine: user data and the applied index
// in one badger database. It implements raft.StateMachine; Describe
// renders a command for the trail.
type Store struct {
	opts   Options // Logger filled in
	logger *slog.Logger

	// pos is the index and term of the last entry whose effects are
	// committed to badger, published together so a reader never pairs an
	// index with another entry's term. Written only under applyMu (or by
	// Restore, which holds it too); read lock-free.
	pos atomic.Pointer[appliedPos]

	sessions sessionTable
	outcomes outcomes
	history  history
	cache    metaCache // revisions of recent keys; see revision.go
	leases   leaseTable

	// applyMu serialises Apply and Restore, so chunks of one call never
	// interleave with another's and the applied index only moves as the
	// log (or an installed snapshot) says.
	applyMu sync.Mutex

	// lifeMu guards closed and db: every operation that touches db holds
	// it for reading; Close, and Restore while it swaps databases, hold it
	// for writing, so db is never used after (or while) it is closed.
	lifeMu sync.RWMutex
	closed bool
	db     *badger.DB

	gc gcRunner

	// chunkBytes is maxChunkBytes; tests lower it.
	chunkBytes int

	// commitHook, when set by tests, runs before each badger commit and
	// can fail it, to simulate a crash between the chunks of one Apply.
	commitHook func(lastIndex uint64) error

	// restoreHook, when set by tests, runs at each step of Restore; an
	// error stops Restore right there, leaving the files as a crash at
	// that point would.
	restoreHook func(step string) error
}

// appliedPos is the position of the last applied entry.
type appliedPos struct {
	index, term uint64
}

// Open opens (or creates) the store in opts.Dir and reads back the
// applied index.
func Open(opts Options) (*Store, error) {
	if opts.Dir == "" {
		return nil, errors.New("kv: open: Options.Dir is empty")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// Before badger sees the directory: a Restore a crash interrupted is
	// finished or discarded here.
	if err := recoverRestore(opts.Dir, opts.Logger); err != nil {
		return nil, err
	}
	s := &Store{opts: opts, logger: opts.Logger, chunkBytes: maxChunkBytes}
	if err := s.openDB(); err != nil {
		return nil, err
	}
	s.startGC()
	pos := s.pos.Load()
	s.logger.Info("kv store opened", "dir", opts.Dir, "applied", pos.index, "applied_term", pos.term)
	return s, nil
}

// openDB opens badger in opts.Dir and loads the applied position and the
// session table from it. Callers hold lifeMu for writing or own s alone.
func (s *Store) openDB() error {
	bopts, err := badgerOptions(s.opts, s.logger)
	if err != nil {
		return err
	}
	db, err := badger.Open(bopts)
	if err != nil {
		return fmt.Errorf("kv: open badger in %s: %w", s.opts.Dir, err)
	}
	pos, err := loadMeta(db)
	if err != nil {
		return errors.Join(err, db.Close())
	}
	if err := s.sessions.load(db); err != nil {
		return errors.Join(err, db.Close())
	}
	if err := s.leases.load(db); err != nil {
		return errors.Join(err, db.Close())
	}
	s.db = db
	s.pos.Store(&pos)
	s.history.reset(pos.index)
	s.cache.reset()
	return nil
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
		WithSyncWrites(false). // the Raft log is the durable record; see docs/ARCHITECTURE.md
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
// returns the applied index and term.
func loadMeta(db *badger.DB) (appliedPos, error) {
	var pos appliedPos
	fresh, migrate := false, false
	err := db.View(func(txn *badger.Txn) error {
		v, err := getValue(txn, metaFormat)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			fresh = true
		case err != nil:
			return err
		case len(v) == 1 && v[0] == storeFormatNoHeader:
			migrate = true
		case len(v) != 1 || v[0] != storeFormat:
			return fmt.Errorf("kv: store format %v is not the supported %d", v, storeFormat)
		}
		pos, err = readPos(txn)
		return err
	})
	if err != nil {
		return appliedPos{}, fmt.Errorf("kv: read metadata: %w", err)
	}
	if migrate {
		if err := migrateRevisions(db); err != nil {
			return appliedPos{}, err
		}
	}
	if fresh {
		if pos.index != 0 {
			return appliedPos{}, errors.New("kv: applied index present without a format record")
		}
		err := db.Update(func(txn *badger.Txn) error {
			return txn.Set(metaFormat, []byte{storeFormat})
		})
		if err != nil {
			return appliedPos{}, fmt.Errorf("kv: write format record: %w", err)
		}
	}
	return pos, nil
}

// readPos reads the applied index and term as txn sees them; absent
// records read as 0.
func readPos(txn *badger.Txn) (appliedPos, error) {
	index, err := readUint64(txn, metaApplied, "applied index")
	if err != nil {
		return appliedPos{}, err
	}
	term, err := readUint64(txn, metaAppliedTerm, "applied term")
	if err != nil {
		return appliedPos{}, err
	}
	return appliedPos{index: index, term: term}, nil
}

func readUint64(txn *badger.Txn, key []byte, what string) (uint64, error) {
	v, err := getValue(txn, key)
	switch {
	case errors.Is(err, badger.ErrKeyNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(v) != 8:
		return 0, fmt.Errorf("kv: %s record has %d bytes, want 8", what, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
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
func (s *Store) AppliedIndex() uint64 { return s.pos.Load().index }

// AppliedTerm is the term of the entry at AppliedIndex; 0 when nothing was
// applied (or the store predates recording it).
func (s *Store) AppliedTerm() uint64 { return s.pos.Load().term }

// Get returns a copy of the value stored under key, or ErrNotFound.
func (s *Store) Get(key []byte) ([]byte, error) {
	it, err := s.GetItem(key)
	return it.Value, err
}

// GetItem returns key's value (a copy) and revisions, or ErrNotFound.
func (s *Store) GetItem(key []byte) (Item, error) {
	s.lifeMu.RLock()
	defer s.lifeMu.RUnlock()
	if s.closed {
		return Item{}, ErrClosed
	}
	var it Item
	err := s.db.View(func(txn *badger.Txn) error {
		v, err := getValue(txn, userKey(key))
		if err == nil {
			it, err = itemOf(key, v)
		}
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return Item{}, ErrNotFound
	}
	if err != nil {
		return Item{}, fmt.Errorf("kv: get %q: %w", key, err)
	}
	return it, nil
}

// itemOf builds an Item from a stored value it may keep.
func itemOf(key, stored []byte) (Item, error) {
	m, v, err := decodeValue(stored)
	if err != nil {
		return Item{}, err
	}
	return Item{Key: key, Value: v, Meta: m}, nil
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
			it, err := itemOf(item.KeyCopy(nil)[1:], v)
			if err != nil {
				return fmt.Errorf("key %q: %w", item.Key()[1:], err)
			}
			items = append(items, it)
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
	// The GC loop uses db without lifeMu, so it must be stopped before db
	// is closed. Stopping it before taking lifeMu keeps readers from
	// queueing behind a GC pass; stopping it again under lifeMu catches a
	// loop that a Restore restarted in between.
	s.stopGC()
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.stopGC()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("kv: close badger: %w", err)
	}
	return nil
}
