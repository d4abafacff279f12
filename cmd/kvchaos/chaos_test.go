package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var (
	chaosDuration = flag.String("chaos-duration", "40s", "how long TestChaos injects faults")
	chaosServer   = flag.String("kvserver", "", "prebuilt kvserver for TestChaos (default: build one)")
)

// TestChaos runs the whole harness against real kvserver processes, with
// every fault, for a bounded time: what CI runs on every change. A failure
// keeps the run directory (node logs, history, visualization) and names it.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kvserver and runs a cluster under faults for about a minute; skipped in -short mode")
	}
	dir := filepath.Join(t.TempDir(), "run")
	var out, errOut bytes.Buffer
	args := []string{"--duration", *chaosDuration, "--faults", "all", "--clients", "8", "--out", dir,
		"--check-timeout", "60s", "--log-level", "warn"}
	if *chaosServer != "" {
		args = append(args, "--kvserver", *chaosServer)
	}
	code := run(args, &out, &errOut)
	t.Log(out.String())
	if code != exitOK {
		kept, err := os.MkdirTemp("", "kvchaos-failed-")
		if err == nil {
			err = os.Rename(dir, filepath.Join(kept, "run"))
		}
		t.Logf("stderr:\n%s", errOut.String())
		t.Fatalf("kvchaos exit %d; run directory moved to %s (%v)", code, kept, err)
	}
	for _, want := range []string{"check       linearizable", "faults      ", "final state healed", "none gone before its TTL"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "faults      0 injected") {
		t.Error("no fault was injected")
	}
}
