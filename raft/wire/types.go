// Package wire owns the records that cross a boundary in raftkv: Message
// between peers (and its frame encoding), Entry and HardState between the
// Raft core and the disk, Entry again between Raft and the state machine.
// It holds types and their encodings only, so that raft, logs and kv can
// all import it without importing each other.
package wire

import "math"

// NodeID names a member of the cluster. IDs start at 0, as in config.json.
type NodeID = uint64

// None is the NodeID that means "nobody" (no vote cast, no leader known).
const None NodeID = math.MaxUint64

// EntryType tells the layers above the log what an entry carries. The log
// stores it as an opaque byte.
type EntryType uint8

// Entry is one record of the replicated log.
type Entry struct {
	Index uint64
	Term  uint64
	Type  EntryType
	Data  []byte
}

// HardState is what Raft must have on disk before it answers anyone: the
// current term and the vote cast in it. The commit index is deliberately not
// here: it is recovered from the state machine's applied index and the
// leader, so it never costs an fsync of its own.
type HardState struct {
	Term uint64
	Vote NodeID
}

// Entry types.
const (
	EntryNormal     EntryType = 0 // opaque command for the state machine
	EntryNoop       EntryType = 1 // appended by a new leader to commit earlier terms
	EntryConfChange EntryType = 2 // a whole cluster membership, which holds from that entry on
)

// MessageType enumerates the one-way messages peers exchange.
type MessageType uint8

const (
	MsgApp           MessageType = iota + 1 // AppendEntries (leader -> follower)
	MsgAppResp                              // its answer
	MsgVote                                 // RequestVote (candidate -> all)
	MsgVoteResp                             // its answer
	MsgPreVote                              // pre-vote probe; does not change terms
	MsgPreVoteResp                          // its answer
	MsgHeartbeat                            // empty AppendEntries carrying commit and a read context
	MsgHeartbeatResp                        // its answer
	MsgReadIndex                            // follower asks the leader for a read index
	MsgReadIndexResp                        // leader's answer with the index
	MsgTimeoutNow                           // leader tells a target to campaign now (leadership transfer)
	MsgSnap                                 // install the snapshot at Index/LogTerm (the driver has its data)
	MsgSnapChunk                            // a piece of a snapshot file; transport to transport, never stepped
	MsgSnapChunkAck                         // the receiver's next expected offset, or its verdict; transport to transport
	MsgProp                                 // a follower's proposals for the leader; driver to driver
	MsgPropResp                             // where the leader put them; driver to driver
	MsgTypeEnd                              // one past the last type: the types are 1 … MsgTypeEnd-1
)

var msgTypeNames = [...]string{
	MsgApp: "MsgApp", MsgAppResp: "MsgAppResp", MsgVote: "MsgVote", MsgVoteResp: "MsgVoteResp",
	MsgPreVote: "MsgPreVote", MsgPreVoteResp: "MsgPreVoteResp", MsgHeartbeat: "MsgHeartbeat",
	MsgHeartbeatResp: "MsgHeartbeatResp", MsgReadIndex: "MsgReadIndex", MsgReadIndexResp: "MsgReadIndexResp",
	MsgTimeoutNow: "MsgTimeoutNow", MsgSnap: "MsgSnap", MsgSnapChunk: "MsgSnapChunk", MsgSnapChunkAck: "MsgSnapChunkAck",
	MsgProp: "MsgProp", MsgPropResp: "MsgPropResp",
}

func (t MessageType) String() string {
	if t > 0 && t < MsgTypeEnd {
		return msgTypeNames[t]
	}
	return "MsgUnknown"
}

// Valid reports whether t is a known message type.
func (t MessageType) Valid() bool { return t > 0 && t < MsgTypeEnd }

// Message is one Raft message. Each field means one thing; a type uses
// the fields its row names and leaves the others zero:
//
//	MsgApp:        Index/LogTerm = prevLogIndex/prevLogTerm, Entries, Commit
//	MsgAppResp:    Index = last index matched (accept) or the rejected prevLogIndex;
//	               Reject, RejectHint/LogTerm = where the logs may agree, for fast backup
//	MsgVote/Pre:   Index/LogTerm = candidate's last log index/term
//	MsgHeartbeat:  Commit, Context = read-index round, Tick = the leader's tick
//	MsgHeartbeatResp: Context and Tick echoed, Index = the follower's last log index
//	MsgReadIndex*: Context = request id, Index = the read index (in the response)
//	MsgSnap:       Index/LogTerm = the snapshot's last index and term;
//	               Entries[0], an EntryConfChange, the membership it holds
//	MsgSnapChunk:  Index/LogTerm = the snapshot, Offset, Size, Data
//	MsgSnapChunkAck: Index = the snapshot, Offset = next byte wanted (Size: kept), Reject = receiver gave up
//	MsgProp:       Context = the follower's batch id, Entries = the commands
//	MsgPropResp:   Context echoed, Index/LogTerm = first entry's index and term;
//	               Reject with Lead = the leader this node knows of
type Message struct {
	Type       MessageType
	From       NodeID
	To         NodeID
	Term       uint64 // the sender's term
	LogTerm    uint64 // the term of the entry at Index
	Index      uint64 // a log index
	Commit     uint64 // the sender's commit index
	Reject     bool
	RejectHint uint64 // a log index to back up to
	Context    uint64 // a request or round id, echoed in the answer
	Tick       uint64 // the leader's tick when it sent a heartbeat: a lease runs from then
	Offset     uint64 // a byte offset in a snapshot file
	Size       uint64 // a snapshot file's size in bytes
	Lead       NodeID // the leader the sender knows of
	Data       []byte // snapshot file bytes
	Entries    []Entry
}

// SafeBeforePersist reports whether m may be sent before this node's
// pending log and hard state writes are durable. A leader's appends and
// heartbeats may: it counts itself towards a quorum only after its own
// fsync. Votes and acknowledgements may not: they promise durable state.
func (m *Message) SafeBeforePersist() bool {
	switch m.Type {
	case MsgApp, MsgHeartbeat, MsgReadIndexResp, MsgReadIndex:
		return true
	}
	return false
}
