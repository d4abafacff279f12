package api

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/internal/testcert"
	"github.com/raftkv/raftkv/internal/tlsconf"
	"github.com/raftkv/raftkv/raft/core"
)

// A follower with PeerTLS forwards writes to the leader, and asks it for
// its status, over HTTPS with mutual TLS.
func TestForwardOverTLS(t *testing.T) {
	ca := testcert.NewCA(t, "ca")
	leaderPair, followerPair := ca.Server("leader"), ca.Server("follower")
	leaderTLS, err := tlsconf.NewServer(tlsconf.Files{CertFile: leaderPair.CertFile, KeyFile: leaderPair.KeyFile, ClientCAFile: ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	followerTLS, err := tlsconf.NewServer(tlsconf.Files{CertFile: followerPair.CertFile, KeyFile: followerPair.KeyFile,
		CAFile: ca.CertFile, ClientCAFile: ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	peerTLS, err := followerTLS.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}

	store := newFakeStore()
	leader := newLeader(store).withMembers(map[uint64]string{0: "127.0.0.1:1", 1: "127.0.0.1:2"})
	ts := httptest.NewUnstartedServer(newTestServer(t, Options{NodeID: 0}, leader, store).Handler())
	ts.TLS = leaderTLS.Config()
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.StartTLS()
	t.Cleanup(ts.Close)

	follower := &fakeNode{id: 1, leader: 0, role: core.Follower, store: newFakeStore()}
	follower.withMembers(map[uint64]string{0: strings.TrimPrefix(ts.URL, "https://"), 1: "127.0.0.1:2"})
	h := newTestServer(t, Options{NodeID: 1, PeerTLS: peerTLS}, follower, follower.store).Handler()

	rec := serve(t, h, request{method: http.MethodPut, target: "/v1/kv/k", body: strings.NewReader("v")})
	if rec.Code != http.StatusOK {
		t.Fatalf("forwarded PUT over TLS: %d %s", rec.Code, rec.Body)
	}
	if v, ok := store.get("k"); !ok || string(v) != "v" {
		t.Fatalf("leader store has %q %v", v, ok)
	}

	rec = serve(t, h, request{method: http.MethodGet, target: "/v1/status?all=1"})
	var body struct {
		Nodes []struct {
			ID    uint64 `json:"id"`
			Up    bool   `json:"up"`
			Error string `json:"error"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("status?all=1: %v: %s", err, rec.Body)
	}
	for _, n := range body.Nodes {
		if n.ID == 0 && !n.Up {
			t.Fatalf("the leader is down over TLS: %s", n.Error)
		}
	}

	// Without a client certificate the leader refuses the follower, and
	// the client hears why.
	bare, err := tlsconf.ClientConfig(tlsconf.Files{CAFile: ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	h = newTestServer(t, Options{NodeID: 1, PeerTLS: bare}, follower, follower.store).Handler()
	rec = serve(t, h, request{method: http.MethodPut, target: "/v1/kv/k", body: strings.NewReader("v")})
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "certificate required") {
		t.Fatalf("forward without a client certificate: %d %s", rec.Code, rec.Body)
	}
}
