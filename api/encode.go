package api

import (
	"encoding/base64"
	"errors"
	"unicode/utf8"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// textOrBase64 returns b as a string when it is valid UTF-8, else its
// standard base64 in the second result.
func textOrBase64(b []byte) (text, b64 *string) {
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return nil, &s
}

// notLeader reports whether err says this node is not the leader, and who is.
func notLeader(err error) (uint64, bool) {
	var nl *core.NotLeaderError
	if errors.As(err, &nl) {
		return nl.Leader, true
	}
	return wire.None, false
}
