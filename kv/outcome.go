package kv

import "sync"

// Outcome is what applying a write did. For a write whose condition
// failed, Meta is the key's as the entry found it (zero when absent);
// otherwise it is the key's after the write (zero after a delete).
type Outcome struct {
	Applied bool
	Meta    Meta
	Txn     *TxnResult // for a transaction; Applied says which branch ran
	// Lease: a grant's new lease id, a revoke's lease; with Applied
	// false on a put, the lease it named does not exist.
	Lease        uint64
	LeaseMissing bool
}

// outcomes hands the result of a proposal to the caller that proposed it.
// Every replica applies the entry, but only the node whose caller
// registered its nonce keeps the outcome, so the table holds only what
// someone is waiting for.
type outcomes struct {
	mu sync.Mutex // guards m
	m  map[uint64]*outcomeSlot
}

type outcomeSlot struct {
	set bool
	o   Outcome
}

// Expect registers nonce before its command is proposed. Call Outcome
// once the entry is applied on this node, or Forget when giving up.
func (s *Store) Expect(nonce uint64) {
	s.outcomes.mu.Lock()
	defer s.outcomes.mu.Unlock()
	if s.outcomes.m == nil {
		s.outcomes.m = map[uint64]*outcomeSlot{}
	}
	s.outcomes.m[nonce] = &outcomeSlot{}
}

// Outcome returns and forgets the outcome of the command with nonce. ok
// is false when it was not applied here as a new write: it was skipped as
// a retry of an applied request id, or this node installed a snapshot
// over it, or nonce was never registered.
func (s *Store) Outcome(nonce uint64) (Outcome, bool) {
	s.outcomes.mu.Lock()
	defer s.outcomes.mu.Unlock()
	slot, ok := s.outcomes.m[nonce]
	delete(s.outcomes.m, nonce)
	if !ok || !slot.set {
		return Outcome{}, false
	}
	return slot.o, true
}

// Forget drops a registration whose outcome is no longer wanted.
func (s *Store) Forget(nonce uint64) {
	s.outcomes.mu.Lock()
	defer s.outcomes.mu.Unlock()
	delete(s.outcomes.m, nonce)
}

// record publishes the outcomes of committed mutations to their waiters.
func (t *outcomes) record(muts []mutation) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.m) == 0 {
		return
	}
	for _, m := range muts {
		if m.nonce == 0 {
			continue
		}
		if slot, ok := t.m[m.nonce]; ok {
			slot.set, slot.o = true, m.outcome
		}
	}
}
