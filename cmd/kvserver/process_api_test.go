package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api/client"
)

// nodeClient talks to node id alone, so a stale read answers from that
// node's own state machine.
func (c *procCluster) nodeClient(id uint64) *client.Client { return c.clientAt(c.httpAddr(id)) }

// waitApplied waits until every running node has applied index.
func (c *procCluster) waitApplied(cl *client.Client, index uint64) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for id := range c.procs {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := cl.Status(ctx, c.httpAddr(id))
			cancel()
			if err == nil && st.AppliedIndex >= index {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("node %d has not applied %d within 20s (%v, %+v)", id, index, err, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// maxTxnsPerWriter keeps each writer's keys in one list page.
const (
	txnWriters       = 6
	maxTxnsPerWriter = 3000
)

// txnWriter runs transactions that each create three keys at once, and
// records the ones the cluster acknowledged.
type txnWriter struct {
	mu    sync.Mutex        // guards acked
	acked map[string]uint64 // group -> revision
}

func (w *txnWriter) run(cl *client.Client, id int, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for i := range maxTxnsPerWriter {
		select {
		case <-stop:
			return
		default:
		}
		g := fmt.Sprintf("t/%d-%d/", id, i)
		body := fmt.Sprintf(`{"compare":[{"key":%q,"target":"version","op":"=","value":0}],
			"success":[{"op":"put","key":%q,"value":"1"},{"op":"put","key":%q,"value":"2"},{"op":"put","key":%q,"value":"3"}]}`,
			g+"a", g+"a", g+"b", g+"c")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		a, err := cl.Txn(ctx, []byte(body))
		cancel()
		if err == nil && a.Succeeded {
			w.mu.Lock()
			w.acked[g] = a.Revision
			w.mu.Unlock()
		}
	}
}

// TestKill9Txn crashes the leader with SIGKILL while clients run
// transactions, then crashes every node: on every node each transaction
// is there whole, at one revision, or not at all, and every acknowledged
// one is there.
func TestKill9Txn(t *testing.T) {
	c := newProcCluster(t)
	cl := c.client()
	lead := c.leader(cl)

	w := &txnWriter{acked: map[string]uint64{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range txnWriters {
		wg.Add(1)
		go w.run(cl, i, stop, &wg)
	}
	time.Sleep(time.Second) // let transactions flow before the crash
	c.kill(lead)
	c.leader(cl)
	time.Sleep(500 * time.Millisecond) // and after it, on the new leader
	c.start(lead)
	close(stop)
	wg.Wait()
	if len(w.acked) == 0 {
		t.Fatal("no transaction was acknowledged")
	}
	for id := range c.procs {
		c.kill(id)
	}
	for _, n := range c.cfg.Nodes {
		c.start(n.ID)
	}
	c.leader(cl)
	idx, err := cl.Put(ctx5s(t), "barrier", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	c.waitApplied(cl, idx)
	for _, n := range c.cfg.Nodes {
		checkTxnGroups(t, n.ID, c.nodeClient(n.ID), w.acked)
	}
	t.Logf("%d transactions acknowledged, each whole on every node", len(w.acked))
}

// checkTxnGroups reads node id's keys under t/ and checks each group of
// three is whole, at one revision, and that every acknowledged group is
// there at its acknowledged revision.
func checkTxnGroups(t *testing.T, id uint64, cl *client.Client, acked map[string]uint64) {
	t.Helper()
	groups := map[string][]client.Item{}
	for w := range txnWriters {
		items, err := cl.List(ctx5s(t), fmt.Sprintf("t/%d-", w), 3*maxTxnsPerWriter, "stale")
		if err != nil {
			t.Fatalf("list on node %d: %v", id, err)
		}
		for _, it := range items {
			g := it.Key[:strings.LastIndexByte(it.Key, '/')+1]
			groups[g] = append(groups[g], it)
		}
	}
	for g, its := range groups {
		if len(its) != 3 || its[0].ModRevision != its[1].ModRevision || its[1].ModRevision != its[2].ModRevision {
			t.Fatalf("node %d: transaction %s is not whole at one revision: %+v", id, g, its)
		}
		for i, it := range its {
			if string(it.Value) != strconv.Itoa(i+1) {
				t.Fatalf("node %d: %s = %q", id, it.Key, it.Value)
			}
		}
	}
	for g, rev := range acked {
		its, ok := groups[g]
		if !ok {
			t.Fatalf("node %d: acknowledged transaction %s (revision %d) lost", id, g, rev)
		}
		if its[0].ModRevision != rev {
			t.Fatalf("node %d: transaction %s at revision %d, acknowledged at %d", id, g, its[0].ModRevision, rev)
		}
	}
}

// TestLeaseOutlivesLeaderKill grants a lease, attaches two keys, and
// SIGKILLs the leader halfway through the TTL: the keys outlive the TTL
// (the new leader starts the countdown afresh), then the lease expires on
// every node at one log index; the key rewritten just before expiry
// survives it.
func TestLeaseOutlivesLeaderKill(t *testing.T) {
	c := newProcCluster(t)
	cl := c.client()
	lead := c.leader(cl)
	const ttl = 3 * time.Second
	id, err := cl.GrantLease(ctx5s(t), ttl)
	if err != nil {
		t.Fatal(err)
	}
	granted := time.Now()
	for _, k := range []string{"doomed", "kept"} {
		w := cl.NewPut(k, []byte("v")).WithLease(id)
		_, err := w.Do(ctx5s(t))
		w.Close()
		if err != nil {
			t.Fatalf("put %s with lease %d: %v", k, id, err)
		}
	}
	follower := (lead + 1) % 3
	code, meta := httpDo(t, http.MethodGet, "http://"+c.httpAddr(follower)+"/v1/kv/doomed?meta=1", "", nil)
	if code != http.StatusOK || !strings.Contains(meta, fmt.Sprintf(`"lease":%d`, id)) || !strings.Contains(meta, `"ttl_remaining_ms":`) {
		t.Fatalf("meta on follower %d: %d %s; want the lease and the leader's time left on it", follower, code, meta)
	}
	time.Sleep(ttl / 2) // the countdown on the old leader is half done
	c.kill(lead)
	c.leader(cl)
	// The old leader's deadline passes with margin; the new leader's is a
	// full TTL after it took over, so both keys must still be there.
	time.Sleep(time.Until(granted.Add(ttl + 300*time.Millisecond)))
	for _, k := range []string{"doomed", "kept"} {
		if _, err := cl.Get(ctx5s(t), k, ""); err != nil {
			t.Fatalf("%s is gone %v after the grant (TTL %v, leader killed at half): %v", k, time.Since(granted), ttl, err)
		}
	}
	rewriteBeforeExpiry(t, cl, id, "kept")
	waitUntil(t, "the lease expires", func() bool {
		_, err := cl.Get(ctx5s(t), "doomed", "")
		return errors.Is(err, client.ErrNotFound)
	})
	c.start(lead)
	idx, err := cl.Put(ctx5s(t), "barrier", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	c.waitApplied(cl, idx)
	revokeAt := map[string]bool{}
	for _, n := range c.cfg.Nodes {
		ncl := c.nodeClient(n.ID)
		if _, err := ncl.Get(ctx5s(t), "doomed", "stale"); !errors.Is(err, client.ErrNotFound) {
			t.Fatalf("node %d still has doomed: %v", n.ID, err)
		}
		if v, err := ncl.Get(ctx5s(t), "kept", "stale"); err != nil || string(v) != "rewritten" {
			t.Fatalf("node %d: kept = %q, %v; want the rewrite to survive the lease", n.ID, v, err)
		}
		revokeAt[trailLine(t, c, n.ID, fmt.Sprintf("LEASE REVOKE %d", id))] = true
	}
	if len(revokeAt) != 1 {
		t.Fatalf("the lease expired at different entries: %v", revokeAt)
	}
}

// rewriteBeforeExpiry waits until lease id has under a second left, then
// rewrites key without a lease, which detaches it.
func rewriteBeforeExpiry(t *testing.T, cl *client.Client, id uint64, key string) {
	t.Helper()
	waitUntil(t, "the lease nears expiry", func() bool {
		li, err := cl.Lease(ctx5s(t), id)
		if err != nil {
			t.Fatalf("lease %d: %v", id, err)
		}
		return li.Remaining < time.Second
	})
	if _, err := cl.Put(ctx5s(t), key, []byte("rewritten")); err != nil {
		t.Fatal(err)
	}
}

// trailLine returns the one line of node id's trail that ends with
// command, failing unless there is exactly one.
func trailLine(t *testing.T, c *procCluster, id uint64, command string) string {
	t.Helper()
	b, err := os.ReadFile(c.cfg.TrailPath(id))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasSuffix(line, ", "+command) {
			found = append(found, line)
		}
	}
	if len(found) != 1 {
		t.Fatalf("node %d's trail has %d lines for %q: %v", id, len(found), command, found)
	}
	return found[0]
}
