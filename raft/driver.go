package raft

import (
	"fmt"
	"time"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// maxBatch bounds how many queued inputs of one kind the driver takes in
// one turn, so a flood of proposals cannot starve ticks and messages.
const maxBatch = 1024

// run is the driver: the only goroutine that touches the core.
func (n *Node) run() {
	defer n.wg.Done()
	defer n.applyq.close()
	tickc, stopTicker := n.cfg.clock.Ticker(n.cfg.TickInterval)
	defer stopTicker()
	n.nextTick = n.cfg.clock.Now().Add(n.cfg.TickInterval)
	recv := n.cfg.Transport.Receive()
	for {
		if n.core.HasReady() {
			// Before handleReady sends: its messages may be the first to a
			// member the log just added, which the transport must know.
			n.noteMembership()
			if err := n.handleReady(); err != nil {
				if err != ErrStopped {
					n.fail(err)
				}
				return
			}
			n.publishStatus()
			n.maybeSnapshot()
		}
		propc := n.propc
		if n.applyBacklog() > maxApplyBacklog {
			propc = nil // until the applier catches up; a tick looks again
		}
		select {
		case <-tickc:
			now := n.cfg.clock.Now()
			n.tickUpTo(now)
			n.retryReads()
			if len(n.forwards) > 0 && now.After(n.forwardSweep) {
				n.expireForwards(now)
				n.forwardSweep = now.Add(time.Second)
			}
		case m := <-recv:
			n.step(m)
			for i := 0; i < maxBatch; i++ {
				select {
				case m = <-recv:
					n.step(m)
					continue
				default:
				}
				break
			}
		case m := <-n.snapInstall:
			n.core.Step(m)
		case o := <-n.snapOutcomes:
			n.cfg.Observer.ObserveSnapshot(SnapshotSent, o.took, o.bytes, o.err)
			delete(n.snapSending, o.to)
			n.core.ReportSnapshot(o.to, o.ok)
		case t := <-n.snapTaken:
			n.snapshotDone(t)
		case w := <-n.snapReqs:
			// The one being taken may predate writes the caller made:
			// a request is served by a snapshot started after it.
			n.snapNext = append(n.snapNext, w)
			if !n.snapRunning {
				n.startSnapshot()
			}
		case p := <-propc:
			n.propose(p)
		case r := <-n.readc:
			n.startReads(r)
		case t := <-n.transferc:
			n.transfer(t)
		case c := <-n.confc:
			n.proposeConf(c)
		case <-n.stopc:
			n.failReads(ErrStopped)
			return
		}
	}
}

func (n *Node) step(m wire.Message) {
	n.cfg.Observer.ObserveMessage(DirReceived, m.From, m.Type, len(m.Entries))
	if m.Type == wire.MsgSnapChunk || m.Type == wire.MsgSnapChunkAck {
		return // the snapshot transport's own traffic, never Raft's: it could move the term
	}
	if !n.routeProposalMessage(m) {
		n.core.Step(m)
	}
}

// tickUpTo gives the core one tick per TickInterval of the driver's clock
// (the wall clock's monotonic reading, unless a test injected one) since
// the last, not one per ticker wake-up: a Ticker drops the ticks it could
// not deliver, so after a pause (SIGSTOP, a long GC, a starved process)
// the core would otherwise believe almost no time passed, and a leader
// would serve lease reads long after other nodes could have elected
// someone else.
func (n *Node) tickUpTo(now time.Time) {
	// More than a few election timeouts behind changes nothing further: the
	// lease is gone and check-quorum has had its say.
	limit := 4 * n.core.Config().ElectionTickMax
	for i := 0; !now.Before(n.nextTick); i++ {
		if i == limit {
			n.nextTick = now.Add(n.cfg.TickInterval)
			break
		}
		n.tickNum++
		n.core.Tick()
		n.nextTick = n.nextTick.Add(n.cfg.TickInterval)
	}
}

// propose takes p and every proposal queued behind it into one batch: one
// log append, one fsync, one MsgApp per follower.
func (n *Node) propose(first proposal) {
	batch := []proposal{first}
	for len(batch) < maxBatch {
		select {
		case p := <-n.propc:
			batch = append(batch, p)
			continue
		default:
		}
		break
	}
	if lead := n.core.Leader(); lead != wire.None && lead != n.cfg.ID && !n.cfg.NoForward {
		n.forwardTo(lead, batch)
		return
	}
	data := make([][]byte, len(batch))
	for i, p := range batch {
		data[i] = p.data
	}
	index, term, err := n.core.Propose(data...)
	n.cfg.Observer.ObserveProposals(len(batch), err == nil)
	for i, p := range batch {
		if err != nil {
			p.resp <- proposeResult{err: err}
			continue
		}
		idx := index + uint64(i)
		p.resp <- proposeResult{index: idx, wait: n.waits.register(idx, term, n.core.LogTerm)}
	}
}

// startReads takes r and every read queued behind it into one ReadIndex
// request: they share one heartbeat round. Lease reads skip the round
// while the leader's lease holds.
func (n *Node) startReads(first readRequest) {
	batch := []readRequest{first}
	for len(batch) < maxBatch {
		select {
		case r := <-n.readc:
			batch = append(batch, r)
			continue
		default:
		}
		break
	}
	// Time may have passed that no tick told the core about (the process
	// was paused or starved): catch up first, or a lease that ran out
	// while we slept would still look valid.
	n.tickUpTo(n.cfg.clock.Now())
	leaseIdx, leaseOK := n.core.LeaseRead()
	var lease, round []chan error
	for _, r := range batch {
		if r.lease && leaseOK {
			lease = append(lease, r.done)
		} else {
			round = append(round, r.done)
		}
	}
	if len(lease) > 0 {
		n.waits.addReads(leaseIdx, lease)
	}
	if len(round) > 0 {
		n.issueRead(&pendingRead{waiters: round})
	}
}

func (n *Node) issueRead(pr *pendingRead) {
	n.readCtx++
	if err := n.core.ReadIndex(n.readCtx); err != nil {
		for _, w := range pr.waiters {
			w <- err
		}
		return
	}
	pr.tick = n.tickNum
	n.reads[n.readCtx] = pr
}

// retryReads re-issues read requests that got no answer within an
// election timeout: the request or its answer may have been dropped.
func (n *Node) retryReads() {
	limit := uint64(n.core.Config().ElectionTickMax)
	for ctx, pr := range n.reads {
		if n.tickNum-pr.tick > limit {
			delete(n.reads, ctx)
			n.issueRead(pr)
		}
	}
}

func (n *Node) failReads(err error) {
	for ctx, pr := range n.reads {
		for _, w := range pr.waiters {
			w <- err
		}
		delete(n.reads, ctx)
	}
}

func (n *Node) transfer(t transferReq) {
	if err := n.core.TransferLeader(t.to); err != nil {
		t.resp <- transferResult{err: err}
		return
	}
	t.resp <- transferResult{target: n.core.Transferee()}
}

func (n *Node) handleReady() error {
	rd := n.core.Ready()
	if rd.SoftState != nil {
		cur := *rd.SoftState
		n.logRoleChange(n.lastSoft, cur)
		n.publishChanges(n.lastSoft, cur)
		n.lastSoft = cur
	}
	return processReady(n.core, rd, driverIO{n})
}

// driverIO is the driver's readyIO: Storage, Transport, the applier's
// channel and the driver's table of pending reads.
type driverIO struct{ n *Node }

func (d driverIO) send(msgs []wire.Message)         { d.n.cfg.Transport.Send(msgs) }
func (d driverIO) sendSnapshot(m wire.Message) bool { return d.n.sendSnapshot(m) }
func (d driverIO) reached(readyPoint) error         { return nil }

func (d driverIO) resetLog(snap core.SnapshotInfo) error {
	if err := d.n.cfg.Storage.Reset(); err != nil {
		return fmt.Errorf("reset raft log for snapshot %d: %w", snap.Index, err)
	}
	return nil
}

func (d driverIO) restore(snap core.SnapshotInfo, conf core.Membership) error {
	d.n.applyq.push(applyTask{restore: &snap, conf: conf})
	d.n.handed = max(d.n.handed, snap.Index)
	return nil
}

func (d driverIO) save(hs *wire.HardState, ents []wire.Entry) error {
	start := time.Now()
	if err := d.n.cfg.Storage.Save(hs, ents); err != nil {
		return fmt.Errorf("persist raft log: %w", err)
	}
	d.n.cfg.Observer.ObservePersist(len(ents), time.Since(start))
	return nil
}

func (d driverIO) apply(ents []wire.Entry) error {
	d.n.applyq.push(applyTask{ents: ents})
	d.n.handed = ents[len(ents)-1].Index
	return nil
}

// applyBacklog is how many entries the driver handed over that the
// applier has not applied yet.
func (n *Node) applyBacklog() uint64 {
	applied := n.applied.Load()
	if applied >= n.handed {
		return 0
	}
	return n.handed - applied
}

func (d driverIO) readStates(rss []core.ReadState) {
	n := d.n
	for _, rs := range rss {
		pr, ok := n.reads[rs.Context]
		if !ok {
			continue // already retried under another context
		}
		delete(n.reads, rs.Context)
		if rs.Dropped {
			for _, w := range pr.waiters {
				w <- core.ErrNoLeader
			}
			continue
		}
		n.waits.addReads(rs.Index, pr.waiters)
	}
}

func (n *Node) logRoleChange(prev, cur core.SoftState) {
	term := n.core.Term()
	if cur.Role != prev.Role {
		n.logger.Info("raft role changed", "from", prev.Role.String(), "to", cur.Role.String(), "term", term)
	}
	if cur.Lead != wire.None && cur.Lead != n.cfg.ID {
		n.logger.Info("raft following leader", "leader", cur.Lead, "term", term)
	}
}

// applyLoop hands committed entries to the state machine, in order, and
// then releases whoever waits for them.
func (n *Node) applyLoop() {
	defer n.wg.Done()
	defer n.waits.stop()
	for {
		tasks, ok := n.applyq.take()
		if !ok || !n.applyTasks(tasks) {
			return
		}
	}
}

// maxMergedApply bounds how many entries one Apply call gets when the
// applier fell behind and several batches wait.
const maxMergedApply = 4096

// applyTasks applies tasks in log order. Consecutive batches of entries
// are merged into one state machine transaction (up to maxMergedApply
// entries), so a busy applier catches up in fewer, larger ones; a restore
// ends a run. False means the node failed.
func (n *Node) applyTasks(tasks []applyTask) bool {
	var ents []wire.Entry
	owned := false // ents is our own slice, not one of the core's
	flush := func() bool {
		ok := len(ents) == 0 || n.applyEntries(ents)
		ents, owned = nil, false
		return ok
	}
	for _, t := range tasks {
		if t.restore != nil {
			if !flush() {
				return false
			}
			if err := n.restore(*t.restore); err != nil {
				n.fail(err)
				return false
			}
			n.confsApplied.reset(t.restore.Index, t.conf)
			continue
		}
		if len(ents) > 0 && len(ents)+len(t.ents) > maxMergedApply && !flush() {
			return false
		}
		switch {
		case len(ents) == 0:
			ents = t.ents
		case !owned:
			ents = append(append(make([]wire.Entry, 0, len(ents)+len(t.ents)), ents...), t.ents...)
			owned = true
		default:
			ents = append(ents, t.ents...)
		}
	}
	return flush()
}

// applyEntries applies one batch and wakes its waiters; false means the
// node failed.
func (n *Node) applyEntries(ents []wire.Entry) bool {
	if err := n.confsApplied.note(ents); err != nil {
		n.fail(err)
		return false
	}
	start := time.Now()
	if err := n.cfg.StateMachine.Apply(ents); err != nil {
		n.fail(fmt.Errorf("apply entries %d-%d: %w", ents[0].Index, ents[len(ents)-1].Index, err))
		return false
	}
	n.cfg.Observer.ObserveApply(len(ents), time.Since(start))
	n.applied.Store(ents[len(ents)-1].Index)
	n.waits.appliedTo(ents)
	return true
}
