// Package logs holds the durable Raft log (write-ahead segments with
// checksums, batched fsync and crash recovery), the atomically written hard
// state, and the human-readable trail of committed entries.
package logs
