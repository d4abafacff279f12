package raft

import (
	"errors"
	"fmt"
	"io"

	"github.com/raftkv/raftkv/logs"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// recoverState reconciles what survived a crash in three places, the log,
// the state machine and the snapshot files, into the state a core starts
// from. Each was made durable in an order that leaves one of these cases:
//
//   - the state machine is behind the start of the log (it lost unsynced
//     writes after the log was compacted, or it was wiped): restore it from
//     the latest snapshot, which always covers the compacted part;
//   - the state machine is ahead of the log, or holds a different entry at
//     its applied index (a snapshot was installed and the log not yet
//     reset): the log is stale, drop it;
//   - otherwise the log replays what the state machine lacks.
func (n *Node) recoverState() (core.InitialState, error) {
	cfg := n.cfg
	hs, ents, err := cfg.Storage.Load()
	if err != nil {
		return core.InitialState{}, fmt.Errorf("load raft log: %w", err)
	}
	st := core.InitialState{Hard: hs, Entries: ents}
	if cfg.Snapshots != nil {
		meta, err := cfg.Snapshots.Latest()
		switch {
		case errors.Is(err, logs.ErrNoSnapshot):
		case err != nil:
			return st, fmt.Errorf("read latest snapshot: %w", err)
		default:
			st.Snapshot = core.SnapshotInfo{Index: meta.Index, Term: meta.Term}
			if len(meta.Conf) > 0 {
				m, err := core.DecodeMembership(meta.Conf)
				if err != nil {
					return st, fmt.Errorf("snapshot %d membership record: %w", meta.Index, err)
				}
				st.SnapshotConf = &m
			}
		}
	}
	sm := cfg.StateMachine
	applied := sm.AppliedIndex()
	logStart := st.Snapshot.Index // the log's entries begin after this
	if len(ents) > 0 {
		logStart = ents[0].Index - 1
	}
	if applied < logStart {
		if st.Snapshot.Index < logStart || st.Snapshot.Index == 0 {
			return st, fmt.Errorf("state machine at index %d, log starts after %d, and no snapshot covers the gap", applied, logStart)
		}
		n.logger.Warn("state machine is behind the log; restoring it from the latest snapshot",
			"applied", applied, "snapshot", st.Snapshot.Index)
		if err := n.restoreStateMachine(st.Snapshot); err != nil {
			return st, err
		}
		applied = sm.AppliedIndex()
	}
	if stale := logStaleAt(ents, applied, sm.AppliedTerm()); stale {
		n.logger.Warn("the log does not hold the state machine's applied entry; discarding it",
			"applied", applied, "applied_term", sm.AppliedTerm(), "log_first", logStart+1, "log_entries", len(ents))
		if err := cfg.Storage.Reset(); err != nil {
			return st, fmt.Errorf("reset raft log: %w", err)
		}
		st.Entries = nil
		if st.Snapshot.Index != applied {
			if st.SnapshotConf != nil {
				n.confsApplied.reset(applied, *st.SnapshotConf)
			}
			// The snapshot must sit exactly where the log now begins.
			snap, err := n.snapshotNow()
			if err != nil {
				return st, fmt.Errorf("snapshot the state machine after resetting the log: %w", err)
			}
			st.Snapshot = snap
		}
	}
	st.Applied = applied
	return st, nil
}

// logStaleAt reports whether the log cannot continue from the state
// machine's applied entry: it ends before it, or holds another term there.
func logStaleAt(ents []wire.Entry, applied, appliedTerm uint64) bool {
	if applied == 0 || len(ents) == 0 {
		return false
	}
	first, last := ents[0].Index, ents[len(ents)-1].Index
	switch {
	case applied > last:
		return true
	case applied >= first:
		return ents[applied-first].Term != appliedTerm
	}
	return false
}

// restoreStateMachine loads the snapshot file at snap into the state
// machine; the file's checksum is verified as it is read.
func (n *Node) restoreStateMachine(snap core.SnapshotInfo) error {
	meta, body, err := n.cfg.Snapshots.Open(snap.Index)
	if err != nil {
		return fmt.Errorf("open snapshot %d: %w", snap.Index, err)
	}
	defer body.Close()
	if err := n.cfg.StateMachine.Restore(body, meta.Index, meta.Term); err != nil {
		return fmt.Errorf("restore snapshot %d: %w", snap.Index, err)
	}
	return nil
}

// snapshotMeta records the membership at index with a snapshot; none
// when it is not known (recovery before any configuration was seen),
// which makes a restart fall back to the bootstrap one.
func (n *Node) snapshotMeta(index, term uint64) logs.SnapshotMeta {
	meta := logs.SnapshotMeta{Index: index, Term: term}
	conf := n.confsApplied.at(index)
	if len(conf.Members) == 0 {
		return meta
	}
	for _, id := range conf.Voters() {
		meta.Peers = append(meta.Peers, uint64(id))
	}
	meta.Conf = core.EncodeMembership(conf)
	return meta
}

// snapshotNow writes a snapshot of the state machine to the store and
// returns where it stands. Safe to call from any goroutine.
func (n *Node) snapshotNow() (core.SnapshotInfo, error) {
	var w logs.SnapshotSink
	var snap core.SnapshotInfo
	err := n.cfg.StateMachine.Snapshot(func(index, term uint64) (io.Writer, error) {
		snap = core.SnapshotInfo{Index: index, Term: term}
		var err error
		w, err = n.cfg.Snapshots.Create(n.snapshotMeta(index, term))
		return w, err
	})
	if w == nil {
		if err == nil {
			err = errors.New("the state machine wrote no snapshot")
		}
		return snap, err
	}
	if err != nil {
		if aerr := w.Abort(); aerr != nil {
			n.logger.Warn("discard failed snapshot", "err", aerr)
		}
		return snap, err
	}
	if err := w.Commit(); err != nil {
		return snap, err
	}
	return snap, nil
}
