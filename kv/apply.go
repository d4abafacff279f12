package kv

import (
	"encoding/binary"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/raftkv/raftkv/raft/wire"
)

// mutation is the badger write one entry turns into. key is nil for an
// entry that writes no user data (no-op, unknown type, a command every
// node rejects the same way, a write whose condition failed): it only
// advances the applied index, and writes its session records if any.
type mutation struct {
	index uint64
	term  uint64
	key   []byte // badger key, in the user namespace
	value []byte
	del   bool
	extra []mutation // session table records written with it
	// nonce and outcome go to whoever waits for this entry (Store.Expect).
	nonce   uint64
	outcome Outcome
	events  []Event // the changes it makes, for watchers
}

// Apply applies committed entries in index order. Entries at or below the
// applied index are skipped, so replaying the log after a restart applies
// each entry exactly once. All writes of a call go into one badger
// transaction, together with the new applied index; a batch too big for
// one transaction is split, and every part carries the index of its own
// last entry, so a crash between parts leaves data and index consistent.
func (s *Store) Apply(entries []wire.Entry) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	s.lifeMu.RLock()
	defer s.lifeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}

	applied := s.pos.Load().index
	skip := 0
	for skip < len(entries) && entries[skip].Index <= applied {
		skip++
	}
	pending := entries[skip:]
	if len(pending) == 0 {
		return nil
	}
	// Check the whole batch before writing any of it: a gap or a reorder
	// is a bug upstream, and applying past it would lose an entry forever.
	for i, e := range pending {
		if want := applied + 1 + uint64(i); e.Index != want {
			return fmt.Errorf("kv: apply: got entry %d where %d was expected (applied index %d)", e.Index, want, applied)
		}
	}
	muts, view, err := s.mutations(pending)
	if err != nil {
		return errors.Join(err, s.rollBack())
	}
	for len(muts) > 0 {
		n, err := s.writeChunk(muts)
		if err != nil {
			return errors.Join(err, s.rollBack())
		}
		s.pos.Store(&appliedPos{index: muts[n-1].index, term: muts[n-1].term})
		s.outcomes.record(muts[:n])
		s.history.publish(muts[:n], muts[n-1].index)
		muts = muts[n:]
	}
	s.cache.commit(view.pending)
	return nil
}

// rollBack takes the in-memory tables Apply updates ahead of its writes
// (sessions, leases, the revision cache) back to what badger holds.
func (s *Store) rollBack() error {
	s.cache.reset()
	return errors.Join(s.sessions.load(s.db), s.leases.load(s.db))
}

// mutations decodes the entries of one Apply call into badger writes.
// Each sees the store as the entries before it left it: conditions and
// revisions depend on it.
func (s *Store) mutations(pending []wire.Entry) ([]mutation, *batchView, error) {
	// Sized for the batch: growing it write by write cost more than the
	// badger writes themselves (BenchmarkApply's allocation profile).
	view := &batchView{txn: s.db.NewTransaction(false), cache: &s.cache, pending: make(map[string]keyState, len(pending))}
	defer view.txn.Discard()
	muts := make([]mutation, len(pending))
	for i, e := range pending {
		var err error
		if muts[i], err = s.mutationFor(e, view); err != nil {
			return nil, nil, fmt.Errorf("kv: apply entry %d: %w", e.Index, err)
		}
	}
	return muts, view, nil
}

// mutationFor decodes one entry. Everything here depends only on the
// entry and the entries before it, so every replica makes the same
// decision for it.
func (s *Store) mutationFor(e wire.Entry, view *batchView) (mutation, error) {
	m := mutation{index: e.Index, term: e.Term}
	if e.Type != wire.EntryNormal {
		return m, nil
	}
	cmd, err := DecodeCommand(e.Data)
	if err != nil {
		s.logger.Warn("skipping undecodable command", "index", e.Index, "term", e.Term, "bytes", len(e.Data), "err", err)
		return m, nil
	}
	if len(cmd.Key) > maxUserKey {
		s.logger.Warn("skipping command with an oversized key", "index", e.Index, "term", e.Term, "key_bytes", len(cmd.Key), "max", maxUserKey)
		return m, nil
	}
	switch cmd.Op {
	case OpTxn:
		return s.txnMutation(m, cmd, view)
	case OpLeaseGrant, OpLeaseRevoke:
		return s.leaseMutation(m, cmd, view)
	}
	ukey := userKey(cmd.Key)
	st, err := view.state(ukey)
	if err != nil {
		return m, err
	}
	holds := cmd.condHolds(st)
	leaseMissing := cmd.Lease != 0 && !s.leases.exists(cmd.Lease)
	holds = holds && !leaseMissing
	if cmd.Client != "" {
		failed := failNone
		switch {
		case leaseMissing:
			failed = failLease
		case !holds:
			failed = failCond
		}
		fresh, writes := s.sessions.admit(cmd.Client, cmd.Seq, e.Index, failed)
		if !fresh {
			s.logger.Debug("skipping a retried write", "index", e.Index, "client", cmd.Client, "seq", cmd.Seq)
			return m, nil
		}
		m.extra = writes
	}
	m.nonce = cmd.Nonce
	if !holds {
		m.outcome = Outcome{Meta: st.meta, Lease: cmd.Lease, LeaseMissing: leaseMissing}
		return m, nil
	}
	w := s.writeKey(view, cmd.Op, ukey, cmd.Value, cmd.Lease, st, e.Index)
	m.key, m.value, m.del = w.data.key, w.data.value, w.data.del
	m.extra = append(m.extra, w.leases...)
	m.outcome = Outcome{Applied: true, Meta: w.next.meta}
	m.events = w.events
	return m, nil
}

// keyWrite is what a put or delete of one key does.
type keyWrite struct {
	next   keyState   // the key afterwards
	data   mutation   // the badger write of the key
	leases []mutation // lease attachments moved
	events []Event
}

// writeKey decides a put (OpSet) or delete of the key ukey (badger's
// form), found in state st, at index: its revisions, its lease
// attachment, its event; and records the new state in the view. The one
// rule for plain writes and transactions.
func (s *Store) writeKey(view *batchView, op Op, ukey, value []byte, lease uint64, st keyState, index uint64) keyWrite {
	key := ukey[1:]
	w := keyWrite{data: mutation{index: index, key: ukey, del: op == OpDel}}
	if op == OpSet {
		w.next = keyState{exists: true, meta: nextMeta(st, index), value: value}
		w.next.meta.Lease = lease
		w.data.value = encodeValue(w.next.meta, value)
	}
	w.leases = s.leases.rebind(key, st.meta.Lease, w.next.meta.Lease, index)
	view.set(ukey, w.next)
	w.events = changeOf(op, key, value, st, w.next, index)
	return w
}

// changeOf is the event a write makes: a put always, a delete only of a
// key that existed.
func changeOf(op Op, key, value []byte, before, after keyState, index uint64) []Event {
	if op == OpSet {
		return []Event{{Type: EventPut, Revision: index, Item: Item{Key: key, Value: value, Meta: after.meta}}}
	}
	if before.exists {
		return []Event{{Type: EventDel, Revision: index, Item: Item{Key: key, Meta: Meta{ModRevision: index}}}}
	}
	return nil
}

// txnMutation decides a transaction: its compares pick the branch, whose
// operations run in order against the view, every write at the entry's
// index. All its writes ride in m.extra, so they commit together.
func (s *Store) txnMutation(m mutation, cmd Command, view *batchView) (mutation, error) {
	succeeded := true
	for _, cmp := range cmd.Txn.Compares {
		st, err := view.read(userKey(cmp.Key), cmp.Target == TargetValue)
		if err != nil {
			return m, err
		}
		if !cmp.holds(st, st.value) {
			succeeded = false
			break
		}
	}
	if cmd.Client != "" {
		failed := failNone
		if !succeeded {
			failed = failCond
		}
		fresh, writes := s.sessions.admit(cmd.Client, cmd.Seq, m.index, failed)
		if !fresh {
			return m, nil
		}
		m.extra = writes
	}
	branch := cmd.Txn.Success
	if !succeeded {
		branch = cmd.Txn.Failure
	}
	res := &TxnResult{Succeeded: succeeded, Results: make([]OpResult, len(branch))}
	for i, op := range branch {
		ukey := userKey(op.Key)
		st, err := view.read(ukey, op.Op == OpGet)
		if err != nil {
			return m, err
		}
		r := OpResult{Op: op.Op, Found: st.exists}
		switch {
		case op.Op == OpGet && st.exists:
			r.Item = Item{Key: op.Key, Value: st.value, Meta: st.meta}
		case op.Op == OpSet || op.Op == OpDel:
			// A transaction's puts carry no lease: they detach the key.
			w := s.writeKey(view, op.Op, ukey, op.Value, 0, st, m.index)
			m.extra = append(append(m.extra, w.leases...), w.data)
			m.events = append(m.events, w.events...)
			if op.Op == OpSet {
				r.Item = Item{Key: op.Key, Meta: w.next.meta}
			}
		}
		res.Results[i] = r
	}
	m.nonce = cmd.Nonce
	m.outcome = Outcome{Applied: succeeded, Txn: res}
	return m, nil
}

// writeChunk commits as many leading mutations as fit in one badger
// transaction (at least one) plus the applied index of the last of them,
// and returns how many it committed.
func (s *Store) writeChunk(muts []mutation) (int, error) {
	for limit := len(muts); limit > 0; {
		txn := s.db.NewTransaction(true)
		n, err := fill(txn, muts[:limit], s.chunkBytes)
		if errors.Is(err, errRetryShorter) {
			txn.Discard()
			limit = n
			continue
		}
		if err == nil && n > 0 {
			// The applied position must ride with the data it covers.
			err = txn.Set(metaApplied, binary.BigEndian.AppendUint64(nil, muts[n-1].index))
			if err == nil {
				err = txn.Set(metaAppliedTerm, binary.BigEndian.AppendUint64(nil, muts[n-1].term))
			}
			if errors.Is(err, badger.ErrTxnTooBig) {
				// Make room for it.
				txn.Discard()
				limit = n - 1
				continue
			}
		}
		if err != nil {
			txn.Discard()
			return 0, err
		}
		if n == 0 {
			txn.Discard()
			break
		}
		if s.commitHook != nil {
			if err := s.commitHook(muts[n-1].index); err != nil {
				txn.Discard()
				return 0, fmt.Errorf("kv: apply: commit through entry %d: %w", muts[n-1].index, err)
			}
		}
		if err := txn.Commit(); err != nil {
			return 0, fmt.Errorf("kv: apply: commit through entry %d: %w", muts[n-1].index, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("kv: apply: entry %d does not fit in one badger transaction", muts[0].index)
}

// maxChunkBytes bounds the keys and values of one transaction. Badger
// counts a value stored in the value log as a pointer, so without this a
// batch of large values would become one huge write and memory spike.
const maxChunkBytes = 128 << 20

// fill adds mutations to txn until it is full and returns how many it
// added.
func fill(txn *badger.Txn, muts []mutation, maxBytes int) (int, error) {
	var bytes int
	for i, m := range muts {
		if m.key == nil && len(m.extra) == 0 {
			continue
		}
		bytes += len(m.key) + len(m.value)
		for _, x := range m.extra {
			bytes += len(x.key) + len(x.value)
		}
		if bytes > maxBytes && i > 0 {
			return i, nil
		}
		var err error
		if m.key != nil {
			err = write(txn, m)
		}
		for j := 0; err == nil && j < len(m.extra); j++ {
			if err = write(txn, m.extra[j]); errors.Is(err, badger.ErrTxnTooBig) {
				// Part of this entry is in txn already: start over
				// without it rather than commit half an entry.
				return i, errRetryShorter
			}
		}
		if errors.Is(err, badger.ErrTxnTooBig) {
			return i, nil
		}
		if err != nil {
			return 0, fmt.Errorf("kv: apply entry %d: %w", m.index, err)
		}
	}
	return len(muts), nil
}

// errRetryShorter asks writeChunk for a fresh transaction holding only
// the mutations before the one that did not fit.
var errRetryShorter = errors.New("kv: retry with fewer entries")

func write(txn *badger.Txn, m mutation) error {
	if m.del {
		return txn.Delete(m.key)
	}
	return txn.Set(m.key, m.value)
}
