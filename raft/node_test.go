package raft_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftkv/raftkv/logs"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/transport"
	"github.com/raftkv/raftkv/raft/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// counterSM is a state machine that records every applied entry, so a
// test sees any entry applied twice or out of order.
type counterSM struct {
	mu       sync.Mutex // guards all fields
	applied  uint64
	term     uint64
	values   map[string]uint64 // data -> index it was applied at
	dup      error
	restores int // snapshots restored
	// stall, when set, makes Apply wait until the channel is closed, as
	// a state machine stalled by its disk would.
	stall atomic.Pointer[chan struct{}]
}

func newCounterSM(applied uint64) *counterSM {
	return &counterSM{applied: applied, values: map[string]uint64{}}
}

func (s *counterSM) Apply(ents []wire.Entry) error {
	if g := s.stall.Load(); g != nil {
		<-*g
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range ents {
		if e.Index != s.applied+1 {
			s.dup = fmt.Errorf("applied %d after %d", e.Index, s.applied)
		}
		s.applied, s.term = e.Index, e.Term
		if e.Type == wire.EntryNormal {
			if at, ok := s.values[string(e.Data)]; ok {
				s.dup = fmt.Errorf("%q applied twice, at %d and %d", e.Data, at, e.Index)
			}
			s.values[string(e.Data)] = e.Index
		}
	}
	return nil
}

func (s *counterSM) AppliedIndex() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied
}

func (s *counterSM) Sync() error { return nil }

func (s *counterSM) AppliedTerm() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.term
}

type smImage struct {
	Applied, Term uint64
	Values        map[string]uint64
}

func (s *counterSM) Snapshot(begin func(index, term uint64) (io.Writer, error)) error {
	s.mu.Lock()
	img := smImage{s.applied, s.term, maps.Clone(s.values)}
	s.mu.Unlock()
	w, err := begin(img.Applied, img.Term)
	if err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(img)
}

func (s *counterSM) Restore(r io.Reader, index, term uint64) error {
	var img smImage
	if err := json.NewDecoder(r).Decode(&img); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err // the checksum is verified at EOF
	}
	if img.Applied != index || img.Term != term {
		return fmt.Errorf("image at %d/%d, want %d/%d", img.Applied, img.Term, index, term)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restores++
	s.applied, s.term, s.values = img.Applied, img.Term, img.Values
	return nil
}

func (s *counterSM) has(v string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.values[v]
	return ok
}

type testNode struct {
	id   wire.NodeID
	dir  string
	wal  *logs.Log
	sm   *counterSM
	node *raft.Node
}

type testCluster struct {
	snapEvery uint64 // SnapshotEntries; large by default so most tests never snapshot
	t         testing.TB
	net       *transport.Network
	ids       []wire.NodeID
	boot      []wire.NodeID // the bootstrap voters; a node not among them joins
	nodes     map[wire.NodeID]*testNode
	obs       map[wire.NodeID]raft.Observer // set before start; none when absent
	noForward bool                          // NodeConfig.NoForward, set before start
}

func newTestCluster(t testing.TB, n int) *testCluster { return newSnapCluster(t, n, 1<<30) }

// newSnapCluster snapshots every snapEvery applied entries.
func newSnapCluster(t testing.TB, n int, snapEvery uint64) *testCluster {
	return newObservedCluster(t, n, snapEvery, nil)
}

// newObservedCluster is newSnapCluster with an Observer per node (obs may
// lack some or be nil).
func newObservedCluster(t testing.TB, n int, snapEvery uint64, obs map[wire.NodeID]raft.Observer) *testCluster {
	c := &testCluster{t: t, net: transport.NewNetwork(1), nodes: map[wire.NodeID]*testNode{}, snapEvery: snapEvery, obs: obs}
	for i := range n {
		c.ids = append(c.ids, wire.NodeID(i))
	}
	c.boot = slices.Clone(c.ids)
	for _, id := range c.ids {
		c.nodes[id] = &testNode{id: id, dir: t.TempDir(), sm: newCounterSM(0)}
		c.start(id)
	}
	t.Cleanup(func() {
		for _, id := range c.ids {
			c.stop(id)
		}
		c.net.Close()
	})
	return c
}

func (c *testCluster) start(id wire.NodeID) {
	tn := c.nodes[id]
	opts := logs.Options{NoSync: true}
	if c.snapEvery < 1<<30 {
		opts.SegmentBytes = 4096 // small segments, so that compaction frees some
	}
	wal, err := logs.Open(filepath.Join(tn.dir, "wal"), opts)
	if err != nil {
		c.t.Fatalf("open wal %d: %v", id, err)
	}
	snaps, err := logs.OpenSnapshotStore(filepath.Join(tn.dir, "snap"))
	if err != nil {
		c.t.Fatalf("open snapshot store %d: %v", id, err)
	}
	var peers []wire.NodeID
	if slices.Contains(c.boot, id) {
		peers = c.boot
	}
	node, err := raft.StartNode(raft.NodeConfig{
		ID: id, Peers: peers, TickInterval: 5 * time.Millisecond,
		ElectionTimeoutMin: 100 * time.Millisecond, ElectionTimeoutMax: 200 * time.Millisecond,
		HeartbeatInterval: 20 * time.Millisecond, LeaseClockDrift: 30 * time.Millisecond, Seed: uint64(id) + 1,
		Storage: wal, Transport: c.net.Endpoint(id), StateMachine: tn.sm,
		Snapshots: snaps, SnapshotEntries: c.snapEvery, SnapshotKeepEntries: 5,
		Observer: c.obs[id], NoForward: c.noForward,
	})
	if err != nil {
		c.t.Fatalf("start %d: %v", id, err)
	}
	tn.wal, tn.node = wal, node
}

func (c *testCluster) stop(id wire.NodeID) {
	tn := c.nodes[id]
	if tn.node == nil {
		return
	}
	tn.node.Stop()
	if err := tn.wal.Close(); err != nil {
		c.t.Errorf("close wal %d: %v", id, err)
	}
	tn.node, tn.wal = nil, nil
	if tn.sm.dup != nil {
		c.t.Errorf("node %d: %v", id, tn.sm.dup)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leader waits until the running nodes agree on one leader.
func (c *testCluster) leader() wire.NodeID {
	c.t.Helper()
	var lead wire.NodeID
	waitFor(c.t, "a leader", func() bool {
		lead = wire.None
		for _, id := range c.ids {
			tn := c.nodes[id]
			if tn.node == nil {
				continue
			}
			if st := tn.node.Status(); st.Role == core.Leader {
				lead = id
			}
		}
		if lead == wire.None {
			return false
		}
		for _, id := range c.ids {
			if tn := c.nodes[id]; tn.node != nil && tn.node.Status().Leader != lead {
				return false
			}
		}
		return true
	})
	return lead
}

func (c *testCluster) propose(id wire.NodeID, v string) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.nodes[id].node.Propose(ctx, []byte(v))
}

func TestNodeReplicatesAndReads(t *testing.T) {
	c := newTestCluster(t, 3)
	lead := c.leader()
	for i := range 20 {
		if _, err := c.propose(lead, fmt.Sprintf("v%d", i)); err != nil {
			t.Fatalf("propose v%d: %v", i, err)
		}
	}
	// A linearizable read on any node sees every acknowledged write.
	for _, id := range c.ids {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.nodes[id].node.ReadIndex(ctx)
		cancel()
		if err != nil {
			t.Fatalf("ReadIndex on %d: %v", id, err)
		}
		if !c.nodes[id].sm.has("v19") {
			t.Fatalf("node %d served a read without the last acknowledged write", id)
		}
	}
}

func TestNodeProposeOnFollower(t *testing.T) {
	c := newTestCluster(t, 3)
	lead := c.leader()
	follower := (lead + 1) % 3
	// Forwarded to the leader: once Propose returns, the follower has
	// applied it at the index returned, and so will the others.
	idx, err := c.propose(follower, "x")
	if err != nil {
		t.Fatalf("propose on follower: %v", err)
	}
	if !c.nodes[follower].sm.has("x") || c.nodes[follower].node.Status().AppliedIndex < idx {
		t.Fatalf("follower returned index %d before applying it", idx)
	}
	waitFor(t, "the leader to apply the forwarded proposal", func() bool { return c.nodes[lead].sm.has("x") })

	// Without forwarding, the follower names the leader instead.
	c.noForward = true
	c.stop(follower)
	c.start(follower)
	waitFor(t, "the restarted follower to know the leader", func() bool {
		return c.nodes[follower].node.Status().Leader == lead
	})
	_, err = c.propose(follower, "y")
	var nle *core.NotLeaderError
	if !errors.As(err, &nle) || nle.Leader != lead {
		t.Fatalf("propose on follower with NoForward: got %v, want NotLeaderError{%d}", err, lead)
	}
}

func TestNodeConcurrentProposalsBatch(t *testing.T) {
	c := newTestCluster(t, 3)
	lead := c.leader()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			if _, err := c.propose(lead, fmt.Sprintf("c%d", i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent propose: %v", err)
	}
	for _, id := range c.ids {
		waitFor(t, fmt.Sprintf("node %d to apply all", id), func() bool { return c.nodes[id].sm.has("c199") && c.nodes[id].sm.has("c0") })
	}
}

func TestNodeFailoverAndRejoin(t *testing.T) {
	c := newTestCluster(t, 3)
	old := c.leader()
	if _, err := c.propose(old, "before"); err != nil {
		t.Fatal(err)
	}
	c.net.Isolate(old)
	var lead wire.NodeID
	waitFor(t, "a new leader", func() bool {
		for _, id := range c.ids {
			if id != old && c.nodes[id].node.Status().Role == core.Leader {
				lead = id
				return true
			}
		}
		return false
	})
	if _, err := c.propose(lead, "after"); err != nil {
		t.Fatalf("propose on new leader: %v", err)
	}
	// The isolated old leader steps down (check-quorum) and cannot serve
	// linearizable reads.
	waitFor(t, "old leader to step down", func() bool { return c.nodes[old].node.Status().Role != core.Leader })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := c.nodes[old].node.ReadIndex(ctx)
	cancel()
	if err == nil {
		t.Fatal("an isolated node confirmed a linearizable read")
	}
	c.net.Heal()
	waitFor(t, "old leader to catch up", func() bool { return c.nodes[old].sm.has("after") })
}

func TestNodeRestartKeepsState(t *testing.T) {
	c := newTestCluster(t, 3)
	lead := c.leader()
	for i := range 10 {
		if _, err := c.propose(lead, fmt.Sprintf("p%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "all nodes to apply", func() bool {
		for _, id := range c.ids {
			if !c.nodes[id].sm.has("p9") {
				return false
			}
		}
		return true
	})
	for _, id := range c.ids {
		c.stop(id)
	}
	// Restart with the state machines as they were: nothing may be applied twice.
	for _, id := range c.ids {
		c.start(id)
	}
	lead = c.leader()
	if _, err := c.propose(lead, "p10"); err != nil {
		t.Fatal(err)
	}
	// And with a state machine that lost everything (as if badger was wiped):
	// the log replays it all.
	victim := (lead + 1) % 3
	c.stop(victim)
	c.nodes[victim].sm = newCounterSM(0)
	c.start(victim)
	waitFor(t, "replay on the wiped node", func() bool { return c.nodes[victim].sm.has("p0") && c.nodes[victim].sm.has("p10") })
}

func TestNodeStopFailsWaiters(t *testing.T) {
	c := newTestCluster(t, 3)
	lead := c.leader()
	for _, id := range c.ids {
		if id != lead {
			c.net.Isolate(id)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.propose(lead, "never")
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the proposal reach the driver
	c.stop(lead)
	select {
	case err := <-done:
		if !errors.Is(err, raft.ErrStopped) {
			t.Fatalf("pending proposal after stop: %v, want ErrStopped", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pending proposal did not fail on stop")
	}
}

func TestNodeLeaseRead(t *testing.T) {
	c := newTestCluster(t, 3)
	lead := c.leader()
	if _, err := c.propose(lead, "leased"); err != nil {
		t.Fatal(err)
	}
	for _, id := range c.ids {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.nodes[id].node.LeaseRead(ctx)
		cancel()
		if err != nil {
			t.Fatalf("LeaseRead on %d: %v", id, err)
		}
		if !c.nodes[id].sm.has("leased") {
			t.Fatalf("lease read on node %d missed an acknowledged write", id)
		}
	}
	// An isolated leader's lease runs out: it cannot serve lease reads
	// for long (it falls back to ReadIndex, which cannot complete).
	c.net.Isolate(lead)
	time.Sleep(150 * time.Millisecond) // longer than the lease (election minimum 100ms)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := c.nodes[lead].node.LeaseRead(ctx); err == nil {
		t.Fatal("an isolated leader served a lease read after its lease ended")
	}
}

func TestNodeTransferLeadership(t *testing.T) {
	c := newTestCluster(t, 3)
	old := c.leader()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	follower := (old + 1) % 3
	if _, err := c.nodes[follower].node.TransferLeadership(ctx, wire.None); err == nil {
		t.Fatal("a follower accepted a leadership transfer")
	}
	start := time.Now()
	got, err := c.nodes[old].node.TransferLeadership(ctx, follower)
	for attempt := 1; errors.Is(err, raft.ErrTransferFailed) && attempt < 3; attempt++ {
		// Only a starved machine gets here: the transfer gives up after
		// about an election timeout (200ms in this cluster).
		t.Logf("transfer attempt %d: %v", attempt, err)
		if lead := c.leader(); lead == follower {
			got, err = lead, nil // it completed after all, late
		} else {
			got, err = c.nodes[lead].node.TransferLeadership(ctx, follower)
		}
	}
	if err != nil || got != follower {
		t.Fatalf("TransferLeadership to %d = %d, %v", follower, got, err)
	}
	// Faster than an election timeout: the target campaigns at once.
	t.Logf("leadership moved %d -> %d in %v", old, got, time.Since(start))
	if lead := c.leader(); lead != follower {
		t.Fatalf("leader is %d, want %d", lead, follower)
	}
	if _, err := c.propose(follower, "after-transfer"); err != nil {
		t.Fatal(err)
	}
}

// failingStorage fails every Save once armed, as a disk that lost fsync.
type failingStorage struct {
	raft.Storage
	mu    sync.Mutex // guards armed
	armed bool
}

func (s *failingStorage) Save(hs *wire.HardState, ents []wire.Entry) error {
	s.mu.Lock()
	armed := s.armed
	s.mu.Unlock()
	if armed {
		return errors.New("fsync: input/output error")
	}
	return s.Storage.Save(hs, ents)
}

// TestNodeStopsOnDiskError: a leader whose log write fails stops with the
// error and acknowledges nothing it could not make durable.
func TestNodeStopsOnDiskError(t *testing.T) {
	dir := t.TempDir()
	wal, err := logs.Open(dir, logs.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer wal.Close()
	st := &failingStorage{Storage: wal}
	net := transport.NewNetwork(1)
	defer net.Close()
	node, err := raft.StartNode(raft.NodeConfig{
		ID: 0, Peers: []wire.NodeID{0}, TickInterval: 5 * time.Millisecond,
		ElectionTimeoutMin: 50 * time.Millisecond, ElectionTimeoutMax: 100 * time.Millisecond,
		HeartbeatInterval: 10 * time.Millisecond,
		Storage:           st, Transport: net.Endpoint(0), StateMachine: newCounterSM(0),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Stop()
	waitFor(t, "single node to lead", func() bool { return node.Status().Role == core.Leader })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := node.Propose(ctx, []byte("durable")); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	st.armed = true
	st.mu.Unlock()
	if idx, err := node.Propose(ctx, []byte("lost")); err == nil {
		t.Fatalf("a write was acknowledged (index %d) although the log could not be written", idx)
	}
	select {
	case <-node.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("node did not stop after a failed log write")
	}
	if err := node.Err(); err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("node error %v, want the disk error", err)
	}
}

// TestNodeEvents: subscribers see the election, the new leader and role
// changes as they happen, including a transfer's cause.
func TestNodeEvents(t *testing.T) {
	c := newTestCluster(t, 3)
	subs := map[wire.NodeID]<-chan raft.Event{}
	for _, id := range c.ids {
		ch, cancel := c.nodes[id].node.Subscribe(64)
		defer cancel()
		subs[id] = ch
	}
	lead := c.leader()
	next := func(id wire.NodeID, kind string, match func(raft.Event) bool) raft.Event {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case e := <-subs[id]:
				if e.Kind == kind && match(e) {
					return e
				}
			case <-deadline:
				t.Fatalf("node %d: no %s event", id, kind)
			}
		}
	}
	e := next(lead, raft.EventElection, func(e raft.Event) bool { return true })
	if e.Cause != core.CauseTimeout || e.Node != lead {
		t.Fatalf("first election event %+v", e)
	}
	next(lead, raft.EventRole, func(e raft.Event) bool { return e.Role == core.Leader })
	follower := (lead + 1) % 3
	next(follower, raft.EventLeader, func(e raft.Event) bool { return e.Leader == lead })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.nodes[lead].node.TransferLeadership(ctx, follower); err != nil {
		t.Fatal(err)
	}
	// A starved test machine may also see elections by timeout; the one
	// the transfer started must say so.
	e = next(follower, raft.EventElection, func(e raft.Event) bool { return e.Cause == core.CauseTransfer })
	if e.Node != follower {
		t.Fatalf("transfer election event %+v", e)
	}
	next(lead, raft.EventLeader, func(e raft.Event) bool { return e.Leader == follower })
}

// TestNodeForwardedProposalsUnderLoad: many writers on both followers at
// once; every write is applied exactly once, at the index its caller was
// told, on every node.
func TestNodeForwardedProposalsUnderLoad(t *testing.T) {
	c := newTestCluster(t, 3)
	lead := c.leader()
	const perNode = 100
	type result struct {
		v   string
		idx uint64
		err error
	}
	results := make(chan result, 3*perNode)
	var wg sync.WaitGroup
	for _, id := range c.ids {
		for i := range perNode {
			wg.Go(func() {
				v := fmt.Sprintf("n%d-%d", id, i)
				idx, err := c.propose(id, v)
				results <- result{v, idx, err}
			})
		}
	}
	wg.Wait()
	close(results)
	seen := map[uint64]string{}
	for r := range results {
		if r.err != nil {
			t.Fatalf("propose %s: %v", r.v, r.err)
		}
		if other, dup := seen[r.idx]; dup {
			t.Fatalf("index %d returned for both %s and %s", r.idx, other, r.v)
		}
		seen[r.idx] = r.v
	}
	last := c.nodes[lead].node.Status().CommitIndex
	for _, id := range c.ids {
		waitFor(t, fmt.Sprintf("node %d to apply everything", id), func() bool {
			return c.nodes[id].node.Status().AppliedIndex >= last
		})
		sm := c.nodes[id].sm
		sm.mu.Lock()
		for idx, v := range seen {
			if at, ok := sm.values[v]; !ok || at != idx {
				t.Errorf("node %d holds %s at index %d (present %v), its caller was told %d", id, v, at, ok, idx)
			}
		}
		if sm.dup != nil {
			t.Errorf("node %d: %v", id, sm.dup)
		}
		sm.mu.Unlock()
	}
}

// TestNodeKeepsLeadingWhileApplyStalls: a leader whose state machine
// stalls keeps heartbeating and committing (the driver never waits for
// the applier), so no one else is elected; once the state machine moves
// again, everything committed meanwhile is applied, in order.
func TestNodeKeepsLeadingWhileApplyStalls(t *testing.T) {
	c := newTestCluster(t, 3)
	lead := c.leader()
	ln := c.nodes[lead].node
	term := ln.Status().Term
	gate := make(chan struct{})
	release := sync.OnceFunc(func() { close(gate) })
	t.Cleanup(release) // before the nodes stop, should the test fail
	c.nodes[lead].sm.stall.Store(&gate)

	// Many commits, each its own Ready: far more batches than the 64 the
	// applier's channel used to hold before the driver blocked.
	const waves, perWave = 120, 2
	var wg sync.WaitGroup
	errs := make(chan error, waves*perWave)
	for w := range waves {
		before := ln.Status().CommitIndex
		for i := range perWave {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				if _, err := ln.Propose(ctx, fmt.Appendf(nil, "w%d-%d", w, i)); err != nil {
					errs <- err
				}
			})
		}
		waitFor(t, "the wave to commit", func() bool { return ln.Status().CommitIndex >= before+perWave })
	}
	// Three election timeouts of stall: no election may happen.
	for end := time.Now().Add(600 * time.Millisecond); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		for _, id := range c.ids {
			if st := c.nodes[id].node.Status(); st.Term != term || st.Leader != lead {
				t.Fatalf("node %d: term %d, leader %d while the leader's state machine stalled; want term %d, leader %d",
					id, st.Term, st.Leader, term, lead)
			}
		}
	}
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("proposal failed: %v", err)
	}
	for w := range waves {
		for i := range perWave {
			if v := fmt.Sprintf("w%d-%d", w, i); !c.nodes[lead].sm.has(v) {
				t.Fatalf("%s not applied on the leader", v)
			}
		}
	}
}

// TestForwardedProposalsProposedOnce: with every message delivered twice,
// each proposal a follower forwards is still proposed once by the leader
// (the counter state machine fails the test on a value applied twice).
func TestForwardedProposalsProposedOnce(t *testing.T) {
	c := newTestCluster(t, 3)
	lead := c.leader()
	follower := (lead + 1) % 3
	c.net.SetDuplicateRate(1)
	for i := range 20 {
		if _, err := c.propose(follower, fmt.Sprintf("dup-%d", i)); err != nil {
			t.Fatalf("propose dup-%d on follower %d: %v", i, follower, err)
		}
	}
	c.net.SetDuplicateRate(0)
	for _, id := range c.ids {
		waitFor(t, "every value applied everywhere", func() bool { return c.nodes[id].sm.has("dup-19") })
		c.nodes[id].sm.mu.Lock()
		dup := c.nodes[id].sm.dup
		c.nodes[id].sm.mu.Unlock()
		if dup != nil {
			t.Fatalf("node %d: %v", id, dup)
		}
	}
}
