package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildKvcli builds kvcli into dir.
func buildKvcli(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "kvcli")
	if out, err := exec.Command("go", "build", "-o", bin, "../kvcli").CombinedOutput(); err != nil {
		t.Fatalf("go build kvcli: %v\n%s", err, out)
	}
	return bin
}

// kvcli runs the kvcli binary in dir and returns its exit code and output.
func kvcli(t *testing.T, bin, dir string, args ...string) (int, string) {
	t.Helper()
	return runKvcli(t, bin, dir, nil, args...)
}

// runKvcli runs the kvcli binary bin in dir (empty: the test's own) with
// env added to the environment, and returns its exit code and combined
// output; the one way the process tests run kvcli.
func runKvcli(t *testing.T, bin, dir string, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("kvcli %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// TestProcessTLS runs three kvserver processes under mutual TLS: kvcli
// with --cacert, --cert and --key writes, reads and benchmarks; without
// --cacert it fails naming the certificate; SIGHUP makes a node serve a
// rotated certificate, and a broken one is refused with the old kept.
func TestProcessTLS(t *testing.T) {
	ct := newClusterTLS(t, true)
	c := newProcCluster(t, ct.field())
	cli := buildKvcli(t, c.dir)
	c.leader(ct.client(t, c.endpoints()...))

	eps := strings.Join(c.endpoints(), ",")
	flags := []string{"--endpoints", eps, "--cacert", ct.ca.CertFile, "--cert", ct.user.CertFile, "--key", ct.user.KeyFile}
	with := func(args ...string) []string { return append(append([]string{}, flags...), args...) }
	if code, out := kvcli(t, cli, c.dir, with("put", "greeting", "hello over tls")...); code != exitOK {
		t.Fatalf("kvcli put: exit %d: %s", code, out)
	}
	if code, out := kvcli(t, cli, c.dir, with("get", "greeting")...); code != exitOK || out != "hello over tls" {
		t.Fatalf("kvcli get: exit %d: %q", code, out)
	}
	if code, out := kvcli(t, cli, c.dir, with("bench", "write", "-d", "1s", "-c", "4")...); code != exitOK || !strings.Contains(out, "ok, 0 failed") || !strings.Contains(out, "leader https://") {
		t.Fatalf("kvcli bench write: exit %d: %s", code, out)
	}
	httpsEps := "https://" + strings.Join(c.endpoints(), ",https://")
	code, out := kvcli(t, cli, c.dir, "--endpoints", httpsEps, "get", "greeting")
	if code != 2 || !strings.Contains(out, "x509: certificate signed by unknown authority") || !strings.Contains(out, "--cacert") {
		t.Fatalf("kvcli without --cacert: exit %d: %s", code, out)
	}
	// host:port without TLS flags means plain HTTP, which the nodes refuse
	// with a clear answer.
	code, out = kvcli(t, cli, c.dir, "--endpoints", eps, "get", "greeting")
	if code != 2 || !strings.Contains(out, "Client sent an HTTP request to an HTTPS server") {
		t.Fatalf("kvcli over plain HTTP: exit %d: %s", code, out)
	}

	victim := c.cfg.Nodes[1]
	ct.install(t, ct.ca.Server("rotated"))
	if err := c.procs[victim.ID].Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the rotated certificate served after SIGHUP", func() bool { return ct.servedName(t, victim.HTTPAddr) == "rotated" })

	// A key that does not match: the reload fails loudly, the node goes on.
	other := ct.ca.Server("other")
	ct.install(t, other)
	if err := os.WriteFile(ct.keyFile, mustRead(t, ct.ca.Server("mismatch").KeyFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.procs[victim.ID].Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(c.dir, fmt.Sprintf("node-%d.log", victim.ID))
	waitUntil(t, "the failed reload logged", func() bool {
		return strings.Contains(string(mustRead(t, logPath)), "level=ERROR msg=\"TLS reload failed\"")
	})
	if got := ct.servedName(t, victim.HTTPAddr); got != "rotated" {
		t.Fatalf("after a failed reload the node serves %q", got)
	}
	if code, out := kvcli(t, cli, c.dir, with("get", "greeting")...); code != exitOK || out != "hello over tls" {
		t.Fatalf("kvcli get after the reloads: exit %d: %q", code, out)
	}
}

// TestAllTLS runs `kvserver --all` with TLS; kvcli, run beside the
// config, takes the endpoints and the CA from it. SIGTERM stops it cleanly.
func TestAllTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs real processes; skipped in -short mode")
	}
	ct := newClusterTLS(t, false)
	dir := t.TempDir()
	cfgPath := testConfigJSON(t, dir, 3, ct.field())
	srv := filepath.Join(dir, "kvserver")
	if out, err := exec.Command("go", "build", "-o", srv, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cli := buildKvcli(t, dir)
	logf, err := os.Create(filepath.Join(dir, "all.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(srv, "--all", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})

	// Until a leader is elected the put answers 503 (exit 3); retry.
	waitUntil(t, "kvcli put through the config's TLS", func() bool {
		code, _ := kvcli(t, cli, dir, "put", "k", "all over tls")
		return code == exitOK
	})
	if code, out := kvcli(t, cli, dir, "get", "k"); code != exitOK || out != "all over tls" {
		t.Fatalf("kvcli get: exit %d: %q", code, out)
	}
	if code, out := kvcli(t, cli, dir, "status"); code != exitOK || strings.Count(out, "leader") == 0 {
		t.Fatalf("kvcli status: exit %d: %s", code, out)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err != nil {
			t.Fatalf("kvserver --all after SIGTERM: %v\n%s", err, mustRead(t, logf.Name()))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("kvserver --all did not stop on SIGTERM")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
