package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// snapFile is a file of n bytes that no shifted copy of itself matches.
func snapFile(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func header(from, to wire.NodeID) raft.SnapshotHeader {
	return raft.SnapshotHeader{From: from, To: to, Term: 7, Snap: core.SnapshotInfo{Index: 500, Term: 4}}
}

// quick makes an endpoint's streams small and impatient, so that tests
// cross many chunks and time out in well under a second.
func quick(e *MemTransport) *MemTransport {
	e.snaps.chunk, e.snaps.resend, e.snaps.giveUp = 1<<10, 20*time.Millisecond, 500*time.Millisecond
	return e
}

// memNet is a network closed when the test ends.
func memNet(t *testing.T, seed int64) *Network {
	n := NewNetwork(seed)
	t.Cleanup(n.Close)
	return n
}

// sendAsync runs SendSnapshot on its own goroutine and returns its result.
func sendAsync(ctx context.Context, e *MemTransport, h raft.SnapshotHeader, file []byte) <-chan error {
	res := make(chan error, 1)
	go func() { res <- e.SendSnapshot(ctx, h, int64(len(file)), bytes.NewReader(file)) }()
	return res
}

func nextIncoming(t *testing.T, e *MemTransport) *raft.IncomingSnapshot {
	t.Helper()
	select {
	case in := <-e.IncomingSnapshots():
		return in
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot stream arrived")
		return nil
	}
}

func result(t *testing.T, res <-chan error) error {
	t.Helper()
	select {
	case err := <-res:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("SendSnapshot did not return")
		return nil
	}
}

// TestSnapshotStreamOverLossyNetwork streams a file of many chunks through
// a network that drops, duplicates and reorders both ways: the receiver
// reads exactly the file, and the sender learns it was kept even when the
// verdict itself is lost (the receiver repeats it).
func TestSnapshotStreamOverLossyNetwork(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		net := memNet(t, seed)
		net.SetDropRate(0.2)
		net.SetDuplicateRate(0.1)
		net.SetDelay(0, 3*time.Millisecond)
		a, b := quick(net.Endpoint(0)), quick(net.Endpoint(1))
		file := snapFile(37<<10 + 123)
		res := sendAsync(context.Background(), a, header(0, 1), file)
		in := nextIncoming(t, b)
		if in.SnapshotHeader != header(0, 1) || in.Size != int64(len(file)) {
			t.Fatalf("seed %d: incoming %+v size %d", seed, in.SnapshotHeader, in.Size)
		}
		got, err := io.ReadAll(in.Body)
		if err != nil || !bytes.Equal(got, file) {
			t.Fatalf("seed %d: read %d bytes (err %v), want the %d sent", seed, len(got), err, len(file))
		}
		in.Done(nil)
		if err := result(t, res); err != nil {
			t.Fatalf("seed %d: SendSnapshot: %v", seed, err)
		}
	}
}

// TestSnapshotStreamVerdicts: the sender returns what the receiver said,
// whether it refused the whole file or gave up halfway.
func TestSnapshotStreamVerdicts(t *testing.T) {
	file := snapFile(10 << 10)
	for _, tc := range []struct {
		name     string
		read     int // bytes the receiver reads before its verdict
		verdict  error
		wantSent error
	}{
		{"kept", len(file), nil, nil},
		{"refused after reading it all", len(file), errors.New("checksum mismatch"), ErrSnapshotRefused},
		{"given up halfway", len(file) / 2, errors.New("disk full"), ErrSnapshotRefused},
		{"given up at once", 0, errors.New("cannot create"), ErrSnapshotRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			net := memNet(t, 1)
			a, b := quick(net.Endpoint(0)), quick(net.Endpoint(1))
			res := sendAsync(context.Background(), a, header(0, 1), file)
			in := nextIncoming(t, b)
			if _, err := io.ReadFull(in.Body, make([]byte, tc.read)); err != nil {
				t.Fatal(err)
			}
			if tc.read == len(file) {
				if n, err := in.Body.Read(make([]byte, 1)); n != 0 || err != io.EOF {
					t.Fatalf("after the file: %d bytes, %v; want EOF", n, err)
				}
			}
			in.Done(tc.verdict)
			if err := result(t, res); !errors.Is(err, tc.wantSent) || (tc.wantSent == nil) != (err == nil) {
				t.Fatalf("SendSnapshot: %v, want %v", err, tc.wantSent)
			}
		})
	}
}

// TestSnapshotStreamReplacedByNewer: a stream from another sender starting
// while one is half read abandons the old one: its reader fails, its
// sender is refused, and the new one arrives whole.
func TestSnapshotStreamReplacedByNewer(t *testing.T) {
	net := memNet(t, 1)
	a, b, c := quick(net.Endpoint(0)), quick(net.Endpoint(1)), quick(net.Endpoint(2))
	old, newer := snapFile(20<<10), snapFile(9<<10)
	resOld := sendAsync(context.Background(), a, header(0, 1), old)
	inOld := nextIncoming(t, b)
	if _, err := io.ReadFull(inOld.Body, make([]byte, 1<<10)); err != nil {
		t.Fatal(err)
	}
	resNew := sendAsync(context.Background(), c, header(2, 1), newer)
	inNew := nextIncoming(t, b)
	if inNew.From != 2 {
		t.Fatalf("the new stream is from %d", inNew.From)
	}
	if _, err := io.ReadAll(inOld.Body); !errors.Is(err, errStreamReplaced) {
		t.Fatalf("reading the replaced stream: %v, want %v", err, errStreamReplaced)
	}
	inOld.Done(errors.New("abandoned"))
	if err := result(t, resOld); !errors.Is(err, ErrSnapshotRefused) {
		t.Fatalf("the replaced stream's sender: %v, want refused", err)
	}
	if got, err := io.ReadAll(inNew.Body); err != nil || !bytes.Equal(got, newer) {
		t.Fatalf("the new stream: %d bytes, %v", len(got), err)
	}
	inNew.Done(nil)
	if err := result(t, resNew); err != nil {
		t.Fatalf("the new stream's sender: %v", err)
	}
}

// TestSnapshotStreamEnds: a sender stops when nothing answers, when its
// context ends and when its transport closes; the last also fails the
// receiver's pending Read.
func TestSnapshotStreamEnds(t *testing.T) {
	file := snapFile(20 << 10)
	t.Run("nobody reads", func(t *testing.T) {
		net := memNet(t, 1)
		a, _ := quick(net.Endpoint(0)), quick(net.Endpoint(1))
		err := a.SendSnapshot(context.Background(), header(0, 1), int64(len(file)), bytes.NewReader(file))
		if err == nil || errors.Is(err, ErrSnapshotRefused) {
			t.Fatalf("SendSnapshot to a node that never reads: %v, want no progress", err)
		}
	})
	t.Run("context", func(t *testing.T) {
		net := memNet(t, 1)
		net.Isolate(1)
		a, _ := quick(net.Endpoint(0)), quick(net.Endpoint(1))
		a.snaps.giveUp = time.Hour
		ctx, cancel := context.WithCancel(context.Background())
		res := sendAsync(ctx, a, header(0, 1), file)
		cancel()
		if err := result(t, res); !errors.Is(err, context.Canceled) {
			t.Fatalf("SendSnapshot after cancel: %v", err)
		}
	})
	t.Run("close", func(t *testing.T) {
		net := NewNetwork(1)
		a, b := quick(net.Endpoint(0)), quick(net.Endpoint(1))
		res := sendAsync(context.Background(), a, header(0, 1), file)
		in := nextIncoming(t, b)
		if _, err := io.ReadFull(in.Body, make([]byte, 1<<10)); err != nil {
			t.Fatal(err)
		}
		net.Close()
		if err := result(t, res); !errors.Is(err, ErrClosed) {
			t.Fatalf("SendSnapshot after Close: %v", err)
		}
		if _, err := io.ReadAll(in.Body); !errors.Is(err, ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
		if err := a.SendSnapshot(context.Background(), header(0, 1), 1, bytes.NewReader([]byte{1})); !errors.Is(err, ErrClosed) {
			t.Fatalf("SendSnapshot on a closed transport: %v", err)
		}
	})
}

// TestSnapshotStreamBadInput: an empty file, a second stream to the same
// peer and malformed chunks are refused without disturbing anything.
func TestSnapshotStreamBadInput(t *testing.T) {
	net := memNet(t, 1)
	net.Isolate(1) // the first stream stays open
	a, b := quick(net.Endpoint(0)), quick(net.Endpoint(1))
	if err := a.SendSnapshot(context.Background(), header(0, 1), 0, bytes.NewReader(nil)); err == nil {
		t.Fatal("an empty snapshot was sent")
	}
	a.snaps.giveUp = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	file := snapFile(4 << 10)
	res := sendAsync(ctx, a, header(0, 1), file)
	eventually(t, 5*time.Second, "the first stream registered", func() bool {
		a.snaps.mu.Lock()
		defer a.snaps.mu.Unlock()
		return a.snaps.senders[1] != nil
	})
	if err := a.SendSnapshot(ctx, header(0, 1), int64(len(file)), bytes.NewReader(file)); err == nil {
		t.Fatal("a second stream to the same peer started")
	}
	cancel()
	result(t, res)

	base := wire.Message{Type: wire.MsgSnapChunk, From: 0, To: 1, Term: 7, Index: 500, LogTerm: 4}
	for name, m := range map[string]wire.Message{
		"no size":        func() wire.Message { m := base; m.Data = []byte{1}; return m }(),
		"past its size":  func() wire.Message { m := base; m.Size, m.Offset, m.Data = 10, 8, []byte{1, 2, 3}; return m }(),
		"no data":        func() wire.Message { m := base; m.Size = 10; return m }(),
		"not from start": func() wire.Message { m := base; m.Size, m.Offset, m.Data = 10, 4, []byte{1}; return m }(),
	} {
		before := b.snaps.dropped.Load()
		if !b.snaps.intercept(&m) {
			t.Fatalf("%s: a chunk was not taken by the streams", name)
		}
		if b.snaps.dropped.Load() != before+1 {
			t.Fatalf("%s: not counted as dropped", name)
		}
		b.snaps.mu.Lock()
		started := b.snaps.recv != nil
		b.snaps.mu.Unlock()
		if started {
			t.Fatalf("%s: started a stream", name)
		}
	}
	hb := wire.Message{Type: wire.MsgHeartbeat, From: 0, To: 1}
	if b.snaps.intercept(&hb) {
		t.Fatal("a heartbeat was taken by the snapshot streams")
	}
}

// TestZMQSnapshotStream sends a snapshot of several default-sized chunks
// over real sockets, beside ordinary messages.
func TestZMQSnapshotStream(t *testing.T) {
	addrs := map[wire.NodeID]string{0: freeAddr(t), 1: freeAddr(t)}
	a, b := startZMQ(t, 0, addrs, nil), startZMQ(t, 1, addrs, nil)
	file := snapFile(3*snapChunkBytes + 777)
	res := make(chan error, 1)
	go func() {
		res <- a.SendSnapshot(context.Background(), header(0, 1), int64(len(file)), bytes.NewReader(file))
	}()
	a.Send([]wire.Message{appMsg(0, 1, 9)})
	var in *raft.IncomingSnapshot
	select {
	case in = <-b.IncomingSnapshots():
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot stream arrived")
	}
	got, err := io.ReadAll(in.Body)
	if err != nil || !bytes.Equal(got, file) {
		t.Fatalf("read %d bytes (err %v), want the %d sent", len(got), err, len(file))
	}
	in.Done(nil)
	if err := result(t, res); err != nil {
		t.Fatalf("SendSnapshot: %v", err)
	}
	if m := receiveN(t, b.Receive(), 1, 10*time.Second)[0]; m.Type != wire.MsgApp {
		t.Fatalf("Receive delivered %v; snapshot traffic must not reach it", m.Type)
	}
}
