package transport

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/raftkv/raftkv/raft/wire"
)

func withKeys(keys ...PeerKey) func(*ZMQConfig) {
	return func(c *ZMQConfig) { c.PeerKeys = keys }
}

// Sealed transports talk, including across a rotation's middle step (each
// side sealing with a different key that the other accepts); a node
// without the key and a node with it refuse each other's frames, counted,
// and deliver nothing.
func TestZMQSealedExchange(t *testing.T) {
	oldK, newK := testKey(1), testKey(2)
	for _, tc := range []struct {
		name     string
		keysA    []PeerKey
		keysB    []PeerKey
		deliver  bool
		dropsAtB func(SealDrops) uint64
	}{
		{name: "same key", keysA: []PeerKey{oldK}, keysB: []PeerKey{oldK}, deliver: true},
		{name: "rotating", keysA: []PeerKey{oldK, newK}, keysB: []PeerKey{newK, oldK}, deliver: true},
		{name: "only the sender has a key", keysA: []PeerKey{oldK},
			dropsAtB: func(d SealDrops) uint64 { return d.UnknownKey }},
		{name: "only the receiver has a key", keysB: []PeerKey{oldK},
			dropsAtB: func(d SealDrops) uint64 { return d.Unsealed }},
		{name: "different keys", keysA: []PeerKey{oldK}, keysB: []PeerKey{newK},
			dropsAtB: func(d SealDrops) uint64 { return d.UnknownKey }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addrs := map[wire.NodeID]string{1: freeAddr(t), 2: freeAddr(t)}
			a := startZMQ(t, 1, addrs, withKeys(tc.keysA...))
			b := startZMQ(t, 2, addrs, withKeys(tc.keysB...))
			if a.Stats().Sealed != (len(tc.keysA) > 0) || b.Stats().Sealed != (len(tc.keysB) > 0) {
				t.Fatalf("Sealed = %v, %v", a.Stats().Sealed, b.Stats().Sealed)
			}
			if tc.deliver {
				// Sent until the boots are exchanged (handshake.go), as
				// Raft would retry.
				eventually(t, 10*time.Second, "a message through", func() bool {
					a.Send([]wire.Message{appMsg(1, 2, 7)})
					return len(b.Receive()) > 0
				})
				if m := <-b.Receive(); m.Index != 7 || string(m.Entries[0].Data) != "entry 1->2 #7" {
					t.Fatalf("got %+v", m)
				}
				if d := b.Stats().SealDrops; d != (SealDrops{Handshake: d.Handshake}) {
					t.Fatalf("drops %+v", d)
				}
				return
			}
			// The sender redials and resends until a frame arrives.
			eventually(t, 10*time.Second, "a refused frame", func() bool {
				a.Send([]wire.Message{appMsg(1, 2, 7)})
				return tc.dropsAtB(b.Stats().SealDrops) > 0
			})
			if st := b.Stats(); st.RecvMsgs != 0 || st.RecvFrames != 0 || len(b.Receive()) != 0 {
				t.Fatalf("refused frames reached the receiver: %+v", st)
			}
		})
	}
}

// sinkZMQ is a ZMQ without sockets, to drive deliverFrame directly.
func sinkZMQ(t testing.TB, self wire.NodeID, keys ...PeerKey) *ZMQ {
	ring := testRing(t, keys...)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	z := &ZMQ{cfg: ZMQConfig{ID: self}, log: quietLogger(), ctx: ctx, cancel: cancel,
		recvc: make(chan wire.Message, receiveBuffer), ring: ring, open: opener{self: self, boot: testBoot, ring: ring}}
	z.peers.Store(&map[wire.NodeID]*peer{})
	return z
}

// FuzzOpenFrame: whatever arrives at the inbox of a node with a key,
// nothing panics and nothing reaches Receive unless it was sealed with
// the key (only the genuine seed is).
func FuzzOpenFrame(f *testing.F) {
	ring := testRing(f, testKey(1))
	// Fuzzing workers are processes of their own: each must seal the very
	// same genuine frame, so its session is fixed.
	s := newSealerAt(ring, 1, 2, 1)
	copy(s.header[offSession:offCounter], "fixed session id")
	genuine := sealFrame(s, 1, 2)
	f.Add(genuine)
	f.Add([]byte{})
	f.Add([]byte{sealedMagic})
	f.Add(make([]byte, sealOverhead))
	f.Add(sealFrame(testSealer(testRing(f, testKey(2)), 1, 2), 1, 2))
	f.Add(wire.EncodeBatch(appendEnvelope(nil, 7, 1, 0), []wire.Message{appMsg(1, 2, 1)}))
	f.Add(wire.EncodeBatch(nil, []wire.Message{appMsg(1, 2, 1)}))
	z := sinkZMQ(f, 2, testKey(1))
	f.Fuzz(func(t *testing.T, frame []byte) {
		isGenuine := bytes.Equal(frame, genuine)
		if !z.deliverFrame(zmq4.NewMsg(bytes.Clone(frame))) {
			t.Fatal("deliverFrame stopped")
		}
		for n := len(z.recvc); n > 0; n-- {
			m := <-z.recvc
			if !isGenuine {
				t.Fatalf("%x delivered %+v", frame, m)
			}
		}
	})
}

// A frame captured on its way to a node, and replayed after that node
// restarted (its replay windows gone), is refused: it echoes the old
// boot. The same kind of frame was taken before the restart.
func TestZMQRefusesFramesCapturedBeforeARestart(t *testing.T) {
	key := testKey(1)
	addrs := map[wire.NodeID]string{1: freeAddr(t), 2: freeAddr(t)}
	b := startZMQ(t, 2, addrs, withKeys(key))
	tapAddr := freeAddr(t)
	tp := startTap(t, tapAddr, addrs[2])
	a := startZMQ(t, 1, addrs, func(c *ZMQConfig) {
		c.PeerKeys = []PeerKey{key}
		c.Peers[2] = tapAddr
	})
	// a's first (empty) frame goes through the tap, b refuses it and
	// answers directly: then a knows b's boot and no frame is in flight.
	defer func() {
		if t.Failed() {
			t.Logf("a: %+v\nb: %+v", a.Stats(), b.Stats())
		}
	}()
	eventually(t, 10*time.Second, "the handshake", func() bool { return a.open.boots.echoFor(2) != 0 })
	send := func() { a.Send([]wire.Message{appMsg(1, 2, 9)}) }
	before, after := tp.intercept(t, send), tp.intercept(t, send)

	raw := rawPush(t, addrs[2])
	if err := raw.Send(zmq4.NewMsg(before)); err != nil {
		t.Fatal(err)
	}
	if m := receiveN(t, b.Receive(), 1, 10*time.Second)[0]; m.Index != 9 {
		t.Fatalf("before the restart: got %+v", m)
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := startZMQ(t, 2, addrs, withKeys(key))
	raw2 := rawPush(t, addrs[2])
	if err := raw2.Send(zmq4.NewMsg(after)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the replay to be refused", func() bool {
		return b2.Stats().SealDrops.Handshake > 0
	})
	if st := b2.Stats(); st.RecvMsgs != 0 || len(b2.Receive()) != 0 {
		t.Fatalf("the replayed frame reached the restarted node: %+v", st)
	}
}
