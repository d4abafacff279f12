package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/cmd/kvchaos/internal/history"
	"github.com/raftkv/raftkv/cmd/kvchaos/internal/nemesis"
)

func TestCheckCommand(t *testing.T) {
	ms := int64(time.Millisecond)
	ok := []history.Op{
		{Client: 0, Kind: history.Put, Key: "k0", Value: "a", Call: 0, Return: 10 * ms},
		{Client: 1, Kind: history.Get, Key: "k0", Value: "a", Found: true, Consistency: "lease", Call: 20 * ms, Return: 30 * ms},
	}
	bad := append(append([]history.Op(nil), ok...),
		history.Op{Client: 0, Kind: history.Put, Key: "k0", Value: "b", Call: 40 * ms, Return: 50 * ms},
		history.Op{Client: 2, Node: 1, Kind: history.Get, Key: "k0", Value: "a", Found: true, Consistency: "lease",
			Call: 60 * ms, Return: 70 * ms})
	faults := []nemesis.Event{{Kind: "pause leader", Description: "SIGSTOP node 1 (leader)", Start: 55 * ms, End: 65 * ms}}

	tests := []struct {
		name     string
		ops      []history.Op
		faults   bool
		wantCode int
		want     []string
	}{
		{"linearizable", ok, false, exitOK, []string{"linearizable (2 operations checked"}},
		{"violation", bad, true, exitFailed, []string{"NOT linearizable", "violation.html",
			"key k0 stops being linearizable at:", "client 2 via node 1: get -> a (lease)",
			"during fault: SIGSTOP node 1 (leader)"}},
		{"violation without faults file", bad, false, exitFailed, []string{"key k0 stops being linearizable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "history.jsonl")
			if err := writeJSONLines(path, tt.ops); err != nil {
				t.Fatal(err)
			}
			if tt.faults {
				if err := writeJSONLines(filepath.Join(dir, "faults.jsonl"), faults); err != nil {
					t.Fatal(err)
				}
			}
			var out, errOut bytes.Buffer
			code := run([]string{"check", path}, &out, &errOut)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stdout %s stderr %s", code, tt.wantCode, out.String(), errOut.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestCheckCommandBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "history.jsonl")
	if err := os.WriteFile(bad, []byte("{\"Kind\":0}\nnot json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", bad}, {"check", filepath.Join(dir, "missing.jsonl")}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != exitHarness {
			t.Errorf("run(%q) = %d, stderr %q", args, code, errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"check"}, &out, &errOut); code != exitUsage {
		t.Errorf("check without a file: exit %d", code)
	}
	if code := run([]string{"check", bad, "--nodes", "3"}, &out, &errOut); code != exitUsage {
		t.Errorf("check with a run flag: exit %d", code)
	}
}
