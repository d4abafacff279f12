package api

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// seen records what reached a leader's HTTP server.
type seen struct {
	mu   sync.Mutex // guards reqs
	reqs []seenRequest
}

type seenRequest struct {
	method, rawPath, forwardedBy, body string
}

func (s *seen) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		s.mu.Lock()
		s.reqs = append(s.reqs, seenRequest{r.Method, r.URL.EscapedPath(), r.Header.Get(ForwardedHeader), string(body)})
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (s *seen) all() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenRequest(nil), s.reqs...)
}

// cluster is a real leader (node 0, over HTTP) and an in-process follower
// (node 1) that knows where the leader is.
type cluster struct {
	leaderStore *fakeStore
	leaderNode  *fakeNode
	seen        *seen
	leaderURL   string
	follower    *fakeNode
	followerH   http.Handler
}

// newCluster: a leader (node 0) and a follower (node 1) whose membership
// gives node 0 the leader's address, unless followerPeers is given.
func newCluster(t *testing.T, leaderHandler http.Handler, followerOpts Options, followerPeers ...map[uint64]string) *cluster {
	t.Helper()
	c := &cluster{leaderStore: newFakeStore(), seen: &seen{}}
	c.leaderNode = newLeader(c.leaderStore)
	if leaderHandler == nil {
		// The leader knows its peers only for validating transfer targets.
		c.leaderNode.withMembers(map[uint64]string{0: "127.0.0.1:1", 1: "127.0.0.1:2"})
		leaderHandler = newTestServer(t, Options{NodeID: 0}, c.leaderNode, c.leaderStore).Handler()
	}
	ts := httptest.NewServer(c.seen.wrap(leaderHandler))
	t.Cleanup(ts.Close)
	c.leaderURL = ts.URL

	c.follower = &fakeNode{id: 1, leader: 0, role: core.Follower, store: newFakeStore()}
	followerOpts.NodeID = 1
	peers := map[uint64]string{0: strings.TrimPrefix(ts.URL, "http://"), 1: "127.0.0.1:2"}
	if len(followerPeers) > 0 {
		peers = followerPeers[0]
	}
	c.follower.withMembers(peers)
	c.followerH = newTestServer(t, followerOpts, c.follower, c.follower.store).Handler()
	return c
}

func TestFollowerForwardsWrites(t *testing.T) {
	c := newCluster(t, nil, Options{})

	rec := serve(t, c.followerH, request{method: http.MethodPut, target: "/v1/kv/a%2Fb", body: strings.NewReader("v1"),
		header: map[string]string{"Content-Type": "text/plain"}})
	if rec.Code != http.StatusOK {
		t.Fatalf("forwarded PUT: %d %s", rec.Code, rec.Body)
	}
	if got := decodeIndex(t, rec.Body.Bytes()); got != 1 {
		t.Errorf("index %d, want the leader's 1", got)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q not passed through", ct)
	}
	if v, ok := c.leaderStore.get("a/b"); !ok || string(v) != "v1" {
		t.Errorf("leader store has %q %v, want a/b = v1", v, ok)
	}

	rec = serve(t, c.followerH, request{method: http.MethodDelete, target: "/v1/kv/a%2Fb"})
	if rec.Code != http.StatusOK || decodeIndex(t, rec.Body.Bytes()) != 2 {
		t.Fatalf("forwarded DELETE: %d %s", rec.Code, rec.Body)
	}
	if _, ok := c.leaderStore.get("a/b"); ok {
		t.Errorf("forwarded DELETE did not delete")
	}

	want := []seenRequest{
		{http.MethodPut, "/v1/kv/a%2Fb", "1", "v1"},
		{http.MethodDelete, "/v1/kv/a%2Fb", "1", ""},
	}
	got := c.seen.all()
	if len(got) != len(want) {
		t.Fatalf("leader saw %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("leader request %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestForwardPassesAnswerThrough(t *testing.T) {
	leader := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/x-teapot")
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "short and stout")
	})
	c := newCluster(t, leader, Options{})
	rec := serve(t, c.followerH, request{method: http.MethodPut, target: "/v1/kv/k", body: strings.NewReader("v")})
	if rec.Code != http.StatusTeapot || rec.Body.String() != "short and stout" {
		t.Fatalf("got %d %q, want the leader's 418", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/x-teapot" {
		t.Errorf("Content-Type %q", ct)
	}
	if ra := rec.Header().Get("Retry-After"); ra != "7" {
		t.Errorf("Retry-After %q", ra)
	}
}

func TestForwardedRequestIsNotForwardedAgain(t *testing.T) {
	c := newCluster(t, nil, Options{})
	rec := serve(t, c.followerH, request{method: http.MethodPut, target: "/v1/kv/k", body: strings.NewReader("v"),
		header: map[string]string{ForwardedHeader: "2"}})
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("got %d (Retry-After %q), want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if msg := errorMessage(t, rec); !strings.Contains(msg, "forwarded by node 2") {
		t.Errorf("message %q", msg)
	}
	if n := len(c.seen.all()); n != 0 {
		t.Errorf("leader received %d requests; a forwarded request must not travel again", n)
	}
}

func TestForwardFailures(t *testing.T) {
	// An address where nothing listens: take a port and give it back.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()

	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	slowLeader := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-block:
		}
	})

	tests := []struct {
		name     string
		leader   uint64
		peers    map[uint64]string
		handler  http.Handler
		wantCode int
		wantMsg  string
	}{
		{name: "no leader known", leader: wire.None, wantCode: 503, wantMsg: "no leader"},
		{name: "leader unreachable", leader: 0, peers: map[uint64]string{0: dead}, wantCode: 503, wantMsg: "unreachable"},
		{name: "leader without address", leader: 2, wantCode: 503, wantMsg: "no known http address"},
		{name: "leader reported as self", leader: 1, wantCode: 503, wantMsg: "leadership is changing"},
		{name: "leader too slow", leader: 0, handler: slowLeader, wantCode: 504, wantMsg: "did not complete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var peers []map[uint64]string
			if tt.peers != nil {
				peers = append(peers, tt.peers)
			}
			c := newCluster(t, tt.handler, Options{RequestTimeout: 100 * time.Millisecond}, peers...)
			c.follower.leader = tt.leader
			// Set the error directly: a fake with leader == id would act as leader.
			c.follower.proposeErr = &core.NotLeaderError{Leader: tt.leader}
			for _, method := range []string{http.MethodPut, http.MethodDelete} {
				rec := serve(t, c.followerH, request{method: method, target: "/v1/kv/k", body: strings.NewReader("v")})
				if rec.Code != tt.wantCode {
					t.Fatalf("%s: status %d, want %d; body %s", method, rec.Code, tt.wantCode, rec.Body)
				}
				if ra := rec.Header().Get("Retry-After"); (tt.wantCode == 503) != (ra != "") {
					t.Errorf("%s: Retry-After %q with status %d", method, ra, rec.Code)
				}
				if msg := errorMessage(t, rec); !strings.Contains(msg, tt.wantMsg) {
					t.Errorf("%s: message %q does not mention %q", method, msg, tt.wantMsg)
				}
			}
		})
	}
}

// A pooled client reuses connections: many forwarded writes must not open a
// connection each.
func TestForwardReusesConnections(t *testing.T) {
	var (
		mu    sync.Mutex // guards conns
		conns = map[string]bool{}
	)
	c := &cluster{leaderStore: newFakeStore(), seen: &seen{}}
	c.leaderNode = newLeader(c.leaderStore)
	leaderH := newTestServer(t, Options{}, c.leaderNode, c.leaderStore).Handler()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns[r.RemoteAddr] = true
		mu.Unlock()
		leaderH.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	follower := (&fakeNode{id: 1, leader: 0, role: core.Follower}).withMembers(map[uint64]string{0: ts.Listener.Addr().String()})
	fh := newTestServer(t, Options{NodeID: 1}, follower, newFakeStore()).Handler()
	for i := range 50 {
		rec := serve(t, fh, request{method: http.MethodPut, target: "/v1/kv/k", body: strings.NewReader("v")})
		if rec.Code != http.StatusOK {
			t.Fatalf("write %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) != 1 {
		t.Errorf("50 sequential forwards used %d connections, want 1", len(conns))
	}
}
