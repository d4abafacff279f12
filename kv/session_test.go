package kv

import (
	"fmt"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

func setWithID(index uint64, key, value, client string, seq uint64) wire.Entry {
	return wire.Entry{Index: index, Term: 1, Data: Command{Op: OpSet, Key: []byte(key), Value: []byte(value), Client: client, Seq: seq}.Encode()}
}

func TestCommandWithRequestIDRoundTrip(t *testing.T) {
	in := Command{Op: OpDel, Key: []byte("k"), Client: "cli-1", Seq: 300}
	got, err := DecodeCommand(in.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if got.Op != in.Op || string(got.Key) != "k" || got.Client != "cli-1" || got.Seq != 300 || len(got.Value) != 0 {
		t.Fatalf("round trip: %+v", got)
	}
	for _, bad := range [][]byte{
		{2, 1, 0, 0, 1, 'k'},               // empty client id
		{2, 1, 5, 'a', 'b'},                // client id longer than the rest
		{2, 1, 1, 'a'},                     // no seq
		{2, 1, 1, 'a', 0x80, 0x00, 1, 'k'}, // non-minimal seq
		append([]byte{2, 1, 0x81, 0x01}, make([]byte, 129)...), // client id of 129 bytes
	} {
		if _, err := DecodeCommand(bad); err == nil {
			t.Errorf("DecodeCommand(%v) accepted a malformed command", bad)
		}
	}
}

// TestRetriedWriteAppliedOnce: a retry with the same request id changes
// nothing, even after a later write by someone else, and answers with the
// first application's index; the table survives a restart.
func TestRetriedWriteAppliedOnce(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(dir)
	s := openStore(t, opts)
	mustApply(t, s,
		setWithID(1, "k", "first", "c1", 1),
		wire.Entry{Index: 2, Term: 1, Data: EncodeSet([]byte("k"), []byte("other"))},
		setWithID(3, "k", "first", "c1", 1), // the retry
	)
	wantValue(t, s, "k", "other") // the retry was not applied again
	if idx, ok := requestIndex(s, "c1", 1); !ok || idx != 1 {
		t.Fatalf("RequestResult(c1, 1) = %d, %v; want 1, true", idx, ok)
	}
	s = reopen(t, s, opts)
	mustApply(t, s, setWithID(4, "k", "first", "c1", 1), setWithID(5, "j", "x", "c1", 2))
	wantValue(t, s, "k", "other") // not applied after a restart either
	if idx, ok := requestIndex(s, "c1", 2); !ok || idx != 5 {
		t.Fatalf("RequestResult(c1, 2) = %d, %v; want 5, true", idx, ok)
	}
	if idx, ok := requestIndex(s, "c1", 1); !ok || idx != 1 {
		t.Fatalf("RequestResult(c1, 1) after a later write = %d, %v; want the first application 1", idx, ok)
	}
	// An older seq arriving late is not applied either.
	mustApply(t, s, setWithID(6, "late", "x", "c1", 1))
	if _, err := s.Get([]byte("late")); err == nil {
		t.Fatal("a write with an old seq was applied")
	}
}

func TestSessionTableBounded(t *testing.T) {
	opts := testOptions(t.TempDir())
	s := openStore(t, opts)
	var ents []wire.Entry
	for i := range MaxSessions + 5 {
		ents = append(ents, setWithID(uint64(i+1), "k", "v", fmt.Sprintf("c%d", i), 1))
	}
	mustApply(t, s, ents...)
	s.sessions.mu.RLock()
	n := len(s.sessions.m)
	s.sessions.mu.RUnlock()
	if n != MaxSessions {
		t.Fatalf("session table holds %d clients, want %d", n, MaxSessions)
	}
	// The oldest clients were evicted; the newest are remembered.
	if _, ok := s.RequestResult("c0", 1); ok {
		t.Fatal("the oldest client was not evicted")
	}
	if idx, ok := requestIndex(s, fmt.Sprintf("c%d", MaxSessions+4), 1); !ok || idx != MaxSessions+5 {
		t.Fatalf("newest client: %d, %v", idx, ok)
	}
	// The eviction is durable too.
	s = reopen(t, s, opts)
	if _, ok := s.RequestResult("c0", 1); ok {
		t.Fatal("evicted client came back after restart")
	}
}

// TestSessionWindow: writes of one client arriving out of order within the
// window are each applied once; one older than the window is refused and
// reported unknown, never applied late.
func TestSessionWindow(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	idx := uint64(0)
	put := func(key string, seq uint64) {
		idx++
		mustApply(t, s, setWithID(idx, key, fmt.Sprint(seq), "c", seq))
	}
	put("a", 3)
	put("b", 2) // arrives after 3: still applied
	wantValue(t, s, "b", "2")
	put("b2", 2) // a retry of 2 under another key: skipped
	if _, err := s.Get([]byte("b2")); err == nil {
		t.Fatal("a retried seq was applied again")
	}
	for seq := uint64(4); seq < 4+sessionWindow; seq++ {
		put("x", seq)
	}
	// seq 2 and 3 have left the window (the newest 16 are 4..19).
	if _, ok := s.RequestResult("c", 2); ok {
		t.Fatal("a seq below the window is still reported")
	}
	put("late", 1)
	if _, err := s.Get([]byte("late")); err == nil {
		t.Fatal("a write older than the window was applied")
	}
	if got, ok := requestIndex(s, "c", 10); !ok || got != 10 {
		t.Fatalf("RequestResult(c, 10) = %d, %v; want 10, true", got, ok)
	}
}

func TestDecodeSessionRejectsGarbage(t *testing.T) {
	for _, v := range [][]byte{nil, make([]byte, 8), make([]byte, 23), make([]byte, 8+16*(sessionWindow+1))} {
		if _, err := decodeSession(v); err == nil {
			t.Errorf("decodeSession(%d bytes) accepted", len(v))
		}
	}
	unordered := encodeSession(&session{lastIndex: 5, seqs: []seqIndex{{seq: 2, index: 4}, {seq: 1, index: 5}}})
	if _, err := decodeSession(unordered); err == nil {
		t.Error("unordered session accepted")
	}
}
