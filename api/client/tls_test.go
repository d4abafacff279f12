package client

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/internal/testcert"
	"github.com/raftkv/raftkv/internal/tlsconf"
)

// startTLS serves a fakeKV over HTTPS with a certificate from ca.
func startTLS(t *testing.T, ca *testcert.CA, clientCA string) *httptest.Server {
	t.Helper()
	pair := ca.Server("node")
	s, err := tlsconf.NewServer(tlsconf.Files{CertFile: pair.CertFile, KeyFile: pair.KeyFile, ClientCAFile: clientCA})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(newFakeKV())
	srv.TLS = s.Config()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestTLS(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	srv := startTLS(t, ca, ca.CertFile)
	hostPort := strings.TrimPrefix(srv.URL, "https://")
	user := ca.Client("user")
	tests := []struct {
		name  string
		files tlsconf.Files
		want  string // error substring; "" = works
	}{
		{"CA and client certificate", tlsconf.Files{CAFile: ca.CertFile, CertFile: user.CertFile, KeyFile: user.KeyFile}, ""},
		{"no CA", tlsconf.Files{CertFile: user.CertFile, KeyFile: user.KeyFile}, "certificate signed by unknown authority"},
		{"no client certificate", tlsconf.Files{CAFile: ca.CertFile}, "tls: certificate required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tlsconf.ClientConfig(tt.files)
			if err != nil {
				t.Fatal(err)
			}
			// A bare host:port means https for a client made WithTLS.
			c, err := New([]string{hostPort}, 5*time.Second, WithTLS(cfg))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.Endpoints()[0]; got != srv.URL {
				t.Fatalf("endpoint %q, want %q", got, srv.URL)
			}
			_, err = c.Put(context.Background(), "k", []byte("v"))
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Put = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestNormalizeScheme(t *testing.T) {
	cfg, err := tlsconf.ClientConfig(tlsconf.Files{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New([]string{"a:1", "http://b:2"}, time.Second, WithTLS(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// An explicit http:// stays: the server's 400 then says what is wrong.
	if got := c.Endpoints(); got[0] != "https://a:1" || got[1] != "http://b:2" {
		t.Fatalf("Endpoints = %v", got)
	}
	if got, _ := c.Normalize("c:3"); got != "https://c:3" {
		t.Fatalf("Normalize = %q", got)
	}
	if got, _ := Normalize("c:3"); got != "http://c:3" {
		t.Fatalf("package Normalize = %q", got)
	}
}
