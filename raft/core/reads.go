package core

import (
	"math"
	"slices"

	"github.com/raftkv/raftkv/raft/quorum"
	"github.com/raftkv/raftkv/raft/wire"
)

// ReadIndex starts a linearizable read registered under ctx, which must be
// non-zero and unique on this node. The answer arrives as a ReadState in a
// later Ready: serve the read once the state machine has applied its Index.
// Reads started before the next Ready share one heartbeat round.
func (c *Core) ReadIndex(ctx uint64) error {
	switch {
	case c.role == Leader:
		c.startRead(c.id, ctx)
	case c.lead != wire.None:
		c.send(wire.Message{Type: wire.MsgReadIndex, To: c.lead, Context: ctx})
	default:
		return ErrNoLeader
	}
	return nil
}

func (c *Core) committedInTerm() bool {
	t, _ := c.log.term(c.log.committed)
	return t == c.term
}

func (c *Core) startRead(from wire.NodeID, ctx uint64) {
	req := readReq{from: from, ctx: ctx}
	if !c.committedInTerm() {
		// Until our no-op commits we do not know the true commit index.
		req.waiting = true
		c.readQueue = append(c.readQueue, req)
		return
	}
	c.queueRead(req)
}

func (c *Core) queueRead(req readReq) {
	req.index, req.waiting = c.log.committed, false
	if c.soleVoter() {
		c.deliverRead(req)
		return
	}
	if !c.readRoundOpen {
		c.readSeq++
		c.readRoundOpen = true
		c.bcastHeartbeat(c.readSeq)
	}
	req.round = c.readSeq
	c.readQueue = append(c.readQueue, req)
}

func (c *Core) deliverRead(req readReq) {
	if req.from == c.id {
		c.readStates = append(c.readStates, ReadState{Context: req.ctx, Index: req.index})
		return
	}
	c.send(wire.Message{Type: wire.MsgReadIndexResp, To: req.from, Context: req.ctx, Index: req.index})
}

// releaseReads delivers every read whose heartbeat round a quorum has
// acknowledged: those peers still followed us after the read arrived, so
// no other leader could have committed anything we do not know of.
func (c *Core) releaseReads() {
	confirmed := quorum.Index(c.voters, func(id wire.NodeID) uint64 {
		if id == c.id {
			return math.MaxUint64
		}
		return c.prs[id].readAck
	})
	kept := c.readQueue[:0]
	for _, req := range c.readQueue {
		if !req.waiting && req.round <= confirmed {
			c.deliverRead(req)
		} else {
			kept = append(kept, req)
		}
	}
	c.readQueue = kept
}

// serveWaitingReads starts the rounds of reads that waited for the first
// commit of this leader's term.
func (c *Core) serveWaitingReads() {
	if !c.committedInTerm() {
		return
	}
	for i := range c.readQueue {
		if c.readQueue[i].waiting {
			req := c.readQueue[i]
			c.readQueue = slices.Delete(c.readQueue, i, i+1)
			c.queueRead(req)
			c.serveWaitingReads()
			return
		}
	}
}

// dropReads fails every pending read; called when leadership is lost.
func (c *Core) dropReads() {
	for _, req := range c.readQueue {
		if req.from == c.id {
			c.readStates = append(c.readStates, ReadState{Context: req.ctx, Dropped: true})
		} else {
			c.send(wire.Message{Type: wire.MsgReadIndexResp, To: req.from, Context: req.ctx, Reject: true})
		}
	}
	c.readQueue = nil
}

// LeaseRead returns the index a read may be served at without a round
// trip, when this node is the leader and its lease holds: a quorum
// answered heartbeats sent within the last LeaseTicks ticks, so no other
// leader can have been elected since. ok is false otherwise (the caller
// falls back to ReadIndex). The lease is void for the rest of the term once
// a leadership transfer sent MsgTimeoutNow: the election it triggers ignores
// followers' leases, even if it starts after the transfer was given up.
func (c *Core) LeaseRead() (index uint64, ok bool) {
	if c.role != Leader || c.cfg.LeaseTicks <= 0 || c.transferee != wire.None || c.leaseRevoked || !c.committedInTerm() {
		return 0, false
	}
	if !c.soleVoter() {
		since := quorum.Index(c.voters, func(id wire.NodeID) uint64 {
			if id == c.id {
				return c.ticks
			}
			return c.prs[id].leaseTick
		})
		if since == 0 || c.ticks-since >= uint64(c.cfg.LeaseTicks) {
			return 0, false
		}
	}
	return c.log.committed, true
}

// bestTransferee is the voter with the longest matching log, the one that
// can take over soonest; None when this node is the only voter.
func (c *Core) bestTransferee() wire.NodeID {
	best := wire.None
	for _, id := range c.voters {
		if id != c.id && (best == wire.None || c.prs[id].match > c.prs[best].match) {
			best = id
		}
	}
	return best
}

// Transferee is the target of the leadership transfer under way, or None.
func (c *Core) Transferee() wire.NodeID { return c.transferee }

// sendTimeoutNow tells `to` to campaign at once. Its election ignores the
// voters' leases, and the message may arrive late, after this leader gave
// the transfer up: from here on in this term, no lease is trusted.
func (c *Core) sendTimeoutNow(to wire.NodeID) {
	c.leaseRevoked = true
	c.send(wire.Message{Type: wire.MsgTimeoutNow, To: to})
}

// TransferLeader asks the leader to hand leadership to `to` (to None: to
// the most up-to-date follower): it brings
// `to` up to date, then tells it to campaign at once. Proposals are
// refused meanwhile; the transfer is abandoned after an election timeout.
func (c *Core) TransferLeader(to wire.NodeID) error {
	if c.role != Leader {
		return &NotLeaderError{Leader: c.lead}
	}
	if to == wire.None {
		to = c.bestTransferee()
	}
	if to == c.id || !c.members.IsVoter(to) {
		return nil // learners cannot lead; unknown nodes are no one
	}
	c.transferee = to
	c.electionElapsed = 0
	if c.prs[to].match == c.log.lastIndex() {
		c.sendTimeoutNow(to)
	} else {
		c.sendAppend(to)
	}
	return nil
}
