package kv

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Leases are state machine records: a lease has an id (the index of the
// entry that granted it, the same on every replica) and a time to live,
// and keys attached to it. Revoking a lease deletes the keys still
// attached to it; a key rewritten without the lease, or deleted, is
// detached, so a revoke never deletes a key someone wrote since. The
// state machine never reads a clock: the leader's timers decide when a
// lease has expired and propose its revoke through the log.
//
// Encoding, command version 5: [5] kind (OpLeaseGrant or OpLeaseRevoke),
// uvarint nonce, uvarint TTL in milliseconds (grant) or lease id (revoke).
const commandLease = 5

// MaxLeaseTTL bounds a lease's time to live.
const MaxLeaseTTL = 7 * 24 * time.Hour

var (
	// metaLeasePrefix + id (8 bytes, big-endian): the lease's TTL in ms (uvarint).
	metaLeasePrefix = []byte{metaPrefix, 'L'}
	// metaLeaseKeyPrefix + id + user key: the key is attached (empty value).
	metaLeaseKeyPrefix = []byte{metaPrefix, 'A'}
)

func leaseKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), metaLeasePrefix...), id)
}

func leaseAttachKey(id uint64, key []byte) []byte {
	return append(binary.BigEndian.AppendUint64(append([]byte(nil), metaLeaseKeyPrefix...), id), key...)
}

func (c Command) encodeLease() []byte {
	b := []byte{commandLease, byte(c.Op)}
	b = binary.AppendUvarint(b, c.Nonce)
	if c.Op == OpLeaseGrant {
		return binary.AppendUvarint(b, uint64(c.TTL/time.Millisecond))
	}
	return binary.AppendUvarint(b, c.Lease)
}

func decodeLease(b []byte) (Command, error) {
	c := Command{Op: Op(b[1])}
	if c.Op != OpLeaseGrant && c.Op != OpLeaseRevoke {
		return Command{}, fmt.Errorf("%w: unknown lease op %d", ErrBadCommand, b[1])
	}
	var err error
	rest := b[2:]
	if c.Nonce, rest, err = uvarint(rest, "nonce"); err != nil {
		return Command{}, err
	}
	arg, rest, err := uvarint(rest, "lease argument")
	if err != nil {
		return Command{}, err
	}
	if len(rest) != 0 {
		return Command{}, fmt.Errorf("%w: %d bytes after a lease command", ErrBadCommand, len(rest))
	}
	switch {
	case c.Op == OpLeaseRevoke && arg == 0:
		return Command{}, fmt.Errorf("%w: revoke of lease 0", ErrBadCommand)
	case c.Op == OpLeaseRevoke:
		c.Lease = arg
	case arg == 0 || arg > uint64(MaxLeaseTTL/time.Millisecond):
		return Command{}, fmt.Errorf("%w: lease TTL of %d ms", ErrBadCommand, arg)
	default:
		c.TTL = time.Duration(arg) * time.Millisecond
	}
	return c, nil
}

// leaseTable is the in-memory copy of the leases and their keys, updated
// by Apply as it decides each entry (like the session table) and read by
// the API.
type leaseTable struct {
	mu sync.RWMutex // guards m; written only by Apply (under applyMu) and load
	m  map[uint64]*leaseRec
}

type leaseRec struct {
	ttl  time.Duration
	keys map[string]struct{} // user keys attached
}

func (t *leaseTable) load(db *badger.DB) error {
	m := map[uint64]*leaseRec{}
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{metaPrefix}, PrefetchValues: true})
		defer it.Close()
		for it.Seek(metaLeasePrefix); it.ValidForPrefix(metaLeasePrefix); it.Next() {
			k := it.Item().Key()
			if len(k) != len(metaLeasePrefix)+8 {
				return fmt.Errorf("lease record key %x", k)
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			ms, n := binary.Uvarint(v)
			if n <= 0 || n != len(v) {
				return fmt.Errorf("lease record %x: bad TTL", k)
			}
			m[binary.BigEndian.Uint64(k[len(metaLeasePrefix):])] = &leaseRec{ttl: time.Duration(ms) * time.Millisecond, keys: map[string]struct{}{}}
		}
		for it.Seek(metaLeaseKeyPrefix); it.ValidForPrefix(metaLeaseKeyPrefix); it.Next() {
			k := it.Item().Key()
			if len(k) <= len(metaLeaseKeyPrefix)+8 {
				return fmt.Errorf("lease attachment key %x", k)
			}
			id := binary.BigEndian.Uint64(k[len(metaLeaseKeyPrefix):])
			rec, ok := m[id]
			if !ok {
				return fmt.Errorf("key %q attached to lease %d, which does not exist", k[len(metaLeaseKeyPrefix)+8:], id)
			}
			rec.keys[string(k[len(metaLeaseKeyPrefix)+8:])] = struct{}{}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("kv: load leases: %w", err)
	}
	t.mu.Lock()
	t.m = m
	t.mu.Unlock()
	return nil
}

func (t *leaseTable) exists(id uint64) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	_, ok := t.m[id]
	return ok
}

// rebind moves key from lease old to lease new (0: none) and returns the
// attachment records to write.
func (t *leaseTable) rebind(key []byte, old, new uint64, index uint64) []mutation {
	if old == new {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var muts []mutation
	if rec, ok := t.m[old]; ok && old != 0 {
		delete(rec.keys, string(key))
		muts = append(muts, mutation{index: index, key: leaseAttachKey(old, key), del: true})
	}
	if rec, ok := t.m[new]; ok && new != 0 {
		rec.keys[string(key)] = struct{}{}
		muts = append(muts, mutation{index: index, key: leaseAttachKey(new, key), value: []byte{}})
	}
	return muts
}

func (t *leaseTable) grant(id uint64, ttl time.Duration, index uint64) mutation {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[uint64]*leaseRec{}
	}
	t.m[id] = &leaseRec{ttl: ttl, keys: map[string]struct{}{}}
	return mutation{index: index, key: leaseKey(id), value: binary.AppendUvarint(nil, uint64(ttl/time.Millisecond))}
}

// revoke forgets lease id and returns its keys, sorted (the order every
// replica deletes them in), and whether it existed.
func (t *leaseTable) revoke(id uint64) ([][]byte, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rec, ok := t.m[id]
	if !ok {
		return nil, false
	}
	delete(t.m, id)
	keys := make([][]byte, 0, len(rec.keys))
	for k := range rec.keys {
		keys = append(keys, []byte(k))
	}
	slices.SortFunc(keys, bytes.Compare)
	return keys, true
}

// leaseMutation decides a grant or a revoke.
func (s *Store) leaseMutation(m mutation, cmd Command, view *batchView) (mutation, error) {
	m.nonce = cmd.Nonce
	if cmd.Op == OpLeaseGrant {
		m.extra = append(m.extra, s.leases.grant(m.index, cmd.TTL, m.index))
		m.outcome = Outcome{Applied: true, Lease: m.index}
		return m, nil
	}
	keys, ok := s.leases.revoke(cmd.Lease)
	if !ok {
		m.outcome = Outcome{Lease: cmd.Lease}
		return m, nil
	}
	for _, k := range keys {
		ukey := userKey(k)
		st, err := view.state(ukey)
		if err != nil {
			return m, err
		}
		view.set(ukey, keyState{})
		m.extra = append(m.extra, mutation{index: m.index, key: ukey, del: true},
			mutation{index: m.index, key: leaseAttachKey(cmd.Lease, k), del: true})
		m.events = append(m.events, changeOf(OpDel, k, nil, st, keyState{}, m.index)...)
	}
	m.extra = append(m.extra, mutation{index: m.index, key: leaseKey(cmd.Lease), del: true})
	m.outcome = Outcome{Applied: true, Lease: cmd.Lease}
	return m, nil
}

// LeaseInfo is a lease as the state machine knows it.
type LeaseInfo struct {
	ID   uint64
	TTL  time.Duration
	Keys [][]byte // sorted
}

// Leases returns every lease's id and TTL.
func (s *Store) Leases() map[uint64]time.Duration {
	s.leases.mu.RLock()
	defer s.leases.mu.RUnlock()
	out := make(map[uint64]time.Duration, len(s.leases.m))
	for id, rec := range s.leases.m {
		out[id] = rec.ttl
	}
	return out
}

// Lease returns lease id with its keys; ok is false when it does not exist.
func (s *Store) Lease(id uint64) (LeaseInfo, bool) {
	s.leases.mu.RLock()
	defer s.leases.mu.RUnlock()
	rec, ok := s.leases.m[id]
	if !ok {
		return LeaseInfo{}, false
	}
	info := LeaseInfo{ID: id, TTL: rec.ttl}
	for k := range rec.keys {
		info.Keys = append(info.Keys, []byte(k))
	}
	slices.SortFunc(info.Keys, bytes.Compare)
	return info, true
}
