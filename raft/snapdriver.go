package raft

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/raftkv/raftkv/logs"

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

// snapOutcome is how a stream to a follower ended.
type snapOutcome struct {
	to wire.NodeID
	ok bool
	// For the Observer: why it failed, how long it ran, the file's size.
	err   error
	took  time.Duration
	bytes int64
}

// sendSnapshot starts streaming the snapshot a MsgSnap names to its
// follower. It reports false when it cannot (a stream to that follower
// is still running, or the file is gone): the caller then tells the core,
// which tries again later.
func (n *Node) sendSnapshot(m wire.Message) bool {
	if n.snapSending[m.To] || n.cfg.Snapshots == nil {
		return false
	}
	r, size, err := n.cfg.Snapshots.OpenRaw(m.Index)
	if err != nil {
		n.logger.Error("open snapshot to send", "index", m.Index, "err", err)
		return false
	}
	h := SnapshotHeader{From: n.cfg.ID, To: m.To, Term: m.Term, Snap: core.SnapshotInfo{Index: m.Index, Term: m.LogTerm}}
	n.snapSending[m.To] = true
	n.logger.Info("sending snapshot", "to", m.To, "index", m.Index, "bytes", size)
	n.wg.Add(1)
	go n.streamSnapshot(h, size, r)
	return true
}

// streamSnapshot hands one snapshot file to the transport and reports the
// outcome to the driver.
func (n *Node) streamSnapshot(h SnapshotHeader, size int64, r io.ReadCloser) {
	defer n.wg.Done()
	start := time.Now()
	err := n.cfg.Transport.SendSnapshot(n.ctx, h, size, r)
	if cerr := r.Close(); cerr != nil {
		n.logger.Warn("close sent snapshot", "index", h.Snap.Index, "err", cerr)
	}
	took := time.Since(start)
	if err == nil {
		n.logger.Info("snapshot sent", "to", h.To, "index", h.Snap.Index, "bytes", size, "took", took.Round(time.Millisecond))
	} else {
		n.logger.Warn("snapshot not sent", "to", h.To, "index", h.Snap.Index, "err", err)
	}
	select {
	case n.snapOutcomes <- snapOutcome{to: h.To, ok: err == nil, err: err, took: took, bytes: size}:
	case <-n.stopc:
	}
}

// receiveSnapshots stores the snapshot files peers stream to this node, one
// at a time, and hands each one kept to the driver as a MsgSnap.
func (n *Node) receiveSnapshots() {
	defer n.wg.Done()
	incoming := n.cfg.Transport.IncomingSnapshots()
	for {
		select {
		case in := <-incoming:
			if m, ok := n.receiveSnapshot(in); ok {
				select {
				case n.snapInstall <- m:
				case <-n.stopc:
					return
				}
			}
		case <-n.stopc:
			return
		}
	}
}

// receiveSnapshot keeps one incoming file and tells its sender whether it
// did; it returns the MsgSnap to step into the core.
func (n *Node) receiveSnapshot(in *IncomingSnapshot) (wire.Message, bool) {
	unwatch := context.AfterFunc(n.ctx, func() { in.Done(ErrStopped) }) // fails a Read the sender keeps waiting
	defer unwatch()
	meta, err := storeSnapshot(n.cfg.Snapshots, in)
	in.Done(err)
	if err != nil {
		n.logger.Error("received snapshot rejected", "from", in.From, "index", in.Snap.Index, "err", err)
		return wire.Message{}, false
	}
	n.logger.Info("snapshot received", "from", in.From, "index", in.Snap.Index, "term", in.Snap.Term, "bytes", in.Size)
	m := wire.Message{Type: wire.MsgSnap, From: in.From, To: n.cfg.ID, Term: in.Term, Index: in.Snap.Index, LogTerm: in.Snap.Term}
	if len(meta.Conf) > 0 {
		// The core takes the membership at the snapshot from here, as
		// its own MsgSnap carries it.
		m.Entries = []wire.Entry{{Type: wire.EntryConfChange, Index: in.Snap.Index, Term: in.Snap.Term, Data: meta.Conf}}
	}
	return m, true
}

// storeSnapshot writes an incoming file into the store, which verifies it
// whole before anything can use it.
func storeSnapshot(store SnapshotStore, in *IncomingSnapshot) (logs.SnapshotMeta, error) {
	w, err := store.CreateRaw()
	if err != nil {
		return logs.SnapshotMeta{}, fmt.Errorf("create snapshot file: %w", err)
	}
	if _, err := io.Copy(w, in.Body); err != nil {
		return logs.SnapshotMeta{}, errors.Join(fmt.Errorf("receive snapshot: %w", err), w.Abort())
	}
	meta, err := w.Commit()
	if err != nil {
		return meta, fmt.Errorf("verify received snapshot: %w", err)
	}
	if meta.Index != in.Snap.Index || meta.Term != in.Snap.Term {
		return meta, fmt.Errorf("the file holds snapshot %d (term %d), the stream named %d (term %d)",
			meta.Index, meta.Term, in.Snap.Index, in.Snap.Term)
	}
	return meta, nil
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
