package raft

import (
	"context"
	"errors"
	"io"

	"github.com/raftkv/raftkv/logs"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// Storage is the durable log as the driver sees it. package logs implements it.
type Storage interface {
	// Load returns what survived the last run: the hard state and every
	// entry in the log, in index order.
	Load() (wire.HardState, []wire.Entry, error)
	// Save makes hs (when non-nil) and entries durable before it returns,
	// with one fsync for the batch. When entries[0].Index is at or below the
	// last stored index, the stored suffix from entries[0].Index on is
	// discarded first (a leader overwrote a conflicting tail).
	Save(hs *wire.HardState, entries []wire.Entry) error
	// TruncatePrefix drops stored entries up to index (or fewer): a
	// snapshot covers them.
	TruncatePrefix(index uint64) error
	// Reset drops every stored entry (after a snapshot replaced the log).
	Reset() error
	// SizeBytes is the stored log's size, which decides when to snapshot.
	SizeBytes() int64
}

// SnapshotStore keeps snapshot files: state machine images with the
// metadata a restart needs (package logs owns the format; its
// SnapshotStore implements this, on any vfs.FS). A snapshot appears whole
// and durable or not at all.
type SnapshotStore interface {
	// Latest describes the newest snapshot; logs.ErrNoSnapshot when none.
	Latest() (logs.SnapshotMeta, error)
	// Create starts a snapshot of the state at meta.Index.
	Create(meta logs.SnapshotMeta) (logs.SnapshotSink, error)
	// Open reads snapshot index: its metadata and the image.
	Open(index uint64) (logs.SnapshotMeta, io.ReadCloser, error)
	// OpenRaw reads snapshot index's whole file as stored, and its size,
	// for sending to a peer.
	OpenRaw(index uint64) (io.ReadCloser, int64, error)
	// CreateRaw receives a file a peer sent.
	CreateRaw() (logs.RawSnapshotSink, error)
}

// Transport carries messages between peers, and snapshot files beside
// them. Send never blocks: a message that cannot be queued is dropped (and
// counted), since Raft retries.
type Transport interface {
	Send(msgs []wire.Message)
	// Receive delivers messages addressed to this node.
	Receive() <-chan wire.Message
	SnapshotTransport
}

// SnapshotTransport moves snapshot files between nodes as streams: the
// transport chunks them, paces them and resends what is lost, so that
// Raft's messages carry no file data and neither end holds a whole file
// in memory.
type SnapshotTransport interface {
	// SendSnapshot streams size bytes of body, the snapshot file h names,
	// to h.To. It returns nil once the receiver kept the whole file, and
	// an error when the receiver refused it, the stream stopped making
	// progress or ctx ended. One stream per peer at a time.
	SendSnapshot(ctx context.Context, h SnapshotHeader, size int64, body io.Reader) error
	// IncomingSnapshots delivers each stream addressed to this node as
	// it begins.
	IncomingSnapshots() <-chan *IncomingSnapshot
}

// SnapshotHeader names a snapshot stream: who sends which snapshot to
// whom, in which term of the sender's.
type SnapshotHeader struct {
	From, To wire.NodeID
	Term     uint64
	Snap     core.SnapshotInfo
}

// IncomingSnapshot is a snapshot file arriving from a peer.
type IncomingSnapshot struct {
	SnapshotHeader
	Size int64 // the whole file's
	// Body yields the file from its first byte to its last, then io.EOF.
	// A Read fails when the stream is abandoned (the sender gave up or a
	// newer stream replaced it).
	Body io.Reader
	// Done must be called once, when the reader has finished with Body:
	// nil when it kept the file, else why not. The sender's SendSnapshot
	// returns only after it. A Read still pending fails.
	Done func(err error)
}

// StateMachine is what Raft replicates into. Raft knows nothing else of it.
type StateMachine interface {
	// Apply applies committed entries, in order, exactly once. Entries of
	// type EntryNoop are passed too, so the applied index has no gaps.
	Apply(entries []wire.Entry) error
	// AppliedIndex is the index of the last applied entry that survived
	// the last restart, and AppliedTerm its term (0 when none).
	AppliedIndex() uint64
	AppliedTerm() uint64
	// Snapshot writes a consistent image of the state at one applied
	// index, without holding up Apply for its duration: it pins the image,
	// calls begin with its index and term to get the writer, and streams
	// the image into it.
	Snapshot(begin func(index, term uint64) (io.Writer, error)) error
	// Restore replaces the whole state by the image in r, taken at
	// index/term. A crash during Restore leaves the old state or the new.
	Restore(r io.Reader, index, term uint64) error
	// Sync makes everything applied so far durable. The driver calls it
	// before it drops the log behind a snapshot: until then the log can
	// replay what the state machine lost in a crash. A state machine that
	// is durable at every Apply returns nil.
	Sync() error
}

// Errors returned by Node.
var (
	ErrStopped = errors.New("raft: node stopped")
	// ErrProposalUnknown: the node installed a snapshot covering the
	// proposal's index, so whether it was applied cannot be told here.
	ErrProposalUnknown = errors.New("raft: proposal outcome unknown (a snapshot replaced the log)")
)
