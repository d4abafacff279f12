package raft

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// fakeClock is a clock a test moves by hand. Its ticker channel is
// unbuffered: wake returns once the driver took the wake-up, and the next
// wake returns only after the driver finished handling the previous one.
type fakeClock struct {
	mu  sync.Mutex // guards now
	now time.Time
	c   chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), c: make(chan time.Time)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) Ticker(time.Duration) (<-chan time.Time, func()) { return f.c, func() {} }

// wake moves the clock on by d and wakes the driver's ticker.
func (f *fakeClock) wake(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	now := f.now
	f.mu.Unlock()
	f.c <- now
}

// clockStorage is an in-memory Storage.
type clockStorage struct {
	mu   sync.Mutex // guards hs and ents
	hs   wire.HardState
	ents []wire.Entry
}

func (s *clockStorage) Load() (wire.HardState, []wire.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hs, append([]wire.Entry(nil), s.ents...), nil
}

func (s *clockStorage) Save(hs *wire.HardState, ents []wire.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if hs != nil {
		s.hs = *hs
	}
	if len(ents) > 0 {
		keep := 0
		for keep < len(s.ents) && s.ents[keep].Index < ents[0].Index {
			keep++
		}
		s.ents = append(s.ents[:keep], ents...)
	}
	return nil
}

func (s *clockStorage) TruncatePrefix(uint64) error { return nil }
func (s *clockStorage) SizeBytes() int64            { return 0 }
func (s *clockStorage) Reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ents = nil
	return nil
}

type clockTransport struct{}

func (clockTransport) Send([]wire.Message)          {}
func (clockTransport) Receive() <-chan wire.Message { return nil }
func (clockTransport) SendSnapshot(context.Context, SnapshotHeader, int64, io.Reader) error {
	return errors.New("no snapshots")
}
func (clockTransport) IncomingSnapshots() <-chan *IncomingSnapshot { return nil }

type clockSM struct{}

func (clockSM) Apply([]wire.Entry) error { return nil }
func (clockSM) AppliedIndex() uint64     { return 0 }
func (clockSM) AppliedTerm() uint64      { return 0 }
func (clockSM) Sync() error              { return nil }
func (clockSM) Snapshot(func(index, term uint64) (io.Writer, error)) error {
	return errors.New("no snapshots")
}
func (clockSM) Restore(io.Reader, uint64, uint64) error { return errors.New("no snapshots") }

// TestNodeFakeClockTicks drives a real Node's driver with an injected
// clock: ticker wake-ups with the clock standing still give the core no
// ticks; the election starts only once the clock passed the election
// timeout; and after a jump of an hour tickUpTo catches up by its limit of
// four election timeouts, not by the hour's 360000 ticks.
func TestNodeFakeClockTicks(t *testing.T) {
	clk := newFakeClock()
	tick := 10 * time.Millisecond
	n, err := StartNode(NodeConfig{
		ID: 1, Peers: []wire.NodeID{1}, TickInterval: tick,
		ElectionTimeoutMin: 100 * time.Millisecond, ElectionTimeoutMax: 200 * time.Millisecond,
		HeartbeatInterval: 20 * time.Millisecond, Seed: 1,
		Storage: &clockStorage{}, Transport: clockTransport{}, StateMachine: clockSM{},
		clock: clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	minTicks, maxTicks := n.core.Config().ElectionTickMin, n.core.Config().ElectionTickMax
	if minTicks != 10 || maxTicks != 20 {
		t.Fatalf("election timeout of %d-%d ticks, want 10-20", minTicks, maxTicks)
	}
	for range 100 {
		clk.wake(0) // time stands still: however often the ticker fires
	}
	clk.wake(time.Duration(minTicks-1) * tick) // one tick short of the shortest timeout
	clk.wake(0)                                // the driver has handled that wake-up
	if st := n.Status(); st.Term != 0 || st.Role != core.Follower {
		t.Fatalf("campaigned before an election timeout passed on the clock: %+v", st)
	}
	clk.wake(time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for n.Status().Role != core.Leader {
		if time.Now().After(deadline) {
			t.Fatalf("no election after the clock jumped an hour: %+v", n.Status())
		}
		time.Sleep(time.Millisecond)
	}
	clk.wake(0)    // next tick is due one interval after the jump, not before
	clk.wake(tick) // one more
	n.Stop()       // the driver is done: its fields are safe to read
	if want := uint64(minTicks-1) + uint64(4*maxTicks) + 1; n.tickNum != want {
		t.Fatalf("the core got %d ticks, want %d (%d before the jump, the cap of %d, one after)",
			n.tickNum, want, minTicks-1, 4*maxTicks)
	}
}
