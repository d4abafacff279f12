package main

import (
	"cmp"
	"slices"

	"github.com/raftkv/raftkv/config"
	"github.com/raftkv/raftkv/raft"
)

// bootstrapMembership is config.json's nodes as the first membership of a
// brand-new cluster, all voters.
func bootstrapMembership(cfg *config.Config) raft.Membership {
	var m raft.Membership
	for _, nc := range cfg.Nodes {
		m.Members = append(m.Members, raft.Member{ID: nc.ID, RaftAddr: nc.RaftAddr, HTTPAddr: nc.HTTPAddr})
	}
	slices.SortFunc(m.Members, func(a, b raft.Member) int { return cmp.Compare(a.ID, b.ID) })
	return m
}

// onMembership points the transport and the per-peer metrics at the
// membership in the log. Raft calls it on its driver goroutine, first
// during StartNode, and then whenever the membership changes.
func (n *node) onMembership(m raft.Membership) {
	peers := make(map[raft.NodeID]string, len(m.Members))
	for _, mb := range m.Members {
		peers[mb.ID] = mb.RaftAddr
	}
	if err := n.tr.SetPeers(peers); err != nil {
		// The log's addresses were checked when the change was made, so
		// this is a corrupt or hand-edited record: keep the old peers.
		n.logger.Error("membership names a bad raft address; transport keeps its peers", "err", err)
	}
	n.prom.SetPeers(m.IDs())
}
