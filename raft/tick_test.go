package raft

import (
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft/core"
)

// TestTickUpToCatchesUpAfterAPause: after the process slept for five
// seconds, the driver gives the core the ticks it missed, so the leader's
// lease is seen to have run out and no lease read is served from it.
func TestTickUpToCatchesUpAfterAPause(t *testing.T) {
	s := newSimClusterWith(t, 3, 1, func(c *core.Config) { c.CheckQuorum, c.LeaseTicks = true, 6 })
	var ld *core.Core
	s.runUntil(2000, "a leader holding a lease", func() bool {
		id, ok := s.leader()
		if !ok {
			return false
		}
		ld = s.nodes[id].core
		_, held := ld.LeaseRead()
		return held
	})
	start := time.Now()
	n := &Node{core: ld, cfg: NodeConfig{TickInterval: 10 * time.Millisecond}, nextTick: start.Add(10 * time.Millisecond)}
	n.tickUpTo(start.Add(5 * time.Millisecond))
	if got := n.tickNum; got != 0 {
		t.Fatalf("%d ticks before one was due", got)
	}
	n.tickUpTo(start.Add(5 * time.Second)) // woken after a 5s pause
	if _, ok := ld.LeaseRead(); ok {
		t.Fatal("lease still held after a 5s pause")
	}
	if want := uint64(4 * ld.Config().ElectionTickMax); n.tickNum != want {
		t.Fatalf("caught up %d ticks, want the cap %d", n.tickNum, want)
	}
	if !n.nextTick.After(start.Add(5 * time.Second)) {
		t.Fatal("next tick not moved past the pause")
	}
}
