package kv

import (
	"encoding/binary"
	"fmt"
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

type session struct {
	seq   uint64 // highest sequence number applied for the client
	index uint64 // log index at which seq was applied
}

// sessionTable is the in-memory copy of the table.
type sessionTable struct {
	mu sync.RWMutex // guards m; written only by Apply (under applyMu)
	m  map[string]session
}

func sessionKey(client string) []byte {
	return append(append([]byte(nil), metaSessionPrefix...), client...)
}

func encodeSession(s session) []byte {
	b := binary.BigEndian.AppendUint64(nil, s.seq)
	return binary.BigEndian.AppendUint64(b, s.index)
}

// load reads the table from badger.
func (t *sessionTable) load(db *badger.DB) error {
	m := map[string]session{}
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
			if len(v) != 16 {
				return fmt.Errorf("session record of client %q has %d bytes, want 16", client, len(v))
			}
			m[client] = session{seq: binary.BigEndian.Uint64(v), index: binary.BigEndian.Uint64(v[8:])}
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

// admit decides whether the write (client, seq) at index is new. For a
// new write it records it and returns the session records to write
// (the client's, and a deletion of an evicted client's).
func (t *sessionTable) admit(client string, seq, index uint64) (fresh bool, writes []mutation) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.m[client]; ok && seq <= s.seq {
		return false, nil
	}
	if _, ok := t.m[client]; !ok && len(t.m) >= MaxSessions {
		oldest, oldestIdx := "", ^uint64(0)
		for c, s := range t.m {
			if s.index < oldestIdx || (s.index == oldestIdx && c < oldest) {
				oldest, oldestIdx = c, s.index
			}
		}
		delete(t.m, oldest)
		writes = append(writes, mutation{index: index, key: sessionKey(oldest), del: true})
	}
	s := session{seq: seq, index: index}
	t.m[client] = s
	return true, append(writes, mutation{index: index, key: sessionKey(client), value: encodeSession(s)})
}

// RequestResult returns the log index at which the write with request id
// (client, seq) was applied, when seq is the client's latest applied
// write. ok is false for an unknown client or an older seq.
func (s *Store) RequestResult(client string, seq uint64) (index uint64, ok bool) {
	s.sessions.mu.RLock()
	defer s.sessions.mu.RUnlock()
	ss, found := s.sessions.m[client]
	if !found || ss.seq != seq {
		return 0, false
	}
	return ss.index, true
}
