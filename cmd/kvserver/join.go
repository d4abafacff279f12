package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/config"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// joinSpec is `kvserver --join`: where the cluster is and where this node
// listens. The node need not be among config.json's nodes.
type joinSpec struct {
	urls     []string
	raftAddr string
	httpAddr string
}

const (
	// joinTimeout bounds how long a joining node keeps asking the cluster
	// to add it (an election, a change in flight) before it gives up.
	joinTimeout = time.Minute
	// probeTimeout bounds the look at the other nodes before a fresh
	// data directory bootstraps.
	probeTimeout = 1500 * time.Millisecond
	// watchInterval paces the membership watcher.
	watchInterval = 250 * time.Millisecond
)

// errRetryJoin: a step of the join failed in a way a retry may fix.
var errRetryJoin = errors.New("retry the join")

// errRemoved: the log's membership no longer names this node.
var errRemoved = errors.New("removed from the cluster")

// checkFreshBootstrap runs before a node with an empty data directory
// bootstraps from config.json. If another node's view of the cluster
// already records this id in another life (it ran and voted before its
// data was lost), bootstrapping would let it vote twice in a term: refuse,
// and say how to come back. No answer (a brand-new cluster starting up)
// lets it bootstrap.
func checkFreshBootstrap(ctx context.Context, cfg *config.Config, id uint64, copts []client.Option) error {
	var eps []string
	for _, nc := range cfg.Nodes {
		if nc.ID != id {
			eps = append(eps, nc.HTTPAddr)
		}
	}
	if len(eps) == 0 {
		return nil
	}
	c, err := client.New(eps, probeTimeout, copts...)
	if err != nil {
		return nil // a config address the client cannot use; startNode reports bad ones
	}
	defer c.Close()
	m, err := c.Members(ctx, true)
	if err != nil {
		return nil
	}
	for _, mb := range m.Members {
		if mb.ID == id && mb.Incarnation != 0 {
			return fmt.Errorf("node %d's data directory is empty, but the cluster knows node %d from an earlier life "+
				"(its data was lost or wiped): it must not rejoin under its old identity. Remove it with "+
				"`kvcli member remove %d`, then start it again with --join", id, id, id)
		}
		if mb.ID == id {
			return nil
		}
	}
	if m.ConfigIndex > 0 {
		return fmt.Errorf("node %d is not a member of the running cluster (config index %d); join it with "+
			"--join http://HOST:PORT --node-id %d --raft-addr tcp://HOST:PORT --http-addr HOST:PORT", id, m.ConfigIndex, id)
	}
	return nil
}

// joinCluster asks the cluster to add this node as a learner, retrying
// while no leader can take the change. Already being a member in this
// incarnation is success: a restart with a leftover --join, or a retry
// whose first answer was lost.
func (n *node) joinCluster(ctx context.Context, j *joinSpec) error {
	if mb, ok := n.raft.Status().Membership.Get(n.id); ok && mb.Incarnation == n.ident.Incarnation {
		return nil
	}
	c, err := client.New(j.urls, 5*time.Second, n.clientOpts...)
	if err != nil {
		return fmt.Errorf("--join: %w", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	req := client.NewMember{ID: n.id, RaftAddr: j.raftAddr, HTTPAddr: j.httpAddr, Incarnation: n.ident.Incarnation}
	for {
		m, err := c.AddMember(ctx, req)
		if err == nil {
			n.peersFromJoin(m.Members)
			n.logger.Info("joined the cluster as a learner", "config_index", m.ConfigIndex, "via", c.Current())
			return nil
		}
		var apiErr *client.APIError
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict {
			done, cerr := n.alreadyJoined(ctx, c)
			switch {
			case done:
				return nil
			case errors.Is(cerr, errRetryJoin):
			case cerr != nil:
				return cerr
			case !isInFlight(apiErr):
				return fmt.Errorf("the cluster refused to add node %d: %s", n.id, apiErr.Message)
			}
		} else if errors.As(err, &apiErr) && apiErr.Status != http.StatusServiceUnavailable {
			return fmt.Errorf("the cluster refused to add node %d: %s", n.id, apiErr.Message)
		}
		n.logger.Info("join not accepted yet; retrying", "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("could not join the cluster at %v within %v: %w", j.urls, joinTimeout, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// isInFlight: a 409 that a later retry may not get (another change is
// being committed).
func isInFlight(e *client.APIError) bool { return strings.Contains(e.Message, "not yet committed") }

// alreadyJoined tells a 409 for this very node (done) from one for another
// life of its id, which must not join (error).
func (n *node) alreadyJoined(ctx context.Context, c *client.Client) (bool, error) {
	m, err := c.Members(ctx, false)
	if err != nil {
		return false, nil
	}
	for _, mb := range m.Members {
		if mb.ID != n.id {
			continue
		}
		if mb.Incarnation == 0 {
			// Added by hand (kvcli member add): this node is the one it
			// stands for; record which data directory that is.
			if err := c.RecordIncarnation(ctx, n.id, n.ident.Incarnation); err != nil {
				return false, errRetryJoin
			}
			mb.Incarnation = n.ident.Incarnation
		}
		if mb.Incarnation == n.ident.Incarnation {
			n.peersFromJoin(m.Members)
			return true, nil
		}
		return false, fmt.Errorf("node id %d is already a member (another data directory: incarnation %d, this one %d); "+
			"if it replaces a lost node, remove that first with `kvcli member remove %d`, or pick a new --node-id",
			n.id, mb.Incarnation, n.ident.Incarnation, n.id)
	}
	return false, nil
}

// watchMembership follows this node's place in the membership until stop:
// it records the incarnation of a member the log has none for (a
// bootstrap member), and reports on gone when the node was removed or the
// log names another incarnation of it (its data was replaced). seenSelf
// says whether this node has been a member before: a joining node's log
// starts with configurations from before it was added.
func (n *node) watchMembership(stop <-chan struct{}, seenSelf bool) {
	defer close(n.watchDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	var nextRecord, nextAsk time.Time
	for {
		select {
		case <-stop:
			return
		case <-n.raft.Done():
			return
		case <-tick.C:
		}
		st := n.raft.Status()
		mb, ok := st.Membership.Get(n.id)
		switch {
		case ok && mb.Incarnation != 0 && mb.Incarnation != n.ident.Incarnation:
			n.report(fmt.Errorf("the cluster knows node %d as another data directory (incarnation %d, this one %d): "+
				"this one was wiped or copied and must not act as that node. Remove node %d with `kvcli member remove %d`, "+
				"then start this one again with --join", n.id, mb.Incarnation, n.ident.Incarnation, n.id, n.id))
			return
		case ok:
			seenSelf = true
			cid := ""
			if st.Membership.ClusterID != 0 {
				cid = strconv.FormatUint(st.Membership.ClusterID, 16)
			}
			if !n.ident.Member || n.ident.ClusterID != cid && cid != "" {
				n.ident.Member, n.ident.ClusterID = true, cid
				if err := writeIdentity(n.dir, n.ident); err != nil {
					n.logger.Warn("note membership in the identity file", "err", err)
				}
			}
			if mb.Incarnation == 0 && st.Leader != wire.None && time.Now().After(nextRecord) {
				nextRecord = time.Now().Add(2 * time.Second)
				n.recordIncarnation(ctx)
			}
		case seenSelf && len(st.Membership.Members) > 0:
			// The log drops it, but a follower may never hear that the
			// removal committed (the leader stops talking to it): ask the
			// leader itself.
			committed := st.AppliedIndex >= st.ConfigIndex
			if !committed && time.Now().After(nextAsk) {
				nextAsk = time.Now().Add(time.Second)
				committed = leaderConfirmsRemoval(ctx, st, n.id, n.clientOpts...)
			}
			if committed {
				n.report(fmt.Errorf("node %d was %w (config index %d); its data in %s is of no further use: "+
					"to bring it back, move that directory away and start it with --join", n.id, errRemoved, st.ConfigIndex, n.dir))
				return
			}
		}
		n.prunePeers()
	}
}

// recordIncarnation asks the leader, through this node's own API (which
// forwards), to record this data directory's incarnation.
func (n *node) recordIncarnation(ctx context.Context) {
	c, err := client.New([]string{n.httpURL}, 5*time.Second, n.clientOpts...)
	if err != nil {
		return
	}
	defer c.Close()
	if err := c.RecordIncarnation(ctx, n.id, n.ident.Incarnation); err != nil {
		n.logger.Debug("record incarnation", "err", err)
		return
	}
	n.logger.Info("incarnation recorded in the membership", "incarnation", strconv.FormatUint(n.ident.Incarnation, 16))
}

// report hands the watcher's verdict to runNodes (once).
func (n *node) report(err error) {
	select {
	case n.gone <- err:
	default:
	}
}

// leaderConfirmsRemoval asks the members of st's membership which of them
// leads, and whether its committed membership, at least as new as st's,
// leaves id out.
func leaderConfirmsRemoval(ctx context.Context, st core.Status, id uint64, opts ...client.Option) bool {
	var eps []string
	for _, mb := range st.Membership.Members {
		eps = append(eps, mb.HTTPAddr)
	}
	c, err := client.New(eps, time.Second, opts...)
	if err != nil {
		return false
	}
	defer c.Close()
	for _, ns := range c.StatusAll(ctx) {
		ls := ns.Status
		if ns.Err != nil || ls.State != "leader" || ls.ConfigIndex < st.ConfigIndex || ls.CommitIndex < ls.ConfigIndex {
			continue
		}
		for _, mb := range ls.Members {
			if mb.ID == id {
				return false
			}
		}
		return true
	}
	return false
}
