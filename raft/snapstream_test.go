package raft

import (
	"bytes"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/logs"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// chanTransport delivers what is sent to a channel, optionally dropping.
type chanTransport struct {
	mu   sync.Mutex // guards rng and drop
	out  chan wire.Message
	rng  *rand.Rand
	drop float64
}

func (t *chanTransport) Send(msgs []wire.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range msgs {
		if t.drop > 0 && t.rng.Float64() < t.drop {
			continue
		}
		select {
		case t.out <- m:
		default:
		}
	}
}

func (t *chanTransport) Receive() <-chan wire.Message { return nil }

// makeSnapshotFile writes a snapshot of size bytes into a new store.
func makeSnapshotFile(t *testing.T, size int) (*logs.SnapshotStore, core.SnapshotInfo, []byte) {
	t.Helper()
	store, err := logs.OpenSnapshotStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	snap := core.SnapshotInfo{Index: 500, Term: 4}
	w, err := store.Create(logs.SnapshotMeta{Index: snap.Index, Term: snap.Term, Peers: []uint64{0, 1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, size)
	for i := range body {
		body[i] = byte(i * 7)
	}
	w.Write(body)
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	r, _, err := store.OpenRaw(snap.Index)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(r)
	r.Close()
	return store, snap, raw
}

// TestSnapshotStreamOverLossyLink streams a multi-chunk snapshot through a
// link dropping a fifth of the messages both ways: the sender's go-back
// recovers, and the receiver ends with the same verified file.
func TestSnapshotStreamOverLossyLink(t *testing.T) {
	src, snap, raw := makeSnapshotFile(t, 5*snapChunkBytes+1234)
	dst, err := logs.OpenSnapshotStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	toFollower := &chanTransport{out: make(chan wire.Message, 64), rng: rand.New(rand.NewPCG(1, 2)), drop: 0.2}
	toLeader := &chanTransport{out: make(chan wire.Message, 64), rng: rand.New(rand.NewPCG(3, 4)), drop: 0.2}
	r, size, err := src.OpenRaw(snap.Index)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	s := &snapSender{to: 1, from: 0, term: 7, snap: snap, file: r.(io.ReaderAt), close: r.Close, size: size,
		tr: toFollower, log: slog.New(slog.DiscardHandler), acks: make(chan wire.Message, 16), stop: stop}
	done := make(chan snapOutcome, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go s.run(done, &wg)
	recv := &snapReceiver{id: 1, store: dst, tr: toLeader, log: slog.New(slog.DiscardHandler)}
	var installed *wire.Message
	deadline := time.After(30 * time.Second)
	for installed == nil {
		select {
		case m := <-toFollower.out:
			if got, ok := recv.receive(m); ok {
				installed = &got
			}
		case a := <-toLeader.out:
			select {
			case s.acks <- a:
			default:
			}
		case o := <-done:
			t.Fatalf("sender ended (ok=%v) before the receiver had the file", o.ok)
		case <-deadline:
			t.Fatal("snapshot not transferred in 30s over a lossy link")
		}
	}
	if installed.Type != wire.MsgSnap || installed.Index != snap.Index || installed.LogTerm != snap.Term || installed.Term != 7 || installed.From != 0 {
		t.Fatalf("install message %+v", *installed)
	}
	got, _, err := dst.OpenRaw(snap.Index)
	if err != nil {
		t.Fatal(err)
	}
	gotRaw, _ := io.ReadAll(got)
	got.Close()
	if !bytes.Equal(gotRaw, raw) {
		t.Fatal("received file differs from the sent one")
	}
	// Let the final ack reach the sender (retrying through the lossy link).
	toLeader.mu.Lock()
	toLeader.drop = 0
	toLeader.mu.Unlock()
	for {
		select {
		case a := <-toLeader.out:
			s.acks <- a
			continue
		case m := <-toFollower.out:
			recv.receive(m)
			continue
		case o := <-done:
			if !o.ok {
				t.Fatal("sender reported failure after a complete transfer")
			}
		case <-time.After(30 * time.Second):
			t.Fatal("sender never finished")
		}
		break
	}
	wg.Wait()
}

// TestSnapshotReceiverRejectsCorruptChunk: a chunk altered on the way
// makes the file fail verification; nothing is installed and the sender
// is told.
func TestSnapshotReceiverRejectsCorruptChunk(t *testing.T) {
	_, snap, raw := makeSnapshotFile(t, 3*snapChunkBytes)
	dst, err := logs.OpenSnapshotStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	acks := &chanTransport{out: make(chan wire.Message, 64)}
	recv := &snapReceiver{id: 1, store: dst, tr: acks, log: slog.New(slog.DiscardHandler)}
	for off := 0; off < len(raw); off += snapChunkBytes {
		chunk := append([]byte(nil), raw[off:min(off+snapChunkBytes, len(raw))]...)
		if off == snapChunkBytes {
			chunk[100] ^= 0xff
		}
		m := wire.Message{Type: wire.MsgSnapChunk, From: 0, To: 1, Term: 2, Index: snap.Index, LogTerm: snap.Term,
			Context: uint64(off), Commit: uint64(len(raw)), Entries: []wire.Entry{{Data: chunk}}}
		if _, ok := recv.receive(m); ok {
			t.Fatal("a snapshot with a corrupt chunk was accepted")
		}
	}
	var rejected bool
	for len(acks.out) > 0 {
		if a := <-acks.out; a.Reject {
			rejected = true
		}
	}
	if !rejected {
		t.Fatal("the sender was not told the snapshot was rejected")
	}
	if _, err := dst.Latest(); err == nil {
		t.Fatal("the corrupt snapshot entered the store")
	}
}
