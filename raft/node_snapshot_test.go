package raft_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft/wire"
)

func (c *testCluster) write(id wire.NodeID, prefix string, n int) {
	c.t.Helper()
	for i := range n {
		if _, err := c.propose(id, fmt.Sprintf("%s%d", prefix, i)); err != nil {
			c.t.Fatalf("propose %s%d: %v", prefix, i, err)
		}
	}
}

func TestNodeSnapshotsCompactTheLog(t *testing.T) {
	c := newSnapCluster(t, 3, 20)
	lead := c.leader()
	c.write(lead, "v", 200)
	for _, id := range c.ids {
		waitFor(t, fmt.Sprintf("node %d to snapshot and compact", id), func() bool {
			st := c.nodes[id].node.Status()
			return st.Snapshot.Index >= 150 && st.FirstIndex > 100 && c.nodes[id].wal.FirstIndex() > 50
		})
	}
	// An explicit snapshot works too, and reports where it stands.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.write(lead, "w", 3)
	snap, err := c.nodes[lead].node.SnapshotNow(ctx)
	if err != nil || snap.Index < 203 {
		t.Fatalf("SnapshotNow = %+v, %v", snap, err)
	}
}

// TestNodeLaggingFollowerGetsSnapshot: a follower down while the others
// compact their logs comes back through InstallSnapshot over the wire.
func TestNodeLaggingFollowerGetsSnapshot(t *testing.T) {
	c := newSnapCluster(t, 3, 20)
	lead := c.leader()
	lagger := (lead + 1) % 3
	// Isolated too, so that no append reaches its inbox while it is down.
	c.net.Isolate(lagger)
	c.stop(lagger)
	c.write(lead, "v", 150)
	waitFor(t, "the leader to compact past the lagger", func() bool {
		return c.nodes[lead].node.Status().FirstIndex > 50
	})
	c.net.Heal()
	c.start(lagger)
	waitFor(t, "the lagger to catch up", func() bool {
		sm := c.nodes[lagger].sm
		return sm.has("v0") && sm.has("v149")
	})
	if st := c.nodes[lagger].node.Status(); st.Snapshot.Index == 0 {
		t.Fatalf("the lagger caught up without installing a snapshot: %+v", st)
	}
	// Replication continues after the install, and survives a restart.
	c.write(lead, "after", 5)
	waitFor(t, "the lagger to apply new writes", func() bool { return c.nodes[lagger].sm.has("after4") })
	c.stop(lagger)
	c.start(lagger)
	c.write(lead, "again", 1)
	waitFor(t, "the lagger to apply after restart", func() bool { return c.nodes[lagger].sm.has("again0") })
}

// TestNodeWipedFollowerRejoins: a follower that lost its whole data
// directory comes back to the same state as the others.
func TestNodeWipedFollowerRejoins(t *testing.T) {
	c := newSnapCluster(t, 3, 20)
	lead := c.leader()
	c.write(lead, "v", 100)
	victim := (lead + 2) % 3
	waitFor(t, "the leader to compact", func() bool { return c.nodes[lead].node.Status().FirstIndex > 50 })
	c.stop(victim)
	if err := os.RemoveAll(c.nodes[victim].dir); err != nil {
		t.Fatal(err)
	}
	c.nodes[victim].dir = t.TempDir()
	c.nodes[victim].sm = newCounterSM(0)
	c.start(victim)
	defer func() {
		if t.Failed() {
			t.Logf("leader %+v", c.nodes[lead].node.Status())
			t.Logf("victim %+v", c.nodes[victim].node.Status())
			sm := c.nodes[victim].sm
			sm.mu.Lock()
			t.Logf("victim sm: applied %d, %d values, dup %v", sm.applied, len(sm.values), sm.dup)
			sm.mu.Unlock()
		}
	}()
	waitFor(t, "the wiped node to catch up", func() bool {
		sm := c.nodes[victim].sm
		return sm.has("v0") && sm.has("v99")
	})
}

// TestNodeRestartRestoresStateMachineFromSnapshot: a state machine that
// lost its data after the log was compacted is restored from the local
// snapshot at start, then the log replays the rest.
func TestNodeRestartRestoresStateMachineFromSnapshot(t *testing.T) {
	c := newSnapCluster(t, 3, 20)
	lead := c.leader()
	c.write(lead, "v", 300)
	victim := (lead + 1) % 3
	waitFor(t, "the victim to compact", func() bool { return c.nodes[victim].wal.FirstIndex() > 20 })
	c.stop(victim)
	c.nodes[victim].sm = newCounterSM(0) // as if badger lost everything
	c.start(victim)
	waitFor(t, "the victim to hold everything again", func() bool {
		sm := c.nodes[victim].sm
		return sm.has("v0") && sm.has("v299")
	})
}
