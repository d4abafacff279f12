package raft

import (
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// readyIO is everything handling one Ready does outside the core. The
// driver's implementation (driverIO) wraps Storage, Transport and the
// applier's channel; the seeded simulation's writes to its simulated disk,
// network and state machine. processReady decides the order; an
// implementation only carries each step out.
type readyIO interface {
	// send hands messages other than MsgSnap to the network.
	send(msgs []wire.Message)
	// sendSnapshot starts sending the snapshot a MsgSnap names; false
	// when it could not start (the core is then told it failed).
	sendSnapshot(m wire.Message) bool
	// resetLog drops the whole stored log: the received snapshot snap
	// replaces it.
	resetLog(snap core.SnapshotInfo) error
	// restore has the state machine become snap, whose membership is
	// conf, in log order with the entries handed to apply.
	restore(snap core.SnapshotInfo, conf core.Membership) error
	// save makes hs (when non-nil) and ents durable before it returns.
	save(hs *wire.HardState, ents []wire.Entry) error
	// apply hands committed entries to the state machine, in order.
	apply(ents []wire.Entry) error
	// readStates delivers answered ReadIndex requests.
	readStates(rss []core.ReadState)
	// reached is called at each readyPoint; an error stops the handling
	// there, before Advance, and is returned. It is the simulation's hook
	// to crash a node part-way through a Ready; the driver's returns nil.
	reached(p readyPoint) error
}

// readyPoint names a moment inside processReady.
type readyPoint uint8

const (
	// sentEarly: the messages that may go out before the fsync
	// (SafeBeforePersist, and snapshot sends) went out; nothing of this
	// Ready is durable yet.
	sentEarly readyPoint = iota
	// persisted: the log reset (for a received snapshot) and the Save are
	// done; no other message of this Ready was sent and nothing was
	// handed to the state machine.
	persisted
)

// processReady carries out rd, which c.Ready returned, through io, and
// then calls c.Advance(rd). The order is what makes it safe:
//
//  1. Snapshot sends and the messages that are SafeBeforePersist (a
//     leader's appends and heartbeats) go out first, so followers write
//     while the leader writes its own log.
//  2. A received snapshot resets the stored log before anything after the
//     snapshot is written, and is handed to the applier ahead of every
//     entry after it.
//  3. The hard state and entries are saved (one fsync).
//  4. Every other message (votes, acknowledgements: promises about
//     durable state) goes out only after the Save.
//  5. Committed entries go to the applier after the Save, then read
//     states are delivered.
//  6. Advance last; then the core learns which snapshot sends failed to
//     start.
//
// On an error nothing after the failing step is done and rd is not
// advanced: the node must stop.
func processReady(c *core.Core, rd core.Ready, io readyIO) error {
	var later, now []wire.Message
	var unsent []wire.NodeID // snapshots that could not start
	for _, m := range rd.Messages {
		if m.Type == wire.MsgSnap {
			if !io.sendSnapshot(m) {
				unsent = append(unsent, m.To)
			}
			continue
		}
		if m.SafeBeforePersist() {
			now = append(now, m)
		} else {
			later = append(later, m)
		}
	}
	if len(now) > 0 {
		io.send(now)
	}
	if err := io.reached(sentEarly); err != nil {
		return err
	}
	if rd.Snapshot != nil {
		if err := io.resetLog(*rd.Snapshot); err != nil {
			return err
		}
		if err := io.restore(*rd.Snapshot, c.ConfAt(rd.Snapshot.Index)); err != nil {
			return err
		}
	}
	if rd.HardState != nil || len(rd.Entries) > 0 {
		if err := io.save(rd.HardState, rd.Entries); err != nil {
			return err
		}
	}
	if err := io.reached(persisted); err != nil {
		return err
	}
	if len(later) > 0 {
		io.send(later)
	}
	if len(rd.CommittedEntries) > 0 {
		if err := io.apply(rd.CommittedEntries); err != nil {
			return err
		}
	}
	if len(rd.ReadStates) > 0 {
		io.readStates(rd.ReadStates)
	}
	c.Advance(rd)
	for _, to := range unsent {
		c.ReportSnapshot(to, false)
	}
	return nil
}
