package main

import (
	"cmp"
	"slices"

	"time"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/api/metrics"
	"github.com/raftkv/raftkv/config"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// bootstrapMembership is config.json's nodes as the first membership of a
// brand-new cluster, all voters.
func bootstrapMembership(cfg *config.Config) core.Membership {
	var m core.Membership
	for _, nc := range cfg.Nodes {
		m.Members = append(m.Members, core.Member{ID: nc.ID, RaftAddr: nc.RaftAddr, HTTPAddr: nc.HTTPAddr})
	}
	slices.SortFunc(m.Members, func(a, b core.Member) int { return cmp.Compare(a.ID, b.ID) })
	return m
}

// raftObserver is the node's raft.Observer: its metrics, and the
// membership events that the transport must follow. Raft tells an
// Observer of a membership change before it sends to a member the change
// added, which a subscriber (told later, on its own goroutine) could not
// promise.
type raftObserver struct {
	*metrics.Metrics
	n *node
}

func (o raftObserver) ObserveEvent(e raft.Event) {
	if e.Kind == raft.EventMembership {
		o.n.onMembership(e.Membership)
	}
	o.Metrics.ObserveEvent(e)
}

// onMembership points the transport and the per-peer metrics at the
// membership in the log: first during StartNode, and then whenever the
// membership changes. A joining node's log has no membership yet: its
// peers stay those joinCluster set.
func (n *node) onMembership(m core.Membership) {
	if len(m.Members) == 0 {
		return
	}
	n.peersMu.Lock()
	defer n.peersMu.Unlock()
	n.peersFromLog = true
	n.tr.SetCluster(m.ClusterID)
	incs := make(map[wire.NodeID]uint64, len(m.Members))
	for _, mb := range m.Members {
		incs[mb.ID] = mb.Incarnation
	}
	n.tr.SetIncarnations(incs)
	// A member that leaves stays reachable for a while: the leader sends
	// it the entry that removes it and then word that it committed, so
	// that it stops by itself.
	if n.leaving == nil {
		n.leaving = map[wire.NodeID]leavingPeer{}
	}
	for _, old := range n.members {
		if !m.Contains(old.ID) {
			n.leaving[old.ID] = leavingPeer{m: old, until: time.Now().Add(leaveGrace)}
		}
	}
	for _, mb := range m.Members {
		delete(n.leaving, mb.ID)
	}
	n.members = m.Members
	n.applyPeers()
}

// leaveGrace is how long a removed member stays in the transport.
const leaveGrace = 10 * time.Second

type leavingPeer struct {
	m     core.Member
	until time.Time
}

// prunePeers drops leaving members whose grace ended (watcher's tick).
func (n *node) prunePeers() {
	n.peersMu.Lock()
	defer n.peersMu.Unlock()
	now, gone := time.Now(), false
	for id, lp := range n.leaving {
		if now.After(lp.until) {
			delete(n.leaving, id)
			gone = true
		}
	}
	if gone {
		n.applyPeers()
	}
}

// applyPeers sets the transport to the members plus the leaving ones.
// peersMu held.
func (n *node) applyPeers() {
	all := slices.Clone(n.members)
	for _, lp := range n.leaving {
		all = append(all, lp.m)
	}
	n.setPeers(all)
}

// peersFromJoin points the transport at the membership the cluster
// answered a join with, so the new node can answer the leader before its
// log holds a membership of its own (never over one the log gave).
func (n *node) peersFromJoin(members []client.Member) {
	n.peersMu.Lock()
	defer n.peersMu.Unlock()
	if n.peersFromLog {
		return
	}
	ms := make([]core.Member, 0, len(members))
	for _, mb := range members {
		ms = append(ms, core.Member{ID: mb.ID, RaftAddr: mb.RaftAddr})
	}
	n.setPeers(ms)
}

func (n *node) setPeers(members []core.Member) {
	peers := make(map[wire.NodeID]string, len(members))
	ids := make([]wire.NodeID, 0, len(members))
	for _, mb := range members {
		peers[mb.ID] = mb.RaftAddr
		if r, ok := n.raftRoutes[mb.ID]; ok {
			peers[mb.ID] = r
		}
		ids = append(ids, mb.ID)
	}
	if err := n.tr.SetPeers(peers); err != nil {
		// The log's addresses were checked when the change was made, so
		// this is a corrupt or hand-edited record: keep the old peers.
		n.logger.Error("membership names a bad raft address; transport keeps its peers", "err", err)
	}
	n.prom.SetPeers(ids)
}
