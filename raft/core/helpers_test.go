package core

import (
	"slices"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

// testCfg is a plain configuration for unit tests: no pre-vote and no
// check-quorum (tests turn them on explicitly), a heartbeat every tick,
// and a message size limit large enough not to matter.
func testCfg(id wire.NodeID, n int) Config {
	peers := make([]wire.NodeID, n)
	for i := range peers {
		peers[i] = wire.NodeID(i)
	}
	return Config{ID: id, Peers: peers, ElectionTickMin: 10, ElectionTickMax: 20, HeartbeatTick: 1,
		MaxInflight: 16, MaxMsgBytes: 1 << 20, Seed: 1}
}

// logOf builds a log whose entry i+1 has term terms[i].
func logOf(terms ...uint64) []wire.Entry {
	ents := make([]wire.Entry, len(terms))
	for i, t := range terms {
		ents[i] = wire.Entry{Index: uint64(i + 1), Term: t}
	}
	return ents
}

// termsOf lists the terms of a core's log, index 1 first.
func termsOf(c *Core) []uint64 {
	var ts []uint64
	for i := c.log.firstIndex(); i <= c.log.lastIndex(); i++ {
		t, _ := c.log.term(i)
		ts = append(ts, t)
	}
	return ts
}

func mustCore(t testing.TB, cfg Config, hs wire.HardState, ents []wire.Entry, applied uint64) *Core {
	t.Helper()
	c, err := NewCore(cfg, hs, slices.Clone(ents), applied)
	if err != nil {
		t.Fatalf("NewCore(%d): %v", cfg.ID, err)
	}
	return c
}

// flush does what a driver does with one Ready and returns it.
func flush(c *Core) Ready {
	rd := c.Ready()
	c.Advance(rd)
	return rd
}

// msgsOf returns the messages of type typ in msgs.
func msgsOf(msgs []wire.Message, typ wire.MessageType) []wire.Message {
	var out []wire.Message
	for _, m := range msgs {
		if m.Type == typ {
			out = append(out, m)
		}
	}
	return out
}

// makeLeader turns c into the leader of the next term directly, for tests
// whose subject is what a leader does rather than how it got elected.
func makeLeader(c *Core) {
	c.becomeCandidate()
	c.becomeLeader()
}

// testNet connects cores with synchronous, ordered delivery, so unit tests
// can control exactly which messages arrive. A nil core is down.
type testNet struct {
	t     testing.TB
	cores []*Core
	// drop, when set, sees every message before delivery; it may edit it
	// and returns true to drop it.
	drop      func(m *wire.Message) bool
	delivered []wire.Message // every message delivered, in order
	queue     []wire.Message
	committed map[wire.NodeID][]wire.Entry // committed entries handed out per node
	reads     map[wire.NodeID][]ReadState  // read states handed out per node
}

func newTestNet(t testing.TB, cores ...*Core) *testNet {
	return &testNet{t: t, cores: cores, committed: map[wire.NodeID][]wire.Entry{}, reads: map[wire.NodeID][]ReadState{}}
}

// newTestNetN builds n fresh cores, adjusting their configuration.
func newTestNetN(t testing.TB, n int, adjust func(*Config)) *testNet {
	cores := make([]*Core, n)
	for i := range cores {
		cfg := testCfg(wire.NodeID(i), n)
		if adjust != nil {
			adjust(&cfg)
		}
		cores[i] = mustCore(t, cfg, wire.HardState{}, nil, 0)
	}
	return newTestNet(t, cores...)
}

// collect drains every core's Ready into the queue.
func (n *testNet) collect() {
	for id, c := range n.cores {
		for c != nil && c.HasReady() {
			rd := flush(c)
			n.queue = append(n.queue, rd.Messages...)
			n.committed[wire.NodeID(id)] = append(n.committed[wire.NodeID(id)], rd.CommittedEntries...)
			n.reads[wire.NodeID(id)] = append(n.reads[wire.NodeID(id)], rd.ReadStates...)
		}
	}
}

// settle delivers messages until none are left, and returns how many it
// delivered.
func (n *testNet) settle() int {
	n.t.Helper()
	count := 0
	for range 10000 {
		n.collect()
		if len(n.queue) == 0 {
			return count
		}
		q := n.queue
		n.queue = nil
		for _, m := range q {
			if n.drop != nil && n.drop(&m) {
				continue
			}
			if int(m.To) < len(n.cores) && n.cores[m.To] != nil {
				count++
				n.delivered = append(n.delivered, m)
				n.cores[m.To].Step(m)
			}
		}
	}
	n.t.Fatalf("testNet: messages still flowing after 10000 rounds")
	return count
}

// elect makes id campaign (skipping its election timeout) and settles.
func (n *testNet) elect(id wire.NodeID) {
	n.t.Helper()
	// Voters refuse votes in their first ElectionTickMin ticks under
	// check-quorum (see inLease): let that time pass.
	for _, c := range n.cores {
		if c != nil {
			c.ticks = max(c.ticks, uint64(c.cfg.ElectionTickMin))
		}
	}
	n.cores[id].campaign(false)
	n.settle()
	if n.cores[id].role != Leader {
		n.t.Fatalf("node %d did not win its election: role %v term %d", id, n.cores[id].role, n.cores[id].term)
	}
}

// count returns how many delivered messages match pred.
func (n *testNet) count(pred func(m wire.Message) bool) int {
	c := 0
	for _, m := range n.delivered {
		if pred(m) {
			c++
		}
	}
	return c
}
