package transport

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/raftkv/raftkv/raft/wire"
)

// freeAddr returns a loopback endpoint whose port was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "tcp://" + l.Addr().String()
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// startZMQ starts node id of a cluster whose addresses are addrs, and
// closes it when the test ends.
func startZMQ(t testing.TB, id wire.NodeID, addrs map[wire.NodeID]string, tweak func(*ZMQConfig)) *ZMQ {
	t.Helper()
	cfg := ZMQConfig{ID: id, Listen: addrs[id], Peers: map[wire.NodeID]string{}, Logger: quietLogger()}
	for pid, a := range addrs {
		if pid != id {
			cfg.Peers[pid] = a
		}
	}
	if tweak != nil {
		tweak(&cfg)
	}
	z, err := NewZMQ(cfg)
	if err != nil {
		t.Fatalf("start node %d: %v", id, err)
	}
	t.Cleanup(func() {
		if err := z.Close(); err != nil {
			t.Errorf("close node %d: %v", id, err)
		}
	})
	return z
}

func appMsg(from, to wire.NodeID, idx uint64) wire.Message {
	return wire.Message{
		Type: wire.MsgApp, From: from, To: to, Term: 3, LogTerm: 2, Index: idx, Commit: idx - 1,
		Entries: []wire.Entry{{Index: idx + 1, Term: 3, Data: []byte(fmt.Sprintf("entry %d->%d #%d", from, to, idx))}},
	}
}

func TestZMQExchange(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d nodes", n), func(t *testing.T) {
			addrs := make(map[wire.NodeID]string)
			for id := range wire.NodeID(n) {
				addrs[id] = freeAddr(t)
			}
			nodes := make(map[wire.NodeID]*ZMQ)
			for id := range addrs {
				nodes[id] = startZMQ(t, id, addrs, nil)
			}
			for from, z := range nodes {
				var out []wire.Message
				for to := range nodes {
					if to != from {
						out = append(out, appMsg(from, to, 100*from+to+1))
					}
				}
				z.Send(out)
			}
			for to, z := range nodes {
				got := receiveN(t, z.Receive(), n-1, 10*time.Second)
				seen := make(map[wire.NodeID]bool)
				for _, m := range got {
					want := appMsg(m.From, to, 100*m.From+to+1)
					if m.To != to || m.Index != want.Index || m.Term != want.Term || m.Commit != want.Commit ||
						len(m.Entries) != 1 || !bytes.Equal(m.Entries[0].Data, want.Entries[0].Data) {
						t.Errorf("node %d got %+v, want %+v", to, m, want)
					}
					seen[m.From] = true
				}
				if len(seen) != n-1 {
					t.Errorf("node %d heard from %v, want every other node", to, seen)
				}
				if st := z.Stats(); st.RecvMsgs != uint64(n-1) || st.MalformedFrames != 0 {
					t.Errorf("node %d stats %+v", to, st)
				}
			}
		})
	}
}

func TestZMQBatchesInOrder(t *testing.T) {
	addrs := map[wire.NodeID]string{1: freeAddr(t), 2: freeAddr(t)}
	// No silence re-dial mid-test: a new connection may overtake the old
	// one's tail, and this test checks order.
	long := func(c *ZMQConfig) { c.SilenceTimeout = time.Minute }
	a := startZMQ(t, 1, addrs, long)
	b := startZMQ(t, 2, addrs, long)

	const total = 1000
	for i := range uint64(total) {
		a.Send([]wire.Message{appMsg(1, 2, i+1)})
	}
	got := receiveN(t, b.Receive(), total, 20*time.Second)
	for i, m := range got {
		if m.Index != uint64(i+1) {
			t.Fatalf("message %d has index %d: out of order", i, m.Index)
		}
	}
	// The sender counts after its send returns, which can be after the
	// receiver has everything.
	var st Stats
	eventually(t, 5*time.Second, "the sender to count all messages", func() bool {
		st = a.Stats()
		return st.SentMsgs == total
	})
	if st.DroppedQueueFull+st.DroppedSendError+st.DroppedDisconnected != 0 {
		t.Fatalf("sender stats %+v", st)
	}
	if st.SentFrames >= total {
		t.Fatalf("%d messages took %d frames: no batching", total, st.SentFrames)
	}
	if rf := b.Stats().RecvFrames; rf != st.SentFrames {
		t.Fatalf("receiver saw %d frames, sender sent %d", rf, st.SentFrames)
	}
	t.Logf("%d messages in %d frames", total, st.SentFrames)
}

func TestZMQSplitsBatchesAtMaxFrame(t *testing.T) {
	addrs := map[wire.NodeID]string{1: freeAddr(t), 2: freeAddr(t)}
	small := func(c *ZMQConfig) { c.MaxFrameBytes = 4 << 10; c.SilenceTimeout = time.Minute }
	a := startZMQ(t, 1, addrs, small)
	b := startZMQ(t, 2, addrs, small)
	big := bytes.Repeat([]byte{7}, 1500)
	const total = 40
	for i := range uint64(total) {
		m := appMsg(1, 2, i+1)
		m.Entries[0].Data = big
		a.Send([]wire.Message{m})
	}
	tooBig := appMsg(1, 2, 999)
	tooBig.Entries[0].Data = make([]byte, 5<<10)
	a.Send([]wire.Message{tooBig})

	got := receiveN(t, b.Receive(), total, 10*time.Second)
	for i, m := range got {
		if m.Index != uint64(i+1) || !bytes.Equal(m.Entries[0].Data, big) {
			t.Fatalf("message %d: index %d, %d data bytes", i, m.Index, len(m.Entries[0].Data))
		}
	}
	var st Stats
	eventually(t, 5*time.Second, "the sender to count all messages", func() bool {
		st = a.Stats()
		return st.SentMsgs == total
	})
	if st.DroppedTooLarge != 1 {
		t.Fatalf("DroppedTooLarge=%d, want 1", st.DroppedTooLarge)
	}
	if perFrame := st.Peers[2].SentBytes / st.SentFrames; st.SentFrames < total/2 || perFrame > 4<<10 {
		t.Fatalf("%d frames of %d bytes on average for %d 1.5 KiB messages under a 4 KiB cap", st.SentFrames, perFrame, total)
	}
	if b.Stats().OversizedFrames != 0 {
		t.Fatal("receiver cut a connection for a frame within the cap")
	}
}

func TestZMQSendDropsWhatCannotBeSent(t *testing.T) {
	addrs := map[wire.NodeID]string{1: freeAddr(t), 2: freeAddr(t)}
	a := startZMQ(t, 1, addrs, nil)
	a.Send([]wire.Message{
		{Type: wire.MsgHeartbeat, From: 1, To: 42},
		{Type: wire.MsgHeartbeat, From: 1, To: 1},
		{Type: 0, From: 1, To: 2},
		{Type: 200, From: 1, To: 2},
	})
	st := a.Stats()
	if st.DroppedUnknownPeer != 2 || st.DroppedInvalid != 2 {
		t.Fatalf("unknown=%d invalid=%d, want 2 and 2", st.DroppedUnknownPeer, st.DroppedInvalid)
	}
}

// A peer that is down, or that accepts TCP but never speaks ZMTP: Send
// must not block and every message must be accounted as dropped.
func TestZMQUnreachablePeer(t *testing.T) {
	tests := []struct {
		name   string
		listen func(t *testing.T) string
	}{
		{"nothing listening", func(t *testing.T) string { return freeAddr(t) }},
		{"accepts but never speaks", silentServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addrs := map[wire.NodeID]string{1: freeAddr(t), 2: tt.listen(t)}
			a := startZMQ(t, 1, addrs, func(c *ZMQConfig) { c.HandshakeTimeout = 300 * time.Millisecond })

			const total = 10000
			done := make(chan time.Duration, 1)
			go func() {
				start := time.Now()
				for i := range uint64(total) {
					a.Send([]wire.Message{{Type: wire.MsgHeartbeat, From: 1, To: 2, Commit: i}})
				}
				done <- time.Since(start)
			}()
			select {
			case d := <-done:
				t.Logf("%d Sends took %v", total, d)
			case <-time.After(10 * time.Second):
				t.Fatal("Send blocked on an unreachable peer")
			}
			var st Stats
			eventually(t, 10*time.Second, "every message accounted for", func() bool {
				st = a.Stats()
				return st.DroppedQueueFull+st.DroppedDisconnected+st.DroppedSendError == total
			})
			if st.SentMsgs != 0 || st.DialFailures == 0 || st.Peers[2].Connected {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// silentServer accepts TCP connections and never writes a byte, like a
// frozen process; it closes them when the test ends.
func silentServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	})
	return "tcp://" + l.Addr().String()
}

// The key test: a peer restarts on the same address and, without anyone
// doing anything, messages reach the new process.
func TestZMQReconnectsToRestartedPeer(t *testing.T) {
	tests := []struct {
		name string
		// sendWhileDown makes A notice the outage before B comes back.
		sendWhileDown bool
	}{
		{"down for a while", true},
		{"restarted while idle", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addrs := map[wire.NodeID]string{1: freeAddr(t), 2: freeAddr(t)}
			a := startZMQ(t, 1, addrs, nil)
			b, err := NewZMQ(ZMQConfig{ID: 2, Listen: addrs[2], Peers: map[wire.NodeID]string{1: addrs[1]}, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			a.Send([]wire.Message{appMsg(1, 2, 1)})
			receiveN(t, b.Receive(), 1, 10*time.Second)
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}

			seq := uint64(1)
			if tt.sendWhileDown {
				eventually(t, 10*time.Second, "A to notice B is gone", func() bool {
					seq++
					a.Send([]wire.Message{appMsg(1, 2, seq)})
					p := a.Stats().Peers[2]
					return p.DroppedSendError+p.DroppedDisconnected > 0
				})
			}

			b2 := startZMQ(t, 2, addrs, nil)
			// A keeps sending, as a Raft leader would, until the new B hears it.
			var got wire.Message
			eventually(t, 10*time.Second, "a message to reach the restarted peer", func() bool {
				seq++
				a.Send([]wire.Message{appMsg(1, 2, seq)})
				select {
				case got = <-b2.Receive():
					return true
				default:
					return false
				}
			})
			if got.From != 1 || got.Index == 0 {
				t.Fatalf("restarted peer got %+v", got)
			}
			if r := a.Stats().Peers[2].Reconnects; r == 0 {
				t.Fatal("no reconnect counted")
			}
			// And the other way: the new process reaches A.
			b2.Send([]wire.Message{appMsg(2, 1, 7)})
			if m := receiveN(t, a.Receive(), 1, 10*time.Second)[0]; m.From != 2 || m.Index != 7 {
				t.Fatalf("A got %+v", m)
			}
		})
	}
}

// rawPush dials addr with a plain zmq4 PUSH, bypassing our transport, to
// send whatever bytes a test wants.
func rawPush(t *testing.T, addr string) zmq4.Socket {
	ctx, cancel := context.WithCancel(context.Background())
	s := zmq4.NewPush(ctx, zmq4.WithTimeout(2*time.Second), zmq4.WithDialerMaxRetries(0))
	if err := s.Dial(addr); err != nil {
		cancel()
		t.Fatalf("raw dial: %v", err)
	}
	t.Cleanup(func() {
		s.Close()
		cancel()
	})
	return s
}

func TestZMQRejectsBadFrames(t *testing.T) {
	addrs := map[wire.NodeID]string{1: freeAddr(t), 2: freeAddr(t)}
	const maxFrame = 64 << 10
	a := startZMQ(t, 1, addrs, func(c *ZMQConfig) { c.MaxFrameBytes = maxFrame })
	b := startZMQ(t, 2, addrs, func(c *ZMQConfig) { c.MaxFrameBytes = maxFrame })
	raw := rawPush(t, addrs[2])

	bad := []zmq4.Msg{
		zmq4.NewMsgString("not a raft frame"),
		zmq4.NewMsg(append([]byte{wire.WireVersion + 1}, wire.EncodeBatch(nil, []wire.Message{appMsg(1, 2, 1)})[1:]...)),
		zmq4.NewMsgFrom(wire.EncodeBatch(nil, []wire.Message{appMsg(1, 2, 1)}), []byte("second part")),
		zmq4.NewMsg(wire.EncodeBatch(nil, []wire.Message{appMsg(1, 2, 1)})[:20]),
	}
	for _, m := range bad {
		if err := raw.Send(m); err != nil {
			t.Fatalf("raw send: %v", err)
		}
	}
	misaddressed := wire.EncodeBatch(nil, []wire.Message{appMsg(1, 99, 1), appMsg(1, 2, 5)})
	if err := raw.Send(zmq4.NewMsg(misaddressed)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "bad frames to be counted", func() bool {
		st := b.Stats()
		return st.MalformedFrames == uint64(len(bad)) && st.Misaddressed == 1
	})
	// The well-addressed half of the mixed frame got through, and
	// nothing from the bad frames did.
	if m := receiveN(t, b.Receive(), 1, 5*time.Second)[0]; m.Index != 5 || m.To != 2 {
		t.Fatalf("got %+v, want the message with index 5", m)
	}

	// A frame announcing more than MaxFrameBytes cuts the connection
	// before anything is allocated for it.
	if err := raw.Send(zmq4.NewMsg(make([]byte, maxFrame+1))); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the oversized frame to be refused", func() bool {
		return b.Stats().OversizedFrames == 1
	})

	// Good traffic is unaffected.
	a.Send([]wire.Message{appMsg(1, 2, 42)})
	if m := receiveN(t, b.Receive(), 1, 10*time.Second)[0]; m.Index != 42 || m.From != 1 {
		t.Fatalf("got %+v", m)
	}
	select {
	case m := <-b.Receive():
		t.Fatalf("unexpected extra message %+v", m)
	default:
	}
}

// One TCP client that connects and says nothing must not stop the inbox
// from accepting real peers (zmq4's handshake has no deadline of its own).
func TestZMQSilentClientDoesNotStallInbox(t *testing.T) {
	addrs := map[wire.NodeID]string{1: freeAddr(t), 2: freeAddr(t)}
	short := func(c *ZMQConfig) { c.HandshakeTimeout = 300 * time.Millisecond }
	b := startZMQ(t, 2, addrs, short)
	silent, err := net.Dial("tcp", strings.TrimPrefix(addrs[2], "tcp://"))
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	a := startZMQ(t, 1, addrs, short)

	eventually(t, 10*time.Second, "A's message to get past the silent client", func() bool {
		a.Send([]wire.Message{appMsg(1, 2, 1)})
		return len(b.Receive()) > 0
	})
	// The inbox gave up on the silent client and closed it.
	silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, silent); err != nil {
		t.Fatalf("silent client was not disconnected: %v", err)
	}
	if b.Stats().HandshakeTimeout == 0 {
		t.Fatal("handshake timeout not counted")
	}
}

func TestZMQClose(t *testing.T) {
	addrs := map[wire.NodeID]string{1: freeAddr(t), 2: silentServer(t)}
	// A long handshake timeout: Close must not wait for it.
	z, err := NewZMQ(ZMQConfig{ID: 1, Listen: addrs[1], Peers: map[wire.NodeID]string{2: addrs[2]},
		HandshakeTimeout: time.Minute, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	z.Send([]wire.Message{{Type: wire.MsgHeartbeat, From: 1, To: 2}}) // starts a dial that hangs
	eventually(t, 5*time.Second, "the dial to start", func() bool { return len(z.peer(2).queue) == 0 })

	// Were the hung handshake not cut by Close, its goroutine would
	// outlive closeWait and Close would report it.
	if err := z.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := z.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	z.Send([]wire.Message{{Type: wire.MsgHeartbeat, From: 1, To: 2}})
	if st := z.Stats(); st.DroppedQueueFull+st.DroppedUnknownPeer != 0 || len(z.peer(2).queue) != 0 {
		t.Fatalf("Send after Close queued or counted something: %+v", st)
	}
	select {
	case _, ok := <-z.Receive():
		t.Fatalf("Receive yielded after Close (ok=%v)", ok)
	default:
	}
	// The address is free again.
	z2, err := NewZMQ(ZMQConfig{ID: 1, Listen: addrs[1], Logger: quietLogger()})
	if err != nil {
		t.Fatalf("rebind after Close: %v", err)
	}
	if err := z2.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestNewZMQErrors(t *testing.T) {
	taken := freeAddr(t)
	startZMQ(t, 1, map[wire.NodeID]string{1: taken}, nil)
	tests := []struct {
		name string
		cfg  ZMQConfig
		want string
	}{
		{"address taken", ZMQConfig{ID: 2, Listen: taken}, "bind"},
		{"no listen address", ZMQConfig{ID: 2}, "listen address"},
		{"unsupported scheme", ZMQConfig{ID: 2, Listen: "udp://127.0.0.1:1"}, "unsupported scheme"},
		{"no port", ZMQConfig{ID: 2, Listen: "tcp://127.0.0.1"}, "listen address"},
		{"self in peers", ZMQConfig{ID: 2, Listen: freeAddr(t), Peers: map[wire.NodeID]string{2: taken}}, "peers include"},
		{"bad peer address", ZMQConfig{ID: 2, Listen: freeAddr(t), Peers: map[wire.NodeID]string{3: "127.0.0.1:9"}}, "peer 3"},
		{"negative queue", ZMQConfig{ID: 2, Listen: freeAddr(t), QueueSize: -1}, "negative"},
		{"ID None", ZMQConfig{ID: wire.None, Listen: freeAddr(t)}, "None"},
		{"three peer keys", ZMQConfig{ID: 2, Listen: freeAddr(t), PeerKeys: []PeerKey{testKey(1), testKey(2), testKey(3)}},
			"3 peer keys; at most 2"},
		{"a peer key twice", ZMQConfig{ID: 2, Listen: freeAddr(t), PeerKeys: []PeerKey{testKey(1), testKey(1)}},
			"peer key 2 repeats"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Logger = quietLogger()
			z, err := NewZMQ(tt.cfg)
			if err == nil {
				z.Close()
				t.Fatal("NewZMQ succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// BenchmarkZMQThroughput measures one-way MsgApp throughput (16 entries
// of 256 bytes each) between two transports in one process.
func BenchmarkZMQThroughput(b *testing.B) {
	addrs := map[wire.NodeID]string{1: freeAddr(b), 2: freeAddr(b)}
	a := startZMQ(b, 1, addrs, nil)
	r := startZMQ(b, 2, addrs, nil)
	ents := make([]wire.Entry, 16)
	for i := range ents {
		ents[i] = wire.Entry{Index: uint64(i + 1), Term: 1, Data: bytes.Repeat([]byte{byte(i)}, 256)}
	}
	msg := wire.Message{Type: wire.MsgApp, From: 1, To: 2, Term: 1, Entries: ents}

	// Keep fewer messages in flight than the queue holds, so none is
	// dropped and the receiver's count tells when all arrived.
	const window = 512
	credits := make(chan struct{}, window)
	recvDone := make(chan int, 1)
	gaveUp := make(chan struct{})
	b.ResetTimer()
	start := time.Now()
	go func() {
		n := 0
		timeout := time.NewTimer(30 * time.Second)
		defer timeout.Stop()
		for n < b.N {
			select {
			case <-r.Receive():
				n++
				<-credits
			case <-timeout.C:
				close(gaveUp)
				recvDone <- n
				return
			}
		}
		recvDone <- n
	}()
send:
	for i := 0; i < b.N; i++ {
		select {
		case credits <- struct{}{}:
		case <-gaveUp:
			break send
		}
		msg.Index = uint64(i)
		a.Send([]wire.Message{msg})
	}
	if n := <-recvDone; n != b.N {
		b.Fatalf("received %d of %d (stats %+v)", n, b.N, a.Stats())
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	st := a.Stats()
	b.ReportMetric(float64(st.SentMsgs)/float64(max(st.SentFrames, 1)), "msgs/frame")
}
