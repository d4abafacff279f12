package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// Meta is what the store knows of a key besides its value. Revisions are
// log indexes, so they are the same on every replica and survive restarts,
// snapshots and restores with the data.
type Meta struct {
	CreateRevision uint64 // index of the write that created the key (since its last deletion)
	ModRevision    uint64 // index of the write that last changed it
	Version        uint64 // writes since it was created; 1 after the first
	Lease          uint64 // the lease the key is attached to (0: none); see lease.go
}

// A stored user value is a header, the key's Meta as four uvarints
// (create, mod, version, lease), followed by the value. Keys written by a
// store of format 1 are rewritten with a zero header when it is opened
// (see migrateRevisions): their history is unknown, and zero says so on
// every replica alike.

func appendHeader(b []byte, m Meta) []byte {
	b = binary.AppendUvarint(b, m.CreateRevision)
	b = binary.AppendUvarint(b, m.ModRevision)
	b = binary.AppendUvarint(b, m.Version)
	return binary.AppendUvarint(b, m.Lease)
}

// encodeValue returns the stored form of value with meta m.
func encodeValue(m Meta, value []byte) []byte {
	b := make([]byte, 0, 4*binary.MaxVarintLen64+len(value))
	return append(appendHeader(b, m), value...)
}

var errBadHeader = errors.New("kv: stored value has a malformed revision header")

// decodeValue splits a stored value into its Meta and the user's value,
// which aliases v.
func decodeValue(v []byte) (Meta, []byte, error) {
	var f [4]uint64
	for i := range f {
		x, n := binary.Uvarint(v)
		if n <= 0 {
			return Meta{}, nil, errBadHeader
		}
		f[i], v = x, v[n:]
	}
	return Meta{CreateRevision: f[0], ModRevision: f[1], Version: f[2], Lease: f[3]}, v, nil
}

// Cond is the condition of a conditional write, checked by the state
// machine when it applies the entry, never before.
type Cond uint8

const (
	CondNone        Cond = 0
	CondModRevision Cond = 1 // the key exists with ModRevision == Command.CondRevision (If-Match: "<rev>")
	CondExists      Cond = 2 // the key exists (If-Match: *)
	CondAbsent      Cond = 3 // the key does not exist (If-None-Match: *)
)

// condHolds reports whether c's condition holds for a key in state st.
func (c Command) condHolds(st keyState) bool {
	switch c.Cond {
	case CondModRevision:
		return st.exists && st.meta.ModRevision == c.CondRevision
	case CondExists:
		return st.exists
	case CondAbsent:
		return !st.exists
	}
	return true
}

// keyState is a key as the entry being applied sees it. value is set
// only when asked for (read with withValue), or for a key an earlier
// entry of the batch wrote.
type keyState struct {
	exists bool
	meta   Meta
	value  []byte
}

// nextMeta is a key's Meta after a put at index.
func nextMeta(st keyState, index uint64) Meta {
	if !st.exists {
		return Meta{CreateRevision: index, ModRevision: index, Version: 1}
	}
	return Meta{CreateRevision: st.meta.CreateRevision, ModRevision: index, Version: st.meta.Version + 1}
}

// batchView reads keys as of the entry being applied: entries of the same
// Apply call that came before it (pending) over what badger held when the
// call began (cache, then txn, read-only).
type batchView struct {
	txn     *badger.Txn
	cache   *metaCache
	pending map[string]keyState
}

// metaCache holds the Meta of recently written or read keys as badger has
// them committed, so that a write to a hot key does not read badger for
// its revisions. A miss reads badger, which stays the authority; the cache
// is updated only after Apply committed, and emptied when an Apply fails
// or the database is opened or replaced. Owned by Apply (under applyMu)
// and openDB, so it needs no lock of its own.
type metaCache struct {
	m   map[string]keyState // value always nil
	max int
}

// metaCacheKeys bounds the cache (about 100 bytes a key).
const metaCacheKeys = 64 << 10

func (c *metaCache) reset() { c.m = make(map[string]keyState) }

func (c *metaCache) put(ukey string, st keyState) {
	if c.m == nil {
		c.reset()
	}
	st.value = nil
	if _, ok := c.m[ukey]; !ok && len(c.m) >= c.limit() {
		for k := range c.m { // drop an arbitrary one: a miss only costs a read
			delete(c.m, k)
			break
		}
	}
	c.m[ukey] = st
}

func (c *metaCache) limit() int {
	if c.max > 0 {
		return c.max
	}
	return metaCacheKeys
}

// commit records what an Apply call committed.
func (c *metaCache) commit(pending map[string]keyState) {
	for k, st := range pending {
		c.put(k, st)
	}
}

func (v *batchView) state(ukey []byte) (keyState, error) { return v.read(ukey, false) }

func (v *batchView) read(ukey []byte, withValue bool) (keyState, error) {
	if st, ok := v.pending[string(ukey)]; ok {
		return st, nil
	}
	if st, ok := v.cache.m[string(ukey)]; ok && (!withValue || !st.exists) {
		return st, nil
	}
	item, err := v.txn.Get(ukey)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return keyState{}, nil
	}
	if err != nil {
		return keyState{}, fmt.Errorf("read %q: %w", ukey[1:], err)
	}
	st := keyState{exists: true}
	err = item.Value(func(stored []byte) error {
		var err error
		var val []byte
		st.meta, val, err = decodeValue(stored)
		if withValue {
			st.value = bytes.Clone(val)
		}
		return err
	})
	if err != nil {
		return keyState{}, fmt.Errorf("read %q: %w", ukey[1:], err)
	}
	return st, nil
}

func (v *batchView) set(ukey []byte, st keyState) {
	if v.pending == nil {
		v.pending = map[string]keyState{}
	}
	v.pending[string(ukey)] = st
}

// metaMigrateCursor holds the last user key a format 1 → 2 migration
// rewrote, so that a migration a crash interrupted resumes after it
// instead of adding a second header to keys it already did.
var metaMigrateCursor = []byte{metaPrefix, 'm', 'i', 'g', 'r', 'a', 't', 'e'}

// migrateChunk is how many keys one migration transaction rewrites.
const migrateChunk = 1000

// migrateRevisions rewrites a format 1 store's bare values with a zero
// revision header, a chunk per transaction with the cursor beside it, and
// then records format 2. The result depends only on the data, so replicas
// that migrate at different applied indexes still agree.
func migrateRevisions(db *badger.DB) error {
	for {
		done, err := migrateNext(db)
		if err != nil {
			return fmt.Errorf("kv: add revision headers to a format %d store: %w", storeFormatNoHeader, err)
		}
		if done {
			return nil
		}
	}
}

func migrateNext(db *badger.DB) (done bool, err error) {
	txn := db.NewTransaction(true)
	defer txn.Discard()
	cursor, err := getValue(txn, metaMigrateCursor)
	if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
		return false, err
	}
	prefix := []byte{userPrefix}
	start := prefix
	if cursor != nil {
		start = append(cursor, 0) // the key right after it
	}
	var keys, vals [][]byte
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 100})
	for it.Seek(start); it.ValidForPrefix(prefix) && len(keys) < migrateChunk; it.Next() {
		v, err := it.Item().ValueCopy(nil)
		if err != nil {
			it.Close()
			return false, err
		}
		keys, vals = append(keys, it.Item().KeyCopy(nil)), append(vals, v)
	}
	it.Close()
	done = len(keys) < migrateChunk
	for i, k := range keys {
		err := txn.Set(k, encodeValue(Meta{}, vals[i]))
		if errors.Is(err, badger.ErrTxnTooBig) && i > 0 {
			keys, done = keys[:i], false // the rest go in the next transaction
			break
		}
		if err != nil {
			return false, fmt.Errorf("rewrite %q: %w", k[1:], err)
		}
	}
	if done {
		err = txn.Delete(metaMigrateCursor)
		if err == nil {
			err = txn.Set(metaFormat, []byte{storeFormat})
		}
	} else {
		err = txn.Set(metaMigrateCursor, keys[len(keys)-1])
	}
	if err != nil {
		return false, err
	}
	return done, txn.Commit()
}
