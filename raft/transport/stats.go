package transport

import (
	"time"

	"github.com/raftkv/raftkv/raft"
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

	Reconnects   uint64 // peer sockets re-created after an error or a silence
	DialFailures uint64

	Peers map[raft.NodeID]PeerStats
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
