package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/api/client"
)

const snapConfig = `"snapshot_entries": 50, "snapshot_keep_entries": 10`

func (c *e2eCluster) putMany(t *testing.T, cl *client.Client, prefix string, n int) {
	t.Helper()
	for i := range n {
		key, value := fmt.Sprintf("%s-%03d", prefix, i%100), []byte(fmt.Sprintf("%s-%d", prefix, i))
		// An election on a loaded machine leaves the cluster without a
		// leader for a moment (503); a client retries, and a SET may
		// safely land twice.
		waitUntil(t, fmt.Sprintf("put %d accepted", i), func() bool {
			_, err := cl.Put(ctx5s(t), key, value)
			if err != nil && !errors.Is(err, client.ErrUnavailable) {
				t.Fatalf("put %d: %v", i, err)
			}
			return err == nil
		})
	}
}

// dump lists every key on node id (stale: local state) as "k=v" lines.
func (c *e2eCluster) dump(t *testing.T, id uint64) string {
	t.Helper()
	items, err := c.client(id).List(ctx5s(t), "", 10000, "stale")
	if err != nil {
		t.Fatalf("list on node %d: %v", id, err)
	}
	var b strings.Builder
	for _, it := range items {
		fmt.Fprintf(&b, "%s=%s\n", it.Key, it.Value)
	}
	return b.String()
}

func (c *e2eCluster) waitSame(t *testing.T, ids ...uint64) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("nodes %v to hold the same state", ids), func() bool {
		want := c.dump(t, ids[0])
		for _, id := range ids[1:] {
			if c.dump(t, id) != want {
				return false
			}
		}
		return want != ""
	})
}

// TestSnapshotCatchUpAndWipedNode: real nodes compact their logs; a
// follower that was down catches up through InstallSnapshot over ZeroMQ,
// and one whose data directory was deleted is refused under its old id.
func TestSnapshotCatchUpAndWipedNode(t *testing.T) {
	c := newE2ECluster(t, snapConfig)
	lead := c.leader()
	cl := c.client(lead)
	c.putMany(t, cl, "a", 150)
	lagger := (lead + 1) % 3
	c.stop(lagger)
	c.putMany(t, cl, "b", 300)
	// The others compacted past what the lagger has.
	st := c.nodes[lead].raft.Status()
	if st.Snapshot.Index == 0 || st.FirstIndex < 200 {
		t.Fatalf("leader did not compact: %+v", st)
	}
	c.start(lagger)
	c.waitSame(t, lead, lagger)
	if got := c.nodes[lagger].raft.Status().Snapshot.Index; got == 0 {
		t.Fatal("the lagger caught up without a snapshot")
	}
	trail, err := os.ReadFile(c.cfg.TrailPath(lagger))
	if err != nil || !strings.Contains(string(trail), ", SNAPSHOT\n") {
		t.Fatalf("the lagger's trail does not note the snapshot: %v", err)
	}

	victim := (lead + 2) % 3
	c.stop(victim)
	if err := os.RemoveAll(c.cfg.NodeDir(victim)); err != nil {
		t.Fatal(err)
	}
	// Under its old identity it would be a second voter in terms it
	// voted in: refused (TestMembershipGrowReplaceShrink has the way back).
	if _, err := startNode(c.cfg, victim, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "earlier life") {
		t.Fatalf("a wiped node bootstrapped again: %v", err)
	}
	c.putMany(t, cl, "c", 20)
	c.waitSame(t, lead, lagger)
}

// TestBackupAndRestore takes a backup through a follower (forwarded to the
// leader), seeds a new cluster from it and finds every key there; a
// truncated backup is refused before anything is written.
func TestBackupAndRestore(t *testing.T) {
	c := newE2ECluster(t, snapConfig)
	lead := c.leader()
	c.putMany(t, c.client(lead), "k", 120)
	want := c.dump(t, lead)

	follower := (lead + 1) % 3
	resp, err := http.Get(c.url(follower, "/v1/admin/backup"))
	if err != nil {
		t.Fatal(err)
	}
	backup, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || len(backup) == 0 {
		t.Fatalf("backup: %d, %d bytes, %v", resp.StatusCode, len(backup), err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.snap")
	os.WriteFile(file, backup, 0o644)
	truncated := filepath.Join(dir, "truncated.snap")
	os.WriteFile(truncated, backup[:len(backup)-10], 0o644)

	newCfg := testConfigJSON(t, t.TempDir(), 3, snapConfig)
	var out, errOut bytes.Buffer
	if code := run([]string{"restore", "--config", newCfg, "--node-id", "0", "--from", truncated}, &out, &errOut); code != exitFatal ||
		!strings.Contains(errOut.String(), "refused") {
		t.Fatalf("restore of a truncated backup: exit %d, %s", code, errOut.String())
	}
	for id := range 3 {
		out.Reset()
		errOut.Reset()
		if code := run([]string{"restore", "--config", newCfg, "--node_id", fmt.Sprint(id), "--from", file}, &out, &errOut); code != exitOK {
			t.Fatalf("restore node %d: exit %d, %s", id, code, errOut.String())
		}
	}
	// Seeding a node that has data is refused.
	if code := run([]string{"restore", "--config", newCfg, "--node-id", "0", "--from", file}, &out, &errOut); code != exitFatal {
		t.Fatalf("restore over existing data: exit %d", code)
	}
	// Stop the old cluster (same machine, other ports) and start the new.
	for id := range c.nodes {
		c.stop(id)
	}
	nc := newE2EClusterFrom(t, newCfg)
	nl := nc.leader()
	if got := nc.dump(t, nl); got != want {
		t.Fatalf("restored cluster holds\n%s\nwant\n%s", got, want)
	}
	if _, err := nc.client(nl).Put(ctx5s(t), "after-restore", []byte("x")); err != nil {
		t.Fatalf("write to the restored cluster: %v", err)
	}
}
