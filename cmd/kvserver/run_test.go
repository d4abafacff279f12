package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/config"
	"github.com/raftkv/raftkv/internal/syncbuf"
)

func TestRunUsageAndConfigErrors(t *testing.T) {
	dir := t.TempDir()
	good := testConfigJSON(t, dir, 3)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"nodes": [`), 0o644)
	unknown := filepath.Join(dir, "unknown.json")
	os.WriteFile(unknown, []byte(`{"nodes": [{"id": 0, "raft_addr": "tcp://127.0.0.1:7000", "http_addr": "127.0.0.1:8000"}], "colour": 1}`), 0o644)
	tests := []struct {
		name string
		args []string
		want string // in the one stderr line
	}{
		{"no node", []string{"--config", good}, "exactly one of --node-id"},
		{"both", []string{"--config", good, "--all", "--node-id", "1"}, "exactly one of --node-id"},
		{"missing file", []string{"--config", filepath.Join(dir, "nope.json"), "--all"}, "nope.json"},
		{"bad json", []string{"--config", bad, "--all"}, "bad.json"},
		{"unknown field", []string{"--config", unknown, "--all"}, "colour"},
		{"unknown node", []string{"--config", good, "--node-id", "7"}, "7"},
		{"bad flag", []string{"--bogus"}, "bogus"},
		{"bad log level", []string{"--config", good, "--all", "--log-level", "loud"}, "log-level"},
		{"stray argument", []string{"--config", good, "--all", "extra"}, "extra"},
		{"join without node id", []string{"--config", good, "--join", "http://127.0.0.1:1", "--all"}, "--join needs --node-id"},
		{"join without raft addr", []string{"--config", good, "--join", "http://127.0.0.1:1", "--node-id", "3", "--http-addr", "127.0.0.1:1"}, "raft_addr"},
		{"join with a bad raft addr", []string{"--config", good, "--join", "http://127.0.0.1:1", "--node-id", "3",
			"--raft-addr", "127.0.0.1:7003", "--http-addr", "127.0.0.1:1"}, "tcp://host:port"},
		{"join without http addr", []string{"--config", good, "--join", "http://127.0.0.1:1", "--node-id", "3", "--raft-addr", "tcp://127.0.0.1:7003"}, "http_addr"},
		{"join naming nothing", []string{"--config", good, "--join", " , ", "--node-id", "3"}, "names no node"},
		{"addresses without join", []string{"--config", good, "--node-id", "1", "--raft-addr", "tcp://127.0.0.1:7003"}, "go with --join"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != exitConfig {
				t.Fatalf("exit code %d, want %d; stderr: %s", code, exitConfig, stderr.String())
			}
			out := strings.TrimSpace(stderr.String())
			if strings.Count(out, "\n") != 0 || !strings.Contains(out, tt.want) {
				t.Fatalf("stderr %q: want one line mentioning %q", out, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
				t.Fatalf("a failed start wrote the data dir (%v)", err)
			}
		})
	}
}

// TestNodeIDUnderscoreSpelling keeps the original project's --node_id.
func TestNodeIDUnderscoreSpelling(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"--config", filepath.Join(t.TempDir(), "none.json"), "--node_id", "0"}, &stdout, &stderr)
	if code != exitConfig || strings.Contains(stderr.String(), "unknown flag") {
		t.Fatalf("--node_id: exit %d, stderr %q", code, stderr.String())
	}
}

// TestCorruptLogRefusesToStart damages a record in the middle of a node's
// log: the node must refuse to start (exit 1) rather than lose entries.
func TestCorruptLogRefusesToStart(t *testing.T) {
	c := newE2ECluster(t)
	c.leader()
	cl := c.client(0, 1, 2)
	for i := range 30 {
		if _, err := cl.Put(ctx5s(t), "k", []byte(strings.Repeat("v", 100+i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range c.cfg.Nodes {
		c.stop(n.ID)
	}
	segs, _ := filepath.Glob(filepath.Join(c.cfg.NodeDir(0), "raft", "*.wal"))
	if len(segs) == 0 {
		t.Fatal("no WAL segment found")
	}
	data, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	// Segments are preallocated: damage the middle of the records, not
	// of the zeros after them.
	used := len(bytes.TrimRight(data, "\x00"))
	data[used/2] ^= 0xff
	if err := os.WriteFile(segs[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	writeConfig(t, cfgPath, c)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--config", cfgPath, "--node-id", "0"}, &stdout, &stderr); code != exitFatal {
		t.Fatalf("exit code %d, want %d; stderr: %s", code, exitFatal, stderr.String())
	}
	if !strings.Contains(stderr.String(), "corrupt") || !strings.Contains(stderr.String(), filepath.Base(segs[0])) {
		t.Fatalf("stderr %q: want a corruption error naming %s", stderr.String(), filepath.Base(segs[0]))
	}
}

// writeConfig writes c's config back out as JSON for run().
func writeConfig(t *testing.T, path string, c *e2eCluster) {
	t.Helper()
	var nodes []string
	for _, n := range c.cfg.Nodes {
		nodes = append(nodes, `{"id": `+strconv.FormatUint(n.ID, 10)+`, "raft_addr": "`+n.RaftAddr+`", "http_addr": "`+n.HTTPAddr+`"}`)
	}
	js := `{"nodes": [` + strings.Join(nodes, ",") + `], "data_dir": "` + c.cfg.DataDir + `"}`
	if err := os.WriteFile(path, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunAllStopsWithoutHandOver: Ctrl-C on `kvserver --all` stops every node
// without a leader trying to hand over to nodes that are stopping too.
func TestRunAllStopsWithoutHandOver(t *testing.T) {
	cfgPath := testConfigJSON(t, t.TempDir(), 3)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	sb := &syncBuffer{}
	lw := newLogWriter(sb)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- runNodes(ctx, cfg, []uint64{0, 1, 2}, lw, slog.LevelInfo, true) }()
	cl, err := client.New([]string{cfg.Nodes[0].HTTPAddr, cfg.Nodes[1].HTTPAddr, cfg.Nodes[2].HTTPAddr}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	waitUntil(t, "the cluster to accept a write", func() bool {
		_, err := cl.Put(ctx5s(t), "k", []byte("v"))
		return err == nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runNodes: %v", err)
	}
	if out := sb.String(); strings.Contains(out, "hand") {
		t.Fatalf("a node tried to hand leadership over while the whole cluster stopped:\n%s", out)
	}
}

// syncBuffer makes a buffer safe for the log writer's goroutines.
type syncBuffer = syncbuf.Buffer
