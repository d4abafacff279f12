package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/logs"
)

// realCluster is three kvserver processes on free loopback ports.
type realCluster struct {
	httpAddrs []string
	procs     []*exec.Cmd
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func startRealCluster(t *testing.T) *realCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("builds kvserver and runs three processes; skipped in -short mode")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "kvserver")
	if out, err := exec.Command("go", "build", "-o", bin, "../kvserver").CombinedOutput(); err != nil {
		t.Fatalf("go build kvserver: %v\n%s", err, out)
	}
	ports := freePorts(t, 6)
	c := &realCluster{}
	var nodes []string
	for i := range 3 {
		addr := fmt.Sprintf("127.0.0.1:%d", ports[2*i+1])
		c.httpAddrs = append(c.httpAddrs, addr)
		nodes = append(nodes, fmt.Sprintf(`{"id": %d, "raft_addr": "tcp://127.0.0.1:%d", "http_addr": %q}`, i, ports[2*i], addr))
	}
	cfg := fmt.Sprintf(`{"nodes": [%s], "election_timeout_ms": {"min": 150, "max": 300}, "heartbeat_ms": 30,
		"data_dir": %q, "request_timeout_ms": 3000, "max_value_bytes": 1048576}`,
		strings.Join(nodes, ","), filepath.Join(dir, "data"))
	cfgPath := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range c.procs {
			if p != nil {
				p.Process.Kill()
				p.Wait()
			}
		}
	})
	for i := range 3 {
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("node-%d.log", i)))
		if err != nil {
			t.Fatal(err)
		}
		p := exec.Command(bin, "--config", cfgPath, "--node-id", fmt.Sprint(i))
		p.Stdout, p.Stderr = logf, logf
		if err := p.Start(); err != nil {
			t.Fatalf("start node %d: %v", i, err)
		}
		logf.Close()
		c.procs = append(c.procs, p)
	}
	return c
}

// leader waits until the cluster has a leader every node agrees on.
func (c *realCluster) leader(t *testing.T) client.LeaderInfo {
	t.Helper()
	cl, err := client.New(c.httpAddrs, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		li, err := cl.Leader(context.Background())
		agree := err == nil
		for _, n := range cl.StatusAll(context.Background()) {
			agree = agree && n.Err == nil && n.Status.Leader != nil && *n.Status.Leader == li.ID
		}
		if agree {
			return li
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no agreed leader within 30s")
	return client.LeaderInfo{}
}

// TestRealCluster runs kvcli's commands, the script shell, failover and a
// two-second benchmark against three real kvserver processes.
func TestRealCluster(t *testing.T) {
	c := startRealCluster(t)
	li := c.leader(t)
	eps := "--endpoints=" + strings.Join(c.httpAddrs, ",")

	r := runCLI(t, eps, "put", "greeting", "hello world")
	r.check(t, exitOK, r.stdout)
	runCLI(t, eps, "get", "greeting").check(t, exitOK, "hello world")
	runCLI(t, eps, "--consistency", "stale", "get", "greeting").check(t, exitOK, "hello world")
	runCLI(t, eps, "-o", "json", "get", "greeting").check(t, exitOK, `{"key":"greeting","value":"hello world"}`+"\n")
	runCLI(t, eps, "list", "gree").check(t, exitOK, "greeting\t\"hello world\"\n")
	r = runCLI(t, eps, "del", "greeting")
	r.check(t, exitOK, r.stdout)
	if _, err := strconv.ParseUint(strings.TrimSpace(r.stdout), 10, 64); err != nil {
		t.Errorf("del printed %q, not a log index", r.stdout)
	}
	runCLI(t, eps, "get", "greeting").check(t, exitNotFound, "")
	runCLI(t, eps, "leader").check(t, exitOK, fmt.Sprintf("%s (node %d, term %d)\n", strings.TrimPrefix(li.Endpoint, "http://"), li.ID, li.Term))

	r = runCLI(t, eps, "status")
	r.check(t, exitOK, r.stdout)
	states := map[string]int{}
	for _, line := range strings.Split(r.stdout, "\n")[1:4] {
		if f := strings.Fields(line); len(f) == 10 {
			states[f[2]]++
		}
	}
	if states["leader"] != 1 || states["follower"] != 2 || !strings.Contains(r.stdout, "3 of 3 nodes answered; leader ") {
		t.Errorf("status:\n%s", r.stdout)
	}

	// The script shell, through a follower (which forwards the write).
	var follower string
	for _, a := range c.httpAddrs {
		if "http://"+a != li.Endpoint {
			follower = a
			break
		}
	}
	r = runWith(t, opts{stdin: "put s \"two words\"\nget s\nlist s\n"}, "--endpoints", follower)
	if r.code != exitOK || !strings.HasSuffix(r.stdout, "\ntwo words\ns\t\"two words\"\n") {
		t.Errorf("shell: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	// A dead first endpoint: the next one serves.
	r = runCLI(t, "--endpoints="+deadAddr(t)+","+strings.Join(c.httpAddrs, ","), "get", "s")
	r.check(t, exitOK, "two words")

	// Two seconds of writes to the leader, found through a follower.
	file := filepath.Join(t.TempDir(), "bench.json")
	r = runCLI(t, "--endpoints", follower, "bench", "write", "-d", "2s", "-c", "8", "--value-size", "64", "--json", file)
	if r.code != exitOK {
		t.Fatalf("bench: exit %d, stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "to the leader at "+li.Endpoint+"\n") {
		t.Errorf("bench did not aim at the leader %s:\n%s", li.Endpoint, r.stdout)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b := decodeBenchJSON(t, data)
	checkSaneBench(t, b, 8, 64)
	if *b.DurationS < 2 || *b.Errors != 0 {
		t.Errorf("bench JSON %s", data)
	}
	// What the leader counted meanwhile: every write was one proposal of
	// its own, made durable by its fsyncs, in batches of at least one.
	if s := b.Server; s == nil || s.Endpoint != li.Endpoint || s.LeaderChanged || s.Proposals == nil || *s.Proposals != uint64(*b.Ops) ||
		s.Fsyncs == nil || *s.Fsyncs == 0 || s.FsyncMeanMS == nil || *s.FsyncMeanMS <= 0 ||
		s.EntriesPerFsync == nil || *s.EntriesPerFsync < 1 || s.ProposalsPerBatch == nil || *s.ProposalsPerBatch < 1 ||
		s.EntriesPerAppend == nil || *s.EntriesPerAppend < 1 || s.EntriesPerApply == nil || *s.EntriesPerApply < 1 {
		t.Errorf("server figures in %s", data)
	}
	if !strings.Contains(r.stdout, "  server:     leader "+li.Endpoint+", its /metrics before and after the run\n    fsync     ") {
		t.Errorf("report has no server block:\n%s", r.stdout)
	}
	t.Logf("bench write against 3 real nodes: %s", strings.TrimSpace(string(data)))

	testRealExactlyOnce(t, c)
	testRealAdmin(t, c, li, follower)
}

// testRealExactlyOnce: a write sent twice under one Request-Id is applied
// once, and concurrent writes of one client are all applied.
func testRealExactlyOnce(t *testing.T, c *realCluster) {
	cl, err := client.New(c.httpAddrs, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	w := cl.NewPut("once", []byte("1"))
	first, err := w.Do(ctx)
	if err != nil {
		t.Fatal(err)
	}
	again, err := w.Do(ctx)
	w.Close()
	if err != nil || again != first {
		t.Errorf("the same write sent again: index %d, %v; want %d, the first application", again, err, first)
	}

	const n = 32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := cl.Put(ctx, fmt.Sprintf("burst/%02d", i), []byte("v")); err != nil {
				t.Errorf("put %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	items, err := cl.List(ctx, "burst/", 0, "")
	if err != nil || len(items) != n {
		t.Errorf("%d of %d concurrent writes of one client applied (%v)", len(items), n, err)
	}
}

// testRealAdmin runs snapshot, backup and transfer-leader against the real
// cluster, after TestRealCluster's writes.
func testRealAdmin(t *testing.T, c *realCluster, li client.LeaderInfo, follower string) {
	eps := "--endpoints=" + strings.Join(c.httpAddrs, ",")

	// Every node snapshots itself; status then shows the snapshots.
	r := runCLI(t, eps, "snapshot", "--all")
	r.check(t, exitOK, r.stdout)
	// A node reports its new snapshot in /v1/status a moment after it
	// answered the request: poll.
	var st struct {
		Nodes []struct {
			SnapshotIndex uint64 `json:"snapshot_index"`
			LogBytes      *int64 `json:"log_bytes"`
		} `json:"nodes"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = runCLI(t, eps, "-o", "json", "status")
		r.check(t, exitOK, r.stdout)
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || len(st.Nodes) != 3 {
			t.Fatalf("status JSON %s: %v", r.stdout, err)
		}
		done := true
		for _, n := range st.Nodes {
			done = done && n.SnapshotIndex > 0 && n.LogBytes != nil
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed every node's snapshot: %s", r.stdout)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A backup through a follower, which forwards it to the leader.
	file := filepath.Join(t.TempDir(), "cluster.snap")
	r = runCLI(t, "--endpoints", follower, "-o", "json", "backup", file)
	r.check(t, exitOK, r.stdout)
	var b struct {
		Index, Term uint64
		Bytes       int64
	}
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil || b.Index == 0 || b.Bytes == 0 {
		t.Fatalf("backup JSON %s: %v", r.stdout, err)
	}
	meta, err := logs.VerifySnapshotFile(file)
	if err != nil || meta.Index != b.Index || meta.Term != b.Term {
		t.Errorf("backup file: %+v, %v; kvcli said %+v", meta, err, b)
	}

	// Hand leadership to a follower, by id, with status --watch looking on.
	target := (li.ID + 1) % 3
	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	watch := startCLI(watchCtx, opts{}, eps, "status", "-w", "--interval", "50ms")
	waitUntil(t, "the watch's first table", func() bool { return tables(watch.out.String()) > 0 })
	r = runCLI(t, eps, "-o", "json", "transfer-leader", strconv.FormatUint(target, 10))
	r.check(t, exitOK, r.stdout)
	var tr struct{ ID uint64 }
	if err := json.Unmarshal([]byte(r.stdout), &tr); err != nil || tr.ID != target {
		t.Fatalf("transfer-leader to %d: %s (%v)", target, r.stdout, err)
	}
	if now := c.leader(t); now.ID != target {
		t.Errorf("after transfer-leader %d, node %d leads", target, now.ID)
	}
	// The hand-over may show as one change or as two, through "none".
	from := regexp.MustCompile(fmt.Sprintf(`(?m)^\*\*\* leader changed: node %d -> `, li.ID))
	to := regexp.MustCompile(fmt.Sprintf(`(?m)^\*\*\* leader changed: .* -> node %d \(term \d+`, target))
	waitUntil(t, "the watch to see the transfer", func() bool {
		out := watch.out.String()
		return from.MatchString(out) && to.MatchString(out)
	})
	stopWatch()
	if code := watch.exit(t, 5*time.Second); code != exitOK || watch.errOut.String() != "" {
		t.Errorf("status --watch: exit %d, stderr %q", code, watch.errOut.String())
	}
	// And on to whichever follower is most up to date.
	r = runCLI(t, eps, "transfer-leader")
	r.check(t, exitOK, r.stdout)
	if now := c.leader(t); now.ID == target {
		t.Errorf("transfer-leader without an id left node %d leading", target)
	}
}

// TestRealClusterLeasesAndLock runs the lease commands and kvcli lock
// against three real kvserver processes.
func TestRealClusterLeasesAndLock(t *testing.T) {
	c := startRealCluster(t)
	c.leader(t)
	eps := "--endpoints=" + strings.Join(c.httpAddrs, ",")
	r := runCLI(t, eps, "lease", "grant", "30s")
	id := strings.TrimSpace(r.stdout)
	r.check(t, exitOK, id+"\n")
	if r := runCLI(t, eps, "put", "leased", "v", "--lease", id); r.code != exitOK || !strings.HasSuffix(r.stdout, " (lease "+id+")\n") {
		t.Fatalf("put --lease: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, eps, "lease", "show", id); !strings.Contains(r.stdout, "ttl 30s") || !strings.Contains(r.stdout, "  leased\n") {
		t.Fatalf("lease show: %q %q", r.stdout, r.stderr)
	}
	runCLI(t, eps, "lease", "keepalive", id, "--once").check(t, exitOK, "")
	runCLI(t, eps, "lease", "revoke", id).check(t, exitOK, "")
	runCLI(t, eps, "get", "leased").check(t, exitNotFound, "")
	runCLI(t, eps, "lease", "keepalive", id, "--once").check(t, exitNotFound, "")

	// A key with a TTL of its own goes away by itself (the leader's lessor).
	if r := runCLI(t, eps, "put", "brief", "v", "--ttl", "2s"); r.code != exitOK || !strings.Contains(r.stdout, "(lease ") {
		t.Fatalf("put --ttl: %d %q %q", r.code, r.stdout, r.stderr)
	}
	deadline := time.Now().Add(15 * time.Second)
	for runCLI(t, eps, "get", "brief").code == exitOK {
		if time.Now().After(deadline) {
			t.Fatal("a 2s key was still there after 15s")
		}
		time.Sleep(200 * time.Millisecond) // polling the key, the condition being awaited
	}

	// The lock passes on COMMAND's exit code and is free afterwards.
	runCLI(t, eps, "lock", "job", "--", "sh", "-c", "exit 3").check(t, 3, "")
	runCLI(t, eps, "get", "lock/job").check(t, exitNotFound, "")
	// A second holder waits for the first.
	done := make(chan time.Time, 1)
	go func() {
		runCLI(t, eps, "lock", "job", "--", "sleep", "1.5")
		done <- time.Now()
	}()
	for runCLI(t, eps, "get", "lock/job").code != exitOK { // the first holds it
		time.Sleep(50 * time.Millisecond) // polling, as above
	}
	runCLI(t, eps, "lock", "job", "--", "true").check(t, exitOK, "")
	second := time.Now()
	if first := <-done; second.Before(first) {
		t.Fatalf("the second holder finished at %s, before the first released at %s", second, first)
	}

	// A holder whose lease is revoked under it loses the lock: its
	// command is killed and kvcli exits 1.
	lost := make(chan result, 1)
	go func() { lost <- runCLI(t, eps, "lock", "--ttl", "3s", "job", "--", "sleep", "30") }()
	var meta struct {
		Lease        uint64 `json:"lease"`
		TTLRemaining *int64 `json:"ttl_remaining_ms"`
	}
	for meta.Lease == 0 {
		if r := runCLI(t, eps, "-o", "json", "get", "--meta", "lock/job"); r.code == exitOK {
			json.Unmarshal([]byte(r.stdout), &meta)
		}
		time.Sleep(50 * time.Millisecond) // polling for the lock key
	}
	if meta.TTLRemaining == nil || *meta.TTLRemaining <= 0 || *meta.TTLRemaining > 3000 {
		t.Fatalf("get --meta of the lock key: ttl_remaining_ms %v; want the time left on its 3s lease", meta.TTLRemaining)
	}
	runCLI(t, eps, "lease", "revoke", strconv.FormatUint(meta.Lease, 10)).check(t, exitOK, "")
	select {
	case r := <-lost:
		if r.code != exitNotFound || !strings.Contains(r.stderr, "lost the lock's lease") {
			t.Fatalf("holder after losing its lease: exit %d, stderr %q", r.code, r.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the holder kept running its command after its lease was revoked")
	}
}
