package api

import (
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestCORS(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		target   string
		header   map[string]string
		wantCode int
	}{
		{"preflight for a put", http.MethodOptions, "/v1/kv/a",
			map[string]string{"Origin": "http://127.0.0.1:8001", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"}, 204},
		{"preflight for a delete", http.MethodOptions, "/v1/kv/a/b", map[string]string{"Access-Control-Request-Method": "DELETE"}, 204},
		{"preflight for the event stream", http.MethodOptions, eventsPath, nil, 204},
		{"preflight for a transfer", http.MethodOptions, "/v1/cluster/transfer-leader", nil, 204},
		{"preflight for an unknown path", http.MethodOptions, "/nowhere", nil, 204},
		{"a plain get", http.MethodGet, "/v1/status", map[string]string{"Origin": "http://elsewhere"}, 200},
		{"an error answer", http.MethodGet, "/v1/kv/missing?consistency=stale", nil, 404},
		{"a wrong method", http.MethodPatch, "/v1/kv/a", nil, 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newFakeStore()
			h := newTestServer(t, Options{}, newLeader(store), store).Handler()
			rec := serve(t, h, request{method: tt.method, target: tt.target, header: tt.header})
			if rec.Code != tt.wantCode {
				t.Fatalf("%s %s: %d, want %d (%s)", tt.method, tt.target, rec.Code, tt.wantCode, rec.Body)
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Access-Control-Allow-Origin %q, want *", got)
			}
			if tt.method != http.MethodOptions {
				return
			}
			if rec.Body.Len() != 0 {
				t.Errorf("preflight has a body: %q", rec.Body)
			}
			methods := rec.Header().Get("Access-Control-Allow-Methods")
			for _, m := range []string{"GET", "PUT", "DELETE", "POST", "OPTIONS"} {
				if !strings.Contains(methods, m) {
					t.Errorf("Access-Control-Allow-Methods %q lacks %s", methods, m)
				}
			}
			allowed := strings.ToLower(rec.Header().Get("Access-Control-Allow-Headers"))
			if !strings.Contains(allowed, "content-type") || !strings.Contains(allowed, strings.ToLower(RequestIDHeader)) {
				t.Errorf("Access-Control-Allow-Headers %q", allowed)
			}
		})
	}
	// Nothing was written by a preflight.
	store := newFakeStore()
	node := newLeader(store)
	h := newTestServer(t, Options{}, node, store).Handler()
	serve(t, h, request{method: http.MethodOptions, target: "/v1/kv/x"})
	if node.proposalCount() != 0 {
		t.Error("a preflight reached the write path")
	}
}

func TestDashboardFiles(t *testing.T) {
	tests := []struct {
		target       string
		wantCode     int
		wantType     string
		wantContains string
		wantLocation string
	}{
		{"/ui/", 200, "text/html", `<script src="app.js">`, ""},
		{"/ui/app.js", 200, "javascript", `openStream(base + "/v1/events"`, ""},
		{"/ui/style.css", 200, "text/css", ".node-card", ""},
		{"/ui/index.html", 301, "", "", "./"}, // http.FileServer's canonical form
		{"/", 302, "", "", "/ui/"},
		{"/ui", 302, "", "", "/ui/"},
		{"/ui/nothing.js", 404, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			store := newFakeStore()
			h := newTestServer(t, Options{}, newLeader(store), store).Handler()
			rec := serve(t, h, request{method: http.MethodGet, target: tt.target})
			if rec.Code != tt.wantCode {
				t.Fatalf("GET %s: %d, want %d", tt.target, rec.Code, tt.wantCode)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, tt.wantType) {
				t.Errorf("Content-Type %q, want %s", ct, tt.wantType)
			}
			if !strings.Contains(rec.Body.String(), tt.wantContains) {
				t.Errorf("body lacks %q", tt.wantContains)
			}
			if loc := rec.Header().Get("Location"); loc != tt.wantLocation {
				t.Errorf("Location %q, want %q", loc, tt.wantLocation)
			}
		})
	}
}

// The dashboard must work offline: every asset is one of its own files.
func TestDashboardIsSelfContained(t *testing.T) {
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?(https?:)?//|fetch\(\s*["']https?:`)
	err := fs.WalkDir(uiFiles, "ui", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(uiFiles, path)
		if err != nil {
			return err
		}
		if m := external.Find(b); m != nil {
			t.Errorf("%s loads something from elsewhere: %q", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
