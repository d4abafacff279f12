package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/config"
	"github.com/raftkv/raftkv/internal/testcert"
	"github.com/raftkv/raftkv/internal/tlsconf"
)

// clusterTLS is a test CA and the files config.json's tls names: one node
// certificate (for 127.0.0.1) shared by every node, at fixed paths so a
// test can rotate it, and a client certificate for kvcli.
type clusterTLS struct {
	ca       *testcert.CA
	dir      string
	user     testcert.Pair
	mutual   bool
	certFile string
	keyFile  string
}

func newClusterTLS(t *testing.T, mutual bool) *clusterTLS {
	t.Helper()
	ca := testcert.NewCA(t, "cluster-ca")
	dir := t.TempDir()
	c := &clusterTLS{ca: ca, dir: dir, user: ca.Client("user"), mutual: mutual,
		certFile: filepath.Join(dir, "node.pem"), keyFile: filepath.Join(dir, "node-key.pem")}
	c.install(t, ca.Server("first"))
	return c
}

// install makes p the certificate the nodes' files hold.
func (c *clusterTLS) install(t *testing.T, p testcert.Pair) {
	t.Helper()
	for from, to := range map[string]string{p.CertFile: c.certFile, p.KeyFile: c.keyFile} {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// field is the config.json field.
func (c *clusterTLS) field() string {
	f := map[string]string{"cert_file": c.certFile, "key_file": c.keyFile, "ca_file": c.ca.CertFile}
	if c.mutual {
		f["client_ca_file"] = c.ca.CertFile
	}
	b, _ := json.Marshal(f)
	return `"tls": ` + string(b)
}

// clientFiles are what kvcli's --cacert, --cert and --key give.
func (c *clusterTLS) clientFiles() tlsconf.Files {
	return tlsconf.Files{CAFile: c.ca.CertFile, CertFile: c.user.CertFile, KeyFile: c.user.KeyFile}
}

// client reaches the nodes at eps over HTTPS as the user.
func (c *clusterTLS) client(t *testing.T, eps ...string) *client.Client {
	t.Helper()
	cfg, err := tlsconf.ClientConfig(c.clientFiles())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(eps, 5*time.Second, client.WithTLS(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// servedName is the common name of the certificate addr serves to a new
// connection.
func (c *clusterTLS) servedName(t *testing.T, addr string) string {
	t.Helper()
	cfg, err := tlsconf.ClientConfig(c.clientFiles())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("handshake with %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// A bad tls setting stops kvserver before it opens anything: one line,
// exit code 2.
func TestTLSConfigRefusesToStart(t *testing.T) {
	ct := newClusterTLS(t, false)
	other := ct.ca.Server("other")
	junk := filepath.Join(t.TempDir(), "junk.pem")
	os.WriteFile(junk, []byte("junk"), 0o600)
	tests := []struct {
		name, tls, want string
	}{
		{"missing key", `{"cert_file": "` + ct.certFile + `"}`, "tls.cert_file is set but key_file is not"},
		{"unreadable key", `{"cert_file": "` + ct.certFile + `", "key_file": "/nonexistent/key.pem"}`, "cannot read /nonexistent/key.pem"},
		{"mismatched pair", `{"cert_file": "` + ct.certFile + `", "key_file": "` + other.KeyFile + `"}`, "private key does not match public key"},
		{"bad CA file", `{"cert_file": "` + ct.certFile + `", "key_file": "` + ct.keyFile + `", "client_ca_file": "` + junk + `"}`, "holds no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfigJSON(t, dir, 3, `"tls": `+tt.tls)
			var stdout, stderr bytes.Buffer
			if code := run([]string{"--config", cfg, "--node-id", "0"}, &stdout, &stderr); code != exitConfig {
				t.Fatalf("exit %d, want %d; stderr %s", code, exitConfig, stderr.String())
			}
			out := strings.TrimSpace(stderr.String())
			if strings.Contains(out, "\n") || !strings.Contains(out, tt.want) {
				t.Fatalf("stderr %q: want one line with %q", out, tt.want)
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
				t.Fatalf("a refused start wrote the data dir (%v)", err)
			}
		})
	}
}

// A join that could only fail on the scheme is refused up front, before
// anything listens or is written.
func TestTLSJoinRefused(t *testing.T) {
	ct := newClusterTLS(t, false)
	own := `"tls": {"cert_file": "` + ct.certFile + `", "key_file": "` + ct.keyFile + `"}`
	shared := `{"nodes": [{"id": 0, "raft_addr": "tcp://127.0.0.1:1", "http_addr": "127.0.0.1:2"}], ` + ct.field() + `}`
	perNode := `{"nodes": [{"id": 0, "raft_addr": "tcp://127.0.0.1:1", "http_addr": "127.0.0.1:2", ` + own + `}]}`
	tests := []struct {
		name, config, url, want string
	}{
		{"plain http URL", shared, "http://127.0.0.1:2", "the cluster serves HTTPS (config.json's tls); write https:// or host:port"},
		{"no certificate for the new node", perNode, "https://127.0.0.1:2", "config.json's nodes serve HTTPS but node 5 would not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "config.json")
			if err := os.WriteFile(cfg, []byte(tt.config), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			args := []string{"--config", cfg, "--data-dir", filepath.Join(dir, "data"), "--join", tt.url,
				"--node-id", "5", "--raft-addr", "tcp://127.0.0.1:3", "--http-addr", "127.0.0.1:4"}
			if code := run(args, &stdout, &stderr); code != exitConfig || !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), exitConfig, tt.want)
			}
		})
	}
}

// TestTLSCluster runs three in-process nodes under mutual TLS. Their own
// calls to each other and to themselves (recording incarnations, which
// newE2EClusterFrom waits for; the cluster status) go over HTTPS with
// their certificate; clients without the right certificate are refused
// clearly, a plain HTTP request gets a 400 at once, and a reload serves
// a new certificate to new connections.
func TestTLSCluster(t *testing.T) {
	ct := newClusterTLS(t, true)
	c := newE2EClusterFrom(t, testConfigJSON(t, t.TempDir(), 3, ct.field()))
	lead := c.leader()
	follower := (lead + 1) % 3
	fAddr := c.httpAddr(follower)

	cl := ct.client(t, fAddr)
	if _, err := cl.Put(ctx5s(t), "k", []byte("over tls")); err != nil {
		t.Fatalf("put through a follower: %v", err)
	}
	for id := range uint64(3) {
		got, err := ct.client(t, c.httpAddr(id)).Get(ctx5s(t), "k", "")
		if err != nil || string(got) != "over tls" {
			t.Fatalf("get on node %d = %q, %v", id, got, err)
		}
	}
	for _, ns := range cl.StatusCluster(ctx5s(t)) {
		if ns.Err != nil {
			t.Fatalf("status of %s: %v", ns.Endpoint, ns.Err)
		}
	}
	var all struct {
		Nodes []struct {
			ID    uint64 `json:"id"`
			Up    bool   `json:"up"`
			Error string `json:"error"`
		} `json:"nodes"`
	}
	body := ct.get(t, "https://"+fAddr+"/v1/status?all=1")
	if err := json.Unmarshal(body, &all); err != nil || len(all.Nodes) != 3 {
		t.Fatalf("status?all=1 from node %d: %s, %v", follower, body, err)
	}
	for _, n := range all.Nodes {
		if !n.Up {
			t.Fatalf("node %d sees node %d down over TLS: %s", follower, n.ID, n.Error)
		}
	}

	// The dashboard is the same server: its page, and the status its
	// event stream carries, which the node gathers from the others.
	if page := ct.get(t, "https://"+fAddr+"/ui/"); !bytes.Contains(page, []byte("<html")) {
		t.Fatalf("/ui/ over https: %.200s", page)
	}
	ct.checkDashboardStream(t, "https://"+fAddr+"/v1/events")

	// Only the CA, no client certificate: refused, and said so.
	noCert, err := tlsconf.ClientConfig(tlsconf.Files{CAFile: ct.ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	bare, _ := client.New([]string{fAddr}, 5*time.Second, client.WithTLS(noCert))
	defer bare.Close()
	if _, err := bare.Get(ctx5s(t), "k", ""); err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("get without a client certificate = %v", err)
	}

	start := time.Now()
	code, msg := httpDo(t, http.MethodGet, "http://"+fAddr+"/v1/status", "", nil)
	if code != http.StatusBadRequest || !strings.Contains(msg, "HTTP request to an HTTPS server") || time.Since(start) > 2*time.Second {
		t.Fatalf("plain HTTP to the TLS port: %d %q after %v", code, msg, time.Since(start))
	}

	// A node joins through a follower over HTTPS (host:port means https
	// for a node that serves TLS) and catches up.
	self := newNodeAddrs(t, 3)
	n3, err := startNode(c.cfg, 3, slog.New(slog.DiscardHandler),
		withJoin(&joinSpec{urls: []string{fAddr}, raftAddr: self.RaftAddr, httpAddr: self.HTTPAddr}))
	if err != nil {
		t.Fatalf("join over TLS: %v", err)
	}
	c.nodes[3], c.extra = n3, map[uint64]config.Node{3: self}
	joined := ct.client(t, self.HTTPAddr)
	waitUntil(t, "the joined node serves the data over HTTPS", func() bool {
		v, err := joined.Get(ctx5s(t), "k", "stale")
		return err == nil && string(v) == "over tls"
	})

	ct.install(t, ct.ca.Server("rotated"))
	c.nodes[follower].tls.reload(slog.New(slog.DiscardHandler))
	if got := ct.servedName(t, fAddr); got != "rotated" {
		t.Fatalf("node %d serves %q after the reload", follower, got)
	}
	if got := ct.servedName(t, c.httpAddr(lead)); got != "first" {
		t.Fatalf("the leader, not reloaded, serves %q", got)
	}
	if _, err := cl.Put(ctx5s(t), "k2", []byte("v")); err != nil {
		t.Fatalf("put after the reload: %v", err)
	}
}

// get fetches url as the user and returns the body of a 200.
func (c *clusterTLS) get(t *testing.T, url string) []byte {
	t.Helper()
	resp := c.open(t, url)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return body
}

// open starts a GET of url as the user; the response is a 200.
func (c *clusterTLS) open(t *testing.T, url string) *http.Response {
	t.Helper()
	cfg, err := tlsconf.ClientConfig(c.clientFiles())
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	req, err := http.NewRequestWithContext(ctx5s(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return resp
}

// checkDashboardStream reads the dashboard's event stream until a status
// event shows every node up.
func (c *clusterTLS) checkDashboardStream(t *testing.T, url string) {
	t.Helper()
	resp := c.open(t, url)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "event:"); ok {
			event = strings.TrimSpace(name)
			continue
		}
		data, ok := strings.CutPrefix(line, "data:")
		if !ok || event != "status" {
			continue
		}
		var st struct {
			Nodes []struct {
				Up bool `json:"up"`
			} `json:"nodes"`
		}
		if err := json.Unmarshal([]byte(data), &st); err != nil {
			t.Fatalf("status event %q: %v", data, err)
		}
		up := 0
		for _, n := range st.Nodes {
			if n.Up {
				up++
			}
		}
		if up == 3 {
			return
		}
	}
	t.Fatalf("the event stream ended without a status of three nodes up: %v", sc.Err())
}
