package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/config"
)

// procCluster runs kvserver as real processes, so a node can be killed
// with SIGKILL: no deferred close, no flush, exactly like a crash.
type procCluster struct {
	t     *testing.T
	bin   string
	cfgP  string
	cfg   *config.Config
	dir   string
	procs map[uint64]*exec.Cmd
	// args are the extra flags each node was started with (--join ...),
	// and extra the addresses of nodes not in the config.
	args  map[uint64][]string
	extra map[uint64]config.Node
}

func newProcCluster(t *testing.T, extra ...string) *procCluster {
	if testing.Short() {
		t.Skip("builds and runs real processes; skipped in -short mode")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "kvserver")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfgPath := testConfigJSON(t, dir, 3, extra...)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	c := &procCluster{t: t, bin: bin, cfgP: cfgPath, cfg: cfg, dir: dir, procs: map[uint64]*exec.Cmd{},
		args: map[uint64][]string{}, extra: map[uint64]config.Node{}}
	t.Cleanup(func() {
		for id := range c.procs {
			cmd := c.procs[id]
			c.kill(id)
			// Killed by us, its status says SIGKILL; else it had ended on its own.
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && t.Failed() && ws.Signal() != syscall.SIGKILL {
				t.Logf("node %d had ended before the test did: %v", id, cmd.ProcessState)
			}
		}
		if t.Failed() {
			c.logTails(40)
		}
	})
	for _, n := range cfg.Nodes {
		c.start(n.ID)
	}
	return c
}

func (c *procCluster) start(id uint64) {
	c.t.Helper()
	logf, err := os.OpenFile(filepath.Join(c.dir, fmt.Sprintf("node-%d.log", id)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		c.t.Fatal(err)
	}
	cmd := exec.Command(c.bin, append([]string{"--config", c.cfgP, "--node-id", fmt.Sprint(id)}, c.args[id]...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start node %d: %v", id, err)
	}
	logf.Close()
	c.procs[id] = cmd
}

// logTails logs the last n lines of every node's output, so that a test
// failing on a process tells why the process did what it did.
func (c *procCluster) logTails(n int) {
	paths, _ := filepath.Glob(filepath.Join(c.dir, "node-*.log"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			c.t.Logf("%s: %v", p, err)
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		c.t.Logf("last lines of %s:\n%s", filepath.Base(p), strings.Join(lines[max(0, len(lines)-n):], "\n"))
	}
}

func (c *procCluster) kill(id uint64) {
	cmd := c.procs[id]
	cmd.Process.Kill()
	cmd.Wait()
	delete(c.procs, id)
}

// client reaches every node of the config, failing over as the
// processes die; it is closed with the test.
func (c *procCluster) client() *client.Client { return c.clientAt(c.endpoints()...) }

func (c *procCluster) clientAt(eps ...string) *client.Client {
	c.t.Helper()
	cl, err := client.New(eps, 3*time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

func (c *procCluster) endpoints() []string {
	var eps []string
	for _, n := range c.cfg.Nodes {
		eps = append(eps, n.HTTPAddr)
	}
	return eps
}

// leader asks the running nodes until they agree on a leader.
func (c *procCluster) leader(cl *client.Client) uint64 {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		agreed, lead := 0, uint64(0)
		for id := range c.procs {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			st, err := cl.Status(ctx, c.httpAddr(id))
			cancel()
			if err != nil || st.Leader == nil {
				break
			}
			if agreed > 0 && *st.Leader != lead {
				break
			}
			lead = *st.Leader
			agreed++
		}
		if _, running := c.procs[lead]; agreed == len(c.procs) && running {
			return lead
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatal("no agreed leader within 20s")
	return 0
}

// writer writes unique keys until stop is closed and records what the
// cluster acknowledged.
type writer struct {
	mu    sync.Mutex // guards acked
	acked map[string]string
	fails int
}

func (w *writer) run(cl *client.Client, id int, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		k, v := fmt.Sprintf("w%d-%d", id, i), fmt.Sprintf("value-%d-%d", id, i)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, err := cl.Put(ctx, k, []byte(v))
		cancel()
		w.mu.Lock()
		if err == nil {
			w.acked[k] = v
		} else {
			w.fails++ // unknown outcome: may or may not have committed
		}
		w.mu.Unlock()
	}
}

// TestKill9 crashes the leader with SIGKILL while clients write, then
// crashes every node at once: no acknowledged write may be lost.
func TestKill9(t *testing.T) {
	c := newProcCluster(t)
	cl := c.client()
	lead := c.leader(cl)

	w := &writer{acked: map[string]string{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go w.run(cl, i, stop, &wg)
	}
	time.Sleep(time.Second) // let writes flow before the crash

	c.kill(lead)
	start := time.Now()
	newLead := c.leader(cl)
	t.Logf("leader %d killed; node %d leads after %v", lead, newLead, time.Since(start))
	time.Sleep(time.Second)
	c.start(lead)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	t.Logf("%d writes acknowledged, %d failed or timed out", len(w.acked), w.fails)
	if len(w.acked) == 0 {
		t.Fatal("no write was acknowledged")
	}

	c.crashAllAndCheck(cl, w)
}

// crashAllAndCheck SIGKILLs every node at once, restarts them, and reads
// back every write w saw acknowledged.
func (c *procCluster) crashAllAndCheck(cl *client.Client, w *writer) {
	c.t.Helper()
	for id := range c.procs {
		c.kill(id)
	}
	for _, n := range c.cfg.Nodes {
		c.start(n.ID)
	}
	c.leader(cl)
	for k, v := range w.acked {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		got, err := cl.Get(ctx, k, "")
		cancel()
		if errors.Is(err, client.ErrNotFound) {
			c.t.Fatalf("acknowledged write %s lost after kill -9", k)
		}
		if err != nil || string(got) != v {
			c.t.Fatalf("get %s = %q, %v; want %q", k, got, err, v)
		}
	}
}

// TestKill9DuringSnapshots crashes nodes with SIGKILL over and over while
// they take, send and install snapshots every few dozen entries (a node
// down for a round comes back through InstallSnapshot), then crashes them
// all: every acknowledged write must survive.
func TestKill9DuringSnapshots(t *testing.T) {
	c := newProcCluster(t, `"snapshot_entries": 40, "snapshot_keep_entries": 5`)
	cl := c.client()
	c.leader(cl)
	w := &writer{acked: map[string]string{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go w.run(cl, i, stop, &wg)
	}
	for round := range 4 {
		victim := uint64(round % 3)
		time.Sleep(700 * time.Millisecond) // let snapshots happen meanwhile
		c.kill(victim)
		time.Sleep(700 * time.Millisecond) // the others compact past it
		c.start(victim)
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	t.Logf("%d writes acknowledged, %d failed or timed out", len(w.acked), w.fails)
	if len(w.acked) < 100 {
		t.Fatalf("only %d writes acknowledged", len(w.acked))
	}
	c.crashAllAndCheck(cl, w)
	logs, _ := filepath.Glob(filepath.Join(c.dir, "node-*.log"))
	installs := 0
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		installs += strings.Count(string(b), "snapshot installed")
	}
	t.Logf("%d snapshot installs during the run", installs)
}
