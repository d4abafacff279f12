package main

import (
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/internal/testcert"
	"github.com/raftkv/raftkv/internal/tlsconf"
)

// newTLSFake starts a fake node over HTTPS with a certificate from ca
// (mutual TLS when clientCA is set) and returns its host:port.
func newTLSFake(t *testing.T, ca *testcert.CA, clientCA string) string {
	t.Helper()
	pair := ca.Server("node")
	s, err := tlsconf.NewServer(tlsconf.Files{CertFile: pair.CertFile, KeyFile: pair.KeyFile, ClientCAFile: clientCA})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(newFakeNode(0, 0))
	srv.TLS = s.Config()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are what some cases test
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "https://")
}

func TestTLSFlags(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	other := testcert.NewCA(t, "other")
	addr := newTLSFake(t, ca, "")
	mutual := newTLSFake(t, ca, ca.CertFile)
	user, stranger := ca.Client("user"), other.Client("stranger")
	tests := []struct {
		name string
		args []string
		code int
		want string // stdout on success, else a piece of the stderr line
	}{
		{"https endpoint with --cacert", []string{"--endpoints", "https://" + addr, "--cacert", ca.CertFile, "put", "k", "v"}, exitOK, "1\n"},
		{"host:port with --cacert means https", []string{"--endpoints", addr, "--cacert", ca.CertFile, "get", "k"}, exitOK, "v"},
		{"no --cacert", []string{"--endpoints", "https://" + addr, "get", "k"}, exitUsage,
			"x509: certificate signed by unknown authority (the nodes' certificates are signed by a CA this client does not trust: give it with --cacert)"},
		{"another CA", []string{"--endpoints", addr, "--cacert", other.CertFile, "get", "k"}, exitUsage, "give it with --cacert"},
		{"plain http to the TLS port", []string{"--endpoints", "http://" + addr, "get", "k"}, exitUsage,
			"Client sent an HTTP request to an HTTPS server. (the nodes serve HTTPS: use https:// endpoints"},
		{"unreadable --cacert", []string{"--endpoints", addr, "--cacert", "/nonexistent.pem", "get", "k"}, exitUsage, "cannot read /nonexistent.pem"},
		{"--cert without --key", []string{"--endpoints", addr, "--cacert", ca.CertFile, "--cert", user.CertFile, "get", "k"}, exitUsage, "--cert and --key go together"},
		{"mutual TLS with a client certificate", []string{"--endpoints", mutual, "--cacert", ca.CertFile, "--cert", user.CertFile, "--key", user.KeyFile, "put", "k", "v"}, exitOK, "1\n"},
		{"mutual TLS without one", []string{"--endpoints", mutual, "--cacert", ca.CertFile, "get", "k"}, exitUsage, "give it with --cert and --key"},
		{"mutual TLS with a stranger's", []string{"--endpoints", mutual, "--cacert", ca.CertFile, "--cert", stranger.CertFile, "--key", stranger.KeyFile, "get", "k"}, exitUsage,
			"signed by their client CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.args...)
			if tt.code == exitOK {
				r.check(t, exitOK, tt.want)
				return
			}
			r.check(t, tt.code, "")
			if !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("stderr %q, want it to contain %q", r.stderr, tt.want)
			}
		})
	}
}

// With config.json naming the nodes and a tls section, kvcli needs no
// flags: it verifies with ca_file and, under mutual TLS, presents the
// first node's certificate. Paths are relative to the file.
func TestTLSFromConfig(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	addr := newTLSFake(t, ca, ca.CertFile)
	node := ca.Server("node0")
	dir := t.TempDir()
	for name, from := range map[string]string{"ca.pem": ca.CertFile, "node0.pem": node.CertFile, "node0-key.pem": node.KeyFile} {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := `{"nodes": [{"id": 0, "raft_addr": "tcp://127.0.0.1:7000", "http_addr": "` + addr + `",
		"tls": {"cert_file": "node0.pem", "key_file": "node0-key.pem"}}],
		"tls": {"ca_file": "ca.pem", "client_ca_file": "ca.pem"}}`
	if err := os.WriteFile(filepath.Join(dir, configPath), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	runCLI(t, "put", "k", "from-config").check(t, exitOK, "1\n")
	runCLI(t, "get", "k").check(t, exitOK, "from-config")
	// Flags override the file's settings one by one: another identity,
	// verified with the file's CA.
	user := ca.Client("user")
	runCLI(t, "--cert", user.CertFile, "--key", user.KeyFile, "get", "k").check(t, exitOK, "from-config")
	other := testcert.NewCA(t, "other")
	r := runCLI(t, "--cacert", other.CertFile, "get", "k")
	r.check(t, exitUsage, "")
	if !strings.Contains(r.stderr, "unknown authority") {
		t.Fatalf("--cacert of another CA: %q", r.stderr)
	}
}
