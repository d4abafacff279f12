// Package core is the Raft protocol as a deterministic state machine: no
// goroutines, clocks, files or sockets (TestCoreIsPure holds it to that).
// Time arrives as Tick, messages as Step, requests as Propose, ReadIndex,
// ProposeConfChange and TransferLeader; what the node must do comes out
// as a Ready (entries and hard state to persist, messages to send,
// committed entries to apply, read states), acknowledged with Advance.
// Given the same inputs, a Core makes the same outputs, which is what lets
// a test replay any schedule from a seed. Package raft drives it.
package core

import (
	"fmt"
	"math/rand/v2"

	"github.com/raftkv/raftkv/raft/quorum"
	"github.com/raftkv/raftkv/raft/wire"
)

// Config configures a Core. Times are in ticks; the driver decides how long
// a tick is.
type Config struct {
	ID wire.NodeID
	// Peers are the voters of a brand-new cluster, this node included, and
	// Bootstrap the same with addresses and learners; set one. They are
	// the membership only until the log or a snapshot says otherwise. A
	// node joining a running cluster has neither: it learns the
	// membership from the leader, and never campaigns before it is a voter.
	Peers     []wire.NodeID
	Bootstrap Membership
	// MaxPromoteLag is how many entries a learner may lack and still be
	// promoted (default 1024). AutoPromoteTicks > 0 makes the leader
	// promote a learner by itself once it has been promotable for that
	// many ticks in a row.
	MaxPromoteLag    uint64
	AutoPromoteTicks int
	// Incarnation is this node's data directory's (see Member).
	Incarnation uint64
	// ElectionTickMin and ElectionTickMax bound the randomized election
	// timeout; a follower that hears nothing from a leader for that many
	// ticks starts an election.
	ElectionTickMin int
	ElectionTickMax int
	HeartbeatTick   int
	// PreVote makes a node ask whether it could win before raising its
	// term, so a node that was cut off does not depose a healthy leader.
	PreVote bool
	// CheckQuorum makes a leader step down when it has not heard from a
	// majority for an election timeout, and makes followers ignore vote
	// requests while they have a live leader.
	CheckQuorum bool
	// LeaseTicks enables lease reads when > 0: a leader that heard from a
	// quorum within the last LeaseTicks ticks (counted from when it sent
	// the heartbeat they answered) serves reads without a round trip. It
	// must be below ElectionTickMin by a margin for clock drift, and needs
	// CheckQuorum, which is what keeps followers from electing anyone else
	// for ElectionTickMin ticks after they last heard from the leader.
	LeaseTicks int
	// MaxInflight bounds the MsgApps in flight to one follower.
	MaxInflight int
	// MaxMsgBytes bounds the entry data in one MsgApp.
	MaxMsgBytes int
	// MaxApplyEntries bounds the committed entries handed out per Ready.
	MaxApplyEntries int
	// Seed makes the randomized timeouts reproducible.
	Seed uint64
}

func (c *Config) validate() error {
	if len(c.Bootstrap.Members) == 0 {
		c.Bootstrap = NewMembership(c.Peers...)
	} else {
		c.Bootstrap = c.Bootstrap.Clone()
		c.Bootstrap.sort()
	}
	if len(c.Bootstrap.Members) > 0 && !c.Bootstrap.IsVoter(c.ID) {
		return fmt.Errorf("raft: node %d is not a voter of the cluster it bootstraps (%v)", c.ID, c.Bootstrap.IDs())
	}
	if c.ElectionTickMin <= c.HeartbeatTick || c.HeartbeatTick <= 0 {
		return fmt.Errorf("raft: election ticks (%d) must exceed heartbeat ticks (%d) > 0", c.ElectionTickMin, c.HeartbeatTick)
	}
	if c.ElectionTickMax < c.ElectionTickMin {
		return fmt.Errorf("raft: election tick max %d below min %d", c.ElectionTickMax, c.ElectionTickMin)
	}
	if c.LeaseTicks > 0 && (!c.CheckQuorum || c.LeaseTicks >= c.ElectionTickMin) {
		return fmt.Errorf("raft: lease of %d ticks needs check-quorum and must be below the election minimum %d", c.LeaseTicks, c.ElectionTickMin)
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = 256
	}
	if c.MaxMsgBytes <= 0 {
		c.MaxMsgBytes = 1 << 20
	}
	if c.MaxPromoteLag == 0 {
		c.MaxPromoteLag = 1024
	}
	if c.MaxApplyEntries <= 0 {
		c.MaxApplyEntries = 4096
	}
	return nil
}

// SoftState is volatile state worth reporting when it changes.
type SoftState struct {
	Lead wire.NodeID
	Role Role
	// Elections counts the campaigns this node started, and ElectionCause
	// says why the latest started, or how it failed (Cause* constants):
	// the driver's election events come from here.
	Elections     uint64
	ElectionCause string
}

// ReadState releases a linearizable read: once the state machine has
// applied Index, reads registered under Context may be served. Dropped
// means leadership was lost before the read was confirmed.
type ReadState struct {
	Context uint64
	Index   uint64
	Dropped bool
}

// Ready is the work the driver must do, in this order: install Snapshot,
// persist HardState
// and Entries (one fsync), send Messages (those with SafeBeforePersist may
// go out before the fsync), apply CommittedEntries, serve ReadStates; then
// call Advance.
type Ready struct {
	SoftState *SoftState
	// Snapshot, when set, replaces the state machine and the log: restore
	// the state machine from the snapshot received for it and discard the
	// stored log, before persisting Entries.
	Snapshot         *SnapshotInfo
	HardState        *wire.HardState
	Entries          []wire.Entry
	Messages         []wire.Message
	CommittedEntries []wire.Entry
	ReadStates       []ReadState
}

type readReq struct {
	from    wire.NodeID
	ctx     uint64
	index   uint64
	round   uint64
	waiting bool // registered before the leader committed in its term
}

// Core is the Raft protocol as a deterministic state machine. It is not
// safe for concurrent use: one goroutine (the driver) owns it.
type Core struct {
	cfg Config
	id  wire.NodeID
	rng *rand.Rand

	// Membership, see confstate.go. members and voters follow the latest
	// entry of confs; voters is sorted, the input to every quorum.
	confs   []confAt
	members Membership
	voters  []wire.NodeID
	// replicas: the leader's followers and learners, sorted, plus members
	// whose removal is not committed yet.
	replicas []wire.NodeID

	term uint64
	vote wire.NodeID
	role Role
	lead wire.NodeID
	log  *memLog

	prs   map[wire.NodeID]*progress
	votes map[wire.NodeID]bool

	electionElapsed  int
	heartbeatElapsed int
	electionTimeout  int    // randomized, in [ElectionTickMin, ElectionTickMax]
	ticks            uint64 // ticks since start: the leader's clock for leases

	readSeq       uint64 // last read-index round started by this leader
	readRoundOpen bool   // readSeq's heartbeats are not out yet: new reads may join it
	readQueue     []readReq
	readStates    []ReadState

	transferee wire.NodeID
	// leaseRevoked: this leader sent MsgTimeoutNow in its term; see LeaseRead.
	leaseRevoked bool

	elections     uint64 // campaigns started, for the driver's events
	electionCause string // why the latest campaign started, or how it failed

	snap           SnapshotInfo  // latest snapshot available to send
	pendingRestore *SnapshotInfo // a snapshot the driver must install (Ready.Snapshot)

	msgs     []wire.Message
	prevHard wire.HardState
	prevSoft SoftState
}

// NewCore builds a core from what survived the last run: the hard state,
// the persisted log and the state machine's applied index.
func NewCore(cfg Config, hs wire.HardState, entries []wire.Entry, applied uint64) (*Core, error) {
	return NewCoreFrom(cfg, InitialState{Hard: hs, Entries: entries, Applied: applied})
}

// NewCoreFrom builds a core from what survived the last run, snapshot
// included.
func NewCoreFrom(cfg Config, st InitialState) (*Core, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	hs := st.Hard
	l, err := newMemLog(st.Snapshot, st.Entries, st.Applied)
	if err != nil {
		return nil, err
	}
	c := &Core{
		cfg: cfg, id: cfg.ID,
		rng:  rand.New(rand.NewPCG(cfg.Seed, uint64(cfg.ID)+1)),
		term: hs.Term, vote: hs.Vote, log: l,
		lead: wire.None, transferee: wire.None, snap: st.Snapshot,
	}
	if hs.Term == 0 {
		c.vote = wire.None
	}
	base, baseIndex := cfg.Bootstrap, uint64(0)
	if st.SnapshotConf != nil {
		base, baseIndex = *st.SnapshotConf, st.Snapshot.Index
	}
	if err := c.initConfs(base, baseIndex, st.Entries); err != nil {
		return nil, err
	}
	c.prevHard = c.hardState()
	c.becomeFollower(c.term, wire.None)
	c.prevSoft = c.softState()
	return c, nil
}

func (c *Core) hardState() wire.HardState { return wire.HardState{Term: c.term, Vote: c.vote} }
func (c *Core) softState() SoftState {
	return SoftState{Lead: c.lead, Role: c.role, Elections: c.elections, ElectionCause: c.electionCause}
}

// Config is the configuration the core runs with (defaults filled in).
func (c *Core) Config() Config { return c.cfg }

// Term, Role, Leader and commit index, for the driver and tests.
func (c *Core) Term() uint64        { return c.term }
func (c *Core) Role() Role          { return c.role }
func (c *Core) Leader() wire.NodeID { return c.lead }
func (c *Core) Committed() uint64   { return c.log.committed }
func (c *Core) LastIndex() uint64   { return c.log.lastIndex() }

// LogTerm is the term of the entry at index i, if the log still holds it.
func (c *Core) LogTerm(i uint64) (uint64, bool) { return c.log.term(i) }

// Status reports the core's state; Peers is filled on the leader.
func (c *Core) Status() Status {
	s := Status{ID: c.id, Role: c.role, Term: c.term, Leader: c.lead,
		CommitIndex: c.log.committed, AppliedIndex: c.log.applied, LastLogIndex: c.log.lastIndex(),
		FirstIndex: c.log.firstIndex(), Snapshot: c.snap,
		Membership: c.members.Clone(), ConfigIndex: c.confIndex()}
	if c.role == Leader {
		for _, mb := range c.members.Members {
			if mb.ID != c.id {
				pr := c.prs[mb.ID]
				s.Peers = append(s.Peers, PeerStatus{ID: mb.ID, MatchIndex: pr.match, NextIndex: pr.next, Learner: mb.Learner})
			}
		}
	}
	return s
}

func (c *Core) send(m wire.Message) {
	m.From = c.id
	if m.Term == 0 {
		m.Term = c.term
	}
	c.msgs = append(c.msgs, m)
}

func (c *Core) resetTimers() {
	c.electionElapsed, c.heartbeatElapsed = 0, 0
	c.electionTimeout = c.cfg.ElectionTickMin + c.rng.IntN(c.cfg.ElectionTickMax-c.cfg.ElectionTickMin+1)
}

func (c *Core) reset(term uint64) {
	c.dropReads() // before the term changes: the answers carry the old term
	if term != c.term {
		c.term, c.vote = term, wire.None
	}
	c.lead = wire.None
	c.resetTimers()
	c.votes = nil
	c.transferee = wire.None
	c.leaseRevoked = false
	c.prs = nil
}

func (c *Core) becomeFollower(term uint64, lead wire.NodeID) {
	c.reset(term)
	c.role, c.lead = Follower, lead
}

func (c *Core) becomePreCandidate() {
	// Pre-vote leaves term and vote alone: it only asks.
	c.lead = wire.None
	c.dropReads()
	c.role, c.votes, c.prs = PreCandidate, map[wire.NodeID]bool{}, nil
	c.resetTimers()
}

func (c *Core) becomeCandidate() {
	c.reset(c.term + 1)
	c.role, c.vote, c.votes = Candidate, c.id, map[wire.NodeID]bool{}
}

func (c *Core) becomeLeader() {
	c.reset(c.term)
	c.role, c.lead = Leader, c.id
	c.prs = make(map[wire.NodeID]*progress, len(c.members.Members)+1)
	last := c.log.lastIndex()
	for _, id := range append(c.members.IDs(), c.id) {
		c.prs[id] = &progress{next: last + 1, recentActive: true, lastHeard: c.ticks}
	}
	c.prs[c.id].match = c.log.stable
	c.syncReplicas()
	// A no-op of our own term lets us commit what earlier terms left, and
	// is what ReadIndex waits for before it trusts the commit index.
	c.appendLocal([]wire.Entry{{Type: wire.EntryNoop}})
	c.bcastAppend()
}

// campaign starts a pre-vote or an election. force skips pre-vote and
// asks voters to ignore their leader lease (leadership transfer).
func (c *Core) campaign(force bool) {
	c.elections++
	c.electionCause = CauseTimeout
	if force {
		c.electionCause = CauseTransfer
	}
	if c.cfg.PreVote && !force {
		c.becomePreCandidate()
		c.requestVotes(wire.MsgPreVote, c.term+1, false)
		return
	}
	c.becomeCandidate()
	c.requestVotes(wire.MsgVote, c.term, force)
}

func (c *Core) requestVotes(t wire.MessageType, term uint64, force bool) {
	c.votes[c.id] = true
	if c.tally() {
		return
	}
	var ctx uint64
	if force {
		ctx = 1
	}
	for _, id := range c.voters {
		if id != c.id {
			c.send(wire.Message{Type: t, To: id, Term: term, Index: c.log.lastIndex(), LogTerm: c.log.lastTerm(), Context: ctx})
		}
	}
}

// tally counts votes and acts on a decided election; it reports whether
// the election is decided.
func (c *Core) tally() bool {
	switch quorum.Vote(c.voters, c.votes) {
	case quorum.Won:
		if c.role == PreCandidate {
			// The pre-vote only showed we could win: hold an ordinary
			// election, one that still respects the voters' leases.
			c.becomeCandidate()
			c.requestVotes(wire.MsgVote, c.term, false)
			return true
		}
		c.becomeLeader()
		return true
	case quorum.Lost:
		if c.role == PreCandidate {
			c.electionCause = CausePreVoteFailed
		}
		c.becomeFollower(c.term, wire.None)
		return true
	}
	return false
}

// Tick advances logical time by one tick.
func (c *Core) Tick() {
	c.ticks++
	c.electionElapsed++
	if c.role != Leader {
		if c.electionElapsed >= c.electionTimeout {
			if c.mayCampaign() {
				c.campaign(false)
			} else {
				c.resetTimers() // a learner or a removed node waits to be told
			}
		}
		return
	}
	c.autoPromote()
	c.afterCommit() // forgets removed members that went silent
	if c.role != Leader {
		return
	}
	c.heartbeatElapsed++
	if c.electionElapsed >= c.cfg.ElectionTickMin {
		c.electionElapsed = 0
		if c.cfg.CheckQuorum && !c.quorumActive() {
			c.becomeFollower(c.term, wire.None)
			return
		}
		if c.transferee != wire.None {
			c.transferee = wire.None // the transfer took too long; serve again
		}
	}
	if c.heartbeatElapsed >= c.cfg.HeartbeatTick {
		c.heartbeatElapsed = 0
		c.bcastHeartbeat(c.readSeq)
	}
}

// quorumActive reports whether a majority was heard from since the last
// check, and starts a new check.
func (c *Core) quorumActive() bool {
	ok := quorum.Active(c.voters, func(id wire.NodeID) bool { return id == c.id || c.prs[id].recentActive })
	for _, pr := range c.prs {
		pr.recentActive = false
	}
	return ok
}

// inLease reports whether this node heard from a live leader within the
// minimum election timeout; with CheckQuorum such a node refuses votes.
//
// A node that just started counts as in lease too: before a crash it may
// have answered a leader's heartbeat that the leader's lease now counts
// on, and forgetting that would let it vote in a new leader too early.
// This costs no liveness: no node campaigns before ElectionTickMin anyway.
func (c *Core) inLease() bool {
	if !c.cfg.CheckQuorum {
		return false
	}
	return (c.lead != wire.None && c.electionElapsed < c.cfg.ElectionTickMin) || c.ticks < uint64(c.cfg.ElectionTickMin)
}
