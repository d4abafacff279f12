package raft

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// confReq is one ChangeMembership call waiting for the driver.
type confReq struct {
	cc   core.ConfChange
	resp chan confResult
}

type confResult struct {
	index uint64
	next  core.Membership
	wait  chan error
	err   error
}

// ChangeMembership proposes cc on this node, which must lead, and returns
// once the change is committed and applied here: the membership it made
// and the index of its entry. A refusal comes back at once and names its
// reason (ErrConfChangeInFlight, ErrConfChangeTooEarly, ErrMemberExists,
// ErrNoSuchMember, ErrLastVoter, ErrNotLearner, *LearnerBehindError,
// ErrBadMember, *NotLeaderError).
func (n *Node) ChangeMembership(ctx context.Context, cc core.ConfChange) (core.Membership, uint64, error) {
	req := confReq{cc: cc, resp: make(chan confResult, 1)}
	select {
	case n.confc <- req:
	case <-ctx.Done():
		return core.Membership{}, 0, ctx.Err()
	case <-n.stopc:
		return core.Membership{}, 0, ErrStopped
	}
	var r confResult
	select {
	case r = <-req.resp:
	case <-n.stopc:
		return core.Membership{}, 0, ErrStopped
	}
	if r.err != nil {
		return core.Membership{}, 0, r.err
	}
	return r.next, r.index, n.waits.waitProposal(ctx, r.index, r.wait)
}

// proposeConf is the driver's half of ChangeMembership.
func (n *Node) proposeConf(req confReq) {
	index, term, err := n.core.ProposeConfChange(req.cc)
	if err != nil {
		req.resp <- confResult{err: fmt.Errorf("%v member %d: %w", req.cc.Type, req.cc.Member.ID, err)}
		return
	}
	next, _ := n.core.Membership()
	n.logger.Info("membership change proposed", "change", req.cc.Type.String(), "member", req.cc.Member.ID, "index", index)
	req.resp <- confResult{index: index, next: next, wait: n.waits.register(index, term, n.core.LogTerm)}
}

// noteMembership emits EventMembership when the latest membership in the
// log changed (committed or not: the transport, told by the Observer,
// must reach a new learner as soon as the leader starts replicating to
// it). Driver only, and before the messages of the change are sent.
func (n *Node) noteMembership() {
	m, index := n.core.Membership()
	if index == n.lastConfIndex && m.Equal(n.lastConf) {
		return
	}
	n.lastConf, n.lastConfIndex = m, index
	n.logger.Info("membership", "config_index", index, "members", len(m.Members), "voters", len(m.Voters()))
	n.emit(Event{Time: time.Now(), Kind: EventMembership, Node: n.cfg.ID, Term: n.core.Term(),
		Role: n.core.Role(), Leader: n.core.Leader(), Membership: m.Clone(), ConfigIndex: index})
}

// appliedConf is a committed membership and the index it holds from.
type appliedConf struct {
	index uint64
	m     core.Membership
}

// appliedConfs records the committed configurations the applier has seen,
// so a snapshot taken at an applied index records the membership there.
type appliedConfs struct {
	mu    sync.Mutex    // guards confs; the applier appends, snapshots read
	confs []appliedConf // ascending by index; confs[0] covers everything before
}

func (a *appliedConfs) reset(index uint64, m core.Membership) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.confs = []appliedConf{{index: index, m: m}}
}

// note records the configuration entries among ents.
func (a *appliedConfs) note(ents []wire.Entry) error {
	for _, e := range ents {
		if e.Type != wire.EntryConfChange {
			continue
		}
		m, err := core.DecodeMembership(e.Data)
		if err != nil {
			return fmt.Errorf("configuration entry %d: %w", e.Index, err)
		}
		a.mu.Lock()
		a.confs = append(a.confs, appliedConf{index: e.Index, m: m})
		a.mu.Unlock()
	}
	return nil
}

// at returns the membership in force at index and forgets older ones no
// snapshot will ask for again (snapshots only move forward).
func (a *appliedConfs) at(index uint64) core.Membership {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.confs) == 0 {
		return core.Membership{}
	}
	i := 0
	for i+1 < len(a.confs) && a.confs[i+1].index <= index {
		i++
	}
	a.confs = a.confs[i:]
	return a.confs[0].m.Clone()
}
