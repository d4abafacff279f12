package core

import "github.com/raftkv/raftkv/raft/wire"

// Inspection is the core's state behind its door, for the seeded
// simulation's invariant checks (which sit in the driver's package and so
// see only what is exported) and for debugging. Reading it changes
// nothing; Log and Members alias the core's own until the next Step or
// Tick, so a caller must not keep or modify them (the simulation inspects
// every node after every Ready, and a copy each time would be its cost).
type Inspection struct {
	Hard            wire.HardState
	Role            Role
	Lead            wire.NodeID
	Committed       uint64
	Applied         uint64 // highest index handed to the state machine
	Stable          uint64 // highest index handed to storage
	ElectionElapsed int
	ElectionTimeout int
	Members         Membership                   // the latest in the log, committed or not
	ConfIndex       uint64                       // index of the entry that set Members
	Voter           bool                         // a voter of Members
	MayVote         bool                         // would grant a vote to an up-to-date candidate's request
	MayCampaign     bool                         // may start an election
	Progress        map[wire.NodeID]ProgressView // the leader's view of each member; nil elsewhere
	// Log is the log from the entry the last snapshot ended at (Log[0],
	// whose Data is empty) to the last entry.
	Log []wire.Entry
}

// ProgressView is a leader's replication state for one member.
type ProgressView struct {
	Match, Next uint64
	Replicating bool // false: probing
	ProbeSent   bool
	Inflight    int // appends sent and not yet acknowledged
}

// Inspect returns the core's current state.
func (c *Core) Inspect() Inspection {
	in := Inspection{
		Hard: c.hardState(), Role: c.role, Lead: c.lead,
		Committed: c.log.committed, Applied: c.log.applied, Stable: c.log.stable,
		ElectionElapsed: c.electionElapsed, ElectionTimeout: c.electionTimeout,
		Members: c.members, ConfIndex: c.confIndex(),
		Voter: c.isVoter(), MayVote: c.mayVote(), MayCampaign: c.mayCampaign(),
		Log: c.log.ents,
	}
	if c.role == Leader {
		in.Progress = make(map[wire.NodeID]ProgressView, len(c.prs))
		for id, pr := range c.prs {
			in.Progress[id] = ProgressView{Match: pr.match, Next: pr.next, Replicating: pr.replicating,
				ProbeSent: pr.probeSent, Inflight: len(pr.inflight)}
		}
	}
	return in
}

// FirstIndex is the first entry Log holds.
func (in *Inspection) FirstIndex() uint64 { return in.Log[0].Index + 1 }

// LastIndex is the last entry Log holds.
func (in *Inspection) LastIndex() uint64 { return in.Log[0].Index + uint64(len(in.Log)) - 1 }

// LastTerm is the term of the last entry.
func (in *Inspection) LastTerm() uint64 { return in.Log[len(in.Log)-1].Term }

// Entry returns entry i, false when it is compacted away (Log[0] included:
// its term may be unknown) or beyond the log.
func (in *Inspection) Entry(i uint64) (wire.Entry, bool) {
	if i <= in.Log[0].Index || i > in.LastIndex() {
		return wire.Entry{}, false
	}
	return in.Log[i-in.Log[0].Index], true
}
