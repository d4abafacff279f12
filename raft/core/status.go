package core

import (
	"errors"
	"fmt"

	"github.com/raftkv/raftkv/raft/wire"
)

// Role of a node.
type Role uint8

const (
	Follower Role = iota
	PreCandidate
	Candidate
	Leader
)

func (r Role) String() string {
	switch r {
	case Follower:
		return "follower"
	case PreCandidate:
		return "precandidate"
	case Candidate:
		return "candidate"
	case Leader:
		return "leader"
	}
	return "unknown"
}

// PeerStatus is the leader's view of one follower.
type PeerStatus struct {
	ID         wire.NodeID `json:"id"`
	MatchIndex uint64      `json:"match_index"`
	NextIndex  uint64      `json:"next_index"`
	Learner    bool        `json:"learner,omitempty"`
}

// Status is a snapshot of a node's Raft state for operators.
type Status struct {
	ID           wire.NodeID
	Role         Role
	Term         uint64
	Leader       wire.NodeID // None when unknown
	CommitIndex  uint64
	AppliedIndex uint64
	LastLogIndex uint64
	FirstIndex   uint64       // first entry still in the log
	Snapshot     SnapshotInfo // latest snapshot on this node
	LogBytes     int64        // size of the stored log
	Peers        []PeerStatus // filled on the leader only
	Membership   Membership   // the latest in the log, committed or not
	ConfigIndex  uint64       // index of the entry that set Membership (0: bootstrap)
}

var (
	// ErrNoLeader: a request that needs the leader found none known.
	ErrNoLeader = errors.New("raft: no leader known")
	// ErrProposalDropped: the proposal was lost to a leader change and
	// was not applied; it is safe to retry.
	ErrProposalDropped = errors.New("raft: proposal lost to a leader change; it was not applied")
)

// NotLeaderError is returned when a proposal reaches a node that is not
// the leader. Leader is None when no leader is known.
type NotLeaderError struct {
	Leader wire.NodeID
}

func (e *NotLeaderError) Error() string {
	if e.Leader == wire.None {
		return "raft: not the leader, and no leader is known"
	}
	return fmt.Sprintf("raft: not the leader; leader is node %d", e.Leader)
}

// Election causes, published in SoftState.ElectionCause.
const (
	CauseTimeout       = "timeout"        // no leader heard from for an election timeout
	CauseTransfer      = "transfer"       // told to campaign by a leader handing over
	CausePreVoteFailed = "prevote-failed" // a pre-vote round found no majority
)
