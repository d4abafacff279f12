package transport

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/raftkv/raftkv/raft/wire"
)

// Every ZMQ frame is a raft batch (wire.EncodeBatch) behind an envelope
// that says which cluster and which life of the sender it comes from:
//
//	envelopeMagic (1) | cluster id (8, LE) | sender id (8, LE) | sender incarnation (8, LE) | batch
//
// A receiver drops, and counts, a frame that names another cluster than
// the one its membership names, or a sender incarnation other than the one
// its membership records: a wiped or stale node, or a node of another
// cluster at a reused address, never reaches the Raft core. Zero means
// "not known yet" on either side and matches anything. Frames that begin
// with wire.WireVersion instead (nodes from before the envelope) are
// taken as they are.
const (
	envelopeMagic = 0xE7
	envelopeSize  = 1 + 8 + 8 + 8
	// frameOverhead is what a frame adds to its messages' encodings,
	// sealed or not.
	frameOverhead = sealOverhead + envelopeSize + wire.BatchHeaderMaxSize
)

// identity is what this transport stamps on frames and checks on them;
// SetIdentity and SetIncarnations update it while messages flow.
type identity struct {
	cluster atomic.Uint64
	self    atomic.Uint64                          // this node's incarnation
	known   atomic.Pointer[map[wire.NodeID]uint64] // peer -> recorded incarnation
}

func appendEnvelope(dst []byte, cluster uint64, from wire.NodeID, inc uint64) []byte {
	dst = append(dst, envelopeMagic)
	dst = binary.LittleEndian.AppendUint64(dst, cluster)
	dst = binary.LittleEndian.AppendUint64(dst, from)
	return binary.LittleEndian.AppendUint64(dst, inc)
}

// openEnvelope checks a frame's envelope and returns the batch behind it.
// reason is "" when the frame is acceptable, else why it is dropped.
func (id *identity) openEnvelope(frame []byte) (batch []byte, from wire.NodeID, reason string) {
	if len(frame) > 0 && frame[0] == wire.WireVersion {
		return frame, wire.None, ""
	}
	if len(frame) < envelopeSize || frame[0] != envelopeMagic {
		return nil, wire.None, "malformed"
	}
	cluster := binary.LittleEndian.Uint64(frame[1:])
	from = binary.LittleEndian.Uint64(frame[9:])
	inc := binary.LittleEndian.Uint64(frame[17:])
	if own := id.cluster.Load(); own != 0 && cluster != 0 && cluster != own {
		return nil, from, "wrong_cluster"
	}
	if known := id.known.Load(); known != nil {
		if want := (*known)[from]; want != 0 && inc != 0 && inc != want {
			return nil, from, "wrong_incarnation"
		}
	}
	return frame[envelopeSize:], from, ""
}
