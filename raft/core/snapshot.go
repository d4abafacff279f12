package core

import (
	"fmt"

	"github.com/raftkv/raftkv/raft/wire"
)

// SnapshotInfo names a snapshot by the last log entry it covers.
type SnapshotInfo struct {
	Index uint64
	Term  uint64
}

// InitialState is what a core restarts from: the hard state, the latest
// snapshot (zero when none), the log entries kept after the last
// compaction, and the state machine's applied index.
type InitialState struct {
	Hard     wire.HardState
	Snapshot SnapshotInfo
	// SnapshotConf is the membership recorded with Snapshot; nil when the
	// snapshot predates membership records (the bootstrap one holds then).
	SnapshotConf *Membership
	Entries      []wire.Entry
	Applied      uint64
}

// SetSnapshot records that a snapshot up to snap is available on this
// node for followers that need entries no longer in the log.
func (c *Core) SetSnapshot(snap SnapshotInfo) {
	if snap.Index > c.snap.Index {
		c.snap = snap
	}
}

// Snapshot returns the latest snapshot known to be available.
func (c *Core) Snapshot() SnapshotInfo { return c.snap }

// FirstIndex is the first index still in the in-memory log.
func (c *Core) FirstIndex() uint64 { return c.log.firstIndex() }

// Compact drops the in-memory log up to and including index, which must
// be applied and covered by the available snapshot (a follower that needs
// older entries is sent the snapshot).
func (c *Core) Compact(index uint64) error {
	switch {
	case index > c.log.applied:
		return fmt.Errorf("raft: compact to %d beyond the applied index %d", index, c.log.applied)
	case index > c.snap.Index:
		return fmt.Errorf("raft: compact to %d beyond the snapshot at %d", index, c.snap.Index)
	}
	c.log.compact(index)
	c.compactConfs(index)
	return nil
}

// sendSnapshot asks the driver to stream the available snapshot to a
// follower that needs entries the log no longer holds.
func (c *Core) sendSnapshot(to wire.NodeID, pr *progress) {
	if c.snap.Index == 0 || c.snap.Index < c.log.firstIndex()-1 {
		return // nothing that covers the gap (cannot happen if Compact was obeyed)
	}
	pr.becomeProbe()
	pr.pendingSnap = c.snap.Index
	conf := wire.Entry{Type: wire.EntryConfChange, Index: c.snap.Index, Data: EncodeMembership(c.ConfAt(c.snap.Index))}
	c.send(wire.Message{Type: wire.MsgSnap, To: to, Index: c.snap.Index, LogTerm: c.snap.Term, Entries: []wire.Entry{conf}})
}

// ReportSnapshot tells the leader how sending a snapshot to `to` ended.
// On success the follower is probed just after the snapshot; on failure
// it is probed again, which sends the snapshot anew if still needed.
func (c *Core) ReportSnapshot(to wire.NodeID, ok bool) {
	if c.role != Leader {
		return
	}
	pr, found := c.prs[to]
	if !found || pr.pendingSnap == 0 {
		return
	}
	snap := pr.pendingSnap
	pr.becomeProbe()
	if ok {
		pr.next = max(pr.next, snap+1)
	}
}

// handleSnapshot installs the snapshot in m on a follower. The driver
// has received the snapshot's data before it steps m in.
func (c *Core) handleSnapshot(m wire.Message) {
	snap := SnapshotInfo{Index: m.Index, Term: m.LogTerm}
	switch {
	case snap.Index <= c.log.committed:
		// Nothing new: say where we are.
	case c.log.matchTerm(snap.Index, snap.Term):
		// We hold the entries already: just learn they are committed.
		c.log.commitTo(snap.Index)
	default:
		c.log.restore(snap)
		c.snap = snap
		c.pendingRestore = &snap
		if len(m.Entries) == 1 && m.Entries[0].Type == wire.EntryConfChange {
			conf, err := DecodeMembership(m.Entries[0].Data)
			if err != nil {
				panic(fmt.Sprintf("raft: snapshot %d: %v", snap.Index, err)) // the driver checked it
			}
			c.resetConfs(conf, snap.Index)
		}
	}
	c.send(wire.Message{Type: wire.MsgAppResp, To: m.From, Index: c.log.committed})
}
