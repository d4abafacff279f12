package transport

import (
	"time"

	"github.com/raftkv/raftkv/raft/wire"
)

// Stats are the ZMQ transport's counters since NewZMQ. Totals over peers
// are included so that callers need not sum the map.
type Stats struct {
	SentMsgs   uint64 // messages written to a peer's socket
	SentFrames uint64 // zmq messages written (each carries a batch)

	DroppedQueueFull    uint64 // a peer's outbound queue was full
	DroppedSendError    uint64 // in a batch whose send failed or timed out
	DroppedDisconnected uint64 // drained while a peer had no connection
	DroppedTooLarge     uint64 // one message larger than MaxFrameBytes
	DroppedUnknownPeer  uint64 // To is not a configured peer
	DroppedInvalid      uint64 // Type is not a valid MessageType

	RecvMsgs         uint64 // messages delivered on Receive
	RecvFrames       uint64 // well-formed frames received
	MalformedFrames  uint64 // frames refused by the decoder (or not one part)
	Misaddressed     uint64 // decoded messages whose To is not this node
	OversizedFrames  uint64 // inbound connections cut for announcing a frame past MaxFrameBytes
	HandshakeTimeout uint64 // connections (either way) whose ZMTP handshake did not finish in time
	RecvErrors       uint64 // errors from the inbox (EOF each time a peer's connection ends)
	WrongCluster     uint64 // frames naming another cluster
	WrongIncarnation uint64 // frames from a member's other incarnation (wiped or replaced)
	WrongSender      uint64 // messages whose From is not the frame's sender

	// Sealed: this node seals its frames and requires sealed ones
	// (ZMQConfig.PeerKeys). SealDrops are the frames refused for their
	// sealing; none of them reached the Raft core.
	Sealed    bool
	SealDrops SealDrops

	Reconnects   uint64 // peer sockets re-created after an error or a silence
	DialFailures uint64

	Peers map[wire.NodeID]PeerStats
}

// SealDrops counts inbound frames refused by the opener (open.go), by reason.
type SealDrops struct {
	Malformed     uint64 // sealed but truncated
	Unsealed      uint64 // not sealed, while this node requires it
	UnknownKey    uint64 // sealed with a key this node lacks, or while it has none
	BadAuth       uint64 // forged or altered
	Replay        uint64 // a counter of a session already accepted
	StaleSession  uint64 // a session older than those remembered
	WrongReceiver uint64 // sealed for another node
	Handshake     uint64 // authentic, but not echoing this node's boot yet (after a restart of either side)
}

// ByReason lists the counters with the reason names the metrics use.
func (d SealDrops) ByReason() []ReasonCount {
	return []ReasonCount{
		{dropMalformed.String(), d.Malformed}, {dropUnsealed.String(), d.Unsealed},
		{dropUnknownKey.String(), d.UnknownKey}, {dropBadAuth.String(), d.BadAuth},
		{dropReplay.String(), d.Replay}, {dropStaleSession.String(), d.StaleSession},
		{dropWrongReceiver.String(), d.WrongReceiver}, {dropHandshake.String(), d.Handshake},
	}
}

// ReasonCount is one counter of SealDrops.
type ReasonCount struct {
	Reason string
	N      uint64
}

func (d *sealDrops) stats() SealDrops {
	return SealDrops{
		Malformed: d.n[dropMalformed].Load(), Unsealed: d.n[dropUnsealed].Load(),
		UnknownKey: d.n[dropUnknownKey].Load(), BadAuth: d.n[dropBadAuth].Load(),
		Replay: d.n[dropReplay].Load(), StaleSession: d.n[dropStaleSession].Load(),
		WrongReceiver: d.n[dropWrongReceiver].Load(), Handshake: d.n[dropHandshake].Load(),
	}
}

// PeerStats are the counters of one outbound peer.
type PeerStats struct {
	Addr      string
	Connected bool
	LastHeard time.Time // last valid message received from the peer; zero if never
	QueueLen  int       // messages waiting in the outbound queue now
	QueueCap  int       // the queue's capacity: messages beyond it are dropped

	SentMsgs            uint64
	SentFrames          uint64
	SentBytes           uint64
	DroppedQueueFull    uint64
	DroppedSendError    uint64
	DroppedDisconnected uint64
	DroppedTooLarge     uint64
	Reconnects          uint64
	DialFailures        uint64
}

// add sums the counters of o into s (for totals over peers).
func (s *PeerStats) add(o PeerStats) {
	s.SentMsgs += o.SentMsgs
	s.SentFrames += o.SentFrames
	s.SentBytes += o.SentBytes
	s.DroppedQueueFull += o.DroppedQueueFull
	s.DroppedSendError += o.DroppedSendError
	s.DroppedDisconnected += o.DroppedDisconnected
	s.DroppedTooLarge += o.DroppedTooLarge
	s.Reconnects += o.Reconnects
	s.DialFailures += o.DialFailures
}
