// Package raft implements the Raft consensus protocol as a deterministic core
// (no goroutines, clocks or I/O: time arrives as ticks and messages as values)
// wrapped by a driver that persists, sends and applies.
package raft

import (
	"math"

	"github.com/raftkv/raftkv/logs"
)

// NodeID names a member of the cluster. IDs start at 0, as in config.json.
type NodeID = uint64

// None is the NodeID that means "nobody" (no vote cast, no leader known).
const None NodeID = math.MaxUint64

// Entry and HardState are the records package logs persists; Raft shares
// the types so that nothing is copied between the core and the disk.
type (
	Entry     = logs.Entry
	HardState = logs.HardState
	EntryType = logs.EntryType
)

// Entry types.
const (
	EntryNormal EntryType = 0 // opaque command for the state machine
	EntryNoop   EntryType = 1 // appended by a new leader to commit earlier terms
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
	MsgSnapChunk                            // a piece of a snapshot file; driver to driver, never stepped
	MsgSnapChunkAck                         // the receiver's next expected offset; driver to driver
	MsgProp                                 // a follower's proposals for the leader; driver to driver
	MsgPropResp                             // where the leader put them; driver to driver
	msgTypeEnd
)

var msgTypeNames = [...]string{
	MsgApp: "MsgApp", MsgAppResp: "MsgAppResp", MsgVote: "MsgVote", MsgVoteResp: "MsgVoteResp",
	MsgPreVote: "MsgPreVote", MsgPreVoteResp: "MsgPreVoteResp", MsgHeartbeat: "MsgHeartbeat",
	MsgHeartbeatResp: "MsgHeartbeatResp", MsgReadIndex: "MsgReadIndex", MsgReadIndexResp: "MsgReadIndexResp",
	MsgTimeoutNow: "MsgTimeoutNow", MsgSnap: "MsgSnap", MsgSnapChunk: "MsgSnapChunk", MsgSnapChunkAck: "MsgSnapChunkAck",
	MsgProp: "MsgProp", MsgPropResp: "MsgPropResp",
}

func (t MessageType) String() string {
	if t > 0 && t < msgTypeEnd {
		return msgTypeNames[t]
	}
	return "MsgUnknown"
}

// Valid reports whether t is a known message type.
func (t MessageType) Valid() bool { return t > 0 && t < msgTypeEnd }

// Message is one Raft message. Fields are reused across types as in the
// Raft paper's RPCs:
//
//	MsgApp:        Index/LogTerm = prevLogIndex/prevLogTerm, Entries, Commit
//	MsgAppResp:    Index = last index matched (accept) or the rejected prevLogIndex;
//	               Reject, RejectHint/LogTerm = hint for fast backup
//	MsgVote/Pre:   Index/LogTerm = candidate's last log index/term
//	MsgHeartbeat:  Commit, Context (read-index round id), Index (leader's tick, for leases)
//	MsgHeartbeatResp: Context and Index echoed, Commit = the follower's last log index
//	MsgReadIndex*: Context (request id), Index (read index in the response)
//	MsgSnap:       Index/LogTerm = the snapshot's last index and term;
//	               Entries[0], an EntryConfChange, the membership it holds
//	MsgSnapChunk:  Index/LogTerm = snapshot, Context = byte offset, Commit = file size,
//	               Entries[0].Data = the bytes
//	MsgSnapChunkAck: Index = snapshot, Context = next offset wanted, Reject = receiver gave up
//	MsgProp:       Context = the follower's batch id, Entries = the commands
//	MsgPropResp:   Context echoed, Index/LogTerm = first entry's index and term;
//	               Reject with RejectHint = the leader this node knows of
type Message struct {
	Type       MessageType
	From       NodeID
	To         NodeID
	Term       uint64
	LogTerm    uint64
	Index      uint64
	Commit     uint64
	Reject     bool
	RejectHint uint64
	Context    uint64
	Entries    []Entry
}
