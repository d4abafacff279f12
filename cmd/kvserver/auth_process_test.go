package main

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/auth"
)

const (
	procAdminToken = "proc-admin-1b2c3d"
	procWriteToken = "proc-write-4e5f6a"
	procReadToken  = "proc-read-7b8c9d"
	procNodeToken  = "proc-node-0e1f2a"
	procLaterToken = "proc-later-3b4c5d"
)

func tokenEntry(name, token, role string) string {
	h := auth.Hash(token)
	return fmt.Sprintf(`{"name": %q, "token_sha256": %q, "role": %q}`, name, hex.EncodeToString(h[:]), role)
}

// writeTokens writes the tokens file and the node token file into dir and
// returns the config's auth object naming them, both switches on.
func writeTokens(t *testing.T, dir string, entries ...string) string {
	t.Helper()
	return writeTokensWith(t, dir, true, entries...)
}

func writeTokensWith(t *testing.T, dir string, protect bool, entries ...string) string {
	t.Helper()
	all := append([]string{tokenEntry("node", procNodeToken, "admin"), tokenEntry("ops", procAdminToken, "admin"),
		tokenEntry("app", procWriteToken, "write"), tokenEntry("viewer", procReadToken, "read")}, entries...)
	files := map[string]string{"tokens.json": "[" + strings.Join(all, ",\n") + "]", "node.token": procNodeToken + "\n"}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Sprintf(`"auth": {"tokens_file": %q, "node_token_file": %q, "protect_metrics": %v, "protect_ui": %v}`,
		filepath.Join(dir, "tokens.json"), filepath.Join(dir, "node.token"), protect, protect)
}

// kvcliRun runs kvcli with token in $RAFTKV_TOKEN ("" sets none).
func kvcliRun(t *testing.T, bin, token string, args ...string) (int, string) {
	t.Helper()
	return runKvcli(t, bin, "", []string{"RAFTKV_TOKEN=" + token}, args...)
}

func httpStatus(t *testing.T, method, url, authz string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestTokensCluster runs three kvserver processes with tokens on and
// drives them as an operator would: kvcli with each role, the bench, the
// dashboard's files and stream, a node joining, a token added by SIGHUP.
func TestTokensCluster(t *testing.T) {
	tokDir := t.TempDir()
	c := newProcCluster(t, writeTokens(t, tokDir))
	admin, err := client.New(c.endpoints(), 5*time.Second, client.WithToken(procAdminToken))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	lead := c.leader(admin)
	var follower uint64
	for follower == lead {
		follower++
	}
	kvcli := buildKvcli(t, tokDir)
	eps := "--endpoints=" + strings.Join(c.endpoints(), ",")
	viaFollower := "--endpoints=" + c.httpAddr(follower)

	steps := []struct {
		name, token string
		args        []string
		code        int
		out         string
	}{
		{"write token puts through a follower", procWriteToken, []string{viaFollower, "put", "app/k", "v1"}, 0, ""},
		{"read token gets", procReadToken, []string{eps, "get", "app/k"}, 0, "v1"},
		{"read token may not put", procReadToken, []string{viaFollower, "put", "app/k", "v2"}, exitDeniedKvcli, "403"},
		{"no token", "", []string{eps, "get", "app/k"}, exitDeniedKvcli, "401"},
		{"bad token", "not-a-token", []string{eps, "get", "app/k"}, exitDeniedKvcli, "401"},
		{"write token may not snapshot", procWriteToken, []string{eps, "snapshot"}, exitDeniedKvcli, "needs admin"},
		{"admin snapshots", procAdminToken, []string{eps, "snapshot"}, 0, ""},
		{"bench write", procWriteToken, []string{eps, "bench", "write", "-n", "50", "-c", "4"}, 0, "50 ok, 0 failed"},
		{"status of every node", procReadToken, []string{eps, "status"}, 0, ""},
	}
	for _, s := range steps {
		code, out := kvcliRun(t, kvcli, s.token, s.args...)
		if code != s.code || !strings.Contains(out, s.out) {
			t.Fatalf("%s: kvcli %v: exit %d, output %q; want %d with %q", s.name, s.args, code, out, s.code, s.out)
		}
		if s.code == 0 && strings.Contains(out, "401") {
			// The bench reads the leader's /metrics too: with the token.
			t.Fatalf("%s: a request was refused: %q", s.name, out)
		}
	}

	st := admin.StatusAll(ctx5s(t))
	for _, ns := range st {
		if ns.Err != nil {
			t.Fatalf("status of %s: %v", ns.Endpoint, ns.Err)
		}
	}

	base := "http://" + c.httpAddr(follower)
	open := []struct {
		path, authz string
		want        int
	}{
		{"/healthz", "", 200},
		{"/readyz", "", 200},
		{"/metrics", "", 401},
		{"/metrics", "Bearer " + procReadToken, 200},
		{"/ui/", "", 401},
		{"/ui/", basicAuth("viewer", procReadToken), 200},
		{"/v1/status?all=1", "Bearer " + procReadToken, 200},
	}
	for _, o := range open {
		if got := httpStatus(t, http.MethodGet, base+o.path, o.authz); got != o.want {
			t.Errorf("GET %s (%q): %d, want %d", o.path, o.authz, got, o.want)
		}
	}
	checkDashboardStream(t, base, procReadToken)

	// Internal calls carry the node token: a node joins (it adds itself
	// through the leader's API) and every node records its incarnation
	// through its own.
	c.join(3, lead)
	c.waitMembers(admin, "node 3 joined and every incarnation is recorded", func(m map[uint64]client.Member) bool {
		if len(m) != 4 {
			return false
		}
		for _, mb := range m {
			if mb.Incarnation == 0 {
				return false
			}
		}
		return true
	})

	// A token added to the file works after SIGHUP, on every node.
	writeTokens(t, tokDir, tokenEntry("later", procLaterToken, "read"))
	for _, cmd := range c.procs {
		cmd.Process.Signal(syscall.SIGHUP)
	}
	deadline := time.Now().Add(10 * time.Second)
	for id := range c.procs {
		for httpStatus(t, http.MethodGet, "http://"+c.httpAddr(id)+"/v1/status", "Bearer "+procLaterToken) != 200 {
			if time.Now().After(deadline) {
				t.Fatalf("node %d does not take the token added before SIGHUP", id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	for id := range c.procs {
		b, _ := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("node-%d.log", id)))
		for _, secret := range []string{procAdminToken, procWriteToken, procReadToken, procNodeToken, procLaterToken} {
			if strings.Contains(string(b), secret) {
				t.Errorf("node %d's log contains a token", id)
			}
		}
		if strings.Contains(string(b), "OPEN TO ANYONE") {
			t.Errorf("node %d warns of an open API, with tokens on", id)
		}
	}
}

// exitDeniedKvcli is kvcli's exit code for a refused token (its exitDenied).
const exitDeniedKvcli = 5

func basicAuth(name, token string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	req.SetBasicAuth(name, token)
	return req.Header.Get("Authorization")
}

// checkDashboardStream reads the dashboard's event stream with a token, as
// the page does, until its first status event.
func checkDashboardStream(t *testing.T, base, token string) {
	t.Helper()
	if got := httpStatus(t, http.MethodGet, base+"/v1/events", ""); got != 401 {
		t.Fatalf("/v1/events without a token: %d", got)
	}
	secureStream(t, http.DefaultClient, base+"/v1/events", token, "status")
}
