package raft

import (
	"testing"
	"time"
)

// TestTickUpToCatchesUpAfterAPause: after the process slept for five
// seconds, the driver gives the core the ticks it missed, so the leader's
// lease is seen to have run out and no lease read is served from it.
func TestTickUpToCatchesUpAfterAPause(t *testing.T) {
	net := newTestNetN(t, 3, func(c *Config) { c.CheckQuorum, c.LeaseTicks = true, 6 })
	net.elect(0)
	ld := net.cores[0]
	ld.Tick()
	net.settle()
	if _, ok := ld.LeaseRead(); !ok {
		t.Fatal("no lease right after a heartbeat round")
	}
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
	if want := uint64(4 * ld.cfg.ElectionTickMax); n.tickNum != want {
		t.Fatalf("caught up %d ticks, want the cap %d", n.tickNum, want)
	}
	if !n.nextTick.After(start.Add(5 * time.Second)) {
		t.Fatal("next tick not moved past the pause")
	}
}
