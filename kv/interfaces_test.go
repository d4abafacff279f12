package kv_test

import (
	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/wire"
)

// Store is plugged into raft through this interface, and its Describe
// into the trail's wrapper; kv cannot import raft, so the check lives here.
var (
	_ raft.StateMachine   = (*kv.Store)(nil)
	_ func([]byte) string = (*kv.Store)(nil).Describe
)

// kv spells wire.EntryNormal itself; the two must agree.
var _ = [1]struct{}{}[wire.EntryNormal]
