package transport

import (
	"bytes"
	"context"
	"io"
	"math/rand"
	"sync"
	"time"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/wire"
)

// memReceiveBuffer bounds each endpoint's inbox; more is dropped, as a
// real network drops under overload.
const memReceiveBuffer = 1024

// Network is an in-memory network for tests: endpoints exchange messages
// through it, and faults (partitions, one-way cuts, loss, delay with
// reordering, duplication) can be injected at any time. Delays are real
// time, for tests that run real goroutines; randomness comes from one
// seeded source, so a single-goroutine test is reproducible.
//
// Fault checks happen both when a message is sent and when a delayed one
// lands, so after Partition, Isolate or Cut returns nothing crosses the
// broken link, not even messages already in flight.
type Network struct {
	mu        sync.Mutex // guards every field below
	rng       *rand.Rand
	endpoints map[wire.NodeID]*MemTransport
	groups    map[wire.NodeID]int // nil when there is no partition
	isolated  map[wire.NodeID]bool
	cuts      map[[2]wire.NodeID]bool // {from, to}
	dropRate  float64
	dupRate   float64
	minDelay  time.Duration
	maxDelay  time.Duration
	delivered uint64
	dropped   uint64
	pending   map[*delivery]struct{} // delayed messages whose timer has not fired
	closed    bool

	// inflight counts timer callbacks that may still run; Close waits
	// for it so that nothing is delivered after Close returns.
	inflight sync.WaitGroup
}

type delivery struct {
	timer *time.Timer
	msg   wire.Message
}

// MemTransport is one node's endpoint on a Network; it satisfies
// raft.Transport.
type MemTransport struct {
	id    wire.NodeID
	net   *Network
	recvc chan wire.Message
	snaps *snapStreams
}

var _ raft.Transport = (*MemTransport)(nil)

// NewNetwork returns a network with no faults whose randomness is seeded by seed.
func NewNetwork(seed int64) *Network {
	return &Network{
		rng:       rand.New(rand.NewSource(seed)),
		endpoints: make(map[wire.NodeID]*MemTransport),
		isolated:  make(map[wire.NodeID]bool),
		cuts:      make(map[[2]wire.NodeID]bool),
		pending:   make(map[*delivery]struct{}),
	}
}

// Endpoint returns id's endpoint, creating it on first use. Messages sent
// to an id before its endpoint exists are dropped.
func (n *Network) Endpoint(id wire.NodeID) *MemTransport {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e, ok := n.endpoints[id]; ok {
		return e
	}
	e := &MemTransport{id: id, net: n, recvc: make(chan wire.Message, memReceiveBuffer)}
	e.snaps = newSnapStreams(id, e.Send)
	n.endpoints[id] = e
	return e
}

// Partition splits the network: nodes in different groups cannot talk,
// and nodes named in no group can talk to nobody. It replaces any earlier
// partition; Heal removes it.
func (n *Network) Partition(groups ...[]wire.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.groups = make(map[wire.NodeID]int)
	for i, g := range groups {
		for _, id := range g {
			n.groups[id] = i
		}
	}
}

// Isolate cuts id off from every other node, both ways, until Heal.
func (n *Network) Isolate(id wire.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.isolated[id] = true
}

// Cut drops every message from one node to another (one way) until Heal.
func (n *Network) Cut(from, to wire.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cuts[[2]wire.NodeID{from, to}] = true
}

// Heal removes partitions, isolations and cuts. Drop, delay and
// duplication settings stay.
func (n *Network) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.groups = nil
	clear(n.isolated)
	clear(n.cuts)
}

// SetDropRate makes each message lost with probability p (clamped to [0, 1]).
func (n *Network) SetDropRate(p float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dropRate = clamp01(p)
}

// SetDuplicateRate makes each delivered message arrive twice with
// probability p (clamped to [0, 1]); each copy draws its own delay.
func (n *Network) SetDuplicateRate(p float64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dupRate = clamp01(p)
}

// SetDelay delays each message by a uniform random duration in [lo, hi],
// which reorders messages. Zero (the default) delivers synchronously, in
// order.
func (n *Network) SetDelay(lo, hi time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	lo = max(lo, 0)
	n.minDelay, n.maxDelay = lo, max(hi, lo)
}

// Stats returns how many messages (counting duplicates) were delivered
// to an inbox and how many were dropped for any reason.
func (n *Network) Stats() (delivered, dropped uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.delivered, n.dropped
}

// Close drops everything in flight and stops all timers; nothing is
// delivered once it returns, and later Sends are dropped. Receive channels
// are left open.
func (n *Network) Close() {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		for d := range n.pending {
			if d.timer.Stop() {
				n.dropped++
				n.inflight.Done()
			}
		}
		clear(n.pending)
	}
	eps := make([]*MemTransport, 0, len(n.endpoints))
	for _, e := range n.endpoints {
		eps = append(eps, e)
	}
	n.mu.Unlock()
	n.inflight.Wait()
	// Unlocked: a stream's last acks go through route.
	for _, e := range eps {
		e.snaps.close()
	}
}

// Send routes each message through the network. It never blocks.
func (e *MemTransport) Send(msgs []wire.Message) {
	for i := range msgs {
		e.net.route(&msgs[i])
	}
}

// SendSnapshot streams a snapshot file to a peer (see raft.SnapshotTransport).
func (e *MemTransport) SendSnapshot(ctx context.Context, h raft.SnapshotHeader, size int64, body io.Reader) error {
	return e.snaps.SendSnapshot(ctx, h, size, body)
}

// IncomingSnapshots delivers the snapshot streams peers send this endpoint.
func (e *MemTransport) IncomingSnapshots() <-chan *raft.IncomingSnapshot {
	return e.snaps.IncomingSnapshots()
}

// Receive delivers the messages addressed to this endpoint. It is never closed.
func (e *MemTransport) Receive() <-chan wire.Message { return e.recvc }

func (n *Network) route(m *wire.Message) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || !n.linkUpLocked(m.From, m.To) || n.chanceLocked(n.dropRate) {
		n.dropped++
		return
	}
	copies := 1
	if n.chanceLocked(n.dupRate) {
		copies = 2
	}
	for range copies {
		c := cloneMessage(m)
		delay := n.delayLocked()
		if delay == 0 {
			n.deliverLocked(c)
			continue
		}
		d := &delivery{msg: c}
		n.inflight.Add(1)
		// The callback takes mu, so it cannot see d before d.timer is set.
		d.timer = time.AfterFunc(delay, func() { n.land(d) })
		n.pending[d] = struct{}{}
	}
}

// land delivers a delayed message, unless the network closed or the link
// broke while it was in flight.
func (n *Network) land(d *delivery) {
	defer n.inflight.Done()
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.pending, d)
	if n.closed || !n.linkUpLocked(d.msg.From, d.msg.To) {
		n.dropped++
		return
	}
	n.deliverLocked(d.msg)
}

func (n *Network) deliverLocked(m wire.Message) {
	dst := n.endpoints[m.To]
	if dst == nil {
		n.dropped++
		return
	}
	if dst.snaps.intercept(&m) {
		n.delivered++
		return
	}
	select {
	case dst.recvc <- m:
		n.delivered++
	default:
		n.dropped++
	}
}

func (n *Network) linkUpLocked(from, to wire.NodeID) bool {
	if from == to {
		return true
	}
	if n.isolated[from] || n.isolated[to] || n.cuts[[2]wire.NodeID{from, to}] {
		return false
	}
	if n.groups != nil {
		gf, okf := n.groups[from]
		gt, okt := n.groups[to]
		if !okf || !okt || gf != gt {
			return false
		}
	}
	return true
}

// chanceLocked draws only when p > 0, so settings left at zero do not
// shift the random sequence of the others.
func (n *Network) chanceLocked(p float64) bool {
	return p > 0 && n.rng.Float64() < p
}

func (n *Network) delayLocked() time.Duration {
	if n.maxDelay <= 0 {
		return 0
	}
	if n.maxDelay == n.minDelay {
		return n.minDelay
	}
	return n.minDelay + time.Duration(n.rng.Int63n(int64(n.maxDelay-n.minDelay)+1))
}

// cloneMessage copies m so that sender and receiver share nothing mutable:
// a new Entries slice and one new allocation for all entry data.
func cloneMessage(m *wire.Message) wire.Message {
	c := *m
	c.Data = bytes.Clone(m.Data)
	if len(m.Entries) == 0 {
		c.Entries = nil
		return c
	}
	size := 0
	for i := range m.Entries {
		size += len(m.Entries[i].Data)
	}
	data := make([]byte, 0, size)
	c.Entries = make([]wire.Entry, len(m.Entries))
	for i, e := range m.Entries {
		if e.Data != nil {
			start := len(data)
			data = append(data, e.Data...)
			e.Data = data[start:len(data):len(data)]
		}
		c.Entries[i] = e
	}
	return c
}

func clamp01(p float64) float64 {
	return min(max(p, 0), 1)
}
