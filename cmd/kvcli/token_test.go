package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const (
	cliWriteToken = "cli-write-7d21"
	cliReadToken  = "cli-read-44aa"
)

// tokenGate stands in front of a fake node as a cluster with tokens does:
// 401 without a known token, 403 for the read token's writes. It records
// the Authorization header of every request.
type tokenGate struct {
	next http.Handler
	mu   sync.Mutex
	seen []string
}

func (g *tokenGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := r.Header.Get("Authorization")
	g.mu.Lock()
	g.seen = append(g.seen, h)
	g.mu.Unlock()
	deny := func(code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(map[string]string{"error": msg})
	}
	switch {
	case h == "Bearer "+cliWriteToken:
	case h == "Bearer "+cliReadToken && r.Method == http.MethodGet:
	case h == "Bearer "+cliReadToken:
		deny(http.StatusForbidden, `token "reader" has the read role; PUT /v1/kv/*key needs write`)
		return
	default:
		deny(http.StatusUnauthorized, "invalid token")
		return
	}
	g.next.ServeHTTP(w, r)
}

func (g *tokenGate) headers() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.seen...)
}

func gatedFake(t *testing.T) (*tokenGate, string) {
	t.Helper()
	g := &tokenGate{next: newFakeNode(0, 0)}
	s := httptest.NewServer(g)
	t.Cleanup(s.Close)
	return g, s.URL
}

func TestToken(t *testing.T) {
	_, url := gatedFake(t)
	cases := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"flag", nil, []string{"--token", cliWriteToken, "put", "k", "v"}, exitOK, ""},
		{"environment", map[string]string{tokenEnv: cliWriteToken}, []string{"put", "k", "v"}, exitOK, ""},
		{"the flag wins", map[string]string{tokenEnv: "stale"}, []string{"--token", cliWriteToken, "put", "k", "v"}, exitOK, ""},
		{"none", nil, []string{"put", "k", "v"}, exitDenied, "401 Unauthorized: invalid token (the token goes in --token or $RAFTKV_TOKEN)"},
		{"wrong", nil, []string{"--token", "nope-secret", "get", "k"}, exitDenied, "401 Unauthorized"},
		{"too few rights", map[string]string{tokenEnv: cliReadToken}, []string{"put", "k", "v"}, exitDenied, "403 Forbidden: token \"reader\" has the read role"},
		{"read token reads", map[string]string{tokenEnv: cliReadToken}, []string{"get", "k"}, exitOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runWith(t, opts{env: tc.env}, append([]string{"--endpoints", url}, tc.args...)...)
			if r.code != tc.wantCode || !strings.Contains(r.stderr, tc.wantErr) {
				t.Fatalf("exit %d stderr %q; want %d with %q", r.code, r.stderr, tc.wantCode, tc.wantErr)
			}
			for _, secret := range []string{cliWriteToken, cliReadToken, "nope-secret"} {
				if strings.Contains(r.stdout+r.stderr, secret) {
					t.Fatalf("output shows the token %q: %q %q", secret, r.stdout, r.stderr)
				}
			}
		})
	}
}

// The shell passes the token on to every command, and to `use`.
func TestTokenInShell(t *testing.T) {
	g, url := gatedFake(t)
	r := runWith(t, opts{env: map[string]string{tokenEnv: cliWriteToken}, stdin: "put k v\nuse " + url + "\nget k\n"}, "--endpoints", url)
	if r.code != exitOK || r.stdout != "1\nv\n" {
		t.Fatalf("shell: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	for _, h := range g.headers() {
		if h != "Bearer "+cliWriteToken {
			t.Fatalf("a request went with Authorization %q", h)
		}
	}
}

// kvcli bench sends the token on every request, the metrics scrapes too.
func TestBenchToken(t *testing.T) {
	g, url := gatedFake(t)
	r := runWith(t, opts{env: map[string]string{tokenEnv: cliWriteToken}}, "--endpoints", url, "bench", "write", "-n", "40", "-c", "2")
	r.check(t, exitOK, r.stdout)
	if !strings.Contains(r.stdout, "40 ok, 0 failed") {
		t.Fatalf("bench report:\n%s", r.stdout)
	}
	seen := g.headers()
	for _, h := range seen {
		if h != "Bearer "+cliWriteToken {
			t.Fatalf("a bench request went with Authorization %q", h)
		}
	}
	if len(seen) < 40 {
		t.Fatalf("%d requests reached the node, want at least 40", len(seen))
	}
}
