package transport

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// With peer keys, every frame (envelope and batch) is sealed with
// XChaCha20-Poly1305 behind a clear header that is the AEAD's associated
// data:
//
//	sealedMagic (1) | key id (4) | from (8, LE) | to (8, LE) |
//	boot (8) | echo (8) | session start (8, LE, unix ns) | session (16) |
//	counter (8, LE) | ciphertext | tag (16)
//
// The nonce is session|counter (24 bytes). Each outbound link draws a
// random 128-bit session, so a nonce never repeats under a key shared by
// every node and every restart without any coordination or stored state;
// XChaCha is chosen over AES-GCM because GCM's 96-bit nonce has no room
// for that. The receiver checks the counter against a replay window per
// (sender, session) and the session start against the sessions it has
// forgotten (replay.go). Binding `to` stops a frame sealed for one node
// from being replayed at another; cluster and sender incarnation are in
// the sealed envelope.
//
// boot is the sender transport's random id, drawn at start; echo is the
// receiver's boot as the sender last saw it. A receiver takes only frames
// that echo its own boot, so frames captured before it restarted (when
// its replay state was lost) are refused; each side learns the other's
// boot from any authentic frame, and a receiver that refuses one for its
// echo answers with an empty frame at once (handshake.go).
const (
	sealedMagic    = 0xE8
	keyIDSize      = 4
	sessionSize    = 16
	sealHeaderSize = 1 + keyIDSize + 8 + 8 + 8 + 8 + 8 + sessionSize + 8
	sealOverhead   = sealHeaderSize + chacha20poly1305.Overhead

	offKeyID   = 1
	offFrom    = offKeyID + keyIDSize
	offTo      = offFrom + 8
	offBoot    = offTo + 8
	offEcho    = offBoot + 8
	offStarted = offEcho + 8
	offSession = offStarted + 8
	offCounter = offSession + sessionSize

	// MaxPeerKeys is how many keys a node accepts at once: the one it
	// seals with and one more, for a rolling key rotation.
	MaxPeerKeys = 2
)

// PeerKey is a shared 32-byte cluster key (peer_key_file).
type PeerKey [32]byte

// frameKey is one accepted key: an id that lets a receiver pick the key
// without trial decryption, and the AEAD. Both are derived from the
// PeerKey with distinct labels, so the id says nothing about the cipher
// key.
type frameKey struct {
	id   [keyIDSize]byte
	aead cipher.AEAD
}

func newFrameKey(k PeerKey) (frameKey, error) {
	var fk frameKey
	id, err := hkdf.Key(sha256.New, k[:], nil, "raftkv peer key id v1", keyIDSize)
	if err != nil {
		return fk, fmt.Errorf("derive peer key id: %w", err)
	}
	sub, err := hkdf.Key(sha256.New, k[:], nil, "raftkv peer frame key v1", chacha20poly1305.KeySize)
	if err != nil {
		return fk, fmt.Errorf("derive peer frame key: %w", err)
	}
	copy(fk.id[:], id)
	if fk.aead, err = chacha20poly1305.NewX(sub); err != nil {
		return fk, fmt.Errorf("peer frame cipher: %w", err)
	}
	return fk, nil
}

// keyRing is the keys of one node: keys[0] seals, all of them open.
type keyRing struct {
	keys []frameKey
}

// newKeyRing returns nil, sealing off, for no keys.
func newKeyRing(keys []PeerKey) (*keyRing, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if len(keys) > MaxPeerKeys {
		return nil, fmt.Errorf("%d peer keys; at most %d (the current one and one more during a rotation)", len(keys), MaxPeerKeys)
	}
	r := &keyRing{}
	for i, k := range keys {
		fk, err := newFrameKey(k)
		if err != nil {
			return nil, err
		}
		if r.find(fk.id[:]) != nil {
			return nil, fmt.Errorf("peer key %d repeats an earlier key", i+1)
		}
		r.keys = append(r.keys, fk)
	}
	return r, nil
}

func (r *keyRing) find(id []byte) *frameKey {
	for i := range r.keys {
		if bytes.Equal(r.keys[i].id[:], id) {
			return &r.keys[i]
		}
	}
	return nil
}

// sealer seals the frames of one outbound link (this node to one peer).
// It belongs to the link's goroutine.
type sealer struct {
	key     *frameKey
	header  [sealHeaderSize]byte // counter is filled per frame
	counter uint64
}

func newSealer(r *keyRing, from, to, boot uint64) *sealer {
	s := &sealer{key: &r.keys[0]}
	h := s.header[:]
	h[0] = sealedMagic
	copy(h[offKeyID:], s.key.id[:])
	binary.LittleEndian.PutUint64(h[offFrom:], from)
	binary.LittleEndian.PutUint64(h[offTo:], to)
	binary.LittleEndian.PutUint64(h[offBoot:], boot)
	rand.Read(h[offSession:offCounter]) // never fails: it crashes the program instead
	binary.LittleEndian.PutUint64(h[offStarted:], uint64(time.Now().UnixNano()))
	return s
}

// seal appends the sealed form of plain to dst, echoing the receiver's
// boot. dst must not overlap plain.
func (s *sealer) seal(dst, plain []byte, echo uint64) []byte {
	s.counter++ // from 1: a receiver's empty window has seen 0
	binary.LittleEndian.PutUint64(s.header[offEcho:], echo)
	binary.LittleEndian.PutUint64(s.header[offCounter:], s.counter)
	start := len(dst)
	dst = append(dst, s.header[:]...)
	hdr := dst[start : start+sealHeaderSize]
	return s.key.aead.Seal(dst, nonceOf(hdr), plain, hdr)
}

func nonceOf(hdr []byte) []byte { return hdr[offSession : offCounter+8] }

// sealedHeader is the clear header of a received sealed frame.
type sealedHeader struct {
	keyID      []byte
	from, to   uint64
	boot, echo uint64
	session    [sessionSize]byte
	started    uint64
	counter    uint64
}

var errShortSealed = errors.New("sealed frame shorter than its header and tag")

func parseSealedHeader(frame []byte) (sealedHeader, error) {
	var h sealedHeader
	if len(frame) < sealOverhead || frame[0] != sealedMagic {
		return h, errShortSealed
	}
	h.keyID = frame[offKeyID:offFrom]
	h.from = binary.LittleEndian.Uint64(frame[offFrom:])
	h.to = binary.LittleEndian.Uint64(frame[offTo:])
	h.boot = binary.LittleEndian.Uint64(frame[offBoot:])
	h.echo = binary.LittleEndian.Uint64(frame[offEcho:])
	copy(h.session[:], frame[offSession:offCounter])
	h.started = binary.LittleEndian.Uint64(frame[offStarted:])
	h.counter = binary.LittleEndian.Uint64(frame[offCounter:])
	return h, nil
}
