package core

import (
	"errors"

	"github.com/raftkv/raftkv/raft/quorum"
	"github.com/raftkv/raftkv/raft/wire"
)

// ErrEmptyProposal: a proposal carried no command.
var ErrEmptyProposal = errors.New("raft: empty proposal")

// Step feeds one message from a peer into the core. Messages for other
// nodes or of unknown types are ignored. Messages from nodes outside the
// membership are not: a node that joins learns the membership from the
// leader's appends, and a candidate may be a voter in a configuration this
// node has not received yet. Only their counting is restricted (quorum
// counts voters; a leader ignores answers from non-members).
func (c *Core) Step(m wire.Message) {
	if m.To != c.id || !m.Type.Valid() || m.From == c.id || m.From == wire.None {
		return
	}
	if !c.stepTerm(m) {
		return
	}
	switch m.Type {
	case wire.MsgVote, wire.MsgPreVote:
		c.handleVote(m)
		return
	}
	switch c.role {
	case Leader:
		c.stepLeader(m)
	case Candidate, PreCandidate:
		c.stepCandidate(m)
	default:
		c.stepFollower(m)
	}
}

// stepTerm applies the term rules every message obeys, and reports whether
// the message should be processed further.
func (c *Core) stepTerm(m wire.Message) bool {
	switch {
	case m.Term > c.term:
		if m.Type == wire.MsgVote || m.Type == wire.MsgPreVote {
			if m.Context == 0 && c.inLease() {
				return false // a live leader exists; this candidate is disruptive
			}
		}
		switch {
		case m.Type == wire.MsgPreVote:
			return true // pre-votes never change our term
		case m.Type == wire.MsgPreVoteResp && !m.Reject:
			return true // a grant for the term we would campaign in
		case m.Type == wire.MsgApp || m.Type == wire.MsgHeartbeat || m.Type == wire.MsgSnap:
			c.becomeFollower(m.Term, m.From)
		default:
			c.becomeFollower(m.Term, wire.None)
		}
		return true
	case m.Term < c.term:
		switch m.Type {
		case wire.MsgApp, wire.MsgHeartbeat, wire.MsgSnap:
			// A stale leader: tell it our term so it steps down. Without
			// this a leader cut off by check-quorum or pre-vote could keep
			// a node that moved on from ever hearing from it again.
			c.send(wire.Message{Type: wire.MsgAppResp, To: m.From})
		case wire.MsgPreVote:
			c.send(wire.Message{Type: wire.MsgPreVoteResp, To: m.From, Reject: true})
		}
		return false
	}
	return true
}

func (c *Core) handleVote(m wire.Message) {
	pre := m.Type == wire.MsgPreVote
	canVote := c.vote == m.From || (c.vote == wire.None && c.lead == wire.None) || (pre && m.Term > c.term)
	upToDate := m.LogTerm > c.log.lastTerm() || (m.LogTerm == c.log.lastTerm() && m.Index >= c.log.lastIndex())
	respType := wire.MsgVoteResp
	if pre {
		respType = wire.MsgPreVoteResp
	}
	// A node that cannot tell whether it is the member a candidate counts
	// on (see mayVote) has no vote to give. Learners do answer: one may
	// have been promoted in an entry it has not received, and its grant
	// only counts where the candidate's configuration makes it a voter.
	if canVote && upToDate && c.mayVote() {
		// A pre-vote answer carries the term it was asked about so the
		// candidate can tell it from stale answers.
		c.send(wire.Message{Type: respType, To: m.From, Term: m.Term})
		if !pre {
			c.electionElapsed = 0
			c.vote = m.From
		}
		return
	}
	c.send(wire.Message{Type: respType, To: m.From, Reject: true})
}

func (c *Core) stepCandidate(m wire.Message) {
	switch m.Type {
	case wire.MsgApp, wire.MsgHeartbeat, wire.MsgSnap:
		c.becomeFollower(m.Term, m.From)
		c.stepFollower(m)
	case wire.MsgVoteResp, wire.MsgPreVoteResp:
		if (m.Type == wire.MsgVoteResp) != (c.role == Candidate) {
			return // an answer to a round we are no longer in
		}
		if _, seen := c.votes[m.From]; !seen {
			c.votes[m.From] = !m.Reject
		}
		c.tally()
	case wire.MsgReadIndexResp:
		c.readStates = append(c.readStates, ReadState{Context: m.Context, Dropped: true})
	}
}

func (c *Core) stepFollower(m wire.Message) {
	switch m.Type {
	case wire.MsgApp:
		c.electionElapsed, c.lead = 0, m.From
		c.handleAppend(m)
	case wire.MsgSnap:
		c.electionElapsed, c.lead = 0, m.From
		c.handleSnapshot(m)
	case wire.MsgHeartbeat:
		c.electionElapsed, c.lead = 0, m.From
		c.log.commitTo(m.Commit)
		// Echo the leader's send tick: its lease runs from then.
		// And tell how far our log goes: a leader that believes we hold
		// more learns that we lost data (a wiped disk) and starts over.
		c.send(wire.Message{Type: wire.MsgHeartbeatResp, To: m.From, Context: m.Context, Tick: m.Tick, Index: c.log.lastIndex()})
	case wire.MsgReadIndexResp:
		c.readStates = append(c.readStates, ReadState{Context: m.Context, Index: m.Index, Dropped: m.Reject})
	case wire.MsgTimeoutNow:
		if c.isVoter() {
			c.campaign(true)
		}
	case wire.MsgReadIndex:
		c.send(wire.Message{Type: wire.MsgReadIndexResp, To: m.From, Context: m.Context, Reject: true})
	}
}

func (c *Core) handleAppend(m wire.Message) {
	if m.Index < c.log.committed {
		// Everything up to our commit index already matches the leader.
		c.send(wire.Message{Type: wire.MsgAppResp, To: m.From, Index: c.log.committed})
		return
	}
	// An entry at our commit index matches the leader's (Leader
	// Completeness) even where compaction forgot its term.
	atCommit := m.Index == c.log.committed
	if !c.log.matchTerm(m.Index, m.LogTerm) && !atCommit {
		hint, hintTerm := c.log.conflictHint(m.Index, m.LogTerm)
		c.send(wire.Message{Type: wire.MsgAppResp, To: m.From, Index: m.Index, Reject: true, RejectHint: hint, LogTerm: hintTerm})
		return
	}
	lastNew := m.Index + uint64(len(m.Entries))
	if ci := c.log.findConflict(m.Entries); ci != 0 {
		c.appendEntries(m.Entries[ci-m.Index-1:])
	}
	// Only entries we now know match the leader may be committed.
	c.log.commitTo(min(m.Commit, lastNew))
	c.send(wire.Message{Type: wire.MsgAppResp, To: m.From, Index: lastNew})
}

func (c *Core) stepLeader(m wire.Message) {
	pr := c.prs[m.From]
	if pr == nil {
		return // not a member (any more)
	}
	pr.recentActive, pr.lastHeard = true, c.ticks
	switch m.Type {
	case wire.MsgAppResp:
		c.handleAppResp(m, pr)
	case wire.MsgHeartbeatResp:
		pr.probeSent = false
		pr.leaseTick = max(pr.leaseTick, m.Tick)
		if m.Index < pr.match && pr.pendingSnap == 0 {
			// The follower lost entries it had acknowledged (its disk was
			// wiped): find where it really is, from scratch.
			pr.match = m.Index
			pr.becomeProbe()
		}
		if pr.replicating && len(pr.inflight) >= c.cfg.MaxInflight {
			// Appends may have been lost; let one more through so a
			// rejection can tell us where the follower really is.
			pr.inflight = pr.inflight[1:]
		}
		if m.Context > pr.readAck {
			pr.readAck = m.Context
			c.releaseReads()
		}
		if pr.match < c.log.lastIndex() {
			// Everything may already be out and lost: send even an empty
			// append, whose answer tells us where the follower's log ends.
			c.maybeSendAppend(m.From, true)
		}
	case wire.MsgReadIndex:
		c.startRead(m.From, m.Context)
	}
}

func (c *Core) handleAppResp(m wire.Message, pr *progress) {
	if m.Reject {
		// Ignore rejections of probes we already moved past.
		if (pr.replicating && m.Index <= pr.match) || (!pr.replicating && m.Index != pr.next-1) {
			return
		}
		next := m.RejectHint
		if m.LogTerm > 0 {
			next, _ = c.log.conflictHint(m.RejectHint, m.LogTerm)
		}
		pr.becomeProbe()
		pr.next = max(min(m.Index, next+1), pr.match+1)
		c.sendAppend(m.From)
		return
	}
	if !pr.acked(m.Index) {
		return
	}
	if !pr.replicating {
		pr.becomeReplicate()
	}
	if c.maybeCommit() {
		c.bcastAppend()
	} else {
		c.sendAppend(m.From)
	}
	if m.From == c.transferee && pr.match == c.log.lastIndex() {
		c.sendTimeoutNow(m.From)
	}
	// Last: the commit that removed us has gone out to the others.
	c.afterCommit()
}

// maybeCommit advances the commit index to what a quorum has stored, but
// only through an entry of the current term (Raft §5.4.2, Figure 8).
func (c *Core) maybeCommit() bool {
	q := quorum.Index(c.voters, func(id wire.NodeID) uint64 { return c.prs[id].match })
	if t, ok := c.log.term(q); !ok || t != c.term || !c.log.commitTo(q) {
		return false
	}
	c.serveWaitingReads()
	return true
}

func (c *Core) sendAppend(to wire.NodeID) { c.maybeSendAppend(to, false) }

// maybeSendAppend sends the follower what it lacks. sendIfEmpty sends an
// append even when there is nothing new to tell a streaming follower.
func (c *Core) maybeSendAppend(to wire.NodeID, sendIfEmpty bool) {
	pr := c.prs[to]
	if pr.paused(c.cfg.MaxInflight) {
		return
	}
	prev := pr.next - 1
	prevTerm, ok := c.log.term(prev)
	if !ok {
		c.sendSnapshot(to, pr) // compacted away
		return
	}
	ents := c.log.slice(pr.next, c.log.lastIndex()+1, c.cfg.MaxMsgBytes)
	if len(ents) == 0 && pr.replicating && !sendIfEmpty &&
		(pr.sentCommit >= c.log.committed || len(pr.inflight) > 0) {
		// Nothing new to tell this follower, or only the commit index,
		// which the answer to an append in flight will prompt us to send
		// anyway (or the next append carries): a commit-only append per
		// batch would double the messages under load.
		return
	}
	pr.sentCommit = c.log.committed
	c.send(wire.Message{Type: wire.MsgApp, To: to, Index: prev, LogTerm: prevTerm, Entries: ents, Commit: c.log.committed})
	last := prev
	if len(ents) > 0 {
		last = ents[len(ents)-1].Index
	}
	pr.sent(last, len(ents))
}

func (c *Core) bcastAppend() {
	for _, id := range c.replicas {
		c.sendAppend(id)
	}
}

func (c *Core) bcastHeartbeat(readRound uint64) {
	for _, id := range c.replicas {
		// Never tell a follower to commit past what it matches: its log
		// beyond that may still hold entries the leader will overwrite.
		commit := min(c.prs[id].match, c.log.committed)
		c.send(wire.Message{Type: wire.MsgHeartbeat, To: id, Commit: commit, Context: readRound, Tick: c.ticks})
	}
}

func (c *Core) appendLocal(ents []wire.Entry) {
	last := c.log.lastIndex()
	for i := range ents {
		ents[i].Index = last + 1 + uint64(i)
		ents[i].Term = c.term
	}
	c.appendEntries(ents)
}

// Propose appends commands to the leader's log and returns the index and
// term of the first. It fails with *NotLeaderError on other nodes.
func (c *Core) Propose(data ...[]byte) (uint64, uint64, error) {
	if c.role != Leader {
		return 0, 0, &NotLeaderError{Leader: c.lead}
	}
	if c.transferee != wire.None {
		return 0, 0, ErrProposalDropped
	}
	if len(data) == 0 {
		return 0, 0, ErrEmptyProposal
	}
	ents := make([]wire.Entry, len(data))
	for i, d := range data {
		ents[i].Data = d
	}
	c.appendLocal(ents)
	c.bcastAppend()
	return ents[0].Index, c.term, nil
}
