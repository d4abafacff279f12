package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// fakeMetrics records what the API reports.
type fakeMetrics struct {
	mu       sync.Mutex // guards requests and reads
	requests []observed
	reads    []string
}

type observed struct {
	method, route string
	code          int
}

func (m *fakeMetrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Write([]byte("# fake metrics\n"))
}

func (m *fakeMetrics) ObserveHTTP(method, route string, code int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests = append(m.requests, observed{method, route, code})
}

func (m *fakeMetrics) CountRead(consistency string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reads = append(m.reads, consistency)
}

func (m *fakeMetrics) last(t *testing.T) observed {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.requests) == 0 {
		t.Fatal("no request observed")
	}
	return m.requests[len(m.requests)-1]
}

// statusNode is a fakeNode whose Status is set by the test.
type statusNode struct {
	*fakeNode
	st core.Status
}

func (n statusNode) Status() core.Status { return n.st }

func TestReadyz(t *testing.T) {
	tests := []struct {
		name       string
		st         core.Status
		maxLag     uint64
		wantCode   int
		wantReason string
	}{
		{"leader, caught up", core.Status{Role: core.Leader, Leader: 0, CommitIndex: 50, AppliedIndex: 50}, 0, 200, ""},
		{"follower within the default lag", core.Status{Role: core.Follower, Leader: 2, CommitIndex: 1500, AppliedIndex: 500}, 0, 200, ""},
		{"follower past the default lag", core.Status{Role: core.Follower, Leader: 2, CommitIndex: 1501, AppliedIndex: 500}, 0, 503, "1001 entries behind the commit index 1501"},
		{"custom lag", core.Status{Role: core.Follower, Leader: 2, CommitIndex: 20, AppliedIndex: 10}, 5, 503, "applied index 10 is 10 entries behind"},
		{"custom lag, within", core.Status{Role: core.Follower, Leader: 2, CommitIndex: 15, AppliedIndex: 10}, 5, 200, ""},
		{"applied ahead of a stale commit index", core.Status{Role: core.Follower, Leader: 2, CommitIndex: 3, AppliedIndex: 10}, 0, 200, ""},
		{"election under way", core.Status{Role: core.Candidate, Term: 9, Leader: wire.None, CommitIndex: 10, AppliedIndex: 10}, 0, 503, "no leader known (term 9, candidate)"},
		{"follower without a leader", core.Status{Role: core.Follower, Leader: wire.None}, 0, 503, "no leader known"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := statusNode{fakeNode: newLeader(newFakeStore()), st: tt.st}
			h := newTestServer(t, Options{ReadyMaxLag: tt.maxLag}, node, newFakeStore()).Handler()
			rec := serve(t, h, request{method: http.MethodGet, target: "/readyz"})
			if rec.Code != tt.wantCode {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantCode, rec.Body)
			}
			var body struct {
				Status string  `json:"status"`
				Reason *string `json:"reason"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if tt.wantCode == 200 {
				if body.Status != "ready" || body.Reason != nil {
					t.Fatalf("body %s, want {\"status\":\"ready\"}", rec.Body)
				}
				return
			}
			if body.Status != "not ready" || body.Reason == nil || !strings.Contains(*body.Reason, tt.wantReason) {
				t.Fatalf("body %s, want a reason containing %q", rec.Body, tt.wantReason)
			}
			if rec.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
}

func TestMetricsRoute(t *testing.T) {
	store := newFakeStore()
	without := newTestServer(t, Options{}, newLeader(store), store).Handler()
	if rec := serve(t, without, request{method: http.MethodGet, target: "/metrics"}); rec.Code != http.StatusNotFound {
		t.Fatalf("GET /metrics without Metrics: %d, want 404", rec.Code)
	}
	m := &fakeMetrics{}
	with := newTestServer(t, Options{Metrics: m}, newLeader(store), store).Handler()
	rec := serve(t, with, request{method: http.MethodGet, target: "/metrics"})
	if rec.Code != http.StatusOK || rec.Body.String() != "# fake metrics\n" {
		t.Fatalf("GET /metrics: %d %q", rec.Code, rec.Body)
	}
	if got := m.last(t); got != (observed{"GET", "/metrics", 200}) {
		t.Fatalf("scrape observed as %+v", got)
	}
}

// Requests are counted by route pattern, never by raw path, with the
// status the client got, panics and unknown routes included.
func TestRequestsCountedByRoute(t *testing.T) {
	store := newFakeStore()
	store.set("k", []byte("v"))
	node := newLeader(store)
	m := &fakeMetrics{}
	srv := newTestServer(t, Options{Metrics: m}, node, store)
	h := srv.Handler()
	tests := []struct {
		req  request
		want observed
	}{
		{request{method: http.MethodPut, target: "/v1/kv/a/deep/key", body: strings.NewReader("x")}, observed{"PUT", "/v1/kv/*key", 200}},
		{request{method: http.MethodGet, target: "/v1/kv/k"}, observed{"GET", "/v1/kv/*key", 200}},
		{request{method: http.MethodGet, target: "/v1/kv/missing"}, observed{"GET", "/v1/kv/*key", 404}},
		{request{method: http.MethodGet, target: "/v1/kv?consistency=bogus"}, observed{"GET", "/v1/kv", 400}},
		{request{method: http.MethodGet, target: "/no/such/thing/123"}, observed{"GET", "", 404}},
		{request{method: http.MethodPost, target: "/v1/kv/k"}, observed{"POST", "", 405}},
		{request{method: http.MethodGet, target: "/readyz"}, observed{"GET", "/readyz", 200}},
		{request{method: http.MethodGet, target: "/healthz"}, observed{"GET", "/healthz", 200}},
	}
	for _, tt := range tests {
		serve(t, h, tt.req)
		if got := m.last(t); got != tt.want {
			t.Errorf("%s %s observed as %+v, want %+v", tt.req.method, tt.req.target, got, tt.want)
		}
	}
	store.mu.Lock()
	store.panicOnGet = true
	store.mu.Unlock()
	if rec := serve(t, h, request{method: http.MethodGet, target: "/v1/kv/k"}); rec.Code != http.StatusInternalServerError {
		t.Fatalf("panicking get: %d", rec.Code)
	}
	if got := m.last(t); got != (observed{"GET", "/v1/kv/*key", 500}) {
		t.Errorf("panic observed as %+v", got)
	}
}

func TestReadsCountedByConsistency(t *testing.T) {
	store := newFakeStore()
	store.set("k", []byte("v"))
	m := &fakeMetrics{}
	h := newTestServer(t, Options{Metrics: m}, newLeader(store), store).Handler()
	for _, target := range []string{
		"/v1/kv/k", "/v1/kv/k?consistency=linearizable", "/v1/kv/k?consistency=lease",
		"/v1/kv/k?consistency=stale", "/v1/kv?prefix=k&consistency=stale", "/v1/kv/k?consistency=bogus",
	} {
		serve(t, h, request{method: http.MethodGet, target: target})
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	want := []string{"linearizable", "linearizable", "lease", "stale", "stale"}
	if strings.Join(m.reads, ",") != strings.Join(want, ",") {
		t.Fatalf("reads counted %v, want %v", m.reads, want)
	}
}
