// Package raft runs the Raft protocol for a real node: the driver
// goroutine around the deterministic core (package raft/core), which
// persists through Storage, talks through Transport, hands committed
// entries to the StateMachine, and answers proposals, reads, membership
// changes and leadership transfers. Only the driver touches the core, and
// only through the core's exported methods.
package raft

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/internal/defaults"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// NodeConfig configures a Node: the core's settings in wall-clock terms and
// the outside parts the driver does I/O with.
type NodeConfig struct {
	ID wire.NodeID
	// Bootstrap is the membership of a brand-new cluster, used only while
	// the log and snapshots hold none; empty for a node that joins a
	// running cluster. Peers is the older form: voters with no addresses.
	Bootstrap          core.Membership
	Peers              []wire.NodeID
	Incarnation        uint64        // this data directory's, see Member
	MaxPromoteLag      uint64        // see Config
	AutoPromoteAfter   time.Duration // 0: learners are promoted by hand only
	TickInterval       time.Duration // default 10ms
	ElectionTimeoutMin time.Duration
	ElectionTimeoutMax time.Duration
	HeartbeatInterval  time.Duration
	// LeaseClockDrift enables lease reads when > 0: the leader's lease is
	// the election timeout minimum less this margin for clocks that run
	// at different rates.
	LeaseClockDrift time.Duration
	MaxInflight     int
	MaxMsgBytes     int
	Seed            uint64 // 0 = from the clock
	// NoForward makes Propose on a follower fail with *NotLeaderError
	// instead of handing the proposal to the leader over the transport
	// (see forward.go).
	NoForward bool

	Storage   Storage
	Transport Transport
	// Snapshots holds snapshot files; nil disables snapshots.
	Snapshots SnapshotStore
	// SnapshotEntries: take a snapshot when this many entries were applied
	// since the last one. SnapshotBytes: or when the stored log grew past
	// this size. SnapshotKeepEntries: entries kept behind a snapshot for slow
	// followers. Zero takes config.json's default (package internal/defaults).
	SnapshotEntries     uint64
	SnapshotBytes       int64
	SnapshotKeepEntries uint64
	StateMachine        StateMachine
	Logger              *slog.Logger
	// Observer, when set, is told of proposals, fsyncs, applies, messages,
	// snapshots and events, for metrics, and of membership changes in
	// time to point the transport at them (see ObserveEvent); nil
	// reports nothing. When set, the node wraps Transport to count what
	// it sends.
	Observer Observer

	// clock is what the driver reads the time from (see clock.go); nil is
	// the wall clock. Tests in this package inject a fake one.
	clock clock
}

func (nc *NodeConfig) coreConfig() core.Config {
	tick := nc.TickInterval
	ticks := func(d time.Duration) int { return int((d + tick - 1) / tick) }
	seed := nc.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	return core.Config{
		ID: nc.ID, Peers: nc.Peers, Bootstrap: nc.Bootstrap, Incarnation: nc.Incarnation,
		MaxPromoteLag: nc.MaxPromoteLag, AutoPromoteTicks: ticks(nc.AutoPromoteAfter),
		ElectionTickMin: ticks(nc.ElectionTimeoutMin), ElectionTickMax: ticks(nc.ElectionTimeoutMax),
		HeartbeatTick: ticks(nc.HeartbeatInterval),
		LeaseTicks:    leaseTicks(nc, tick),
		PreVote:       true, CheckQuorum: true,
		MaxInflight: nc.MaxInflight, MaxMsgBytes: nc.MaxMsgBytes, Seed: seed,
	}
}

// leaseTicks is the lease in whole ticks, rounded down so it never
// exceeds ElectionTimeoutMin - LeaseClockDrift; 0 disables lease reads.
func leaseTicks(nc *NodeConfig, tick time.Duration) int {
	if nc.LeaseClockDrift <= 0 || nc.LeaseClockDrift >= nc.ElectionTimeoutMin {
		return 0
	}
	// A tick may be late by up to one tick, so keep one more in reserve.
	return max(0, int((nc.ElectionTimeoutMin-nc.LeaseClockDrift)/tick)-1)
}

type proposal struct {
	data []byte
	resp chan proposeResult
}

type proposeResult struct {
	index uint64
	wait  chan error // registered with the wait list by the driver
	err   error
}

// pendingRead is one batch of reads sharing a ReadIndex request.
type pendingRead struct {
	waiters []chan error
	tick    uint64 // when the request was issued, to retry lost ones
}

// Node runs a Core: it owns the core in one goroutine (the driver), which
// persists, sends and hands committed entries to a second goroutine (the
// applier). All exported methods are safe for concurrent use.
type Node struct {
	cfg    NodeConfig
	core   *core.Core // owned by the driver goroutine
	logger *slog.Logger

	propc chan proposal
	// Proposals forwarded to the leader and not yet answered, by batch
	// id. Owned by the driver.
	forwards   map[uint64]*forwarded
	forwardSeq uint64
	// seenProps: the batches each follower forwarded lately (forward.go).
	seenProps    map[wire.NodeID]*seenProposals
	forwardSweep time.Time // when expireForwards runs next
	confc        chan confReq
	readc        chan readRequest
	transferc    chan transferReq
	applyq       *applyQueue
	// handed is the last index the driver handed to the applier (owned
	// by the driver); with applied it measures the apply backlog.
	handed   uint64
	stopc    chan struct{}
	stopOnce sync.Once
	// ctx ends with stopc, for what takes a context (snapshot streams).
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Owned by the driver goroutine.
	reads    map[uint64]*pendingRead
	readCtx  uint64
	tickNum  uint64
	nextTick time.Time // when the core is due its next tick
	// lastSoft is what events were last published for.
	lastSoft core.SoftState
	// lastConf and lastConfIndex are the membership last emitted.
	lastConf      core.Membership
	lastConfIndex uint64
	confsApplied  appliedConfs

	events eventHub

	// Snapshots. snapSending and snapRunning are owned by the driver.
	snapSending  map[wire.NodeID]bool // followers a stream is running to
	snapOutcomes chan snapOutcome     // senders report here
	snapRunning  bool                 // a snapshot is being taken
	snapWaiters  []chan snapTaken     // admin requests waiting for the running snapshot
	snapNext     []chan snapTaken     // admin requests waiting for the next one
	snapTaken    chan snapTaken       // the snapshot goroutine reports here
	snapReqs     chan chan snapTaken  // admin requests to snapshot now
	snapInstall  chan wire.Message    // receiver -> driver: MsgSnap once a file is in

	waits   *waitList
	status  atomic.Pointer[core.Status] // refreshed by the driver after each step
	applied atomic.Uint64

	errMu sync.Mutex // guards err
	err   error
	failc chan struct{} // closed on a fatal error
}

type transferReq struct {
	to   wire.NodeID
	resp chan transferResult
}

type transferResult struct {
	target wire.NodeID
	err    error
}

// StartNode recovers the node's state from storage and the state machine,
// and starts the driver and applier goroutines.
func StartNode(cfg NodeConfig) (*Node, error) {
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = 10 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.clock == nil {
		cfg.clock = wallClock{}
	}
	if cfg.SnapshotEntries == 0 {
		cfg.SnapshotEntries = defaults.SnapshotEntries
	}
	if cfg.SnapshotBytes == 0 {
		cfg.SnapshotBytes = defaults.SnapshotBytes
	}
	if cfg.SnapshotKeepEntries == 0 {
		cfg.SnapshotKeepEntries = defaults.SnapshotKeepEntries
	}
	if cfg.Observer == nil {
		cfg.Observer = NopObserver{}
	} else {
		cfg.Transport = observedTransport{Transport: cfg.Transport, obs: cfg.Observer}
	}
	n := &Node{
		cfg: cfg, logger: cfg.Logger.With("node", cfg.ID),
		propc: make(chan proposal, 4096), confc: make(chan confReq), readc: make(chan readRequest, 4096),
		transferc: make(chan transferReq), applyq: newApplyQueue(),
		forwards: map[uint64]*forwarded{}, forwardSeq: rand.Uint64() >> 1, seenProps: map[wire.NodeID]*seenProposals{},
		stopc: make(chan struct{}), failc: make(chan struct{}),
		reads: map[uint64]*pendingRead{}, waits: newWaitList(),
		snapSending: map[wire.NodeID]bool{}, snapOutcomes: make(chan snapOutcome),
		snapTaken: make(chan snapTaken), snapReqs: make(chan chan snapTaken),
		snapInstall: make(chan wire.Message),
	}
	st, err := n.recoverState()
	if err != nil {
		return nil, err
	}
	if n.core, err = core.NewCoreFrom(cfg.coreConfig(), st); err != nil {
		return nil, err
	}
	n.lastSoft = core.SoftState{Lead: n.core.Leader(), Role: n.core.Role()}
	n.confsApplied.reset(st.Applied, n.core.ConfAt(st.Applied))
	n.noteMembership()
	n.applied.Store(st.Applied)
	n.waits.applied = st.Applied
	n.publishStatus()
	n.logger.Info("raft node started", "term", st.Hard.Term, "snapshot", st.Snapshot.Index,
		"first_index", n.core.FirstIndex(), "last_index", n.core.LastIndex(), "applied", st.Applied)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.wg.Add(2)
	go n.run()
	go n.applyLoop()
	if cfg.Snapshots != nil {
		n.wg.Add(1)
		go n.receiveSnapshots()
	}
	return n, nil
}

// Stop stops the node and waits for its goroutines. Pending proposals and
// reads fail with ErrStopped. It does not close Storage or Transport.
func (n *Node) Stop() {
	n.halt()
	n.wg.Wait()
}

// halt tells every goroutine of the node to stop.
func (n *Node) halt() {
	n.stopOnce.Do(func() {
		close(n.stopc)
		n.cancel()
	})
}

// Done is closed when the node stopped on a fatal error (see Err).
func (n *Node) Done() <-chan struct{} { return n.failc }

// Err returns the fatal error that stopped the node, if any.
func (n *Node) Err() error {
	n.errMu.Lock()
	defer n.errMu.Unlock()
	return n.err
}

// fail records a fatal error and stops the node: after a failed fsync or
// apply nothing it would acknowledge could be trusted.
func (n *Node) fail(err error) {
	n.errMu.Lock()
	first := n.err == nil
	if first {
		n.err = err
	}
	n.errMu.Unlock()
	if first {
		n.logger.Error("raft node stopping on fatal error", "err", err)
		close(n.failc)
		n.halt()
	}
}

// Status returns the node's latest published state.
func (n *Node) Status() core.Status {
	s := *n.status.Load()
	s.AppliedIndex = n.applied.Load()
	return s
}

func (n *Node) publishStatus() {
	s := n.core.Status()
	s.LogBytes = n.cfg.Storage.SizeBytes()
	n.status.Store(&s)
}

// Propose replicates data and returns its index once it is committed and
// applied on this node.
func (n *Node) Propose(ctx context.Context, data []byte) (uint64, error) {
	p := proposal{data: data, resp: make(chan proposeResult, 1)}
	select {
	case n.propc <- p:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.stopc:
		return 0, ErrStopped
	}
	var r proposeResult
	select {
	case r = <-p.resp:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.stopc:
		return 0, ErrStopped
	}
	if r.err != nil {
		return 0, r.err
	}
	return r.index, n.waits.waitProposal(ctx, r.index, r.wait)
}

// readRequest is one caller waiting for a read barrier.
type readRequest struct {
	done  chan error
	lease bool // a lease read is acceptable
}

// ReadIndex returns once the state machine on this node reflects every
// write committed before the call: a read served after it is linearizable.
func (n *Node) ReadIndex(ctx context.Context) error {
	return n.readBarrier(ctx, false)
}

// LeaseRead is ReadIndex without the heartbeat round when this node is the
// leader and its lease holds; otherwise it is ReadIndex. Its safety rests
// on clocks not drifting apart by more than LeaseClockDrift per election
// timeout.
func (n *Node) LeaseRead(ctx context.Context) error {
	return n.readBarrier(ctx, true)
}

func (n *Node) readBarrier(ctx context.Context, lease bool) error {
	done := make(chan error, 1)
	select {
	case n.readc <- readRequest{done: done, lease: lease}:
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stopc:
		return ErrStopped
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stopc:
		return ErrStopped
	}
}

// ErrTransferFailed is returned when leadership did not move in time.
var ErrTransferFailed = errors.New("raft: leadership transfer did not complete")

// TransferLeadership asks this node, which must be the leader, to hand
// leadership to `to` (None: the most up-to-date follower) and waits until
// another node leads. It returns the new leader.
func (n *Node) TransferLeadership(ctx context.Context, to wire.NodeID) (wire.NodeID, error) {
	req := transferReq{to: to, resp: make(chan transferResult, 1)}
	select {
	case n.transferc <- req:
	case <-ctx.Done():
		return wire.None, ctx.Err()
	case <-n.stopc:
		return wire.None, ErrStopped
	}
	res := <-req.resp
	if res.err != nil {
		return wire.None, res.err
	}
	if res.target == wire.None {
		return wire.None, fmt.Errorf("%w: no other node to hand over to", ErrTransferFailed)
	}
	// The core abandons a transfer after an election timeout; allow twice
	// that before giving up.
	deadline := time.NewTimer(2 * n.cfg.ElectionTimeoutMax)
	defer deadline.Stop()
	poll := time.NewTicker(n.cfg.TickInterval)
	defer poll.Stop()
	for {
		if st := n.Status(); st.Leader != n.cfg.ID && st.Leader != wire.None {
			return st.Leader, nil
		}
		select {
		case <-poll.C:
		case <-deadline.C:
			return wire.None, fmt.Errorf("%w to node %d within %v", ErrTransferFailed, res.target, 2*n.cfg.ElectionTimeoutMax)
		case <-ctx.Done():
			return wire.None, ctx.Err()
		case <-n.stopc:
			return wire.None, ErrStopped
		}
	}
}
