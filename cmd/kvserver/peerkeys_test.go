package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/raft/transport"
)

const (
	testPeerKeyA = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	testPeerKeyB = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
)

func writeKeyFile(t *testing.T, path string, keys ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(keys, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// A bad peer key file stops the start with one line and exit code 2,
// before anything is written.
func TestRunPeerKeyFileErrors(t *testing.T) {
	for _, tt := range []struct {
		name, content, want string
	}{
		{"missing", "", "cannot read it"},
		{"not hex", strings.Repeat("x", 64), "line 1: a key is 64 hex digits (0-9, a-f)"},
		{"wrong length", "abcd", "line 1: a key is 64 hex digits (32 bytes), not 4 characters"},
		{"three keys", testPeerKeyA + "\n" + testPeerKeyB + "\n" + strings.Repeat("ab", 32), "at most 2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			keyFile := filepath.Join(dir, "peer.key")
			if tt.content != "" {
				writeKeyFile(t, keyFile, tt.content)
			}
			cfg := testConfigJSON(t, dir, 3, fmt.Sprintf(`"peer_key_file": %q`, keyFile))
			var stdout, stderr bytes.Buffer
			if code := run([]string{"--config", cfg, "--all"}, &stdout, &stderr); code != exitConfig {
				t.Fatalf("exit code %d, want %d; stderr: %s", code, exitConfig, stderr.String())
			}
			out := strings.TrimSpace(stderr.String())
			if strings.Count(out, "\n") != 0 || !strings.Contains(out, "peer_key_file") || !strings.Contains(out, tt.want) {
				t.Fatalf("stderr %q: want one line about peer_key_file mentioning %q", out, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
				t.Fatalf("a failed start wrote the data dir (%v)", err)
			}
		})
	}
}

// A cluster rotates its peer key by three rolling restarts (accept the
// new key, seal with it, drop the old one) and takes writes throughout,
// with no frame refused for its key.
func TestPeerKeyRollingRotation(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "peer.key")
	writeKeyFile(t, keyFile, testPeerKeyA)
	c := newE2EClusterFrom(t, testConfigJSON(t, dir, 3, fmt.Sprintf(`"peer_key_file": %q`, keyFile)))
	var addrs []string
	for _, n := range c.cfg.Nodes {
		addrs = append(addrs, n.HTTPAddr)
	}
	cl, err := client.New(addrs, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// put writes, and waits until every node applied the write: the
	// restarted node too, so it exchanged sealed frames with the others.
	put := func(what string) {
		t.Helper()
		waitUntil(t, "a write "+what, func() bool {
			_, err := cl.Put(ctx5s(t), "k", []byte(what))
			return err == nil
		})
		waitUntil(t, "every node to apply the write "+what, func() bool {
			var applied []uint64
			for _, n := range c.nodes {
				st := n.raft.Status()
				applied = append(applied, st.AppliedIndex, st.CommitIndex)
			}
			return slices.Min(applied) == slices.Max(applied)
		})
	}
	put("with one key")
	for _, phase := range [][]string{{testPeerKeyA, testPeerKeyB}, {testPeerKeyB, testPeerKeyA}, {testPeerKeyB}} {
		writeKeyFile(t, keyFile, phase...)
		for _, n := range c.cfg.Nodes {
			c.stop(n.ID)
			c.start(n.ID)
			put(fmt.Sprintf("after node %d restarted with %d keys", n.ID, len(phase)))
		}
	}
	for id, n := range c.nodes {
		st := n.tr.Stats()
		if d := st.SealDrops; !st.Sealed || d.UnknownKey+d.BadAuth+d.Unsealed != 0 {
			t.Errorf("node %d: sealed %v, refused %+v", id, st.Sealed, d)
		}
	}
}

// Snapshot streams are sealed like every other frame: a follower that was
// down catches up through InstallSnapshot in a sealed cluster.
func TestSealedSnapshotCatchUp(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "peer.key")
	writeKeyFile(t, keyFile, testPeerKeyA)
	c := newE2EClusterFrom(t, testConfigJSON(t, dir, 3, snapConfig, fmt.Sprintf(`"peer_key_file": %q`, keyFile)))
	lead := c.leader()
	cl := c.client(lead)
	lagger := (lead + 1) % 3
	c.stop(lagger)
	c.putMany(t, cl, "b", 300)
	c.start(lagger)
	c.waitSame(t, lead, lagger)
	if got := c.nodes[lagger].raft.Status().Snapshot.Index; got == 0 {
		t.Fatal("the lagger caught up without a snapshot")
	}
	st := c.nodes[lagger].tr.Stats()
	if d := st.SealDrops; !st.Sealed || d != (transport.SealDrops{Handshake: d.Handshake}) {
		t.Fatalf("lagger: sealed %v, refused %+v", st.Sealed, d)
	}
}
