package logs_test

import (
	"github.com/raftkv/raftkv/logs"
	"github.com/raftkv/raftkv/raft"
)

// The raft driver persists, compacts and resets the log through this
// interface; keep *logs.Log satisfying it.
var _ raft.Storage = (*logs.Log)(nil)
