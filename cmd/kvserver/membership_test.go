package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/api/metrics"
	"github.com/raftkv/raftkv/config"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/transport"
	"github.com/raftkv/raftkv/raft/wire"
)

// startJoin starts node id with --join, on addresses not in config.json.
func (c *e2eCluster) startJoin(id uint64, self config.Node, via ...uint64) (*node, error) {
	c.t.Helper()
	var urls []string
	for _, v := range via {
		urls = append(urls, "http://"+c.httpAddr(v))
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", id)
	}
	n, err := startNode(c.cfg, id, logger, withJoin(&joinSpec{urls: urls, raftAddr: self.RaftAddr, httpAddr: self.HTTPAddr}))
	if err == nil {
		c.nodes[id] = n
		if c.extra == nil {
			c.extra = map[uint64]config.Node{}
		}
		c.extra[id] = self
	}
	return n, err
}

// httpAddr is node id's HTTP address, whether config.json or --join gave it.
func (c *e2eCluster) httpAddr(id uint64) string {
	if n, ok := c.extra[id]; ok {
		return n.HTTPAddr
	}
	n, err := c.cfg.Node(id)
	if err != nil {
		c.t.Fatal(err)
	}
	return n.HTTPAddr
}

func newNodeAddrs(t testing.TB, id uint64) config.Node {
	p := freePorts(t, 2)
	return config.Node{ID: id, RaftAddr: fmt.Sprintf("tcp://127.0.0.1:%d", p[0]), HTTPAddr: fmt.Sprintf("127.0.0.1:%d", p[1])}
}

// members asks node id for the leader's membership, as id -> member.
func (c *e2eCluster) members(id uint64) (map[uint64]client.Member, error) {
	cl, err := client.New([]string{c.httpAddr(id)}, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	m, err := cl.Members(context.Background(), false)
	if err != nil {
		return nil, err
	}
	out := map[uint64]client.Member{}
	for _, mb := range m.Members {
		out[mb.ID] = mb
	}
	return out, nil
}

func (c *e2eCluster) waitMembers(t *testing.T, via uint64, what string, ok func(map[uint64]client.Member) bool) {
	t.Helper()
	waitUntil(t, what, func() bool {
		m, err := c.members(via)
		return err == nil && ok(m)
	})
}

func waitGone(t *testing.T, n *node, want string) {
	t.Helper()
	select {
	case err := <-n.gone:
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("node %d stopped for %q, want %q", n.id, err, want)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("node %d did not notice (%s)", n.id, want)
	}
}

// TestMembershipGrowReplaceShrink is the operator's story on real parts:
// a fourth node joins through a follower and is promoted by the leader on
// its own; a wiped node is refused under its old identity, removed, and
// joins again as a new one; the leader is removed and stops; the cluster
// serves throughout, and a removed node started again says so.
func TestMembershipGrowReplaceShrink(t *testing.T) {
	c := newE2ECluster(t, snapConfig)
	lead := c.leader()
	cl := c.client(lead)
	c.putMany(t, cl, "a", 150)
	c.waitMembers(t, lead, "every bootstrap member's incarnation recorded", func(m map[uint64]client.Member) bool {
		for _, mb := range m {
			if mb.Incarnation == 0 {
				return false
			}
		}
		return len(m) == 3
	})

	// Grow: node 3 joins through a follower; the log it needs was
	// compacted, so it catches up from a snapshot.
	follower := (lead + 1) % 3
	n3, err := c.startJoin(3, newNodeAddrs(t, 3), follower)
	if err != nil {
		t.Fatalf("join node 3: %v", err)
	}
	c.waitMembers(t, lead, "node 3 promoted to voter by the leader", func(m map[uint64]client.Member) bool {
		return m[3].Role == "voter"
	})
	c.waitSame(t, lead, 3)
	if n3.raft.Status().Snapshot.Index == 0 {
		t.Error("node 3 caught up without a snapshot")
	}

	// Replace: a follower loses its disk. Under its old id it is refused...
	victim := (lead + 2) % 3
	c.stop(victim)
	if err := os.RemoveAll(c.cfg.NodeDir(victim)); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	if _, err := startNode(c.cfg, victim, logger); err == nil || !strings.Contains(err.Error(), "kvcli member remove") {
		t.Fatalf("a wiped node bootstrapped again under its old identity: %v", err)
	}
	// ...until the operator removes it; then it joins as a new node.
	if err := removeMember(t, cl, victim); err != nil {
		t.Fatalf("remove the wiped node: %v", err)
	}
	self, _ := c.cfg.Node(victim)
	if _, err := c.startJoin(victim, self, lead); err != nil {
		t.Fatalf("rejoin the wiped node: %v", err)
	}
	c.waitMembers(t, lead, "the replacement promoted", func(m map[uint64]client.Member) bool {
		return m[victim].Role == "voter" && len(m) == 4
	})
	c.waitSame(t, lead, victim)

	// Shrink: remove the leader; it hands over and stops.
	old := c.nodes[lead]
	if err := removeMember(t, cl, lead); err != nil {
		t.Fatalf("remove the leader: %v", err)
	}
	waitGone(t, old, "removed from the cluster")
	c.stop(lead)
	rest := c.client(follower, 3, victim)
	if _, err := rest.Put(ctx5s(t), "after-shrink", []byte("x")); err != nil {
		t.Fatalf("write after removing the leader: %v", err)
	}
	m, err := c.members(3)
	if err != nil || len(m) != 3 {
		t.Fatalf("members after the shrink: %v %v", m, err)
	}
	if _, ok := m[lead]; ok {
		t.Fatalf("the removed leader is still a member: %v", m)
	}

	// The removed node, started again on its data, stops and says why.
	again, err := startNode(c.cfg, lead, logger)
	if err != nil {
		t.Fatalf("restart the removed node: %v", err)
	}
	c.nodes[lead] = again
	waitGone(t, again, "was removed")

	// A second node under an id in use (its own data directory) is refused.
	other := *c.cfg
	other.DataDir = t.TempDir()
	addrs := newNodeAddrs(t, follower)
	n, err := startNode(&other, follower, logger, withJoin(&joinSpec{urls: []string{"http://" + c.httpAddr(3)},
		raftAddr: addrs.RaftAddr, httpAddr: addrs.HTTPAddr}))
	if err == nil {
		n.stop(ctx5s(t))
		t.Fatal("a second node joined under a member's id")
	}
	if !strings.Contains(err.Error(), "already a member") {
		t.Fatalf("a second node with a member's id: %v", err)
	}
}

// TestJoinAfterManualAdd: an operator adds the member by hand (kvcli
// member add, no incarnation), then starts the node with --join: it takes
// the member as its own, records its incarnation, and is promoted.
func TestJoinAfterManualAdd(t *testing.T) {
	c := newE2ECluster(t)
	lead := c.leader()
	cl := c.client(lead)
	self := newNodeAddrs(t, 3)
	if _, err := cl.AddMember(ctx5s(t), client.NewMember{ID: 3, RaftAddr: self.RaftAddr, HTTPAddr: self.HTTPAddr}); err != nil {
		t.Fatalf("member add: %v", err)
	}
	n3, err := c.startJoin(3, self, lead)
	if err != nil {
		t.Fatalf("join the hand-added member: %v", err)
	}
	c.waitMembers(t, lead, "node 3 recorded and promoted", func(m map[uint64]client.Member) bool {
		return m[3].Role == "voter" && m[3].Incarnation == n3.ident.Incarnation
	})
}

// removeMember removes id, waiting out a membership change still in
// flight: the member list shows a change (an automatic promotion, say) as
// soon as the leader appended it, before it commits, and a second change
// is refused (409) until then, as etcd refuses one.
func removeMember(t *testing.T, cl *client.Client, id uint64) error {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := cl.RemoveMember(ctx5s(t), id)
		if err == nil || !strings.Contains(err.Error(), "not yet committed") || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond) // the change commits within a round trip or two
	}
}

// TestRaftObserverFollowsMembership: raftObserver points the transport
// and the per-peer metrics at a membership event's members, and hands
// every event to the metrics as well.
func TestRaftObserverFollowsMembership(t *testing.T) {
	ports := freePorts(t, 3)
	addr := func(i int) string { return fmt.Sprintf("tcp://127.0.0.1:%d", ports[i]) }
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	tr, err := transport.NewZMQ(transport.ZMQConfig{ID: 1, Listen: addr(0), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	n := &node{tr: tr, prom: metrics.New(metrics.Options{Node: 1, NoProcessMetrics: true}), logger: quiet}
	obs := raftObserver{n.prom, n}
	m := core.Membership{ClusterID: 7, Members: []core.Member{
		{ID: 1, RaftAddr: addr(0)}, {ID: 2, RaftAddr: addr(1)}, {ID: 3, RaftAddr: addr(2), Learner: true}}}
	obs.ObserveEvent(raft.Event{Kind: raft.EventMembership, Node: 1, Membership: m, ConfigIndex: 4})
	if !n.peersFromLog || !slices.Equal(n.members, m.Members) {
		t.Fatalf("node's members %+v (from the log: %v), want %+v", n.members, n.peersFromLog, m.Members)
	}
	tr.Send([]wire.Message{{Type: wire.MsgApp, From: 1, To: 3}, {Type: wire.MsgApp, From: 1, To: 9}})
	if got := tr.Stats().DroppedUnknownPeer; got != 1 {
		t.Errorf("%d messages dropped for an unknown peer, want 1 (to 9, not to the new learner 3)", got)
	}
	obs.ObserveEvent(raft.Event{Kind: raft.EventElection, Node: 1, Cause: core.CauseTimeout})
	fams, err := n.prom.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	s := scrape{}
	for _, f := range fams {
		s[f.GetName()] = f
	}
	if got := s.get(t, "raftkv_raft_elections_total", "cause", "timeout"); got != 1 {
		t.Errorf("elections by timeout %v, want 1: the metrics were not told", got)
	}
	for _, peer := range []string{"2", "3"} {
		found := false
		for _, mt := range s["raftkv_raft_messages_sent_total"].GetMetric() {
			for _, lp := range mt.GetLabel() {
				found = found || lp.GetName() == "peer" && lp.GetValue() == peer
			}
		}
		if !found {
			t.Errorf("no message series for peer %s", peer)
		}
	}
}
