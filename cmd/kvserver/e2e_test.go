package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/config"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// testConfigJSON writes a config for n nodes on free ports into dir;
// extra holds more top-level JSON fields (`"snapshot_entries": 50`).
func testConfigJSON(t testing.TB, dir string, n int, extra ...string) string {
	t.Helper()
	ports := freePorts(t, 2*n)
	var nodes []string
	for i := range n {
		nodes = append(nodes, fmt.Sprintf(`{"id": %d, "raft_addr": "tcp://127.0.0.1:%d", "http_addr": "127.0.0.1:%d"}`, i, ports[2*i], ports[2*i+1]))
	}
	js := fmt.Sprintf(`{"nodes": [%s], "election_timeout_ms": {"min": 150, "max": 300}, "heartbeat_ms": 30,
		"data_dir": %q, "request_timeout_ms": 3000, "max_value_bytes": 1048576%s}`, strings.Join(nodes, ","), filepath.Join(dir, "data"),
		strings.Join(append([]string{""}, extra...), ", "))
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type e2eCluster struct {
	t     testing.TB
	cfg   *config.Config
	nodes map[uint64]*node
	extra map[uint64]config.Node // nodes that joined, not in cfg
}

func newE2ECluster(t testing.TB, extra ...string) *e2eCluster {
	return newE2EClusterFrom(t, testConfigJSON(t, t.TempDir(), 3, extra...))
}

// newE2EClusterFrom starts every node of the config file at path.
func newE2EClusterFrom(t testing.TB, path string) *e2eCluster {
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c := &e2eCluster{t: t, cfg: cfg, nodes: map[uint64]*node{}}
	for _, n := range cfg.Nodes {
		c.start(n.ID)
	}
	t.Cleanup(func() {
		for id := range c.nodes {
			c.stop(id)
		}
	})
	c.waitIncarnations()
	return c
}

// waitIncarnations waits until every node's log records every bootstrap
// member's incarnation: those are log entries, and tests that count
// entries must start after them.
func (c *e2eCluster) waitIncarnations() {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		done := true
		for _, n := range c.nodes {
			st := n.raft.Status()
			for _, mb := range st.Membership.Members {
				done = done && mb.Incarnation != 0
			}
			done = done && st.AppliedIndex >= st.ConfigIndex
		}
		if done {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatal("bootstrap members' incarnations not recorded within 15s")
}

func (c *e2eCluster) start(id uint64) {
	c.t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", id)
	}
	n, err := startNode(c.cfg, id, logger)
	if err != nil {
		c.t.Fatalf("start node %d: %v", id, err)
	}
	c.nodes[id] = n
}

func (c *e2eCluster) stop(id uint64) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.nodes[id].stop(ctx); err != nil {
		c.t.Errorf("stop node %d: %v", id, err)
	}
	delete(c.nodes, id)
}

func (c *e2eCluster) client(ids ...uint64) *client.Client {
	c.t.Helper()
	var eps []string
	for _, id := range ids {
		eps = append(eps, c.httpAddr(id))
	}
	cl, err := client.New(eps, 5*time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// leader waits for the running nodes to agree on a leader.
func (c *e2eCluster) leader() uint64 {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		lead, agreed := uint64(0), true
		first := true
		for _, n := range c.nodes {
			st := n.raft.Status()
			if st.Leader == ^uint64(0) || (!first && st.Leader != lead) {
				agreed = false
				break
			}
			lead, first = st.Leader, false
		}
		if agreed && !first {
			if _, running := c.nodes[lead]; running {
				return lead
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatal("no agreed leader within 15s")
	return 0
}

func ctx5s(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestEndToEnd walks the life of a cluster on real parts (ZeroMQ on
// loopback, badger, the WAL, HTTP): writes through a follower, reads on
// every node, leader failover, rejoin and catch-up, and a full restart
// that keeps every acknowledged write.
func TestEndToEnd(t *testing.T) {
	c := newE2ECluster(t)
	lead := c.leader()
	follower := (lead + 1) % 3
	acked := map[string]string{}

	// A write through a follower is forwarded to the leader.
	fc := c.client(follower)
	for i := range 20 {
		k, v := fmt.Sprintf("key-%d", i), fmt.Sprintf("value-%d", i)
		if _, err := fc.Put(ctx5s(t), k, []byte(v)); err != nil {
			t.Fatalf("put %s via follower %d: %v", k, follower, err)
		}
		acked[k] = v
	}
	// Linearizable reads on every node see every acknowledged write.
	for id := range c.nodes {
		cl := c.client(id)
		for k, v := range acked {
			got, err := cl.Get(ctx5s(t), k, "")
			if err != nil || string(got) != v {
				t.Fatalf("linearizable get %s on node %d = %q, %v; want %q", k, id, got, err, v)
			}
		}
	}

	// Stop the leader: a new one takes over and writes continue.
	c.stop(lead)
	start := time.Now()
	newLead := c.leader()
	t.Logf("failover: new leader %d after %v", newLead, time.Since(start))
	if newLead == lead {
		t.Fatalf("stopped leader %d still leads", lead)
	}
	var live []uint64
	for id := range c.nodes {
		live = append(live, id)
	}
	lc := c.client(live...)
	for i := 20; i < 40; i++ {
		k, v := fmt.Sprintf("key-%d", i), fmt.Sprintf("value-%d", i)
		if _, err := lc.Put(ctx5s(t), k, []byte(v)); err != nil {
			t.Fatalf("put %s after failover: %v", k, err)
		}
		acked[k] = v
	}
	if _, err := lc.Delete(ctx5s(t), "key-0"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	delete(acked, "key-0")

	// The old leader rejoins and catches up.
	c.start(lead)
	oc := c.client(lead)
	waitUntil(t, "old leader catches up", func() bool {
		v, err := oc.Get(ctx5s(t), "key-39", "stale")
		return err == nil && string(v) == "value-39"
	})
	if _, err := oc.Get(ctx5s(t), "key-0", "stale"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("deleted key on rejoined node: %v, want not found", err)
	}

	// Full restart: every acknowledged write survives.
	for _, n := range c.cfg.Nodes {
		c.stop(n.ID)
	}
	for _, n := range c.cfg.Nodes {
		c.start(n.ID)
	}
	c.leader()
	for _, n := range c.cfg.Nodes {
		cl := c.client(n.ID)
		for k, v := range acked {
			got, err := cl.Get(ctx5s(t), k, "")
			if err != nil || string(got) != v {
				t.Fatalf("after restart, get %s on node %d = %q, %v; want %q", k, n.ID, got, err, v)
			}
		}
	}
	checkTrailsAgree(t, c.cfg)
}

// TestConcurrentWritesAllNodes writes from many clients through every node
// at once; each acknowledged write must be readable afterwards.
func TestConcurrentWritesAllNodes(t *testing.T) {
	c := newE2ECluster(t)
	c.leader()
	var wg sync.WaitGroup
	var mu sync.Mutex // guards acked
	acked := map[string]string{}
	for w := range 12 {
		cl := c.client(uint64(w % 3))
		wg.Go(func() {
			for i := range 25 {
				k, v := fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("v%d", i)
				if _, err := cl.Put(ctx5s(t), k, []byte(v)); err != nil {
					t.Errorf("put %s: %v", k, err)
					return
				}
				mu.Lock()
				acked[k] = v
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	items, err := c.client(0).List(ctx5s(t), "w", 10000, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(acked) {
		t.Fatalf("list returned %d items, %d writes were acknowledged", len(items), len(acked))
	}
	for _, it := range items {
		if acked[it.Key] != string(it.Value) {
			t.Fatalf("item %s = %q, want %q", it.Key, it.Value, acked[it.Key])
		}
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkTrailsAgree checks that the nodes' trail files agree on their
// common prefix, line by line.
func checkTrailsAgree(t *testing.T, cfg *config.Config) {
	t.Helper()
	var trails [][]string
	for _, n := range cfg.Nodes {
		b, err := os.ReadFile(cfg.TrailPath(n.ID))
		if err != nil {
			t.Fatalf("read trail of node %d: %v", n.ID, err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) < 40 {
			t.Fatalf("trail of node %d has %d lines, want at least 40", n.ID, len(lines))
		}
		trails = append(trails, lines)
	}
	for i, lines := range trails[1:] {
		for j := 0; j < len(lines) && j < len(trails[0]); j++ {
			if lines[j] != trails[0][j] {
				t.Fatalf("trails differ at line %d: node %d %q vs node %d %q", j+1, cfg.Nodes[0].ID, trails[0][j], cfg.Nodes[i+1].ID, lines[j])
			}
		}
	}
	if !strings.HasPrefix(trails[0][0], "1, ") || !strings.HasSuffix(trails[0][0], ", NOOP") {
		t.Fatalf("first trail line %q, want the first leader's no-op", trails[0][0])
	}
}
