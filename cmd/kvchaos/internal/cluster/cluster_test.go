package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftkv/raftkv/cmd/kvchaos/internal/proxy"
	"github.com/raftkv/raftkv/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeServer writes a stand-in for kvserver that just waits, so process
// control can be tested without building the real thing.
func fakeServer(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fake-kvserver")
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func startFake(t *testing.T, n int) *Cluster {
	t.Helper()
	c, err := Start(Options{Nodes: n, Bin: fakeServer(t), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Each node's config lists every node at its real addresses (the one
// bootstrap membership) and routes its own traffic to each peer through
// the proxies of its outgoing links, and the server's config package
// accepts it.
func TestPerNodeConfigs(t *testing.T) {
	c := startFake(t, 3)
	realAddrs := map[string]bool{}
	for _, id := range c.IDs() {
		realAddrs["tcp://"+c.raftAddr[id]] = true
		realAddrs[c.HTTPAddr(id)] = true
	}
	for _, id := range c.IDs() {
		path := filepath.Join(c.dir, fmt.Sprintf("node-%d.json", id))
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatalf("node %d: %v", id, err)
		}
		if len(cfg.Nodes) != 3 || len(cfg.Routes) != 2 || cfg.DataDir != filepath.Join(c.dir, "data") {
			t.Fatalf("node %d config %+v", id, cfg)
		}
		for _, n := range cfg.Nodes {
			if n.RaftAddr != "tcp://"+c.raftAddr[n.ID] || n.HTTPAddr != c.HTTPAddr(n.ID) {
				t.Errorf("node %d lists node %d at %s %s, not its real addresses", id, n.ID, n.RaftAddr, n.HTTPAddr)
			}
		}
		for _, r := range cfg.Routes {
			if r.ID == id {
				t.Errorf("node %d has a route to itself", id)
				continue
			}
			l := c.links[Link{From: id, To: r.ID}]
			if r.RaftAddr != "tcp://"+l.raft.Addr() || r.HTTPAddr != l.http.Addr() {
				t.Errorf("node %d routes peer %d to %s %s, not to its link proxies", id, r.ID, r.RaftAddr, r.HTTPAddr)
			}
			if realAddrs[r.RaftAddr] || realAddrs[r.HTTPAddr] {
				t.Errorf("node %d reaches peer %d directly", id, r.ID)
			}
			if l.raft.Target() != c.raftAddr[r.ID] || l.http.Target() != c.HTTPAddr(r.ID) {
				t.Errorf("link %d→%d proxies to %s %s", id, r.ID, l.raft.Target(), l.http.Target())
			}
		}
	}
	// The files are plain config.json documents.
	b, err := os.ReadFile(filepath.Join(c.dir, "node-0.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil || doc["heartbeat_ms"] != float64(DefaultTiming.HeartbeatMS) {
		t.Fatalf("node-0.json: %v %v", doc, err)
	}
}

func TestProcessControl(t *testing.T) {
	c := startFake(t, 3)
	if got := c.Running(); !slices.Equal(got, []uint64{0, 1, 2}) {
		t.Fatalf("Running = %v", got)
	}
	pid := c.Pid(1)
	if pid == 0 {
		t.Fatal("no pid for node 1")
	}

	c.Pause(1)
	if got := c.Running(); !slices.Equal(got, []uint64{0, 2}) {
		t.Fatalf("Running while 1 is paused = %v", got)
	}
	waitFor(t, "node 1 stopped", func() bool { return procState(pid) == "T" })
	c.Resume(1)
	waitFor(t, "node 1 running again", func() bool { return procState(pid) != "T" })

	c.Kill(1)
	if c.Pid(1) != 0 || slices.Contains(c.Running(), 1) {
		t.Fatal("node 1 still listed after Kill")
	}
	c.Kill(1) // killing a dead node is a no-op
	if err := c.Restart(1); err != nil {
		t.Fatal(err)
	}
	if p := c.Pid(1); p == 0 || p == pid {
		t.Fatalf("pid after restart %d (was %d)", p, pid)
	}
	if err := c.Restart(1); err != nil { // already running: a no-op
		t.Fatal(err)
	}

	// A paused node can be killed, and HealAll brings it back.
	c.Pause(2)
	c.Kill(2)
	if err := c.HealAll(); err != nil {
		t.Fatal(err)
	}
	if got := c.Running(); !slices.Equal(got, []uint64{0, 1, 2}) {
		t.Fatalf("Running after HealAll = %v", got)
	}
	if x := c.Exits(); len(x) != 0 {
		t.Fatalf("exits the harness caused were reported: %v", x)
	}

	// A node that dies by itself is reported.
	if err := syscall.Kill(c.Pid(0), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the exit of node 0", func() bool { return len(c.Exits()) == 1 })
	if x := c.Exits()[0]; x.Node != 0 || !strings.Contains(x.Err, "terminated") {
		t.Fatalf("exit %+v", x)
	}
	log, err := os.ReadFile(c.LogPath(0))
	if err != nil || !strings.Contains(string(log), "kvchaos: starting node 0") {
		t.Fatalf("node log: %q, %v", log, err)
	}
}

// procState is the state letter of a process in /proc (T when stopped).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndex(s, ") ")
	if i < 0 || i+3 > len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

func TestLinksAndLeaderWithoutServers(t *testing.T) {
	c := startFake(t, 2)
	c.SetLink(Link{From: 0, To: 1}, proxy.Blackhole)
	if m := c.links[Link{From: 0, To: 1}]; m.raft.Mode() != proxy.Blackhole || m.http.Mode() != proxy.Blackhole {
		t.Fatal("SetLink did not set both proxies")
	}
	if m := c.links[Link{From: 1, To: 0}]; m.raft.Mode() != proxy.Pass {
		t.Fatal("SetLink touched the reverse link")
	}
	c.SetLink(Link{From: 0, To: 0}, proxy.Drop) // no such link: ignored
	c.HealLinks()
	if m := c.links[Link{From: 0, To: 1}]; m.raft.Mode() != proxy.Pass {
		t.Fatal("HealLinks left a link cut")
	}
	if c.Discarded() != 0 {
		t.Fatalf("Discarded = %d", c.Discarded())
	}
	// The fake serves no HTTP: no leader.
	if _, ok := c.Leader(context.Background()); ok {
		t.Fatal("a leader without servers")
	}
	if _, err := c.WaitLeader(context.Background(), 200*time.Millisecond); err == nil {
		t.Fatal("WaitLeader succeeded without servers")
	}
	if got := (Link{From: 3, To: 4}).String(); got != "3→4" {
		t.Fatalf("Link.String = %q", got)
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(Options{Nodes: 0, Bin: "x", Dir: t.TempDir()}); err == nil {
		t.Fatal("Start with 0 nodes succeeded")
	}
	_, err := Start(Options{Nodes: 1, Bin: filepath.Join(t.TempDir(), "missing"), Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "start node 0") {
		t.Fatalf("Start with a missing binary: %v", err)
	}
}

func TestFreePorts(t *testing.T) {
	addrs, err := freePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	start := ephemeralStart()
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("port %s picked twice", a)
		}
		seen[a] = true
		_, portStr, _ := strings.Cut(a, "127.0.0.1:")
		var port int
		fmt.Sscan(portStr, &port)
		if start > nonEphemeralMin && (port < nonEphemeralMin || port >= start) {
			t.Errorf("port %d is not below the ephemeral range starting at %d", port, start)
		}
	}
}
