package raft

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/raftkv/raftkv/internal/seeds"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// TestSimRandomFaults runs random schedules over many seeds: proposals,
// reads and leadership transfers under crashes, partitions, drops,
// duplicates, delays and reordering, with every invariant checked at every
// step. Then the faults stop and the cluster must converge and commit.
// A failure names its seed; replay it with -run TestSimRandomFaults -seed S.
func TestSimRandomFaults(t *testing.T) {
	n, steps := 200, 1500
	if testing.Short() {
		n, steps = 30, 1000
	}
	if *seedsFlag > 0 {
		n = *seedsFlag
	}
	before := totalInstalls.Load()
	faultsBefore := totalDiskFaults.Load()
	crashesBefore := [2]int64{totalCrashes[sentEarly].Load(), totalCrashes[persisted].Load()}
	for _, seed := range seeds.List(n) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runRandomFaults(t, seed, steps)
		})
	}
	installs := totalInstalls.Load() - before
	t.Logf("%d seeds, %d snapshots installed through InstallSnapshot", n, installs)
	if installs == 0 && n >= 10 {
		t.Error("no seed exercised InstallSnapshot")
	}
	early := totalCrashes[sentEarly].Load() - crashesBefore[sentEarly]
	saved := totalCrashes[persisted].Load() - crashesBefore[persisted]
	t.Logf("mid-Ready crashes: %d before anything was durable, %d after the Save", early, saved)
	if n >= 10 && (early == 0 || saved == 0) {
		t.Error("a mid-Ready crash point was never exercised")
	}
	faults := totalDiskFaults.Load() - faultsBefore
	t.Logf("%d injected disk faults fired (each crashed its node)", faults)
	if n >= 10 && faults == 0 {
		t.Error("no injected disk fault ever fired")
	}
}

func runRandomFaults(t *testing.T, seed uint64, steps int) {
	// The configuration varies with the seed too: safety must not depend
	// on pre-vote, check-quorum or the flow-control limits.
	size := []int{3, 5, 5, 7}[seed%4]
	pick := seed / 4
	s := newSimClusterWith(t, size, seed, func(c *core.Config) {
		c.PreVote = pick%5 != 1
		c.CheckQuorum = pick%5 != 2
		c.MaxInflight = []int{8, 1, 2}[pick%3]
		c.MaxMsgBytes = []int{4096, 1, 200}[pick%7%3]
	})
	s.reorder = true
	s.dropRate = 0.05 + 0.1*s.rng.Float64()
	s.dupRate = 0.02
	s.delayRate, s.maxDelay = 0.05, 8
	s.midReadyCrash, s.afterSaveCrash = 0.002, 0.002
	proposed := 0
	randomNode := func() wire.NodeID { return s.ids[s.rng.IntN(len(s.ids))] }
	for range steps {
		switch r := s.rng.IntN(1000); {
		case r < 200:
			if _, ok := s.propose(fmt.Sprintf("v%d", proposed)); ok {
				proposed++
			}
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
		case r < 290:
			s.crash(randomNode())
		case r < 330:
			s.restartAll()
		case r < 350:
			s.isolate(randomNode())
		case r < 365:
			perm := s.rng.Perm(len(s.ids))
			k := 1 + s.rng.IntN(len(s.ids)-1)
			var a, b []wire.NodeID
			for i, p := range perm {
				if i < k {
					a = append(a, wire.NodeID(p))
				} else {
					b = append(b, wire.NodeID(p))
				}
			}
			s.partition(a, b)
		case r < 400:
			s.heal()
		case r < 420:
			// Snapshot and compact, keeping a short tail or none: lagging
			// and restarted followers then need InstallSnapshot.
			s.takeSnapshot(randomNode(), uint64(s.rng.IntN(6)))
		case r < 425:
			s.armDiskFault(randomNode())
		}
		s.step()
	}
	// Heal everything; the cluster must converge and commit. Only then are
	// drops off: a leader must also be found under a lossy network.
	s.heal()
	s.midReadyCrash, s.afterSaveCrash = 0, 0
	s.disarmDiskFaults()
	s.restartAll()
	s.dupRate, s.delayRate = 0, 0
	s.waitLeader(300)
	s.dropRate = 0
	s.one("final", size)
	// Every node converges on the whole committed sequence (the harness
	// already checked each applied entry against the commit record).
	s.runUntil(200, "all nodes apply everything", func() bool {
		n, _ := s.nApplied(uint64(len(s.commits)))
		return n == size
	})
	totalInstalls.Add(int64(s.snapshotsInstalled))
	totalDiskFaults.Add(int64(s.diskFaults))
	for p, k := range s.midReadyCrashes {
		totalCrashes[p].Add(int64(k))
	}
}

// totalCrashes counts mid-Ready crashes over all seeds by readyPoint, to
// show both crash points are exercised.
var totalCrashes [2]atomic.Int64

// totalDiskFaults counts injected disk faults that fired, over all seeds.
var totalDiskFaults atomic.Int64

// totalInstalls counts snapshot installs over all seeds, to show the
// InstallSnapshot path is exercised.
var totalInstalls atomic.Int64
