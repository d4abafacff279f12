package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/internal/tlsconf"
)

// TestProcessFullySecured runs three kvserver processes with everything
// on at once: mutual TLS, tokens and sealed peer traffic. kvcli (put, get,
// a read token refused, the bench) and the dashboard's page and event
// stream work against it, and the nodes' Raft frames are sealed with none
// refused for want of the key.
func TestProcessFullySecured(t *testing.T) {
	ct := newClusterTLS(t, true)
	secrets := t.TempDir()
	keyPath := filepath.Join(secrets, "peer.key")
	writeKeyFile(t, keyPath, strings.Repeat("5a", 32))
	c := newProcCluster(t, ct.field(), writeTokens(t, secrets), fmt.Sprintf(`"peer_key_file": %q`, keyPath))
	tlsCfg, err := tlsconf.ClientConfig(ct.clientFiles())
	if err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(c.endpoints(), 5*time.Second, client.WithTLS(tlsCfg), client.WithToken(procAdminToken))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	c.leader(admin)

	cli := buildKvcli(t, c.dir)
	flags := []string{"--endpoints", strings.Join(c.endpoints(), ","), "--cacert", ct.ca.CertFile,
		"--cert", ct.user.CertFile, "--key", ct.user.KeyFile}
	run := func(token string, args ...string) (int, string) {
		return kvcliRun(t, cli, token, append(append([]string{}, flags...), args...)...)
	}
	if code, out := run(procWriteToken, "put", "greeting", "sealed"); code != exitOK {
		t.Fatalf("kvcli put with a write token: exit %d: %s", code, out)
	}
	if code, out := run(procReadToken, "get", "greeting"); code != exitOK || out != "sealed" {
		t.Fatalf("kvcli get with a read token: exit %d: %q", code, out)
	}
	if code, out := run(procReadToken, "put", "greeting", "no"); code != exitDeniedKvcli {
		t.Fatalf("kvcli put with a read token: exit %d: %s; want %d", code, out, exitDeniedKvcli)
	}
	if code, out := run(procWriteToken, "bench", "write", "-d", "1s", "-c", "4"); code != exitOK || !strings.Contains(out, "ok, 0 failed") {
		t.Fatalf("kvcli bench write: exit %d: %s", code, out)
	}

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	defer hc.CloseIdleConnections()
	base := "https://" + c.endpoints()[0]
	if code, body := secureGet(t, hc, base+"/ui/", procReadToken); code != http.StatusOK || !strings.Contains(body, "<html") {
		t.Fatalf("dashboard page: %d %.200s", code, body)
	}
	secureStream(t, hc, base+"/v1/events", procReadToken, "status")
	for _, n := range c.cfg.Nodes {
		_, m := secureGet(t, hc, "https://"+n.HTTPAddr+"/metrics", procAdminToken)
		if !strings.Contains(m, "raftkv_transport_peer_sealing 1") {
			t.Fatalf("node %d does not seal its peer traffic", n.ID)
		}
		for _, reason := range []string{"unsealed", "unknown_key", "bad_auth"} {
			if line := fmt.Sprintf(`raftkv_transport_peer_frames_refused_total{reason=%q}`, reason); strings.Contains(m, line) &&
				!strings.Contains(m, line+" 0") {
				t.Fatalf("node %d refused frames as %s: %s", n.ID, reason, grepLine(m, line))
			}
		}
	}
}

func secureGet(t *testing.T, hc *http.Client, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// secureStream reads an event stream, as the dashboard does, until the
// first event named event.
func secureStream(t *testing.T, hc *http.Client, url, token, event string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == "event:"+event || sc.Text() == "event: "+event {
			return
		}
	}
	t.Fatalf("%s ended without an %s event (status %d): %v", url, event, resp.StatusCode, sc.Err())
}

func grepLine(text, prefix string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}
