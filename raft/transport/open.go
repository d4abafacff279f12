package transport

import (
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/raft/wire"
)

// dropReason is why the opener refused a frame.
type dropReason uint8

const (
	dropNone          dropReason = iota
	dropMalformed                // starts as sealed but is too short
	dropUnsealed                 // not sealed, and this node requires it
	dropUnknownKey               // sealed with a key this node does not hold (or it holds none)
	dropBadAuth                  // forged or altered: the tag does not verify
	dropReplay                   // a counter already accepted, or below the window
	dropStaleSession             // a session older than those remembered
	dropWrongReceiver            // sealed for another node
	dropHandshake                // authentic, but echoing another boot of this node
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{"", "malformed", "unsealed", "unknown_key", "bad_auth",
	"replay", "stale_session", "wrong_receiver", "handshake"}

func (r dropReason) String() string { return dropReasonNames[r] }

// dropWarnings explain each reason to an operator, once per warnEvery.
var dropWarnings = [numDropReasons]string{
	dropMalformed:     "dropped a truncated sealed peer frame",
	dropUnsealed:      "dropped an unsealed peer frame: every node needs the same peer_key_file",
	dropUnknownKey:    "dropped a peer frame sealed with a key this node does not hold: check peer_key_file on both nodes",
	dropBadAuth:       "dropped a forged or altered peer frame",
	dropReplay:        "dropped a replayed peer frame",
	dropStaleSession:  "dropped a peer frame of a forgotten session (replayed, or the sender's clock went back)",
	dropWrongReceiver: "dropped a peer frame sealed for another node: check the addresses of the members",
	// dropHandshake has none: every start begins with a few, and a
	// handshake that never completes shows in the counter.
}

// opener checks the sealing of inbound frames. Nothing it refuses goes
// further, and it keeps state only for frames that authenticated.
type opener struct {
	self   wire.NodeID
	boot   uint64   // this transport's; frames must echo it
	ring   *keyRing // nil: this node seals nothing and refuses sealed frames
	replay replayGuard
	boots  bootBook // each sender's boot, learned from its authentic frames
}

// opened is what open makes of a frame.
type opened struct {
	plain  []byte      // envelope and batch; nil when dropped
	from   wire.NodeID // authenticated when sealed, wire.None when not; on a drop, only claimed (for logs)
	reason dropReason
}

// open returns the frame's envelope and batch, and the authenticated
// sender when the frame was sealed. A sealed frame is decrypted in place.
func (o *opener) open(frame []byte) opened {
	sealed := len(frame) > 0 && frame[0] == sealedMagic
	switch {
	case o.ring == nil && !sealed:
		return opened{plain: frame, from: wire.None}
	case o.ring == nil:
		return opened{from: wire.None, reason: dropUnknownKey}
	case !sealed:
		return opened{from: wire.None, reason: dropUnsealed}
	}
	h, err := parseSealedHeader(frame)
	if err != nil {
		return opened{from: wire.None, reason: dropMalformed}
	}
	drop := opened{from: h.from}
	if h.to != o.self {
		drop.reason = dropWrongReceiver
		return drop
	}
	k := o.ring.find(h.keyID)
	if k == nil {
		drop.reason = dropUnknownKey
		return drop
	}
	// The window is checked before the costly decryption, and again
	// after, when the frame is known to be authentic.
	if drop.reason = o.replay.check(&h); drop.reason != dropNone {
		return drop
	}
	hdr, body := frame[:sealHeaderSize], frame[sealHeaderSize:]
	plain, err := k.aead.Open(body[:0], nonceOf(hdr), body, hdr)
	if err != nil {
		drop.reason = dropBadAuth
		return drop
	}
	o.boots.learn(h.from, h.boot)
	if h.echo != o.boot {
		drop.reason = dropHandshake
		return drop
	}
	if drop.reason = o.replay.accept(&h); drop.reason != dropNone {
		return drop
	}
	return opened{plain: plain, from: h.from}
}

// warnEvery bounds the WARN lines per drop reason: a node without the key,
// or an attacker, must not flood the log; each line says how many frames
// were dropped since the last one.
const warnEvery = 10 * time.Second

// sealDrops counts refused frames by reason and rate-limits their WARNs.
type sealDrops struct {
	n        [numDropReasons]atomic.Uint64
	lastWarn [numDropReasons]atomic.Int64 // unix ns
	warned   [numDropReasons]atomic.Uint64
}

// add counts one drop and reports whether to warn now, and how many
// drops the warning covers.
func (d *sealDrops) add(r dropReason, now time.Time) (warn bool, since uint64) {
	total := d.n[r].Add(1)
	last := d.lastWarn[r].Load()
	if now.UnixNano()-last < warnEvery.Nanoseconds() || !d.lastWarn[r].CompareAndSwap(last, now.UnixNano()) {
		return false, 0
	}
	return true, total - d.warned[r].Swap(total)
}
