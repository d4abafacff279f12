package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

func TestStatus(t *testing.T) {
	tests := []struct {
		name       string
		node       *fakeNode
		wantState  string
		wantLeader string // raw JSON
		wantHTTP   string // raw JSON
		wantPeers  string // raw JSON
	}{
		{
			name: "leader",
			node: &fakeNode{id: 0, leader: 0, role: core.Leader, index: 7,
				peers: []core.PeerStatus{{ID: 1, MatchIndex: 7, NextIndex: 8}, {ID: 2, MatchIndex: 5, NextIndex: 6}}},
			wantState: "leader", wantLeader: "0", wantHTTP: `"h0:8000"`,
			wantPeers: `[{"id":1,"match_index":7},{"id":2,"match_index":5}]`,
		},
		{
			name:      "follower",
			node:      &fakeNode{id: 0, leader: 2, role: core.Follower},
			wantState: "follower", wantLeader: "2", wantHTTP: `"h2:8002"`, wantPeers: `[]`,
		},
		{
			name:      "precandidate, no leader",
			node:      &fakeNode{id: 0, leader: wire.None, role: core.PreCandidate},
			wantState: "candidate", wantLeader: "null", wantHTTP: "null", wantPeers: `[]`,
		},
		{
			name:      "candidate",
			node:      &fakeNode{id: 0, leader: wire.None, role: core.Candidate},
			wantState: "candidate", wantLeader: "null", wantHTTP: "null", wantPeers: `[]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peers := map[uint64]string{0: "h0:8000", 1: "h1:8001", 2: "h2:8002"}
			h := newTestServer(t, Options{}, tt.node.withMembers(peers), newFakeStore()).Handler()
			rec := serve(t, h, request{method: http.MethodGet, target: "/v1/status"})
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d %s", rec.Code, rec.Body)
			}
			var got map[string]json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			idx := tt.node.index
			want := map[string]string{
				"id": "0", "state": `"` + tt.wantState + `"`, "term": "3", "leader": tt.wantLeader,
				"leader_http": tt.wantHTTP, "commit_index": jsonNum(idx), "applied_index": jsonNum(idx),
				"last_log_index": jsonNum(idx + 1), "peers": tt.wantPeers,
				"first_log_index": "1", "snapshot_index": jsonNum(idx / 2), "snapshot_term": "2", "log_bytes": "4096",
				"config_index": "0",
				"members": `[{"id":0,"raft_addr":"tcp://127.0.0.1:7000","http_addr":"h0:8000","role":"voter"},` +
					`{"id":1,"raft_addr":"tcp://127.0.0.1:7001","http_addr":"h1:8001","role":"voter"},` +
					`{"id":2,"raft_addr":"tcp://127.0.0.1:7002","http_addr":"h2:8002","role":"voter"}]`,
			}
			for k, w := range want {
				if string(got[k]) != w {
					t.Errorf("%s = %s, want %s", k, got[k], w)
				}
			}
			if len(got) != len(want) {
				t.Errorf("unexpected fields in %s", rec.Body)
			}
		})
	}
}

func jsonNum(n uint64) string { b, _ := json.Marshal(n); return string(b) }

func TestRoutes(t *testing.T) {
	tests := []struct {
		method, target string
		wantCode       int
		wantAllow      string
	}{
		{http.MethodGet, "/healthz", 200, ""},
		{http.MethodGet, "/nope", 404, ""},
		{http.MethodGet, "/v1", 404, ""},
		{http.MethodGet, "/v2/kv/a", 404, ""},
		{http.MethodGet, "/v1/status/", 404, ""},
		{http.MethodPost, "/v1/kv/a", 405, "GET, PUT, DELETE"},
		{http.MethodPatch, "/v1/kv/a", 405, "GET, PUT, DELETE"},
		{http.MethodPut, "/v1/kv", 405, "GET"},
		{http.MethodDelete, "/v1/kv", 405, "GET"},
		{http.MethodPost, "/v1/status", 405, "GET"},
		{http.MethodPut, "/healthz", 405, "GET"},
	}
	store := newFakeStore()
	h := newTestServer(t, Options{}, newLeader(store), store).Handler()
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			rec := serve(t, h, request{method: tt.method, target: tt.target})
			if rec.Code != tt.wantCode {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.wantCode, rec.Body)
			}
			if tt.wantCode == 200 {
				if rec.Body.String() != `{"status":"ok"}` {
					t.Errorf("healthz body %s", rec.Body)
				}
				return
			}
			errorMessage(t, rec)
			if got := rec.Header().Get("Allow"); tt.wantAllow != "" && !sameSet(got, tt.wantAllow) {
				t.Errorf("Allow %q, want %q", got, tt.wantAllow)
			}
		})
	}
}

func sameSet(a, b string) bool {
	as, bs := strings.Split(a, ", "), strings.Split(b, ", ")
	if len(as) != len(bs) {
		return false
	}
	m := map[string]bool{}
	for _, s := range as {
		m[s] = true
	}
	for _, s := range bs {
		if !m[s] {
			return false
		}
	}
	return true
}

func TestPanicIsA500AndLogged(t *testing.T) {
	var logs bytes.Buffer
	store := newFakeStore()
	store.set("k", []byte("v"))
	store.panicOnGet = true
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	h := newTestServer(t, Options{Logger: logger}, newLeader(store), store).Handler()

	rec := serve(t, h, request{method: http.MethodGet, target: "/v1/kv/k?consistency=stale"})
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	if msg := errorMessage(t, rec); msg != "internal error" {
		t.Errorf("message %q", msg)
	}
	if !strings.Contains(logs.String(), "deliberate panic") {
		t.Errorf("panic not logged: %s", logs.String())
	}
	// The server keeps serving.
	if rec := serve(t, h, request{method: http.MethodGet, target: "/healthz"}); rec.Code != 200 {
		t.Errorf("healthz after panic: %d", rec.Code)
	}
}

func TestRequestLoggingAtDebug(t *testing.T) {
	var logs bytes.Buffer
	store := newFakeStore()
	debug := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := newTestServer(t, Options{Logger: debug}, newLeader(store), store).Handler()
	serve(t, h, request{method: http.MethodGet, target: "/v1/kv/missing", header: map[string]string{ForwardedHeader: "4"}})
	line := logs.String()
	for _, want := range []string{"level=DEBUG", "http request", "method=GET", "path=/v1/kv/missing", "status=404", "forwarded_by=4"} {
		if !strings.Contains(line, want) {
			t.Errorf("log %q lacks %q", line, want)
		}
	}

	logs.Reset()
	info := slog.New(slog.NewTextHandler(&logs, nil))
	h = newTestServer(t, Options{Logger: info}, newLeader(store), store).Handler()
	serve(t, h, request{method: http.MethodGet, target: "/healthz"})
	if logs.Len() != 0 {
		t.Errorf("request logged above DEBUG: %s", logs.String())
	}
}

// weirdTargets are request paths no client should send; none may crash the
// server or earn a 500.
var weirdTargets = []string{
	"/", "//", "/v1/", "/v1//kv/a", "/v1/kv/", "/v1/kv//", "/v1/kv/%", "/v1/kv/%2", "/v1/kv/%zz",
	"/v1/kv/%00", "/v1/kv/\x00", "/v1/kv/\xff\xfe", "/v1/kv/../../etc/passwd", "/v1/kv/%2e%2e",
	"/v1/kv/a?consistency=bogus", "/v1/kv?limit=-0", "/v1/kv?limit=0x10", "/v1/kv?prefix=%ff",
	"/v1/kv?prefix=" + strings.Repeat("p", 5000), "/v1/kv/" + strings.Repeat("%", 2000),
	"/v1/kv/" + strings.Repeat("k", 100000), "/healthz/", "/v1/status?x=%zz", "*", "v1/kv/a", "",
	"/v1/kv/a#frag", "/v1/kv/%E2%82", "/V1/KV/a",
}

func TestWeirdPathsNever500(t *testing.T) {
	store := newFakeStore()
	h := newTestServer(t, Options{}, newLeader(store), store).Handler()
	methods := []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodPost, http.MethodHead, http.MethodOptions}
	for _, target := range weirdTargets {
		for _, method := range methods {
			checkNot500(t, h, method, target, "body")
		}
	}
}

// checkNot500 sends method and a raw target straight to h, bypassing the
// parsing a real client would do, so paths net/http would reject still
// reach the router.
func checkNot500(t *testing.T, h http.Handler, method, target, body string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", strings.NewReader(body))
	req.Method = method
	u, err := url.Parse(target)
	if err != nil {
		u = &url.URL{Path: target}
	}
	req.URL = u
	req.RequestURI = target
	rec := httptest.NewRecorder()
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("%s %q panicked: %v", method, target, r)
			}
		}()
		h.ServeHTTP(rec, req)
	}()
	if rec.Code >= 500 {
		t.Fatalf("%s %q: status %d, body %s", method, target, rec.Code, rec.Body)
	}
	if rec.Code >= 400 && method != http.MethodHead {
		errorMessage(t, rec)
	}
}

func FuzzHandler(f *testing.F) {
	for _, target := range weirdTargets {
		f.Add(http.MethodGet, target, "")
		f.Add(http.MethodPut, target, "v")
	}
	f.Add(http.MethodDelete, "/v1/kv/a%2Fb", "")
	store := newFakeStore()
	srv := New(Options{Logger: quietLogger(), MaxValueBytes: 64}, newLeader(store), store)
	f.Cleanup(srv.Close)
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if method == "" || strings.ContainsAny(method, " \t\r\n") {
			method = http.MethodGet
		}
		checkNot500(t, h, method, target, body)
	})
}
