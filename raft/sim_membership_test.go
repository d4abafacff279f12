package raft

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/raftkv/raftkv/internal/seeds"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// confAt is the membership the commit record says holds at index: the
// latest committed configuration entry at or before it, or the bootstrap.
func (s *simCluster) confAt(index uint64) core.Membership {
	for i := min(index, uint64(len(s.commits))); i > 0; i-- {
		if e := s.commits[i-1]; e.Type == wire.EntryConfChange {
			m, err := core.DecodeMembership(e.Data)
			if err != nil {
				s.fatalf("committed configuration %d: %v", i, err)
			}
			return m
		}
	}
	if cfg := s.cfg(0); len(cfg.Bootstrap.Members) > 0 {
		return cfg.Bootstrap
	}
	return core.NewMembership(s.cfg(0).Peers...)
}

// newSimGrowCluster is a simulation of voters bootstrapped nodes plus
// spare ones that start empty, waiting to be added.
func newSimGrowCluster(t testing.TB, voters, spares int, seed uint64, adjust func(*core.Config)) *simCluster {
	ids := make([]wire.NodeID, voters)
	for i := range ids {
		ids[i] = wire.NodeID(i)
	}
	s := newSimClusterWith(t, voters, seed, func(c *core.Config) {
		c.Peers = nil
		for _, id := range ids {
			c.Bootstrap.Members = append(c.Bootstrap.Members, simMember(id))
		}
		if adjust != nil {
			adjust(c)
		}
	})
	// Bootstrap members' data has an incarnation too, which the log does
	// not know until a leader records it (as kvserver does at start).
	for _, id := range ids {
		s.nodes[id].incarn = 100 + uint64(id)
		s.start(id)
	}
	for i := range spares {
		id := wire.NodeID(voters + i)
		s.ids = append(s.ids, id)
		s.nodes = append(s.nodes, &simNode{joined: true, incarn: 1})
		s.start(id)
	}
	return s
}

// membershipFault asks the leader for a random membership change and
// checks that a refusal names its reason.
func (s *simCluster) membershipFault() {
	ld, ok := s.leader()
	if !ok {
		return
	}
	c := s.nodes[ld].core
	m, _ := c.Membership()
	id := s.ids[s.rng.IntN(len(s.ids))]
	if w, ok := s.wipedMember(m); ok {
		id = w // an operator replaces the broken member first
	}
	var cc core.ConfChange
	switch mb, in := m.Get(id); {
	case in && mb.Incarnation == 0 && s.nodes[id].incarn != 0:
		cc = core.ConfChange{Type: core.ConfRecordIncarnation, Member: core.Member{ID: id, Incarnation: s.nodes[id].incarn}}
	case !in:
		mb := simMember(id)
		mb.Incarnation = s.nodes[id].incarn
		cc = core.ConfChange{Type: core.ConfAddLearner, Member: mb}
	case mb.Learner && s.rng.IntN(3) > 0:
		cc = core.ConfChange{Type: core.ConfPromote, Member: core.Member{ID: id}}
	default:
		cc = core.ConfChange{Type: core.ConfRemove, Member: core.Member{ID: id}}
	}
	if cc.Type == core.ConfAddLearner {
		if !s.wipeIfOut(id) {
			return
		}
		cc.Member.Incarnation = s.nodes[id].incarn
	}
	_, _, err := c.ProposeConfChange(cc)
	known := []error{core.ErrConfChangeInFlight, core.ErrConfChangeTooEarly, core.ErrLearnerBehind, core.ErrLastVoter, core.ErrProposalDropped,
		core.ErrIncarnationRecorded}
	if err != nil && !slices.ContainsFunc(known, func(k error) bool { return errors.Is(err, k) }) {
		s.fatalf("%v %d refused without a known reason: %v", cc.Type, id, err)
	}
	s.process()
}

// wipeIfOut gives a node that is out of the cluster an empty disk before
// it is added back, as an operator would (its old data says it was
// removed). It refuses while any live node still counts it as a member:
// the removal might not be final yet.
func (s *simCluster) wipeIfOut(id wire.NodeID) bool {
	if s.confAt(uint64(len(s.commits))).Contains(id) {
		return false
	}
	for _, oid := range s.ids {
		if o := s.nodes[oid]; o.up {
			if m, _ := o.core.Membership(); m.Contains(id) {
				return false
			}
		}
	}
	old := s.nodes[id]
	if len(old.applied) > 0 || old.hard.Term > 0 {
		old.closeLog()
		s.nodes[id] = &simNode{joined: true, incarn: old.incarn + 1}
		s.start(id)
	}
	return true
}

// wipeMember loses a member's disk while it is still a member: it comes
// back empty, in a new incarnation, without a bootstrap configuration (as
// kvserver refuses to bootstrap it). Only a member whose incarnation the
// committed configuration records, and one at a time (the next waits until
// that one was removed), so that the cluster keeps a majority of whole
// voters. The wiped node must then never vote or lead as that member.
func (s *simCluster) wipeMember(id wire.NodeID) {
	conf := s.confAt(uint64(len(s.commits)))
	mb, ok := conf.Get(id)
	if !ok || mb.Incarnation == 0 || mb.Incarnation != s.nodes[id].incarn || len(conf.Voters()) < 3 {
		return
	}
	if _, ok := s.wipedMember(conf); ok {
		return // one wiped member at a time
	}
	// Nor while a change is in flight: it could leave two voters, one of
	// them wiped, which is a lost quorum, not a protocol bug.
	ld, ok := s.leader()
	if !ok {
		return
	}
	lc := s.nodes[ld].core
	if m, idx := lc.Membership(); idx > lc.Committed() || len(m.Voters()) < 3 || !m.Contains(id) {
		return
	}
	for _, oid := range s.ids {
		if o := s.nodes[oid]; o.up {
			if m, _ := o.core.Membership(); len(m.Voters()) < 3 || !m.Contains(id) {
				return
			}
		}
	}
	s.nodes[id].closeLog()
	s.nodes[id] = &simNode{joined: true, incarn: s.nodes[id].incarn + 1000}
	s.start(id)
	s.wipes++
}

// wipedMember is a member of m whose recorded incarnation is not its
// node's: one wipeMember made.
func (s *simCluster) wipedMember(m core.Membership) (wire.NodeID, bool) {
	for _, o := range m.Members {
		if o.Incarnation != 0 && o.Incarnation != s.nodes[o.ID].incarn {
			return o.ID, true
		}
	}
	return wire.None, false
}

// checkMembership holds at every step: a leader is a voter of its own
// configuration (or leaving it), and learners never campaign.
func (s *simCluster) checkMembership() {
	for _, id := range s.ids {
		n := s.nodes[id]
		if !n.up {
			continue
		}
		c := n.core.Inspect()
		switch c.Role {
		case core.Candidate, core.PreCandidate:
			if !c.MayCampaign && c.Role == core.Candidate {
				s.fatalf("node %d campaigns as a non-voter of %+v", id, c.Members)
			}
		case core.Leader:
			if !c.Voter && c.ConfIndex <= c.Committed {
				s.fatalf("node %d leads while not a voter of its committed configuration", id)
			}
		}
		// A wiped member learns from the log that it is another
		// incarnation, and from then on never votes or campaigns.
		if mb, ok := c.Members.Get(id); ok && mb.Incarnation != 0 && mb.Incarnation != n.incarn {
			if c.MayVote || c.MayCampaign || c.Role == core.Leader {
				s.fatalf("node %d (incarnation %d) acts as the member recorded with incarnation %d", id, n.incarn, mb.Incarnation)
			}
		}
	}
}

// TestSimMembershipFaults draws membership changes (add a learner,
// promote, remove, the leader too, re-add after a wipe) among the random
// faults, on 3-, 5- and 7-node clusters with two spare nodes each, keeping
// every invariant the simulation checks.
func TestSimMembershipFaults(t *testing.T) {
	n, steps := 120, 1500
	if testing.Short() {
		n, steps = 24, 1000
	}
	if *seedsFlag > 0 {
		n = *seedsFlag
	}
	changes, wipes := 0, 0
	for _, seed := range seeds.List(n) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			c, w := runMembershipFaults(t, seed, steps)
			changes, wipes = changes+c, wipes+w
		})
	}
	t.Logf("%d seeds, %d membership changes committed, %d members wiped", n, changes, wipes)
	if wipes == 0 {
		t.Error("no member was wiped")
	}
	if changes < n {
		t.Errorf("only %d membership changes committed over %d seeds", changes, n)
	}
}

func runMembershipFaults(t *testing.T, seed uint64, steps int) (changes, wipes int) {
	size := []int{3, 5, 7}[seed%3]
	s := newSimGrowCluster(t, size, 2, seed, func(c *core.Config) {
		c.PreVote = seed/3%4 != 1
		c.CheckQuorum = seed/3%4 != 2
		c.MaxPromoteLag = 4
	})
	s.reorder = true
	s.dropRate = 0.03 + 0.05*s.rng.Float64()
	s.dupRate, s.delayRate, s.maxDelay = 0.02, 0.05, 8
	randomNode := func() wire.NodeID { return s.ids[s.rng.IntN(len(s.ids))] }
	proposed := 0
	for range steps {
		switch r := s.rng.IntN(1000); {
		case r < 200:
			if _, ok := s.propose(fmt.Sprintf("v%d", proposed)); ok {
				proposed++
			}
		case r < 240:
			s.membershipFault()
		case r < 260:
			if id := randomNode(); s.nodes[id].up {
				s.read(id)
				s.leaseRead(id)
			}
		case r < 270:
			if ld, ok := s.leader(); ok {
				_ = s.nodes[ld].core.TransferLeader(randomNode())
				s.process()
			}
		case r < 285:
			s.crash(randomNode())
		case r < 320:
			s.restartAll()
		case r < 335:
			s.isolate(randomNode())
		case r < 370:
			s.heal()
		case r < 385:
			s.takeSnapshot(randomNode(), uint64(s.rng.IntN(6)))
		case r < 390:
			s.wipeMember(randomNode())
		}
		s.step()
		s.checkMembership()
	}
	s.heal()
	s.restartAll()
	s.dupRate, s.delayRate = 0, 0
	s.waitLeader(400)
	s.dropRate = 0
	// The commit record may lag the new leader's log here, so the final
	// configuration is read at the index "final" commits at, not before.
	idx := s.one("final", 1)
	s.runUntil(300, "every member applies everything", func() bool {
		for _, mb := range s.confAt(idx).Members {
			if uint64(len(s.nodes[mb.ID].applied)) < uint64(len(s.commits)) {
				return false
			}
		}
		return true
	})
	for _, e := range s.commits {
		if e.Type == wire.EntryConfChange {
			changes++
		}
	}
	return changes, s.wipes
}

// simMember is a member with the addresses a real node would have.
func simMember(id wire.NodeID) core.Member {
	return core.Member{ID: id, RaftAddr: fmt.Sprintf("tcp://127.0.0.1:%d", 7000+id), HTTPAddr: fmt.Sprintf("127.0.0.1:%d", 8000+id)}
}
