package raft

import (
	"errors"
	"fmt"
	"testing"

	"github.com/raftkv/raftkv/internal/seeds"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// The scenarios below follow the classic Raft test suites (the MIT 6.824
// lab's 2A-2C tests), run over the deterministic simulation: one step is
// one tick with one message hop. The harness checks election safety, log
// matching, leader completeness, state machine safety and durable replies
// at every step; the tests check liveness and the scenario's own claims.

// forSeeds runs f as one subtest per seed.
func forSeeds(t *testing.T, n int, f func(t *testing.T, seed uint64)) {
	for _, seed := range seeds.List(n) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { f(t, seed) })
	}
}

// leaderCount counts connected live leaders (with the term of any).
func (s *simCluster) leaderCount() int {
	n := 0
	for _, id := range s.ids {
		if nd := s.nodes[id]; nd.up && !s.disc[id] && nd.core.Role() == core.Leader {
			n++
		}
	}
	return n
}

func TestSimInitialElection(t *testing.T) {
	forSeeds(t, 10, func(t *testing.T, seed uint64) {
		s := newSimCluster(t, 3, seed)
		l := s.waitLeader(100)
		term := s.nodes[l].core.Term()
		if term < 1 {
			s.fatalf("leader %d in term %d", l, term)
		}
		// With no faults the leader and term stay put.
		for range 200 {
			s.step()
			if l2, _ := s.leader(); l2 != l || s.nodes[l].core.Term() != term || s.leaderCount() != 1 {
				s.fatalf("leader changed from %d/%d with no faults", l, term)
			}
		}
		for _, id := range s.ids {
			if c := s.nodes[id].core; c.Term() != term || c.Leader() != l {
				s.fatalf("node %d in term %d follows %d, want %d/%d", id, c.Term(), c.Leader(), term, l)
			}
		}
	})
}

func TestSimReElection(t *testing.T) {
	forSeeds(t, 10, func(t *testing.T, seed uint64) {
		s := newSimCluster(t, 3, seed)
		l1 := s.waitLeader(100)
		// The leader goes away: a new one is elected.
		s.disconnect(l1)
		l2 := s.waitLeader(100)
		if l2 == l1 {
			s.fatalf("disconnected leader still counted")
		}
		// The old leader comes back: it follows, and does not disturb.
		s.connect(l1)
		s.run(50)
		if l, _ := s.leader(); l != l2 || s.leaderCount() != 1 {
			s.fatalf("after the old leader rejoined: leader %d (%d leaders), want %d", l, s.leaderCount(), l2)
		}
		if c := s.nodes[l1].core; c.Role() != core.Follower || c.Leader() != l2 {
			s.fatalf("old leader is %v following %d", c.Role(), c.Leader())
		}
		// No quorum: no leader.
		s.disconnect(l2)
		s.disconnect((l2 + 1) % 3)
		s.run(100)
		if n := s.leaderCount(); n != 0 {
			s.fatalf("%d leaders without a quorum", n)
		}
		// A quorum again: a leader.
		s.connect((l2 + 1) % 3)
		s.waitLeader(100)
		// Everyone back: still one leader.
		s.connect(l2)
		s.run(50)
		if n := s.leaderCount(); n != 1 {
			s.fatalf("%d leaders with everyone connected", n)
		}
		s.one("x", 3)
	})
}

func TestSimManyElections(t *testing.T) {
	forSeeds(t, 3, func(t *testing.T, seed uint64) {
		s := newSimCluster(t, 7, seed)
		s.waitLeader(100)
		for range 10 {
			// Disconnect three nodes at random: four remain, a majority.
			out := s.rng.Perm(7)[:3]
			for _, id := range out {
				s.disconnect(wire.NodeID(id))
			}
			s.waitLeader(200)
			s.one(fmt.Sprintf("during %v", out), 4)
			for _, id := range out {
				s.connect(wire.NodeID(id))
			}
		}
		s.waitLeader(200)
		s.one("last", 7)
	})
}

func TestSimBasicAgree(t *testing.T) {
	forSeeds(t, 3, func(t *testing.T, seed uint64) {
		s := newSimCluster(t, 5, seed)
		s.waitLeader(100)
		s.run(5) // the no-op (index 1) commits everywhere
		for i := range 10 {
			want := uint64(i + 2)
			if n, _ := s.nApplied(want); n > 0 {
				s.fatalf("index %d applied before it was proposed", want)
			}
			if idx := s.one(fmt.Sprintf("cmd-%d", i), 5); idx != want {
				s.fatalf("cmd-%d got index %d, want %d", i, idx, want)
			}
		}
	})
}

// A follower that was disconnected catches up once it returns.
func TestSimFailAgree(t *testing.T) {
	forSeeds(t, 5, func(t *testing.T, seed uint64) {
		s := newSimCluster(t, 3, seed)
		s.one("101", 3)
		l := s.waitLeader(100)
		s.disconnect((l + 1) % 3)
		for _, c := range []string{"102", "103", "104", "105"} {
			s.one(c, 2)
		}
		s.run(10)
		s.connect((l + 1) % 3)
		s.one("106", 3)
		s.one("107", 3)
	})
}

// Without a majority nothing commits; once healed, the cluster agrees again.
func TestSimFailNoAgree(t *testing.T) {
	forSeeds(t, 5, func(t *testing.T, seed uint64) {
		s := newSimCluster(t, 5, seed)
		s.one("10", 5)
		l := s.waitLeader(100)
		for i := wire.NodeID(1); i <= 3; i++ {
			s.disconnect((l + i) % 5)
		}
		idx, _, err := s.nodes[l].core.Propose([]byte("20"))
		if err != nil {
			s.fatalf("propose on the leader: %v", err)
		}
		s.process()
		commit := s.nodes[l].core.Committed()
		s.run(100)
		if n, _ := s.nApplied(idx); n > 0 {
			s.fatalf("index %d applied on %d nodes without a majority", idx, n)
		}
		if c := s.nodes[l].core.Committed(); c != commit {
			s.fatalf("minority leader's commit moved from %d to %d", commit, c)
		}
		s.heal()
		s.waitLeader(200)
		s.one("30", 5)
		s.one("1000", 5)
	})
}

// Proposals made together (several clients at once) all commit, each once.
func TestSimConcurrentStarts(t *testing.T) {
	forSeeds(t, 5, func(t *testing.T, seed uint64) {
		s := newSimCluster(t, 3, seed)
		s.one("warm-up", 3)
		l := s.waitLeader(100)
		term := s.nodes[l].core.Term()
		want := map[string]uint64{}
		for i := range 5 {
			cmd := fmt.Sprintf("c%d", i)
			idx, tm, err := s.nodes[l].core.Propose([]byte(cmd))
			if err != nil || tm != term {
				s.fatalf("Propose(%s) = %d, %d, %v", cmd, idx, tm, err)
			}
			want[cmd] = idx
		}
		s.process()
		last := s.nodes[l].core.LastIndex()
		s.runUntil(50, "all five applied everywhere", func() bool { n, _ := s.nApplied(last); return n == 3 })
		seen := map[string]int{}
		for _, e := range s.nodes[l].applied {
			seen[string(e.Data)]++
			if idx, ok := want[string(e.Data)]; ok && idx != e.Index {
				s.fatalf("%s applied at %d, proposed at %d", e.Data, e.Index, idx)
			}
		}
		for cmd := range want {
			if seen[cmd] != 1 {
				s.fatalf("%s applied %d times", cmd, seen[cmd])
			}
		}
	})
}

// A partitioned leader with uncommitted entries rejoins and has them
// replaced by what the majority committed.
func TestSimRejoin(t *testing.T) {
	forSeeds(t, 5, func(t *testing.T, seed uint64) {
		s := newSimCluster(t, 3, seed)
		s.one("101", 3)
		l1 := s.waitLeader(100)
		s.disconnect(l1)
		for _, c := range []string{"102", "103", "104"} {
			if _, _, err := s.nodes[l1].core.Propose([]byte(c)); err != nil {
				s.fatalf("propose on the cut-off leader: %v", err)
			}
		}
		s.process()
		s.one("103", 2)
		l2 := s.waitLeader(100)
		s.disconnect(l2)
		s.connect(l1)
		s.one("104", 2)
		s.connect(l2)
		s.one("105", 3)
		// The cut-off leader's 102 never committed.
		for _, e := range s.nodes[l1].applied {
			if string(e.Data) == "102" {
				s.fatalf("uncommitted 102 of the cut-off leader was applied at %d", e.Index)
			}
		}
	})
}

// The lab's Backup test: leaders leave long runs of uncommitted,
// conflicting entries behind; followers must be brought back quickly (fast
// backup skips whole terms, not one entry per round trip).
func TestSimBackup(t *testing.T) {
	forSeeds(t, 3, func(t *testing.T, seed uint64) {
		s := newSimCluster(t, 5, seed)
		s.one("start", 5)
		l1 := s.waitLeader(100)
		// The leader and one follower are cut off; the leader piles up 50
		// entries that cannot commit.
		for i := wire.NodeID(2); i <= 4; i++ {
			s.disconnect((l1 + i) % 5)
		}
		for i := range 50 {
			s.nodes[l1].core.Propose(fmt.Appendf(nil, "lost-a%d", i))
		}
		s.process()
		s.run(20)
		// The other three elect a leader and commit 50.
		s.disconnect(l1)
		s.disconnect((l1 + 1) % 5)
		for i := wire.NodeID(2); i <= 4; i++ {
			s.connect((l1 + i) % 5)
		}
		for i := range 50 {
			s.one(fmt.Sprintf("b%d", i), 3)
		}
		// Now that leader and one of its followers are cut off too, with
		// 50 more uncommitted entries.
		l2 := s.waitLeader(100)
		other := (l1 + 2) % 5
		if other == l2 {
			other = (l1 + 3) % 5
		}
		s.disconnect(other)
		for i := range 50 {
			s.nodes[l2].core.Propose(fmt.Appendf(nil, "lost-c%d", i))
		}
		s.process()
		s.run(20)
		// The first pair comes back with the third node, which must win,
		// and brings them up to date.
		for _, id := range s.ids {
			s.disconnect(id)
		}
		s.connect(l1)
		s.connect((l1 + 1) % 5)
		s.connect(other)
		for i := range 50 {
			s.one(fmt.Sprintf("d%d", i), 3)
		}
		// Everyone back: the last two catch up over roughly 100
		// conflicting entries.
		s.heal()
		msgs, start := s.msgCount, s.steps
		s.one("end", 5)
		last := s.nodes[s.waitLeader(100)].core.LastIndex()
		s.runUntil(100, "everyone applies everything", func() bool { n, _ := s.nApplied(last); return n == 5 })
		steps, apps := s.steps-start, s.msgCount-msgs
		// One entry per round trip would take over 100 steps.
		if steps > 15 || apps > 100 {
			s.fatalf("catching up took %d steps and %d messages", steps, apps)
		}
		t.Logf("final catch-up: %d steps, %d messages", steps, apps)
	})
}

// Messages per agreement stay bounded: elections are cheap, each agreement
// costs a constant number of messages, batching makes entries cheaper
// still, and an idle cluster only heartbeats.
func TestSimCount(t *testing.T) {
	forSeeds(t, 3, func(t *testing.T, seed uint64) {
		s := newSimCluster(t, 3, seed)
		s.waitLeader(100)
		s.run(3)
		if s.msgCount > 60 {
			s.fatalf("%d messages to elect a leader and commit its no-op", s.msgCount)
		}
		l, _ := s.leader()
		term := s.nodes[l].core.Term()

		const n = 20
		msgs, start := s.msgCount, s.steps
		data := s.msgTypes[wire.MsgApp] + s.msgTypes[wire.MsgAppResp]
		for i := range n {
			s.one(fmt.Sprintf("c%d", i), 3)
		}
		if l2, _ := s.leader(); l2 != l || s.nodes[l].core.Term() != term {
			s.fatalf("leader changed during the count")
		}
		// Per agreement, to each of 2 followers: the entry, the commit
		// notice and their answers (8); one more empty append and answer
		// when a heartbeat answer overtakes the entry's (12). Heartbeats
		// come on top: a round (4 messages) every other step.
		data = s.msgTypes[wire.MsgApp] + s.msgTypes[wire.MsgAppResp] - data
		total := s.msgCount - msgs
		if data > 12*n || total > 20*n {
			s.fatalf("%d messages (%d appends and answers) for %d agreements over %d steps", total, data, n, s.steps-start)
		}

		// Batched: many proposals in one go cost about the same as one.
		msgs = s.msgCount
		l, _ = s.leader()
		var batch [][]byte
		for i := range 100 {
			batch = append(batch, fmt.Appendf(nil, "b%d", i))
		}
		s.nodes[l].core.Propose(batch...)
		s.process()
		last := s.nodes[l].core.LastIndex()
		s.runUntil(20, "batch applied", func() bool { k, _ := s.nApplied(last); return k == 3 })
		if total := s.msgCount - msgs; total > 20 {
			s.fatalf("%d messages for one batch of 100 entries", total)
		}

		// Idle: heartbeats and their answers only.
		s.run(5)
		msgs = s.msgCount
		hb := s.msgTypes[wire.MsgHeartbeat]
		const idle = 100
		s.run(idle)
		want := idle / s.cfg(l).HeartbeatTick * 2 * 2
		if total, beats := s.msgCount-msgs, s.msgTypes[wire.MsgHeartbeat]-hb; total > want+4 || 2*beats < total-4 {
			s.fatalf("idle for %d steps: %d messages (%d heartbeats), want about %d", idle, total, beats, want)
		}
	})
}

// Persist1 (the lab's TestPersist1): whole-cluster and single-node crashes;
// terms, votes and logs survive and the cluster carries on.
func TestSimPersist1(t *testing.T) {
	forSeeds(t, 5, func(t *testing.T, seed uint64) {
		s := newSimCluster(t, 3, seed)
		s.one("11", 3)
		before := map[wire.NodeID]wire.HardState{}
		for _, id := range s.ids {
			before[id] = s.nodes[id].core.Inspect().Hard
			s.crash(id)
		}
		s.restartAll()
		for _, id := range s.ids {
			c, n := s.nodes[id].core, s.nodes[id]
			if c.Inspect().Hard != before[id] || c.LastIndex() != n.lastStored() || c.Committed() != uint64(len(n.applied)) {
				s.fatalf("node %d restarted with %+v last %d commit %d; had %+v, %d stored, %d applied",
					id, c.Inspect().Hard, c.LastIndex(), c.Committed(), before[id], n.lastStored(), len(n.applied))
			}
		}
		s.one("12", 3)
		l1 := s.waitLeader(100)
		s.crash(l1)
		s.start(l1)
		s.one("13", 3)
		l2 := s.waitLeader(100)
		s.crash(l2)
		s.one("14", 2)
		s.start(l2)
		last := s.nodes[s.waitLeader(100)].core.LastIndex()
		s.runUntil(100, "restarted leader catches up", func() bool { return s.nodes[l2].core.Committed() >= last })
		i3 := (s.waitLeader(100) + 1) % 3
		s.crash(i3)
		s.one("15", 2)
		s.start(i3)
		s.one("16", 3)
	})
}

// Persist2 (the lab's TestPersist2): repeated crashes of most of a 5-node
// cluster, in changing combinations.
func TestSimPersist2(t *testing.T) {
	forSeeds(t, 3, func(t *testing.T, seed uint64) {
		s := newSimCluster(t, 5, seed)
		index := 1
		for range 5 {
			s.one(fmt.Sprint(10+index), 5)
			index++
			l1 := s.waitLeader(100)
			s.crash((l1 + 1) % 5)
			s.crash((l1 + 2) % 5)
			s.one(fmt.Sprint(10+index), 3)
			index++
			s.crash(l1)
			s.crash((l1 + 3) % 5)
			s.crash((l1 + 4) % 5)
			s.start((l1 + 1) % 5)
			s.start((l1 + 2) % 5)
			s.run(20)
			s.start((l1 + 3) % 5)
			s.one(fmt.Sprint(10+index), 3)
			index++
			s.start((l1 + 4) % 5)
			s.start(l1)
		}
		s.one("1000", 5)
	})
}

// Persist3 (the lab's TestPersist3): a leader and a follower crash while
// the third node is cut off, and the three must recover from disk alone.
func TestSimPersist3(t *testing.T) {
	forSeeds(t, 5, func(t *testing.T, seed uint64) {
		s := newSimCluster(t, 3, seed)
		s.one("101", 3)
		l := s.waitLeader(100)
		s.disconnect((l + 2) % 3)
		s.one("102", 2)
		s.crash(l)
		s.crash((l + 1) % 3)
		s.connect((l + 2) % 3)
		s.start(l)
		s.one("103", 2)
		s.start((l + 1) % 3)
		s.one("104", 3)
	})
}

// Figure8 (the lab's TestFigure8): leaders crash again and again, often
// with entries in flight to only some followers. Safety holds throughout
// (the harness), and the cluster agrees once it is whole again.
func TestSimFigure8(t *testing.T) {
	iters := 1000
	if testing.Short() {
		iters = 300
	}
	forSeeds(t, 6, func(t *testing.T, seed uint64) {
		s := newSimCluster(t, 5, seed)
		s.one("start", 1)
		up := 5
		for i := range iters {
			for _, id := range s.ids {
				if n := s.nodes[id]; n.up && n.core.Role() == core.Leader {
					n.core.Propose(fmt.Appendf(nil, "f%d", i))
					s.process()
				}
			}
			if s.rng.IntN(1000) < 100 {
				s.run(s.rng.IntN(s.cfg(0).ElectionTickMin / 2))
			} else {
				s.run(s.rng.IntN(3))
			}
			if l, ok := s.leader(); ok {
				s.crash(l)
				up--
			}
			if up < 3 {
				if id := wire.NodeID(s.rng.IntN(5)); !s.nodes[id].up {
					s.start(id)
					up++
				}
			}
		}
		s.restartAll()
		s.one("end", 5)
		t.Log(s.stats())
	})
}

// UnreliableAgree (the lab's TestUnreliableAgree): concurrent proposals
// over a network that drops, duplicates, delays and reorders.
func TestSimUnreliableAgree(t *testing.T) {
	forSeeds(t, 4, func(t *testing.T, seed uint64) {
		s := newSimCluster(t, 5, seed)
		s.dropRate, s.dupRate, s.delayRate, s.maxDelay, s.reorder = 0.1, 0.05, 0.1, 5, true
		for iter := 1; iter < 50; iter++ {
			for j := range 4 {
				if l, ok := s.leader(); ok {
					s.nodes[l].core.Propose(fmt.Appendf(nil, "%d-%d", iter, j))
					s.process()
				}
			}
			s.one(fmt.Sprint(iter), 1)
		}
		s.dropRate, s.dupRate, s.delayRate, s.reorder = 0, 0, 0, false
		s.one("100", 5)
		t.Log(s.stats())
	})
}

// Figure8Unreliable (the lab's TestFigure8Unreliable): the Figure 8
// schedule with leaders cut off instead of crashed, over a lossy network
// with long delays and reordering.
func TestSimFigure8Unreliable(t *testing.T) {
	iters := 1000
	if testing.Short() {
		iters = 300
	}
	forSeeds(t, 6, func(t *testing.T, seed uint64) {
		s := newSimCluster(t, 5, seed)
		s.dropRate, s.reorder = 0.1, true
		s.one(fmt.Sprint(s.rng.IntN(10000)), 1)
		up := 5
		for i := range iters {
			if i == iters/5 {
				s.delayRate, s.maxDelay = 0.3, 40 // long reordering
			}
			for _, id := range s.ids {
				if n := s.nodes[id]; n.up && n.core.Role() == core.Leader && !s.disc[id] {
					n.core.Propose(fmt.Appendf(nil, "u%d", i))
					s.process()
				}
			}
			if s.rng.IntN(1000) < 100 {
				s.run(s.rng.IntN(s.cfg(0).ElectionTickMin / 2))
			} else {
				s.run(s.rng.IntN(3))
			}
			if l, ok := s.leader(); ok && s.rng.IntN(1000) < 500 {
				s.disconnect(l)
				up--
			}
			if up < 3 {
				if id := wire.NodeID(s.rng.IntN(5)); s.disc[id] {
					s.connect(id)
					up++
				}
			}
		}
		s.dropRate, s.delayRate, s.reorder = 0, 0, false
		s.heal()
		s.one(fmt.Sprint(s.rng.IntN(10000)), 5)
		t.Log(s.stats())
	})
}

// TestSimSnapshotCatchUp: a follower down while the leader compacts its log
// comes back and catches up through InstallSnapshot, then through appends.
func TestSimSnapshotCatchUp(t *testing.T) {
	for _, seed := range seeds.List(10) {
		s := newSimCluster(t, 3, seed)
		ld := s.waitLeader(300)
		lagger := (ld + 1) % 3
		s.crash(lagger)
		for i := range 40 {
			s.one(fmt.Sprintf("v%d", i), 2)
		}
		for _, id := range s.ids {
			s.takeSnapshot(id, 3)
		}
		if first := s.nodes[ld].core.FirstIndex(); first < 20 {
			s.fatalf("leader log still starts at %d after compaction", first)
		}
		s.start(lagger)
		s.runUntil(300, "the lagging follower to catch up", func() bool {
			n, _ := s.nApplied(uint64(len(s.commits)))
			return n == 3
		})
		if s.snapshotsInstalled == 0 {
			s.fatalf("the lagging follower caught up without a snapshot")
		}
		s.one("after", 3)
		// The snapshot survives a restart of the follower that installed it.
		s.crash(lagger)
		s.start(lagger)
		s.one("after-restart", 3)
	}
}

// TestSimLeaseReadAfterPartition: a leader cut off from the majority keeps
// serving lease reads only until its lease ends, which is before the
// majority can elect a new leader and commit; the harness fails the test
// on any stale lease read.
func TestSimLeaseReadAfterPartition(t *testing.T) {
	for _, seed := range seeds.List(20) {
		s := newSimCluster(t, 5, seed)
		old := s.waitLeader(300)
		s.run(20)
		served := 0
		s.isolate(old)
		for range 200 {
			before := s.leaseReads
			s.leaseRead(old)
			served += s.leaseReads - before
			s.step()
			if id, ok := s.leader(); ok && id != old {
				s.propose("after-partition")
			}
		}
		if served == 0 {
			s.fatalf("the isolated leader never served a lease read, not even right after the partition")
		}
		if _, ok := s.nodes[old].core.LeaseRead(); ok {
			s.fatalf("isolated old leader still holds a lease")
		}
		if uint64(len(s.commits)) == 0 {
			s.fatalf("the majority committed nothing")
		}
	}
}

// A node cut off for many election timeouts does not raise its term (it
// only ever asks for pre-votes), so when it comes back it neither deposes
// the leader nor bumps the cluster's term; it just catches up.
func TestPreVoteIsolatedNodeDoesNotDisrupt(t *testing.T) {
	for _, busy := range []bool{false, true} {
		for _, seed := range seeds.List(4) {
			t.Run(fmt.Sprintf("busy=%v/seed=%d", busy, seed), func(t *testing.T) {
				s := newSimCluster(t, 5, seed)
				s.one("a", 5)
				ld := s.waitLeader(100)
				term := s.nodes[ld].core.Term()
				f := (ld + 1) % 5
				s.isolate(f)
				for i := range 400 {
					if busy && i%40 == 0 {
						s.one(fmt.Sprintf("b%d", i), 4)
					}
					s.step()
					c := s.nodes[f].core
					if c.Term() != term || c.Role() == core.Candidate || c.Role() == core.Leader {
						s.fatalf("isolated node %d: role %v term %d (cluster term %d)", f, c.Role(), c.Term(), term)
					}
				}
				s.heal()
				last := s.nodes[ld].core.LastIndex()
				s.runUntil(100, "rejoined node catches up", func() bool { return s.nodes[f].core.Committed() >= last })
				s.run(100)
				if l2, _ := s.leader(); l2 != ld || s.nodes[ld].core.Term() != term || s.nodes[f].core.Term() != term {
					s.fatalf("rejoin disrupted the cluster: leader %d term %d, was %d term %d", l2, s.nodes[l2].core.Term(), ld, term)
				}
			})
		}
	}
}

// The control for the test above: without pre-vote the same isolation does
// raise the node's term, and its return deposes the leader.
func TestWithoutPreVoteIsolatedNodeDisrupts(t *testing.T) {
	s := newSimClusterWith(t, 5, 1, func(c *core.Config) { c.PreVote, c.CheckQuorum = false, false })
	s.one("a", 5)
	ld := s.waitLeader(100)
	term := s.nodes[ld].core.Term()
	f := (ld + 1) % 5
	s.isolate(f)
	s.run(200)
	if s.nodes[f].core.Term() <= term {
		s.fatalf("isolated node kept term %d without pre-vote", term)
	}
	s.heal()
	s.runUntil(100, "the cluster moves to the rejoined node's term", func() bool {
		l2, ok := s.leader()
		return ok && s.nodes[l2].core.Term() > term
	})
}

// A leader cut off from the majority steps down within about an election
// timeout (check-quorum); the majority elects a new leader; on healing the
// old leader follows it.
func TestCheckQuorumLeaderStepsDown(t *testing.T) {
	for _, seed := range seeds.List(5) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			s := newSimCluster(t, 5, seed)
			old := s.waitLeader(100)
			s.one("a", 5)
			term := s.nodes[old].core.Term()
			s.partition([]wire.NodeID{old, (old + 1) % 5}, []wire.NodeID{(old + 2) % 5, (old + 3) % 5, (old + 4) % 5})
			start := s.steps
			s.runUntil(100, "old leader steps down", func() bool { return s.nodes[old].core.Role() != core.Leader })
			if took, limit := s.steps-start, 2*s.cfg(old).ElectionTickMin+1; took > limit {
				s.fatalf("cut-off leader stepped down after %d ticks, want <= %d", took, limit)
			}
			s.runUntil(200, "majority elects a new leader", func() bool {
				l2, ok := s.leader()
				return ok && l2 != old && s.nodes[l2].core.Term() > term
			})
			s.one("b", 3)
			s.heal()
			s.runUntil(200, "old leader follows the new one", func() bool {
				l2, _ := s.leader()
				c := s.nodes[old].core
				return c.Role() == core.Follower && c.Leader() == l2 && c.Term() == s.nodes[l2].core.Term()
			})
			s.one("c", 5)
		})
	}
}

// The control: without check-quorum the cut-off leader keeps believing it
// leads, which is what makes check-quorum (or ReadIndex) necessary.
func TestWithoutCheckQuorumLeaderStaysLeader(t *testing.T) {
	s := newSimClusterWith(t, 5, 3, func(c *core.Config) { c.CheckQuorum = false })
	old := s.waitLeader(100)
	s.isolate(old)
	s.run(200)
	if s.nodes[old].core.Role() != core.Leader {
		s.fatalf("isolated leader stepped down without check-quorum")
	}
}

// No stale read: a leader cut off in a minority that still believes it
// leads (no check-quorum here) never confirms a read while the majority
// moves on and commits, and fails its reads once it learns the new term.
func TestReadIndexMinorityLeaderNoStaleRead(t *testing.T) {
	for _, checkQuorum := range []bool{false, true} {
		for _, seed := range seeds.List(3) {
			t.Run(fmt.Sprintf("checkQuorum=%v/seed=%d", checkQuorum, seed), func(t *testing.T) {
				s := newSimClusterWith(t, 5, seed, func(c *core.Config) { c.CheckQuorum = checkQuorum })
				s.one("a", 5)
				old := s.waitLeader(100)
				s.partition([]wire.NodeID{old, (old + 1) % 5}, []wire.NodeID{(old + 2) % 5, (old + 3) % 5, (old + 4) % 5})
				before := s.read(old)
				s.runUntil(200, "majority elects a new leader", func() bool {
					l2, ok := s.leader()
					return ok && l2 != old
				})
				s.one("b", 3)
				after := s.read(old) // 0 once the old leader stepped down
				s.run(100)
				if !checkQuorum && s.nodes[old].core.Role() != core.Leader {
					s.fatalf("without check-quorum the cut-off leader should still believe it leads")
				}
				for _, rs := range s.nodes[old].readStates {
					if !rs.Dropped {
						s.fatalf("cut-off leader confirmed read %+v", rs)
					}
				}
				s.heal()
				s.runUntil(100, "old leader steps down", func() bool { return s.nodes[old].core.Role() != core.Leader })
				s.process()
				for _, ctx := range []uint64{before, after} {
					if ctx == 0 {
						continue
					}
					if r := s.reads[ctx]; !r.answered {
						s.fatalf("read %d never failed after the old leader stepped down", ctx)
					}
				}
				for _, rs := range s.nodes[old].readStates {
					if !rs.Dropped {
						s.fatalf("old leader confirmed read %+v", rs)
					}
				}
			})
		}
	}
}

// An up-to-date follower told to take over wins at once, well before any
// election timeout could have fired, and the cluster keeps committing.
func TestTransferLeaderUpToDate(t *testing.T) {
	for _, seed := range seeds.List(5) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			s := newSimCluster(t, 3, seed)
			s.one("a", 3)
			old := s.waitLeader(100)
			term := s.nodes[old].core.Term()
			target := (old + 1) % 3
			if err := s.nodes[old].core.TransferLeader(target); err != nil {
				s.fatalf("TransferLeader: %v", err)
			}
			s.process()
			start := s.steps
			s.runUntil(100, "target leads", func() bool { l, ok := s.leader(); return ok && l == target })
			if took := s.steps - start; took >= s.cfg(target).ElectionTickMin {
				s.fatalf("transfer took %d steps, no faster than an election timeout", took)
			}
			if got := s.nodes[target].core.Term(); got != term+1 {
				s.fatalf("new leader's term %d, want %d", got, term+1)
			}
			s.one("b", 3)
			if c := s.nodes[old].core; c.Role() != core.Follower || c.Leader() != target {
				s.fatalf("old leader: %v following %d", c.Role(), c.Leader())
			}
		})
	}
}

// A lagging target is brought up to date first, then takes over.
func TestTransferLeaderLagging(t *testing.T) {
	for _, seed := range seeds.List(5) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			s := newSimCluster(t, 3, seed)
			s.one("a", 3)
			old := s.waitLeader(100)
			target := (old + 2) % 3
			s.disconnect(target)
			for i := range 20 {
				s.one(fmt.Sprintf("x%d", i), 2)
			}
			if s.nodes[target].core.LastIndex() >= s.nodes[old].core.LastIndex() {
				s.fatalf("target is not behind")
			}
			s.connect(target)
			if err := s.nodes[old].core.TransferLeader(target); err != nil {
				s.fatalf("TransferLeader: %v", err)
			}
			s.process()
			term := s.nodes[old].core.Term()
			start := s.steps
			s.runUntil(100, "target leads", func() bool { l, ok := s.leader(); return ok && l == target })
			if got := s.nodes[target].core.Term(); got != term+1 {
				s.fatalf("new leader's term %d, want %d: it did not win by the transfer", got, term+1)
			}
			// Catching up costs a few round trips (the leader waits for a
			// heartbeat answer before it probes a node it lost track of).
			if took := s.steps - start; took > 2*s.cfg(target).ElectionTickMin {
				s.fatalf("transfer to a lagging node took %d steps", took)
			}
			s.one("b", 3)
		})
	}
}

// While a transfer is under way proposals fail fast; when the target never
// takes over, the leader gives up after an election timeout and serves
// proposals again.
func TestTransferLeaderProposalsFail(t *testing.T) {
	s := newSimCluster(t, 3, 1)
	s.one("a", 3)
	old := s.waitLeader(100)
	target := (old + 1) % 3
	s.disconnect(target)
	ld := s.nodes[old].core
	if err := ld.TransferLeader(target); err != nil {
		s.fatalf("TransferLeader: %v", err)
	}
	if _, _, err := ld.Propose([]byte("x")); !errors.Is(err, core.ErrProposalDropped) {
		s.fatalf("proposal during transfer: %v", err)
	}
	s.runUntil(3*s.cfg(old).ElectionTickMin, "transfer abandoned", func() bool {
		_, _, err := ld.Propose([]byte("y"))
		return err == nil
	})
	if l, _ := s.leader(); l != old || ld.Term() != s.nodes[(old+2)%3].core.Term() {
		s.fatalf("leadership moved although the target was unreachable")
	}
	s.one("b", 2)
}
