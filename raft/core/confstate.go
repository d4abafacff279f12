package core

import (
	"fmt"
	"slices"

	"github.com/raftkv/raftkv/raft/wire"
)

// confAt is a membership and the log index it holds from.
type confAt struct {
	index uint64
	m     Membership
}

// The core keeps every configuration still in its log, oldest first, so
// that a leader overwriting an uncommitted change rolls the membership back
// with the entries. confs[0] is the base: the bootstrap membership, or the
// one recorded with the snapshot the log starts from.

func (c *Core) initConfs(base Membership, baseIndex uint64, entries []wire.Entry) error {
	c.confs = []confAt{{index: baseIndex, m: base}}
	if _, err := c.noteConfEntries(entries); err != nil {
		return err
	}
	c.confChanged()
	return nil
}

// noteConfEntries records the configuration entries among ents, which were
// just appended to the log (replacing whatever was at their indexes), and
// reports whether the list of configurations changed.
func (c *Core) noteConfEntries(ents []wire.Entry) (bool, error) {
	if len(ents) == 0 {
		return false, nil
	}
	first := ents[0].Index
	n := len(c.confs)
	for n > 1 && c.confs[n-1].index >= first {
		n-- // overwritten by a new leader: never committed
	}
	changed := n < len(c.confs)
	c.confs = c.confs[:n]
	for _, e := range ents {
		if e.Type != wire.EntryConfChange {
			continue
		}
		m, err := DecodeMembership(e.Data)
		if err != nil {
			return changed, fmt.Errorf("raft: configuration entry %d: %w", e.Index, err)
		}
		c.confs = append(c.confs, confAt{index: e.Index, m: m})
		changed = true
	}
	return changed, nil
}

// appendEntries puts ents in the log and follows any membership they
// change. A malformed configuration entry cannot be applied safely, so it
// is fatal, like a corrupt log.
func (c *Core) appendEntries(ents []wire.Entry) {
	c.log.appendEntries(ents)
	changed, err := c.noteConfEntries(ents)
	if err != nil {
		panic(err)
	}
	if changed {
		c.confChanged() // only then: this is every append's path
	}
}

// resetConfs makes m, recorded with the snapshot at index, the only one.
func (c *Core) resetConfs(m Membership, index uint64) {
	c.confs = []confAt{{index: index, m: m}}
	c.confChanged()
}

// compactConfs forgets configurations superseded at or before index.
func (c *Core) compactConfs(index uint64) {
	i := 0
	for i+1 < len(c.confs) && c.confs[i+1].index <= index {
		i++
	}
	c.confs = slices.Delete(c.confs, 0, i)
}

// confChanged brings the derived state in line with the latest membership.
func (c *Core) confChanged() {
	cur := c.confs[len(c.confs)-1].m
	if c.voters != nil && cur.Equal(c.members) {
		return
	}
	c.members, c.voters = cur, cur.Voters()
	if c.voters == nil {
		c.voters = []wire.NodeID{}
	}
	if c.role != Leader {
		return
	}
	last := c.log.lastIndex()
	for _, id := range cur.IDs() {
		if _, ok := c.prs[id]; !ok {
			c.prs[id] = &progress{next: last + 1, lastHeard: c.ticks}
		}
	}
	// A removed member keeps its progress until the removal commits, so
	// that it receives the entry that removes it and then hears it is
	// committed (see afterCommit); it no longer counts meanwhile.
	c.syncReplicas()
	if c.transferee != wire.None && !cur.IsVoter(c.transferee) {
		c.transferee = wire.None
	}
}

// syncReplicas lists, sorted, the nodes the leader replicates to.
func (c *Core) syncReplicas() {
	c.replicas = c.replicas[:0]
	for id := range c.prs {
		if id != c.id {
			c.replicas = append(c.replicas, id)
		}
	}
	slices.Sort(c.replicas)
}

// afterCommit runs on the leader after an ack and on every tick: once the
// latest configuration is committed, removed members get a last heartbeat
// carrying that commit (so they learn they are out and stop) and are
// forgotten; and a leader that removed itself leaves.
func (c *Core) afterCommit() {
	if c.role != Leader || c.confIndex() > c.log.committed {
		return
	}
	gone := false
	for _, id := range c.replicas {
		if c.members.Contains(id) {
			continue
		}
		pr := c.prs[id]
		// Wait until it holds its removal, unless it went silent (then it
		// learns nothing more from us; it never campaigns with that entry,
		// and without it its pre-votes fail against the newer logs).
		if pr.match >= c.confIndex() {
			c.send(wire.Message{Type: wire.MsgHeartbeat, To: id, Commit: c.confIndex(), Tick: c.ticks})
		} else if c.ticks-pr.lastHeard < uint64(c.cfg.ElectionTickMax) {
			continue
		}
		delete(c.prs, id)
		gone = true
	}
	if gone {
		c.syncReplicas()
	}
	c.leaveIfRemoved()
}

// confAt is the membership in force at index, which must not be below
// the last compaction (snapshots are never older than that).
func (c *Core) ConfAt(index uint64) Membership {
	for i := len(c.confs) - 1; i > 0; i-- {
		if c.confs[i].index <= index {
			return c.confs[i].m
		}
	}
	return c.confs[0].m
}

// confIndex is the index of the latest configuration in the log.
func (c *Core) confIndex() uint64 { return c.confs[len(c.confs)-1].index }

// Membership returns the latest membership in the log (which may not be
// committed yet) and the index of the entry that set it.
func (c *Core) Membership() (Membership, uint64) { return c.members.Clone(), c.confIndex() }

// isMember reports whether the membership names this node in this
// incarnation of its data.
func (c *Core) isMember() bool {
	mb, ok := c.members.Get(c.id)
	return ok && c.isSelf(mb)
}

// isSelf reports whether mb, which has this node's id, names this
// incarnation of it. 0 (unknown: a bootstrap member before its incarnation
// was recorded) names it only if this node bootstrapped: a node that
// started empty to join (or was wiped and joins again) may be replaying a
// log prefix written before its id was recorded, about another life of
// that id which may already have voted.
func (c *Core) isSelf(mb Member) bool {
	if mb.Incarnation == 0 {
		return c.bootstrapped()
	}
	return mb.Incarnation == c.cfg.Incarnation
}

// bootstrapped: this node's data began with the bootstrap membership.
func (c *Core) bootstrapped() bool { return len(c.cfg.Bootstrap.Members) > 0 }

// wasSelf reports whether a configuration still held (the snapshot's or a
// later one) names this incarnation of this node.
func (c *Core) wasSelf() bool {
	for _, ca := range c.confs {
		if mb, ok := ca.m.Get(c.id); ok && c.isSelf(mb) {
			return true
		}
	}
	return false
}

// mayVote reports whether this node's vote is its own to give. A node
// with no configuration at all (a wiped disk, or a join not yet caught
// up) or one whose configuration names another incarnation of its id may
// be standing in for a member that already voted, so it must not. A
// member whose configuration does not name it (removed, or holding a
// stale entry that a new leader will overwrite) still votes, as the thesis
// (§4.1) asks: its term and vote are durable, and the new configuration
// may need exactly that vote to elect anyone.
func (c *Core) mayVote() bool {
	if len(c.members.Members) == 0 {
		return false
	}
	if mb, ok := c.members.Get(c.id); ok {
		return c.isSelf(mb)
	}
	// Not named: a removed member, or one holding a stale entry, votes if
	// it was this member (it then holds its term and vote); a node that
	// joined and is not named yet never was.
	return c.bootstrapped() || c.wasSelf()
}

// isVoter reports whether this node may campaign and counts in quorums.
func (c *Core) isVoter() bool { return c.isMember() && c.members.IsVoter(c.id) }

// mayCampaign: a voter of the latest configuration, or of the committed
// one while a change removing it is pending (its vote or its log may be
// what the new configuration needs to elect anyone).
func (c *Core) mayCampaign() bool {
	if c.isVoter() {
		return true
	}
	mb, ok := c.ConfAt(c.log.committed).Get(c.id)
	return ok && !mb.Learner && c.isSelf(mb) && c.confIndex() > c.log.committed
}

// soleVoter reports whether this node alone makes a quorum.
func (c *Core) soleVoter() bool { return len(c.voters) == 1 && c.voters[0] == c.id }

// ProposeConfChange appends one membership change on the leader and
// returns the index and term of its entry. It refuses, with one of the
// ErrConf*/ErrMember* errors, while another change is uncommitted, before
// this leader committed an entry of its term, and when the change makes no
// sense for the current membership; a promotion also needs the learner
// caught up and recently heard from.
func (c *Core) ProposeConfChange(cc ConfChange) (uint64, uint64, error) {
	if c.role != Leader {
		return 0, 0, &NotLeaderError{Leader: c.lead}
	}
	if c.transferee != wire.None {
		return 0, 0, ErrProposalDropped
	}
	if !c.committedInTerm() {
		return 0, 0, ErrConfChangeTooEarly
	}
	if c.confIndex() > c.log.committed {
		return 0, 0, ErrConfChangeInFlight
	}
	next, err := c.members.apply(cc)
	if err != nil {
		return 0, 0, err
	}
	if next.ClusterID == 0 {
		next.ClusterID = c.newClusterID()
	}
	if cc.Type == ConfPromote {
		if err := c.promotable(cc.Member.ID); err != nil {
			return 0, 0, err
		}
	}
	ents := []wire.Entry{{Type: wire.EntryConfChange, Data: EncodeMembership(next)}}
	c.appendLocal(ents)
	c.bcastAppend()
	return ents[0].Index, c.term, nil
}

// promotable reports why learner id cannot vote yet: it must hold all but
// MaxPromoteLag entries and have answered within an election timeout.
func (c *Core) promotable(id wire.NodeID) error {
	pr := c.prs[id]
	last := c.log.lastIndex()
	seen := c.ticks-pr.lastHeard < uint64(c.cfg.ElectionTickMin)
	if !seen || pr.match+c.cfg.MaxPromoteLag < last {
		return &LearnerBehindError{ID: id, Match: pr.match, Last: last, RecentlySeen: seen}
	}
	return nil
}

// autoPromote, on the leader's tick, promotes the first learner that has
// been caught up for AutoPromoteTicks in a row (Consul Autopilot's rule:
// caught up and stable for a while, not just once).
func (c *Core) autoPromote() {
	if c.cfg.AutoPromoteTicks <= 0 {
		return
	}
	for _, mb := range c.members.Members {
		if !mb.Learner {
			continue
		}
		pr := c.prs[mb.ID]
		if c.promotable(mb.ID) != nil {
			pr.caughtUpSince = 0
			continue
		}
		if pr.caughtUpSince == 0 {
			pr.caughtUpSince = c.ticks
		}
		if c.ticks-pr.caughtUpSince >= uint64(c.cfg.AutoPromoteTicks) {
			// Refusals here (a change in flight, too early) are retried
			// on a later tick.
			if _, _, err := c.ProposeConfChange(ConfChange{Type: ConfPromote, Member: Member{ID: mb.ID}}); err == nil {
				return
			}
		}
	}
}

// leaveIfRemoved makes a leader that is no longer a voter in a committed
// configuration hand over to the most up-to-date voter and step down.
func (c *Core) leaveIfRemoved() {
	if c.isVoter() {
		return
	}
	if to := c.bestTransferee(); to != wire.None && c.prs[to].match == c.log.lastIndex() {
		c.sendTimeoutNow(to)
	}
	c.becomeFollower(c.term, wire.None)
}

// newClusterID picks the cluster's id at its first membership change:
// from the seed (the clock's in production), the leader, and where the
// log is, mixed (splitmix64) so that two clusters do not share one, and
// reproducible in a seeded test.
func (c *Core) newClusterID() uint64 {
	z := c.cfg.Seed ^ uint64(c.id)<<48 ^ c.term<<24 ^ c.log.lastIndex()
	z += 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return (z ^ z>>31) | 1
}
