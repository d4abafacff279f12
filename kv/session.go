package kv

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	badger "github.com/dgraph-io/badger/v4"
)

// Client sessions make writes exactly-once: a client that retries a write
// with the same request id (client, seq) gets it applied at most once. The
// table lives in badger next to the data, written in the same transaction,
// so it survives restarts and travels in snapshots; every replica decides
// the same way because the decision depends only on the log.

// MaxSessions bounds the session table. When a new client would exceed
// it, the client whose last write is oldest (lowest log index) is
// forgotten; a retry from it would then be applied again. Eviction depends
// only on the log, so every replica evicts the same client.
const MaxSessions = 10000

var metaSessionPrefix = []byte{metaPrefix, 's'}

// sessionWindow is how many of a client's latest applied writes a
// session remembers. Writes of one client may arrive out of order (sent
// concurrently, or retried late); any seq within the window is applied
// once and found again; a seq below the window is refused as too old,
// since whether it was applied can no longer be told.
const sessionWindow = 16

type seqIndex struct {
	seq, index uint64 // a request's sequence number and the entry that applied it
	// failed says why the write wrote nothing, if it did not; a retry
	// answers that again. Stored in the index's top bits, which a log
	// index never reaches (records from before conditional writes read
	// as successes, which they were): the top one for a failed condition,
	// the next for a missing lease.
	failed failure
}

const (
	condFailedBit   = 1 << 63
	leaseMissingBit = 1 << 62
	outcomeBits     = condFailedBit | leaseMissingBit
)

// bit is how f is stored in the index.
func (f failure) bit() uint64 {
	switch f {
	case failCond:
		return condFailedBit
	case failLease:
		return leaseMissingBit
	}
	return 0
}

func failureOf(idx uint64) failure {
	switch {
	case idx&condFailedBit != 0:
		return failCond
	case idx&leaseMissingBit != 0:
		return failLease
	}
	return failNone
}

// failure is why an admitted write wrote nothing, if it did not.
type failure uint8

const (
	failNone failure = iota
	failCond
	failLease
)

type session struct {
	lastIndex uint64     // log index of the client's latest applied write, for eviction
	seqs      []seqIndex // applied requests, ascending by seq, at most sessionWindow
}

func (s *session) find(seq uint64) (seqIndex, bool) {
	for _, si := range s.seqs {
		if si.seq == seq {
			return si, true
		}
	}
	return seqIndex{}, false
}

// sessionTable is the in-memory copy of the table.
type sessionTable struct {
	mu sync.RWMutex // guards m; written only by Apply (under applyMu)
	m  map[string]*session
}

func sessionKey(client string) []byte {
	return append(append([]byte(nil), metaSessionPrefix...), client...)
}

// encodeSession: lastIndex, then (seq, index) pairs, big-endian.
func encodeSession(s *session) []byte {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+16*len(s.seqs)), s.lastIndex)
	for _, si := range s.seqs {
		idx := si.index | si.failed.bit()
		b = binary.BigEndian.AppendUint64(b, si.seq)
		b = binary.BigEndian.AppendUint64(b, idx)
	}
	return b
}

func decodeSession(v []byte) (*session, error) {
	if len(v) < 8+16 || (len(v)-8)%16 != 0 || (len(v)-8)/16 > sessionWindow {
		return nil, fmt.Errorf("%d bytes is not a session record", len(v))
	}
	s := &session{lastIndex: binary.BigEndian.Uint64(v)}
	for p := v[8:]; len(p) > 0; p = p[16:] {
		idx := binary.BigEndian.Uint64(p[8:])
		si := seqIndex{seq: binary.BigEndian.Uint64(p), index: idx &^ outcomeBits, failed: failureOf(idx)}
		if n := len(s.seqs); n > 0 && si.seq <= s.seqs[n-1].seq {
			return nil, errors.New("session record with unordered sequence numbers")
		}
		s.seqs = append(s.seqs, si)
	}
	return s, nil
}

// load reads the table from badger.
func (t *sessionTable) load(db *badger.DB) error {
	m := map[string]*session{}
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: metaSessionPrefix, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			client := string(item.Key()[len(metaSessionPrefix):])
			s, err := decodeSession(v)
			if err != nil {
				return fmt.Errorf("session of client %q: %w", client, err)
			}
			m[client] = s
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("kv: load sessions: %w", err)
	}
	t.mu.Lock()
	t.m = m
	t.mu.Unlock()
	return nil
}

// admit decides whether the write (client, seq) at index is to be
// applied. For a write to apply it records it (with why it wrote nothing,
// if it did not) and returns the session records to write (the client's, and the
// deletion of an evicted client's).
func (t *sessionTable) admit(client string, seq, index uint64, failed failure) (fresh bool, writes []mutation) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.m[client]
	if ok {
		if _, dup := s.find(seq); dup {
			return false, nil
		}
		if len(s.seqs) == sessionWindow && seq < s.seqs[0].seq {
			return false, nil // too old to tell whether it was applied
		}
	} else {
		if len(t.m) >= MaxSessions {
			writes = append(writes, t.evictOldest(index))
		}
		s = &session{}
		t.m[client] = s
	}
	at, _ := slices.BinarySearchFunc(s.seqs, seq, func(si seqIndex, seq uint64) int { return cmp.Compare(si.seq, seq) })
	s.seqs = slices.Insert(s.seqs, at, seqIndex{seq: seq, index: index, failed: failed})
	if len(s.seqs) > sessionWindow {
		s.seqs = slices.Delete(s.seqs, 0, 1)
	}
	s.lastIndex = index
	return true, append(writes, mutation{index: index, key: sessionKey(client), value: encodeSession(s)})
}

// evictOldest forgets the client whose latest write is oldest.
func (t *sessionTable) evictOldest(index uint64) mutation {
	oldest, oldestIdx := "", ^uint64(0)
	for c, s := range t.m {
		if s.lastIndex < oldestIdx || (s.lastIndex == oldestIdx && c < oldest) {
			oldest, oldestIdx = c, s.lastIndex
		}
	}
	delete(t.m, oldest)
	return mutation{index: index, key: sessionKey(oldest), del: true}
}

// RequestOutcome is how the write with a request id was first applied.
type RequestOutcome struct {
	Index      uint64 // the entry that applied it
	CondFailed bool   // its condition did not hold, so it wrote nothing
	// LeaseMissing: it named a lease that did not exist, so it wrote
	// nothing.
	LeaseMissing bool
}

// RequestResult returns how the write with request id (client, seq) was
// applied. ok is false when the session does not hold it: the client is
// unknown (or was evicted), or seq fell below the window, so whether it
// was applied cannot be told.
func (s *Store) RequestResult(client string, seq uint64) (RequestOutcome, bool) {
	s.sessions.mu.RLock()
	defer s.sessions.mu.RUnlock()
	ss, found := s.sessions.m[client]
	if !found {
		return RequestOutcome{}, false
	}
	si, ok := ss.find(seq)
	return RequestOutcome{Index: si.index, CondFailed: si.failed == failCond, LeaseMissing: si.failed == failLease}, ok
}
