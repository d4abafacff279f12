package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api/client"
)

func (c *procCluster) httpAddr(id uint64) string {
	if n, ok := c.extra[id]; ok {
		return n.HTTPAddr
	}
	n, err := c.cfg.Node(id)
	if err != nil {
		c.t.Fatal(err)
	}
	return n.HTTPAddr
}

// join starts node id with --join (through node via), on fresh addresses.
func (c *procCluster) join(id, via uint64) {
	c.t.Helper()
	self := newNodeAddrs(c.t, id)
	c.extra[id] = self
	c.args[id] = []string{"--join", "http://" + c.httpAddr(via), "--raft-addr", self.RaftAddr, "--http-addr", self.HTTPAddr}
	c.start(id)
}

// waitExit waits for node id's process to end by itself and returns its
// exit code and log.
func (c *procCluster) waitExit(id uint64) (int, string) {
	c.t.Helper()
	cmd := c.procs[id]
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		c.t.Fatalf("node %d did not stop by itself", id)
	}
	delete(c.procs, id)
	b, _ := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("node-%d.log", id)))
	return cmd.ProcessState.ExitCode(), string(b)
}

func (c *procCluster) members(cl *client.Client) map[uint64]client.Member {
	out := map[uint64]client.Member{}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	m, err := cl.Members(ctx, false)
	if err != nil {
		return nil
	}
	for _, mb := range m.Members {
		out[mb.ID] = mb
	}
	return out
}

func (c *procCluster) waitMembers(cl *client.Client, what string, ok func(map[uint64]client.Member) bool) map[uint64]client.Member {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := c.members(cl); m != nil && ok(m) {
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("timed out waiting until %s; members %v", what, c.members(cl))
	return nil
}

func voters(m map[uint64]client.Member) int {
	n := 0
	for _, mb := range m {
		if mb.Role == "voter" {
			n++
		}
	}
	return n
}

// TestProcGrowReplaceShrink runs the membership story on real processes
// under a write load: grow 3 -> 4 with --join; a follower loses its disk
// and is refused under its old identity, then replaced (add a new node,
// remove the old); remove the leader, which stops; kill another original
// node and still write (the joined nodes count); restart everything and
// find the same membership; the removed leader started again says it was
// removed; no acknowledged write is lost.
func TestProcGrowReplaceShrink(t *testing.T) {
	c := newProcCluster(t)
	eps := c.endpoints()
	for _, id := range []uint64{3, 4} {
		c.extra[id] = newNodeAddrs(t, id) // known now, so the client can fail over to them
		eps = append(eps, c.extra[id].HTTPAddr)
	}
	cl, err := client.New(eps, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	lead := c.leader(cl)
	c.waitMembers(cl, "bootstrap incarnations recorded", func(m map[uint64]client.Member) bool {
		return m[0].Incarnation != 0 && m[1].Incarnation != 0 && m[2].Incarnation != 0
	})

	w := &writer{acked: map[string]string{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go w.run(cl, i, stop, &wg)
	}

	// Grow: node 3 joins through a follower and is promoted by the leader.
	for _, id := range []uint64{3, 4} {
		self := c.extra[id]
		c.args[id] = []string{"--join", "http://" + c.httpAddr((lead+1)%3), "--raft-addr", self.RaftAddr, "--http-addr", self.HTTPAddr}
	}
	c.start(3)
	c.waitMembers(cl, "node 3 a voter", func(m map[uint64]client.Member) bool { return m[3].Role == "voter" })

	// A follower loses its disk: under its old identity it is refused.
	old := (lead + 2) % 3
	c.kill(old)
	if err := os.RemoveAll(c.cfg.NodeDir(old)); err != nil {
		t.Fatal(err)
	}
	c.start(old)
	if code, log := c.waitExit(old); code != exitFatal || !strings.Contains(log, "kvcli member remove") {
		t.Fatalf("wiped node exited %d; log tail:\n%s", code, tail(log))
	}
	// Replace it: add node 4, then remove the dead one.
	c.start(4)
	c.waitMembers(cl, "node 4 a voter", func(m map[uint64]client.Member) bool { return m[4].Role == "voter" })
	if err := removeMember(t, cl, old); err != nil {
		t.Fatalf("remove node %d: %v", old, err)
	}

	// Shrink: remove the leader; it hands over and stops.
	if err := removeMember(t, cl, lead); err != nil {
		t.Fatalf("remove the leader %d: %v", lead, err)
	}
	if code, log := c.waitExit(lead); code != exitFatal || !strings.Contains(log, "was removed from the cluster") {
		t.Fatalf("removed leader %d exited %d; log tail:\n%s", lead, code, tail(log))
	}
	m := c.waitMembers(cl, "3 voters left", func(m map[uint64]client.Member) bool { return len(m) == 3 && voters(m) == 3 })

	// Kill the last original node: 3 and 4, two of three voters, carry on.
	last := 3 - lead - old
	c.kill(last)
	// (If it led, nodes 3 and 4 first elect one of themselves.)
	var perr error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, perr = cl.Put(context.Background(), "two-of-three", []byte("joined nodes count")); perr == nil {
			break
		}
	}
	if perr != nil {
		t.Fatalf("write with nodes 3 and 4 only: %v", perr)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d writes acknowledged under the changes, %d failed or timed out", len(w.acked), w.fails)
	if len(w.acked) < 50 {
		t.Fatalf("only %d writes acknowledged", len(w.acked))
	}

	// Restart everything (3 and 4 with their leftover --join): same membership.
	for id := range c.procs {
		c.kill(id)
	}
	for _, id := range []uint64{last, 3, 4} {
		c.start(id)
	}
	c.leader(cl)
	if got := c.members(cl); fmt.Sprint(got) != fmt.Sprint(m) {
		t.Fatalf("membership after restart %v, want %v", got, m)
	}
	for k, v := range w.acked {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		got, err := cl.Get(ctx, k, "")
		cancel()
		if errors.Is(err, client.ErrNotFound) || err == nil && string(got) != v {
			t.Fatalf("acknowledged write %s: %q, %v; want %q", k, got, err, v)
		}
		if err != nil {
			t.Fatalf("get %s: %v", k, err)
		}
	}

	// A removed node started again on its data says so and exits 1.
	c.start(lead)
	if code, log := c.waitExit(lead); code != exitFatal || !strings.Contains(log, "was removed") {
		t.Fatalf("restarted removed node exited %d; log tail:\n%s", code, tail(log))
	}
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}
