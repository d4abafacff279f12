package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testcert"
)

func TestFilesCheck(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	srv := ca.Server("node")
	other := ca.Server("other")
	missing := filepath.Join(t.TempDir(), "missing.pem")
	notPEM := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files Files
		want  string // "" = no error
	}{
		{"pair", Files{CertFile: srv.CertFile, KeyFile: srv.KeyFile}, ""},
		{"pair and CAs", Files{CertFile: srv.CertFile, KeyFile: srv.KeyFile, CAFile: ca.CertFile, ClientCAFile: ca.CertFile}, ""},
		{"missing cert", Files{CertFile: missing, KeyFile: srv.KeyFile}, "cannot read " + missing + ": no such file or directory"},
		{"missing key", Files{CertFile: srv.CertFile, KeyFile: missing}, "cannot read " + missing},
		{"mismatched pair", Files{CertFile: srv.CertFile, KeyFile: other.KeyFile}, "are not a certificate and its key: tls: private key does not match public key"},
		{"key as cert", Files{CertFile: srv.KeyFile, KeyFile: srv.KeyFile}, "are not a certificate and its key"},
		{"bad CA", Files{CAFile: notPEM}, notPEM + " holds no PEM certificate"},
		{"missing client CA", Files{ClientCAFile: missing}, "cannot read " + missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.files.Check()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Check = %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Check = %v, want it to contain %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Fatalf("Check error spans lines: %q", err)
			}
		})
	}
}

// serve runs an HTTPS server with s's configuration on a free port until
// the test ends, and returns its address.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }),
		TLSConfig:         s.Config(),
		ReadHeaderTimeout: 5 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- hs.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		hs.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ServeTLS: %v", err)
		}
	})
	return ln.Addr().String()
}

func newServer(t *testing.T, f Files) *Server {
	t.Helper()
	s, err := NewServer(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// get fetches https://addr/ with cfg and returns the certificate the
// server presented.
func get(t *testing.T, addr string, cfg *tls.Config) (*x509.Certificate, error) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+addr+"/", nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || string(body) != "ok" {
		t.Fatalf("body %q, %v", body, err)
	}
	return resp.TLS.PeerCertificates[0], nil
}

func clientConfig(t *testing.T, f Files) *tls.Config {
	t.Helper()
	cfg, err := ClientConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestServeHTTPS(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	pair := ca.Server("node")
	addr := serve(t, newServer(t, Files{CertFile: pair.CertFile, KeyFile: pair.KeyFile}))

	cert, err := get(t, addr, clientConfig(t, Files{CAFile: ca.CertFile}))
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "node" {
		t.Fatalf("served %q", cert.Subject.CommonName)
	}
	// Without the CA the client must refuse the server, naming why.
	if _, err := get(t, addr, clientConfig(t, Files{})); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("get without the CA = %v, want a certificate error", err)
	}
	// Nothing older than TLS 1.2.
	old := clientConfig(t, Files{CAFile: ca.CertFile})
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if _, err := get(t, addr, old); err == nil {
		t.Fatal("a TLS 1.1 client was served")
	}
}

// A plain HTTP request to the TLS port gets net/http's clear 400 at once,
// not a connection that hangs waiting for a handshake.
func TestPlainHTTPToTLSPort(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	pair := ca.Server("node")
	addr := serve(t, newServer(t, Files{CertFile: pair.CertFile, KeyFile: pair.KeyFile}))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v1/status", nil)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("plain request: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTP request to an HTTPS server") {
		t.Fatalf("plain request got %d %q", resp.StatusCode, body)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the answer took %v", took)
	}
}

func TestMutualTLS(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	stranger := testcert.NewCA(t, "stranger")
	pair := ca.Server("node")
	addr := serve(t, newServer(t, Files{CertFile: pair.CertFile, KeyFile: pair.KeyFile, ClientCAFile: ca.CertFile}))
	good, foreign := ca.Client("good"), stranger.Client("foreign")

	tests := []struct {
		name string
		cert testcert.Pair
		ok   bool
	}{
		{"no client certificate", testcert.Pair{}, false},
		{"certificate from another CA", foreign, false},
		{"certificate from the client CA", good, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := clientConfig(t, Files{CAFile: ca.CertFile, CertFile: tt.cert.CertFile, KeyFile: tt.cert.KeyFile})
			_, err := get(t, addr, cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("get = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

// A node's own client configuration presents its server certificate, so
// nodes pass each other's mutual TLS.
func TestServerClientConfig(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	pair := ca.Server("node")
	s := newServer(t, Files{CertFile: pair.CertFile, KeyFile: pair.KeyFile, CAFile: ca.CertFile, ClientCAFile: ca.CertFile})
	addr := serve(t, s)
	cfg, err := s.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, addr, cfg); err != nil {
		t.Fatalf("node to node: %v", err)
	}
}

// Reload swaps the certificate for the next handshakes; a reload that
// fails keeps the one in use.
func TestReload(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	first, second := ca.Server("first"), ca.Server("second")
	dir := t.TempDir()
	files := Files{CertFile: filepath.Join(dir, "cert.pem"), KeyFile: filepath.Join(dir, "key.pem")}
	install := func(p testcert.Pair) {
		t.Helper()
		copyFile(t, p.CertFile, files.CertFile)
		copyFile(t, p.KeyFile, files.KeyFile)
	}
	install(first)
	s := newServer(t, files)
	addr := serve(t, s)
	client := clientConfig(t, Files{CAFile: ca.CertFile})
	served := func() string {
		t.Helper()
		cert, err := get(t, addr, client)
		if err != nil {
			t.Fatal(err)
		}
		return cert.Subject.CommonName
	}
	if got := served(); got != "first" {
		t.Fatalf("served %q before the reload", got)
	}

	install(second)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := served(); got != "second" {
		t.Fatalf("served %q after the reload", got)
	}

	// A half-written rotation (a new certificate with the old key) fails
	// and leaves "second" in place.
	copyFile(t, first.CertFile, files.CertFile)
	err := s.Reload()
	if err == nil || !strings.Contains(err.Error(), "still serving the previous certificate") {
		t.Fatalf("Reload of a mismatched pair = %v", err)
	}
	if got := served(); got != "second" {
		t.Fatalf("served %q after a failed reload", got)
	}
}

// Reload also replaces the client CA pool.
func TestReloadClientCA(t *testing.T) {
	oldCA, newCA := testcert.NewCA(t, "old"), testcert.NewCA(t, "new")
	pair := oldCA.Server("node")
	clientCA := filepath.Join(t.TempDir(), "clients.pem")
	copyFile(t, oldCA.CertFile, clientCA)
	s := newServer(t, Files{CertFile: pair.CertFile, KeyFile: pair.KeyFile, ClientCAFile: clientCA})
	addr := serve(t, s)
	withNew := newCA.Client("client")
	cfg := clientConfig(t, Files{CAFile: oldCA.CertFile, CertFile: withNew.CertFile, KeyFile: withNew.KeyFile})

	if _, err := get(t, addr, cfg); err == nil {
		t.Fatal("a client of the new CA was accepted before the reload")
	}
	copyFile(t, newCA.CertFile, clientCA)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, addr, cfg); err != nil {
		t.Fatalf("a client of the new CA after the reload: %v", err)
	}
}

func TestClientConfigHalfPair(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	c := ca.Client("c")
	if _, err := ClientConfig(Files{CertFile: c.CertFile}); err == nil {
		t.Fatal("a certificate without its key was accepted")
	}
	if _, err := NewServer(Files{CertFile: c.CertFile}); err == nil {
		t.Fatal("a server without a key was made")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
