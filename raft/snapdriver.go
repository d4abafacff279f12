package raft

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// applyTask is one unit of work for the applier: committed entries, or a
// snapshot to restore in their place. One channel keeps them in log order.
type applyTask struct {
	ents    []wire.Entry
	restore *core.SnapshotInfo
	conf    core.Membership // the membership at restore
}

// snapTaken reports a snapshot taken by this node.
type snapTaken struct {
	snap core.SnapshotInfo
	err  error
}

// SnapshotNow takes a snapshot of the state machine now (or joins the one
// being taken) and compacts the log behind it. It returns where the
// snapshot stands.
func (n *Node) SnapshotNow(ctx context.Context) (core.SnapshotInfo, error) {
	if n.cfg.Snapshots == nil {
		return core.SnapshotInfo{}, fmt.Errorf("raft: snapshots are not enabled on this node")
	}
	reply := make(chan snapTaken, 1)
	select {
	case n.snapReqs <- reply:
	case <-ctx.Done():
		return core.SnapshotInfo{}, ctx.Err()
	case <-n.stopc:
		return core.SnapshotInfo{}, ErrStopped
	}
	select {
	case r := <-reply:
		return r.snap, r.err
	case <-ctx.Done():
		return core.SnapshotInfo{}, ctx.Err()
	case <-n.stopc:
		return core.SnapshotInfo{}, ErrStopped
	}
}

// maybeSnapshot starts a snapshot when enough was applied since the last
// one, or the stored log grew too large. Driver goroutine only.
func (n *Node) maybeSnapshot() {
	if n.cfg.Snapshots == nil || n.snapRunning {
		return
	}
	since := n.applied.Load() - min(n.applied.Load(), n.core.Snapshot().Index)
	big := n.cfg.Storage.SizeBytes() > n.cfg.SnapshotBytes && since > 0
	if since >= n.cfg.SnapshotEntries || big {
		n.startSnapshot()
	}
}

func (n *Node) startSnapshot() {
	n.snapRunning = true
	n.snapWaiters, n.snapNext = n.snapNext, nil
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		start := time.Now()
		snap, err := n.snapshotNow()
		if err == nil {
			// The log behind the snapshot is about to go: what the state
			// machine holds must be on disk first. (Were it lost anyway,
			// recovery restores the snapshot.)
			err = n.cfg.StateMachine.Sync()
		}
		took := time.Since(start)
		size := int64(-1)
		if err == nil {
			n.logger.Info("snapshot taken", "index", snap.Index, "term", snap.Term, "took", took.Round(time.Millisecond))
			size = n.snapshotSize(snap.Index)
		}
		n.cfg.Observer.ObserveSnapshot(SnapshotTaken, took, size, err)
		select {
		case n.snapTaken <- snapTaken{snap: snap, err: err}:
		case <-n.stopc:
		}
	}()
}

// snapshotDone makes a new snapshot available to followers and compacts
// the log behind it, keeping SnapshotKeepEntries for slow followers.
func (n *Node) snapshotDone(t snapTaken) {
	n.snapRunning = false
	waiters := n.snapWaiters
	n.snapWaiters = nil
	if len(n.snapNext) > 0 {
		defer n.startSnapshot()
	}
	// Answer once the log is compacted and Status shows the snapshot, so
	// a caller of SnapshotNow reads the state it asked for.
	defer func() {
		n.publishStatus()
		for _, w := range waiters {
			w <- t
		}
	}()
	if t.err != nil {
		n.logger.Error("snapshot failed", "err", t.err)
		return
	}
	n.core.SetSnapshot(t.snap)
	keep := n.cfg.SnapshotKeepEntries
	if t.snap.Index <= keep {
		return
	}
	upTo := t.snap.Index - keep
	if upTo < n.core.FirstIndex() {
		return
	}
	if err := n.core.Compact(upTo); err != nil {
		n.logger.Error("compact log", "err", err)
		return
	}
	if err := n.cfg.Storage.TruncatePrefix(upTo); err != nil {
		n.logger.Error("truncate stored log", "up_to", upTo, "err", err)
	}
}

// sendSnapshot starts streaming the snapshot a MsgSnap names to its
// follower. It reports false when it cannot (a stream to that follower
// is still running, or the file is gone): the caller then tells the core,
// which tries again later.
func (n *Node) sendSnapshot(m wire.Message) bool {
	if _, busy := n.snapSenders[m.To]; busy || n.cfg.Snapshots == nil {
		return false
	}
	r, size, err := n.cfg.Snapshots.OpenRaw(m.Index)
	if err != nil {
		n.logger.Error("open snapshot to send", "index", m.Index, "err", err)
		return false
	}
	ra, ok := r.(io.ReaderAt)
	if !ok {
		r.Close()
		return false
	}
	s := &snapSender{to: m.To, from: n.cfg.ID, term: m.Term, snap: core.SnapshotInfo{Index: m.Index, Term: m.LogTerm},
		file: ra, close: r.Close, size: size, tr: n.cfg.Transport, log: n.logger,
		acks: make(chan wire.Message, 16), stop: n.stopc}
	n.snapSenders[m.To] = s
	n.logger.Info("sending snapshot", "to", m.To, "index", m.Index, "bytes", size)
	n.wg.Add(1)
	go s.run(n.snapOutcomes, &n.wg)
	return true
}

// routeSnapMessage hands snapshot stream traffic to the sender or the
// receiver; it reports whether m was such traffic.
func (n *Node) routeSnapMessage(m wire.Message) bool {
	switch m.Type {
	case wire.MsgSnapChunk:
		select {
		case n.chunkc <- m:
		default: // the sender resends what is dropped
		}
		return true
	case wire.MsgSnapChunkAck:
		if s, ok := n.snapSenders[m.From]; ok {
			select {
			case s.acks <- m:
			default:
			}
		}
		return true
	}
	return false
}

// receiveSnapshots assembles incoming snapshot files and hands each
// complete one to the driver as a MsgSnap.
func (n *Node) receiveSnapshots() {
	defer n.wg.Done()
	r := &snapReceiver{id: n.cfg.ID, store: n.cfg.Snapshots, tr: n.cfg.Transport, log: n.logger}
	defer r.abort("node stopping")
	expire := time.NewTicker(time.Second)
	defer expire.Stop()
	for {
		select {
		case m := <-n.chunkc:
			if snap, done := r.receive(m); done {
				select {
				case n.snapInstall <- snap:
				case <-n.stopc:
					return
				}
			}
		case <-expire.C:
			r.expire()
		case <-n.stopc:
			return
		}
	}
}

// restore replaces the state machine by a received snapshot; applier
// goroutine, in log order.
func (n *Node) restore(snap core.SnapshotInfo) error {
	start := time.Now()
	if err := n.restoreStateMachine(snap); err != nil {
		n.cfg.Observer.ObserveSnapshot(SnapshotInstalled, time.Since(start), -1, err)
		return err
	}
	n.cfg.Observer.ObserveSnapshot(SnapshotInstalled, time.Since(start), n.snapshotSize(snap.Index), nil)
	n.applied.Store(snap.Index)
	n.waits.restoredTo(snap.Index)
	n.logger.Info("snapshot installed", "index", snap.Index, "term", snap.Term, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
