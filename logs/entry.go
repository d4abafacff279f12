// Package logs holds the durable Raft log (write-ahead segments with
// checksums, batched fsync and crash recovery), the atomically written hard
// state, and the human-readable trail of committed entries.
package logs

// EntryType tells the Raft layer what an entry carries. The log stores it
// as an opaque byte; the meaning of each value belongs to package raft.
type EntryType uint8

// Entry is one record of the replicated log.
type Entry struct {
	Index uint64
	Term  uint64
	Type  EntryType
	Data  []byte
}

// HardState is what Raft must have on disk before it answers anyone: the
// current term and the vote cast in it. Vote holds a node ID; the Raft layer
// picks the value that means "none". The commit index is deliberately not
// here: it is recovered from the state machine's applied index and the
// leader, so it never costs an fsync of its own.
type HardState struct {
	Term uint64
	Vote uint64
}
