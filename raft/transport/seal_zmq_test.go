package transport

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/raftkv/raftkv/raft"
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
			addrs := map[raft.NodeID]string{1: freeAddr(t), 2: freeAddr(t)}
			a := startZMQ(t, 1, addrs, withKeys(tc.keysA...))
			b := startZMQ(t, 2, addrs, withKeys(tc.keysB...))
			if a.Stats().Sealed != (len(tc.keysA) > 0) || b.Stats().Sealed != (len(tc.keysB) > 0) {
				t.Fatalf("Sealed = %v, %v", a.Stats().Sealed, b.Stats().Sealed)
			}
			if tc.deliver {
				a.Send([]raft.Message{appMsg(1, 2, 7)})
				if m := receiveN(t, b.Receive(), 1, 10*time.Second)[0]; m.Index != 7 || string(m.Entries[0].Data) != "entry 1->2 #7" {
					t.Fatalf("got %+v", m)
				}
				if d := b.Stats().SealDrops; d != (SealDrops{}) {
					t.Fatalf("drops %+v", d)
				}
				return
			}
			// The sender redials and resends until a frame arrives.
			eventually(t, 10*time.Second, "a refused frame", func() bool {
				a.Send([]raft.Message{appMsg(1, 2, 7)})
				return tc.dropsAtB(b.Stats().SealDrops) > 0
			})
			if st := b.Stats(); st.RecvMsgs != 0 || st.RecvFrames != 0 || len(b.Receive()) != 0 {
				t.Fatalf("refused frames reached the receiver: %+v", st)
			}
		})
	}
}

// sinkZMQ is a ZMQ without sockets, to drive deliverFrame directly.
func sinkZMQ(t testing.TB, self raft.NodeID, keys ...PeerKey) *ZMQ {
	ring := testRing(t, keys...)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	z := &ZMQ{cfg: ZMQConfig{ID: self}, log: quietLogger(), ctx: ctx, cancel: cancel,
		recvc: make(chan raft.Message, receiveBuffer), ring: ring, open: opener{self: self, ring: ring}}
	z.peers.Store(&map[raft.NodeID]*peer{})
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
	f.Add(sealFrame(newSealer(testRing(f, testKey(2)), 1, 2), 1, 2))
	f.Add(raft.EncodeBatch(appendEnvelope(nil, 7, 1, 0), []raft.Message{appMsg(1, 2, 1)}))
	f.Add(raft.EncodeBatch(nil, []raft.Message{appMsg(1, 2, 1)}))
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
