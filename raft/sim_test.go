package raft

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// simNode is one core plus the durable state a crash would leave behind.
type simNode struct {
	core    *Core
	hard    HardState
	stored  []Entry // what "disk" holds
	applied []Entry // what the state machine applied, in order
	up      bool
}

// simCluster runs cores deterministically: every random choice (message
// order, drops, crashes) comes from one seeded generator, so a failing seed
// replays exactly.
type simCluster struct {
	t        testing.TB
	seed     uint64
	rng      *rand.Rand
	nodes    map[NodeID]*simNode
	ids      []NodeID
	inflight []Message
	cut      map[[2]NodeID]bool // directed links that drop everything
	dropRate float64
	reorder  bool
	cfg      func(id NodeID) Config
	leaders  map[uint64]NodeID // term -> leader, for election safety
	commits  map[uint64]Entry  // index -> committed entry, for state machine safety
	steps    int
	msgCount int
}

func defaultSimConfig(ids []NodeID, seed uint64) func(NodeID) Config {
	return func(id NodeID) Config {
		return Config{ID: id, Peers: ids, ElectionTickMin: 10, ElectionTickMax: 20, HeartbeatTick: 2,
			PreVote: true, CheckQuorum: true, MaxInflight: 8, MaxMsgBytes: 4096, Seed: seed}
	}
}

func newSimCluster(t testing.TB, n int, seed uint64) *simCluster {
	ids := make([]NodeID, n)
	for i := range ids {
		ids[i] = NodeID(i)
	}
	s := &simCluster{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x5eed)), nodes: map[NodeID]*simNode{},
		ids: ids, cut: map[[2]NodeID]bool{}, leaders: map[uint64]NodeID{}, commits: map[uint64]Entry{}}
	s.cfg = defaultSimConfig(ids, seed)
	for _, id := range ids {
		s.nodes[id] = &simNode{}
		s.start(id)
	}
	return s
}

func (s *simCluster) fatalf(format string, args ...any) {
	s.t.Helper()
	s.t.Fatalf("seed %d, step %d: %s", s.seed, s.steps, fmt.Sprintf(format, args...))
}

// start (re)starts a node from its durable state, as after a crash.
func (s *simCluster) start(id NodeID) {
	n := s.nodes[id]
	applied := uint64(0)
	if len(n.applied) > 0 {
		applied = n.applied[len(n.applied)-1].Index
	}
	c, err := NewCore(s.cfg(id), n.hard, slices.Clone(n.stored), applied)
	if err != nil {
		s.fatalf("start %d: %v", id, err)
	}
	n.core, n.up = c, true
}

func (s *simCluster) crash(id NodeID) {
	s.nodes[id].up = false
	s.nodes[id].core = nil
}

func (s *simCluster) isolate(id NodeID) {
	for _, o := range s.ids {
		if o != id {
			s.cut[[2]NodeID{id, o}] = true
			s.cut[[2]NodeID{o, id}] = true
		}
	}
}

func (s *simCluster) heal() { s.cut = map[[2]NodeID]bool{} }

// process drains every node's Ready, as a driver would.
func (s *simCluster) process() {
	for _, id := range s.ids {
		n := s.nodes[id]
		if !n.up {
			continue
		}
		for n.core.HasReady() {
			rd := n.core.Ready()
			if rd.HardState != nil {
				n.hard = *rd.HardState
			}
			if len(rd.Entries) > 0 {
				first := rd.Entries[0].Index
				keep := 0
				for keep < len(n.stored) && n.stored[keep].Index < first {
					keep++
				}
				n.stored = append(slices.Clone(n.stored[:keep]), rd.Entries...)
			}
			for _, m := range rd.Messages {
				s.msgCount++
				m.Entries = slices.Clone(m.Entries)
				s.inflight = append(s.inflight, m)
			}
			for _, e := range rd.CommittedEntries {
				s.checkApply(id, e)
				n.applied = append(n.applied, e)
			}
			n.core.Advance(rd)
		}
		s.checkNode(id)
	}
}

func (s *simCluster) checkApply(id NodeID, e Entry) {
	n := s.nodes[id]
	if want := uint64(len(n.applied)) + 1; e.Index != want && (len(n.applied) == 0 || e.Index != n.applied[len(n.applied)-1].Index+1) {
		s.fatalf("node %d applied index %d out of order (after %d)", id, e.Index, len(n.applied))
	}
	if prev, ok := s.commits[e.Index]; ok {
		if prev.Term != e.Term || string(prev.Data) != string(e.Data) {
			s.fatalf("state machine safety: node %d applied %d/%d %q, another applied %d/%d %q",
				id, e.Index, e.Term, e.Data, prev.Index, prev.Term, prev.Data)
		}
	} else {
		s.commits[e.Index] = e
	}
}

func (s *simCluster) checkNode(id NodeID) {
	c := s.nodes[id].core
	if c.role == Leader {
		if l, ok := s.leaders[c.term]; ok && l != id {
			s.fatalf("election safety: nodes %d and %d both lead term %d", l, id, c.term)
		}
		s.leaders[c.term] = id
		// Leader completeness: a leader holds every committed entry.
		for idx, e := range s.commits {
			if !c.log.matchTerm(idx, e.Term) && idx <= c.log.committed {
				s.fatalf("leader completeness: leader %d of term %d lacks committed %d/%d", id, c.term, idx, e.Term)
			}
		}
	}
	// Committed entries never change.
	for i := c.log.firstIndex(); i <= c.log.committed; i++ {
		if e, ok := s.commits[i]; ok && !c.log.matchTerm(i, e.Term) {
			s.fatalf("node %d committed %d with a term other than the committed %d", id, i, e.Term)
		}
	}
}

// checkLogMatching: if two logs hold an entry with the same index and term,
// they are identical up to it.
func (s *simCluster) checkLogMatching() {
	for _, a := range s.ids {
		for _, b := range s.ids {
			na, nb := s.nodes[a], s.nodes[b]
			if a >= b || !na.up || !nb.up {
				continue
			}
			la, lb := na.core.log, nb.core.log
			hi := min(la.lastIndex(), lb.lastIndex())
			for i := hi; i >= 1; i-- {
				ta, oka := la.term(i)
				tb, okb := lb.term(i)
				if oka && okb && ta == tb {
					for j := i; j >= 1; j-- {
						ta2, ok1 := la.term(j)
						tb2, ok2 := lb.term(j)
						if ok1 && ok2 && ta2 != tb2 {
							s.fatalf("log matching: nodes %d and %d agree at %d but differ at %d", a, b, i, j)
						}
					}
					break
				}
			}
		}
	}
}

// deliver delivers up to n in-flight messages, in random order when
// reorder is set, dropping some when dropRate > 0.
func (s *simCluster) deliver(n int) {
	for ; n > 0 && len(s.inflight) > 0; n-- {
		i := 0
		if s.reorder {
			i = s.rng.IntN(len(s.inflight))
		}
		m := s.inflight[i]
		s.inflight = slices.Delete(s.inflight, i, i+1)
		if s.cut[[2]NodeID{m.From, m.To}] || (s.dropRate > 0 && s.rng.Float64() < s.dropRate) {
			continue
		}
		if dst := s.nodes[m.To]; dst != nil && dst.up {
			dst.core.Step(m)
		}
	}
}

// step runs one round: deliver what is in flight, tick every node, drain.
func (s *simCluster) step() {
	s.steps++
	s.deliver(len(s.inflight))
	s.process()
	for _, id := range s.ids {
		if n := s.nodes[id]; n.up {
			n.core.Tick()
		}
	}
	s.process()
	s.checkLogMatching()
}

func (s *simCluster) run(steps int) {
	for range steps {
		s.step()
	}
}

// leader returns the leader with the highest term among live nodes.
func (s *simCluster) leader() (NodeID, bool) {
	best, term, ok := None, uint64(0), false
	for _, id := range s.ids {
		n := s.nodes[id]
		if n.up && n.core.role == Leader && n.core.term >= term {
			best, term, ok = id, n.core.term, true
		}
	}
	return best, ok
}

func (s *simCluster) waitLeader(maxSteps int) NodeID {
	s.t.Helper()
	for range maxSteps {
		if id, ok := s.leader(); ok {
			return id
		}
		s.step()
	}
	s.fatalf("no leader after %d steps", maxSteps)
	return None
}

// propose proposes on the current leader and returns the index.
func (s *simCluster) propose(data string) (uint64, bool) {
	id, ok := s.leader()
	if !ok {
		return 0, false
	}
	idx, _, err := s.nodes[id].core.Propose([]byte(data))
	if err != nil {
		return 0, false
	}
	s.process()
	return idx, true
}

// appliedOn reports how many live nodes applied index idx.
func (s *simCluster) appliedOn(idx uint64) int {
	n := 0
	for _, id := range s.ids {
		nd := s.nodes[id]
		if nd.up && len(nd.applied) > 0 && nd.applied[len(nd.applied)-1].Index >= idx {
			n++
		}
	}
	return n
}

func TestSimInitialElection(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		s := newSimCluster(t, 3, seed)
		l := s.waitLeader(200)
		term := s.nodes[l].core.term
		s.run(100) // a stable cluster keeps its leader
		if l2, _ := s.leader(); l2 != l || s.nodes[l].core.term != term {
			s.fatalf("leader changed from %d/%d to %d/%d with no faults", l, term, l2, s.nodes[l2].core.term)
		}
	}
}

func TestSimBasicAgree(t *testing.T) {
	s := newSimCluster(t, 5, 7)
	s.waitLeader(200)
	for i := range 50 {
		idx, ok := s.propose(fmt.Sprintf("cmd-%d", i))
		if !ok {
			s.fatalf("propose %d failed", i)
		}
		for range 20 {
			if s.appliedOn(idx) == 5 {
				break
			}
			s.step()
		}
		if got := s.appliedOn(idx); got != 5 {
			s.fatalf("index %d applied on %d of 5 nodes", idx, got)
		}
	}
}

func TestSimRandomFaults(t *testing.T) {
	seeds := uint64(30)
	if testing.Short() {
		seeds = 10
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		s := newSimCluster(t, 5, seed)
		s.reorder = true
		s.dropRate = 0.1
		proposed := 0
		for range 1500 {
			switch r := s.rng.IntN(100); {
			case r < 20:
				if _, ok := s.propose(fmt.Sprintf("v%d", proposed)); ok {
					proposed++
				}
			case r < 22:
				s.crash(s.ids[s.rng.IntN(len(s.ids))])
			case r < 26:
				for _, id := range s.ids {
					if !s.nodes[id].up {
						s.start(id)
					}
				}
			case r < 28:
				s.isolate(s.ids[s.rng.IntN(len(s.ids))])
			case r < 32:
				s.heal()
			}
			s.step()
		}
		// Heal everything; the cluster must converge and commit.
		s.heal()
		s.dropRate = 0
		for _, id := range s.ids {
			if !s.nodes[id].up {
				s.start(id)
			}
		}
		// A proposal can still be lost to one last leader change: retry.
		var idx uint64
		for attempt := 0; attempt < 5 && (idx == 0 || s.appliedOn(idx) < 5); attempt++ {
			s.waitLeader(500)
			var ok bool
			if idx, ok = s.propose("final"); !ok {
				continue
			}
			for range 200 {
				if s.appliedOn(idx) == 5 {
					break
				}
				s.step()
			}
		}
		if got := s.appliedOn(idx); got != 5 {
			s.dump()
			s.fatalf("after healing, index %d applied on %d of 5", idx, got)
		}
	}
}

func (s *simCluster) dump() {
	for _, id := range s.ids {
		n := s.nodes[id]
		if !n.up {
			s.t.Logf("node %d down", id)
			continue
		}
		c := n.core
		s.t.Logf("node %d role=%v term=%d lead=%d last=%d/%d commit=%d applied=%d stable=%d elapsed=%d/%d", id, c.role, c.term, c.lead,
			c.log.lastIndex(), c.log.lastTerm(), c.log.committed, c.log.applied, c.log.stable, c.electionElapsed, c.electionTimeout)
		if c.role == Leader {
			for pid, pr := range c.prs {
				s.t.Logf("   pr %d match=%d next=%d repl=%v probeSent=%v inflight=%d", pid, pr.match, pr.next, pr.replicating, pr.probeSent, len(pr.inflight))
			}
		}
	}
}
