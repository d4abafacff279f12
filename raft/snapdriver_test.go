package raft

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/raftkv/raftkv/logs"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

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

// TestReceivedSnapshotCorruptIsRefused: a file altered on the way fails
// verification: nothing enters the store, no MsgSnap is made, and the
// sender is told (Done with an error).
func TestReceivedSnapshotCorruptIsRefused(t *testing.T) {
	_, snap, raw := makeSnapshotFile(t, 3<<18)
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"flipped byte", flipped(raw, len(raw)/2)},
		{"cut short", raw[:len(raw)-100]},
		{"empty", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst, err := logs.OpenSnapshotStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			var verdict []error
			in := &IncomingSnapshot{SnapshotHeader: SnapshotHeader{From: 0, To: 1, Term: 2, Snap: snap}, Size: int64(len(raw)),
				Body: bytes.NewReader(tc.body), Done: func(err error) { verdict = append(verdict, err) }}
			n := receiverNode(t, dst)
			if m, ok := n.receiveSnapshot(in); ok {
				t.Fatalf("a corrupt snapshot was accepted: %+v", m)
			}
			if len(verdict) != 1 || verdict[0] == nil {
				t.Fatalf("Done called with %v, want one error", verdict)
			}
			if _, err := dst.Latest(); !errors.Is(err, logs.ErrNoSnapshot) {
				t.Fatalf("the corrupt snapshot entered the store (Latest: %v)", err)
			}
		})
	}
}

// TestReceivedSnapshotKept: a whole file is stored, Done(nil) is called,
// and the MsgSnap names the stream's sender, term and snapshot, with the
// membership the file records.
func TestReceivedSnapshotKept(t *testing.T) {
	_, snap, raw := makeSnapshotFile(t, 3<<18)
	dst, err := logs.OpenSnapshotStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var verdict []error
	in := &IncomingSnapshot{SnapshotHeader: SnapshotHeader{From: 0, To: 1, Term: 7, Snap: snap}, Size: int64(len(raw)),
		Body: bytes.NewReader(raw), Done: func(err error) { verdict = append(verdict, err) }}
	m, ok := receiverNode(t, dst).receiveSnapshot(in)
	if !ok || len(verdict) != 1 || verdict[0] != nil {
		t.Fatalf("kept=%v, Done called with %v", ok, verdict)
	}
	if m.Type != wire.MsgSnap || m.From != 0 || m.To != 1 || m.Term != 7 || m.Index != snap.Index || m.LogTerm != snap.Term {
		t.Fatalf("install message %+v", m)
	}
	got, _, err := dst.OpenRaw(snap.Index)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if b, _ := io.ReadAll(got); !bytes.Equal(b, raw) {
		t.Fatal("the stored file differs from the received one")
	}
}

func receiverNode(t *testing.T, store SnapshotStore) *Node {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &Node{cfg: NodeConfig{ID: 1, Snapshots: store}, logger: slog.New(slog.DiscardHandler), ctx: ctx}
}

func flipped(b []byte, at int) []byte {
	c := bytes.Clone(b)
	c[at] ^= 0xff
	return c
}
