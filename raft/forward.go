package raft

import (
	"time"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// Proposal forwarding: a follower hands its proposals to the leader as a
// MsgProp over the Raft transport instead of each write making a second
// HTTP request; the leader's driver proposes them through the core's
// usual door (Core.Propose) and answers the index and term they got. The
// follower then waits, like a leader does, until it has applied that
// index, and the entry there carries that term (Log Matching: the pair
// names one entry). Nothing here runs inside the core: both ends are
// driver code, and a lost MsgProp or answer costs the caller its request
// timeout, never a wrong answer.

// forwardExpiry drops forwards whose answer never came; their callers
// gave up at their own deadline long before.
const forwardExpiry = 30 * time.Second

// Forward ids must not repeat across a follower's restarts: a leader's
// answer to a batch sent before one (queued in a transport while the
// follower was down) would otherwise match a new batch with the same id,
// and tell its callers they were written at another entry. A follower
// therefore starts counting at a random point (see StartNode). The
// leader, for its part, proposes a batch once however often its MsgProp
// arrives (a duplicated or replayed message), remembering the last
// seenProposalsPerPeer ids from each follower.
const seenProposalsPerPeer = 1024

// seenProposals is the ids of the batches one follower sent lately, in
// the order they came. Owned by the driver.
type seenProposals struct {
	ids  map[uint64]bool
	fifo []uint64
}

// add records id and reports whether it was new.
func (s *seenProposals) add(id uint64) bool {
	if s.ids[id] {
		return false
	}
	if len(s.fifo) == seenProposalsPerPeer {
		delete(s.ids, s.fifo[0])
		s.fifo = s.fifo[1:]
	}
	s.ids[id] = true
	s.fifo = append(s.fifo, id)
	return true
}

// forwarded is a batch sent to the leader and not yet answered. Owned by
// the driver.
type forwarded struct {
	to    wire.NodeID
	batch []proposal
	sent  time.Time
}

// forwardTo sends batch to the leader as MsgProps no larger than
// MaxMsgBytes each (but at least one proposal each).
func (n *Node) forwardTo(leader wire.NodeID, batch []proposal) {
	maxBytes := n.core.Config().MaxMsgBytes
	for len(batch) > 0 {
		size, k := 0, 0
		for k < len(batch) && (k == 0 || size+len(batch[k].data) <= maxBytes) {
			size += len(batch[k].data)
			k++
		}
		n.forwardSeq++
		id := n.forwardSeq
		ents := make([]wire.Entry, k)
		for i := range k {
			ents[i] = wire.Entry{Type: wire.EntryNormal, Data: batch[i].data}
		}
		n.forwards[id] = &forwarded{to: leader, batch: batch[:k:k], sent: n.cfg.clock.Now()}
		n.cfg.Transport.Send([]wire.Message{{Type: wire.MsgProp, From: n.cfg.ID, To: leader, Term: n.core.Term(), Context: id, Entries: ents}})
		batch = batch[k:]
	}
}

// routeProposalMessage handles MsgProp and MsgPropResp, which the core
// never sees.
func (n *Node) routeProposalMessage(m wire.Message) bool {
	switch m.Type {
	case wire.MsgProp:
		n.proposeForwarded(m)
		return true
	case wire.MsgPropResp:
		n.forwardAnswered(m)
		return true
	}
	return false
}

// proposeForwarded is the leader's side: propose the entries and answer
// where they went, or that this node cannot take them.
func (n *Node) proposeForwarded(m wire.Message) {
	seen := n.seenProps[m.From]
	if seen == nil {
		seen = &seenProposals{ids: map[uint64]bool{}}
		n.seenProps[m.From] = seen
	}
	if !seen.add(m.Context) {
		n.logger.Debug("dropping a forwarded batch proposed before", "from", m.From, "id", m.Context)
		return
	}
	resp := wire.Message{Type: wire.MsgPropResp, From: n.cfg.ID, To: m.From, Term: n.core.Term(), Context: m.Context}
	data := make([][]byte, 0, len(m.Entries))
	for _, e := range m.Entries {
		if e.Type == wire.EntryNormal {
			data = append(data, e.Data)
		}
	}
	var err error
	if len(data) != len(m.Entries) || len(data) == 0 {
		err = core.ErrEmptyProposal // only commands are forwarded; anything else is refused whole
	} else {
		resp.Index, resp.LogTerm, err = n.core.Propose(data...)
	}
	n.cfg.Observer.ObserveProposals(len(data), err == nil)
	if err != nil {
		resp.Reject = true
		resp.Lead = n.core.Leader()
		resp.Index, resp.LogTerm = 0, 0
	}
	n.cfg.Transport.Send([]wire.Message{resp})
}

// forwardAnswered is the follower's side: the batch is in the leader's
// log at Index.. with term LogTerm, or was refused.
func (n *Node) forwardAnswered(m wire.Message) {
	f, ok := n.forwards[m.Context]
	if !ok || m.From != f.to {
		return // expired, or an answer from a node we never asked
	}
	delete(n.forwards, m.Context)
	for i, p := range f.batch {
		if m.Reject {
			p.resp <- proposeResult{err: &core.NotLeaderError{Leader: m.Lead}}
			continue
		}
		idx := m.Index + uint64(i)
		p.resp <- proposeResult{index: idx, wait: n.waits.register(idx, m.LogTerm, n.core.LogTerm)}
	}
}

// expireForwards answers forwards that waited past forwardExpiry.
func (n *Node) expireForwards(now time.Time) {
	for id, f := range n.forwards {
		if now.Sub(f.sent) > forwardExpiry {
			delete(n.forwards, id)
			for _, p := range f.batch {
				p.resp <- proposeResult{err: ErrProposalUnknown}
			}
		}
	}
}
