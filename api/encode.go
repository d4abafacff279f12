package api

import (
	"errors"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// notLeader reports whether err says this node is not the leader, and who is.
func notLeader(err error) (uint64, bool) {
	var nl *core.NotLeaderError
	if errors.As(err, &nl) {
		return nl.Leader, true
	}
	return wire.None, false
}
