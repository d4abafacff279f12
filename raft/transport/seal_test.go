package transport

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

func testKey(b byte) PeerKey {
	var k PeerKey
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

// testBoot is the boot of the receiving transports in tests, which the
// test sealers echo; senderBoot is theirs.
const (
	testBoot   = 0xB0075
	senderBoot = 0x5E4D
)

func testOpener(self wire.NodeID, ring *keyRing) *opener {
	return &opener{self: self, boot: testBoot, ring: ring}
}

func testSealer(r *keyRing, from, to wire.NodeID) *sealer { return newSealer(r, from, to, senderBoot) }

func testRing(t testing.TB, keys ...PeerKey) *keyRing {
	t.Helper()
	r, err := newKeyRing(keys)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sealFrame is a real frame (envelope and batch) from -> to, sealed.
func sealFrame(s *sealer, from, to wire.NodeID) []byte {
	plain := wire.EncodeBatch(appendEnvelope(nil, 7, from, 0), []wire.Message{appMsg(from, to, 1)})
	return s.seal(nil, plain, testBoot)
}

// openCopy opens a copy, since open decrypts in place.
func openCopy(o *opener, frame []byte) ([]byte, wire.NodeID, dropReason) {
	return openInPlace(o, bytes.Clone(frame))
}

func openInPlace(o *opener, frame []byte) ([]byte, wire.NodeID, dropReason) {
	r := o.open(frame)
	return r.plain, r.from, r.reason
}

func TestSealOpenRoundTrip(t *testing.T) {
	ring := testRing(t, testKey(1))
	s := testSealer(ring, 1, 2)
	o := testOpener(2, ring)
	for _, n := range []int{0, 1, 255, 256, 64 << 10} {
		plain := bytes.Repeat([]byte{byte(n)}, n)
		frame := s.seal(nil, plain, testBoot)
		if len(frame) != n+sealOverhead {
			t.Fatalf("%d bytes sealed into %d, want %d", n, len(frame), n+sealOverhead)
		}
		if bytes.Contains(frame, bytes.Repeat([]byte{byte(n)}, min(n, 64))) && n >= 64 {
			t.Fatalf("%d bytes: the plaintext shows through", n)
		}
		got, from, r := openInPlace(o, frame)
		if r != dropNone || from != 1 || !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: open = %d bytes from %d, reason %q", n, len(got), from, r)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	a, b := testKey(1), testKey(2)
	ringA := testRing(t, a)
	plainFrame := wire.EncodeBatch(appendEnvelope(nil, 7, 1, 0), []wire.Message{appMsg(1, 2, 1)})
	forgedID := sealFrame(testSealer(testRing(t, b), 1, 2), 1, 2)
	copy(forgedID[offKeyID:], ringA.keys[0].id[:]) // right key id, wrong key
	for _, tc := range []struct {
		name  string
		ring  *keyRing
		frame []byte
		want  dropReason
	}{
		{"sealed with another key", ringA, sealFrame(testSealer(testRing(t, b), 1, 2), 1, 2), dropUnknownKey},
		{"another key under our key id", ringA, forgedID, dropBadAuth},
		{"unsealed frame", ringA, plainFrame, dropUnsealed},
		{"legacy frame without envelope", ringA, wire.EncodeBatch(nil, []wire.Message{appMsg(1, 2, 1)}), dropUnsealed},
		{"empty", ringA, nil, dropUnsealed},
		{"truncated", ringA, sealFrame(testSealer(ringA, 1, 2), 1, 2)[:sealOverhead-1], dropMalformed},
		{"sealed for another node", ringA, sealFrame(testSealer(ringA, 1, 3), 1, 3), dropWrongReceiver},
		{"sealed, at a node without keys", nil, sealFrame(testSealer(ringA, 1, 2), 1, 2), dropUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := testOpener(2, tc.ring)
			if got, _, r := openCopy(o, tc.frame); r != tc.want || got != nil {
				t.Fatalf("open = %d bytes, reason %q; want nothing, %q", len(got), r, tc.want)
			}
		})
	}
	// Without keys, unsealed frames pass as they are.
	if got, _, r := openCopy(testOpener(2, nil), plainFrame); r != dropNone || !bytes.Equal(got, plainFrame) {
		t.Fatalf("keyless open of an unsealed frame: reason %q", r)
	}
}

// Flipping any bit of a sealed frame gets it dropped, for the reason its
// region implies, and leaves no state: the genuine frame opens afterwards.
func TestOpenBitFlipEveryRegion(t *testing.T) {
	ring := testRing(t, testKey(1))
	s := testSealer(ring, 1, 2)
	s.counter = 0x1233 // so that no single flip makes it 0
	frame := sealFrame(s, 1, 2)
	o := testOpener(2, ring)
	counts := map[dropReason]int{}
	for i := range frame {
		for bit := range 8 {
			f := bytes.Clone(frame)
			f[i] ^= 1 << bit
			want := dropBadAuth
			switch {
			case i == 0:
				want = dropUnsealed
			case i < offFrom:
				want = dropUnknownKey
			case i >= offTo && i < offBoot:
				want = dropWrongReceiver
			}
			if got, _, r := openInPlace(o, f); r != want || got != nil {
				t.Fatalf("bit %d of byte %d flipped: reason %q, want %q", bit, i, r, want)
			}
			counts[want]++
		}
	}
	if _, from, r := openCopy(o, frame); r != dropNone || from != 1 {
		t.Fatalf("the genuine frame after the forgeries: reason %q", r)
	}
	t.Logf("%d flips: %v", 8*len(frame), counts)
}

func TestOpenReplayWindow(t *testing.T) {
	ring := testRing(t, testKey(1))
	s := testSealer(ring, 1, 2)
	o := testOpener(2, ring)
	var frames [][]byte
	for range 200 {
		frames = append(frames, sealFrame(s, 1, 2))
	}
	mustOpen := func(i int, want dropReason) {
		t.Helper()
		if _, _, r := openCopy(o, frames[i]); r != want {
			t.Fatalf("frame %d: reason %q, want %q", i+1, r, want)
		}
	}
	// Reordered within the window: each once.
	for _, i := range []int{4, 2, 3, 0, 1} {
		mustOpen(i, dropNone)
	}
	for i := range 5 {
		mustOpen(i, dropReplay)
	}
	// Gaps are fine; a counter that fell below the window is refused
	// even though it was never seen.
	mustOpen(6, dropNone)
	mustOpen(199, dropNone)
	mustOpen(5, dropReplay)
	mustOpen(199-replayWindowBits, dropReplay)
	mustOpen(199-replayWindowBits+1, dropNone)
	mustOpen(199, dropReplay)
}

func TestReplayWindow(t *testing.T) {
	var w replayWindow
	if w.fresh(0) {
		t.Fatal("counter 0 is never fresh")
	}
	for _, n := range []uint64{1, 3, 2, 70, 7, 65} {
		if !w.fresh(n) {
			t.Fatalf("%d not fresh", n)
		}
		w.mark(n)
		if w.fresh(n) {
			t.Fatalf("%d fresh again", n)
		}
	}
	for n, want := range map[uint64]bool{1: false, 6: false, 8: true, 69: true, 71: true, 1000: true} {
		if w.fresh(n) != want {
			t.Errorf("fresh(%d) = %v, want %v", n, !want, want)
		}
	}
}

// A restarted sender starts a new session with a later start; the
// latest maxSessionsPerSender sessions are remembered, and frames of a
// forgotten one, or of one that started before it, are refused.
func TestOpenSessions(t *testing.T) {
	ring := testRing(t, testKey(1))
	o := testOpener(2, ring)
	session := func(started uint64) *sealer {
		s := testSealer(ring, 1, 2)
		binary.LittleEndian.PutUint64(s.header[offStarted:], started)
		return s
	}
	var held [][]byte // one unopened frame per session
	for i := range maxSessionsPerSender + 1 {
		s := session(uint64(100 * (i + 1)))
		if _, _, r := openCopy(o, sealFrame(s, 1, 2)); r != dropNone {
			t.Fatalf("session %d: reason %q", i, r)
		}
		held = append(held, sealFrame(s, 1, 2))
	}
	if _, _, r := openCopy(o, held[0]); r != dropStaleSession {
		t.Fatalf("frame of the forgotten first session: reason %q", r)
	}
	for i := 1; i < len(held); i++ {
		if _, _, r := openCopy(o, held[i]); r != dropNone {
			t.Fatalf("remembered session %d: reason %q", i, r)
		}
	}
	// Older than the floor, or than every remembered session while
	// full: refused without evicting anyone.
	for _, started := range []uint64{50, 100, 150} {
		if _, _, r := openCopy(o, sealFrame(session(started), 1, 2)); r != dropStaleSession {
			t.Fatalf("session started at %d: reason %q", started, r)
		}
	}
	// Sessions are per sender: another sender is not held to node 1's floor.
	if _, _, r := openCopy(o, sealFrame(newSealerAt(ring, 3, 2, 10), 3, 2)); r != dropNone {
		t.Fatalf("node 3's first session: reason %q", r)
	}
}

func newSealerAt(r *keyRing, from, to wire.NodeID, started uint64) *sealer {
	s := testSealer(r, from, to)
	binary.LittleEndian.PutUint64(s.header[offStarted:], started)
	return s
}

// Rotation: a node holding [new, old] seals with new and opens both; a
// third key is refused.
func TestKeyRotation(t *testing.T) {
	oldK, newK, third := testKey(1), testKey(2), testKey(3)
	rotating := testRing(t, newK, oldK)
	o := testOpener(2, rotating)
	for _, tc := range []struct {
		name string
		by   *keyRing
		want dropReason
	}{
		{"a node still on the old key", testRing(t, oldK), dropNone},
		{"a node on the old key that accepts the new", testRing(t, oldK, newK), dropNone},
		{"a node on the new key", testRing(t, newK), dropNone},
		{"a node on another key", testRing(t, third), dropUnknownKey},
		{"a node on another key that accepts ours", testRing(t, third, newK), dropUnknownKey},
	} {
		if _, _, r := openCopy(o, sealFrame(testSealer(tc.by, 1, 2), 1, 2)); r != tc.want {
			t.Errorf("%s: reason %q, want %q", tc.name, r, tc.want)
		}
	}
	// The rotating node's own frames are sealed with its first key.
	if _, _, r := openCopy(testOpener(2, testRing(t, newK)), sealFrame(testSealer(rotating, 1, 2), 1, 2)); r != dropNone {
		t.Errorf("a new-key node opening a rotating node's frame: reason %q", r)
	}

	for _, keys := range [][]PeerKey{{oldK, newK, third}, {oldK, oldK}} {
		if _, err := newKeyRing(keys); err == nil {
			t.Errorf("newKeyRing(%d keys) accepted", len(keys))
		}
	}
}

func BenchmarkSealOpen(b *testing.B) {
	for _, size := range []int{256, 64 << 10} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			ring := testRing(b, testKey(1))
			s := testSealer(ring, 1, 2)
			o := testOpener(2, ring)
			plain := make([]byte, size)
			var buf []byte
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				buf = s.seal(buf[:0], plain, testBoot)
				if _, _, r := openInPlace(o, buf); r != dropNone {
					b.Fatal(r)
				}
			}
		})
	}
}

// A frame that does not echo the receiver's boot (sealed before the
// receiver restarted, or before the sender learned its boot) is refused,
// but teaches the receiver the sender's boot.
func TestOpenHandshake(t *testing.T) {
	ring := testRing(t, testKey(1))
	s := testSealer(ring, 1, 2)
	o := testOpener(2, ring)
	for _, echo := range []uint64{0, testBoot + 1} {
		if got, _, r := openInPlace(o, s.seal(nil, []byte("x"), echo)); r != dropHandshake || got != nil {
			t.Fatalf("echo %#x: reason %q", echo, r)
		}
	}
	if b := o.boots.echoFor(1); b != senderBoot {
		t.Fatalf("learned boot %#x, want %#x", b, senderBoot)
	}
	if _, _, r := openInPlace(o, s.seal(nil, []byte("x"), testBoot)); r != dropNone {
		t.Fatalf("echoing the boot: reason %q", r)
	}
	// A forgery teaches nothing.
	forged := testSealer(testRing(t, testKey(2)), 3, 2).seal(nil, []byte("x"), 0)
	copy(forged[offKeyID:], ring.keys[0].id[:])
	openInPlace(o, forged)
	if b := o.boots.echoFor(3); b != 0 {
		t.Fatalf("a forged frame taught boot %#x", b)
	}
}
