package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftkv/raftkv/cmd/kvchaos/internal/cluster"
	"github.com/raftkv/raftkv/cmd/kvchaos/internal/history"
	"github.com/raftkv/raftkv/cmd/kvchaos/internal/nemesis"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "0"}, "--nodes 0: want 1 to 15"},
		{[]string{"--nodes", "16"}, "--nodes 16"},
		{[]string{"--clients", "0"}, "--clients 0"},
		{[]string{"--keys", "-1"}, "--keys -1"},
		{[]string{"--duration", "0s"}, "--duration 0s"},
		{[]string{"--duration", "soon"}, "invalid argument"},
		{[]string{"--faults", "kill,flood"}, `--faults: unknown fault "flood"`},
		{[]string{"--write-retries", "-1"}, "--write-retries -1"},
		{[]string{"--rate", "-5"}, "--rate -5"},
		{[]string{"--lessees", "-1"}, "--lessees -1"},
		{[]string{"--lease-ttl", "1500ms"}, "--lease-ttl 1.5s: want whole seconds"},
		{[]string{"--lease-ttl", "0s"}, "--lease-ttl 0s"},
		{[]string{"--op-timeout", "0s"}, "--op-timeout"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"--no-such-flag"}, "unknown flag"},
		{[]string{"extra"}, "unknown command"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(tt.args, &out, &errOut)
		if code != exitUsage || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("run(%q) = %d, stderr %q; want %d and %q", tt.args, code, errOut.String(), exitUsage, tt.want)
		}
		if strings.Contains(out.String(), "seed") {
			t.Errorf("run(%q) started a run: %q", tt.args, out.String())
		}
	}
}

func TestHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--help"}, &out, &errOut); code != exitOK {
		t.Fatalf("--help exit %d: %s", code, errOut.String())
	}
	for _, flag := range []string{"--nodes", "--clients", "--duration", "--faults", "--seed", "--keys", "--out", "--kvserver", "--lease-reads"} {
		if !strings.Contains(out.String(), flag) {
			t.Errorf("help lacks %s", flag)
		}
	}
}

func TestRunDirRefusesNonEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "old"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"--out", dir, "--duration", "1s"}, &out, &errOut)
	if code != exitHarness || !strings.Contains(errOut.String(), "not empty") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}

func TestBadKvserverBinary(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"--kvserver", filepath.Join(t.TempDir(), "missing"), "--out", t.TempDir(), "--duration", "1s"}, &out, &errOut)
	if code != exitHarness || !strings.Contains(errOut.String(), "start node 0") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	if !strings.Contains(out.String(), "run directory kept") {
		t.Fatalf("the kept directory is not named: %q", out.String())
	}
}

// The exit code never calls a run good unless porcupine said so and
// nothing else went wrong.
func TestReportCode(t *testing.T) {
	ok := history.Result{Verdict: history.Linearizable}
	tests := []struct {
		name string
		r    report
		want int
	}{
		{"clean", report{result: ok}, exitOK},
		{"violation", report{result: history.Result{Verdict: history.NotLinearizable}}, exitFailed},
		{"checker timed out", report{result: history.Result{Verdict: history.Inconclusive}}, exitInconclusive},
		{"no verdict at all", report{}, exitInconclusive},
		{"node died", report{result: ok, exits: []cluster.Exit{{Node: 1, Err: "exit status 1"}}}, exitFailed},
		{"final state unreadable", report{result: ok, finalErr: errors.New("read k0 from node 1: no answer")}, exitFailed},
		{"timeout and node died", report{result: history.Result{Verdict: history.Inconclusive},
			exits: []cluster.Exit{{Node: 1}}}, exitFailed},
	}
	for _, tt := range tests {
		if got := tt.r.code(); got != tt.want {
			t.Errorf("%s: code %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestSummary(t *testing.T) {
	r := &report{
		opts: options{nodes: 3, clients: 2, keys: 5, duration: time.Minute, seed: 77, faults: nemesis.All},
		ops: []history.Op{
			{Kind: history.Get, Consistency: "lease", Outcome: history.OK},
			{Kind: history.Get, Consistency: "linearizable", Outcome: history.OK},
			{Kind: history.Get, Outcome: history.Failed},
			{Kind: history.Put, Outcome: history.Unknown, Attempts: 3},
			{Kind: history.Delete, Outcome: history.OK},
		},
		events:   []nemesis.Event{{Kind: "kill leader"}, {Kind: "kill leader"}, {Kind: "partition bridge"}},
		exits:    []cluster.Exit{{Node: 2, Err: "exit status 1"}},
		result:   history.Result{Verdict: history.NotLinearizable, Checked: 4},
		htmlPath: "/tmp/x/violation.html",
	}
	var b bytes.Buffer
	printSummary(&b, r)
	for _, want := range []string{
		"seed 77", "operations  5: 3 ok, 1 unknown outcome, 1 failed",
		"(lease 1, linearizable 1)", "1 writes were resent", "faults      3 injected",
		"kill leader                  2", "node 2 EXITED by itself: exit status 1",
		"check       NOT linearizable (4 operations checked", "visualization: /tmp/x/violation.html",
		"--seed 77",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
	if f := r.failure(); !strings.Contains(f, "NOT linearizable (see /tmp/x/violation.html)") || !strings.Contains(f, "1 node exit") {
		t.Errorf("failure() = %q", f)
	}
}
