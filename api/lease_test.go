package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/raft/core"
)

func leaseServer(t *testing.T) (*storeNode, http.Handler) {
	n := newStoreNode(t)
	return n, newTestServer(t, Options{MinLeaseTTL: time.Second, LeaseTick: 10 * time.Millisecond}, n, n.st).Handler()
}

func grantLease(t *testing.T, h http.Handler, ttl int) uint64 {
	t.Helper()
	rec := serve(t, h, request{method: http.MethodPost, target: "/v1/leases", body: strings.NewReader(`{"ttl_s":` + itoa(ttl) + `}`)})
	var b struct {
		ID  uint64 `json:"id"`
		TTL int    `json:"ttl_s"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || rec.Code != http.StatusOK || b.ID == 0 || b.TTL != ttl {
		t.Fatalf("grant: %d %s", rec.Code, rec.Body)
	}
	return b.ID
}

// putLeased puts v on key with ?lease=id.
func putLeased(t *testing.T, h http.Handler, key string, id uint64) *httptest.ResponseRecorder {
	t.Helper()
	r := put("v")
	r.target = "/v1/kv/" + key + "?lease=" + itoa(int(id))
	return serve(t, h, r)
}

func itoa(n int) string { return strconv.Itoa(n) }

func present(t *testing.T, h http.Handler, key string) bool {
	t.Helper()
	rec := serve(t, h, request{method: http.MethodGet, target: "/v1/kv/" + key})
	return rec.Code == http.StatusOK
}

func TestLeaseLifecycle(t *testing.T) {
	n, h := leaseServer(t)
	id := grantLease(t, h, 1)
	rec := putLeased(t, h, "k", id)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"lease":`+itoa(int(id))) {
		t.Fatalf("put with the lease: %d %s", rec.Code, rec.Body)
	}
	meta := serve(t, h, request{method: http.MethodGet, target: "/v1/kv/k?meta=1"})
	if !strings.Contains(meta.Body.String(), `"lease":`+itoa(int(id))) || !strings.Contains(meta.Body.String(), `"ttl_remaining_ms":`) {
		t.Fatalf("meta does not name the lease and its time left: %s", meta.Body)
	}
	info := serve(t, h, request{method: http.MethodGet, target: "/v1/leases/" + itoa(int(id))})
	if info.Code != http.StatusOK || !strings.Contains(info.Body.String(), `"keys":[{"key":"k"}]`) || !strings.Contains(info.Body.String(), `"remaining_ms"`) {
		t.Fatalf("lease info: %d %s", info.Code, info.Body)
	}
	// Kept alive past its TTL, the key stays.
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		ka := serve(t, h, request{method: http.MethodPost, target: "/v1/leases/" + itoa(int(id)) + "/keepalive"})
		if ka.Code != http.StatusOK {
			t.Fatalf("keepalive: %d %s", ka.Code, ka.Body)
		}
		time.Sleep(200 * time.Millisecond) // the client's keepalive period, not synchronisation
	}
	if !present(t, h, "k") {
		t.Fatal("a key whose lease was kept alive expired")
	}
	// Left alone, it expires: the leader proposes the revoke.
	waitFor(t, "the lease to expire", func() bool { return !present(t, h, "k") })
	if rec := serve(t, h, request{method: http.MethodPost, target: "/v1/leases/" + itoa(int(id)) + "/keepalive"}); rec.Code != http.StatusNotFound {
		t.Fatalf("keepalive of an expired lease: %d", rec.Code)
	}
	if len(n.st.Leases()) != 0 {
		t.Fatalf("leases left: %v", n.st.Leases())
	}
}

func TestLeaseRevokeAndTTL(t *testing.T) {
	_, h := leaseServer(t)
	id := grantLease(t, h, 60)
	for _, k := range []string{"a", "b"} {
		if rec := putLeased(t, h, k, id); rec.Code != http.StatusOK {
			t.Fatal(rec.Body)
		}
	}
	rec := serve(t, h, request{method: http.MethodDelete, target: "/v1/leases/" + itoa(int(id))})
	if rec.Code != http.StatusOK || present(t, h, "a") || present(t, h, "b") {
		t.Fatalf("revoke: %d %s; keys still there?", rec.Code, rec.Body)
	}
	if rec := serve(t, h, request{method: http.MethodDelete, target: "/v1/leases/" + itoa(int(id))}); rec.Code != http.StatusNotFound {
		t.Fatalf("second revoke: %d", rec.Code)
	}
	// ?ttl= gives the key a lease of its own.
	r := put("v")
	r.target = "/v1/kv/t?ttl=1s"
	rec = serve(t, h, r)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"lease":`) {
		t.Fatalf("put ?ttl: %d %s", rec.Code, rec.Body)
	}
	waitFor(t, "the ttl key to expire", func() bool { return !present(t, h, "t") })
}

// A leader change restarts the countdown: a lease never expires early.
func TestLeaseCountdownRestartsOnNewLeader(t *testing.T) {
	n, h := leaseServer(t)
	id := grantLease(t, h, 1)
	putLeased(t, h, "k", id)
	n.fakeNode.mu.Lock()
	n.role = core.Follower
	n.fakeNode.mu.Unlock()
	time.Sleep(1500 * time.Millisecond) // a follower's lessor does nothing for longer than the TTL
	if !present(t, h, "k") {
		t.Fatal("a follower expired a lease")
	}
	n.fakeNode.mu.Lock()
	n.role = core.Leader
	n.fakeNode.mu.Unlock()
	start := time.Now()
	waitFor(t, "the lease to expire under the new leader", func() bool { return !present(t, h, "k") })
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Fatalf("expired %s after the leader took over; the countdown must restart (1s)", took)
	}
}

// A node that lost leadership and won it back between two ticks of its
// lessor restarts the countdown too: the lease may have been kept alive on
// the leader in between.
func TestLeaseCountdownRestartsOnNewTerm(t *testing.T) {
	n, h := leaseServer(t)
	id := grantLease(t, h, 1)
	putLeased(t, h, "k", id)
	time.Sleep(600 * time.Millisecond) // the countdown is past half
	n.fakeNode.mu.Lock()
	n.term = 4
	n.fakeNode.mu.Unlock()
	start := time.Now()
	waitFor(t, "the lease to expire in the new term", func() bool { return !present(t, h, "k") })
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Fatalf("expired %s after the new term began; the countdown must restart (1s)", took)
	}
}

// A keepalive that cannot confirm this node still leads (no read
// barrier) restarts nothing and says so: a deposed leader must not promise
// time that the real leader's countdown does not give.
func TestKeepAliveNeedsReadBarrier(t *testing.T) {
	n, h := leaseServer(t)
	id := grantLease(t, h, 1)
	time.Sleep(300 * time.Millisecond) // let the countdown run, so a restart would show
	n.fakeNode.mu.Lock()
	n.readErr = core.ErrNoLeader
	n.fakeNode.mu.Unlock()
	rec := serve(t, h, request{method: http.MethodPost, target: "/v1/leases/" + itoa(int(id)) + "/keepalive"})
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("keepalive without a read barrier: %d %s, want 503", rec.Code, rec.Body)
	}
	n.fakeNode.mu.Lock()
	n.readErr = nil
	n.fakeNode.mu.Unlock()
	info := serve(t, h, request{method: http.MethodGet, target: "/v1/leases/" + itoa(int(id))})
	var b struct {
		RemainingMS int64 `json:"remaining_ms"`
	}
	if err := json.Unmarshal(info.Body.Bytes(), &b); err != nil || info.Code != http.StatusOK {
		t.Fatalf("lease info: %d %s", info.Code, info.Body)
	}
	if b.RemainingMS > 850 {
		t.Fatalf("%d ms left of a 1s lease 300 ms after its grant: the refused keepalive restarted it", b.RemainingMS)
	}
}

func TestLeaseBadRequests(t *testing.T) {
	_, h := leaseServer(t)
	for _, tt := range []struct{ method, target, body, want string }{
		{http.MethodPost, "/v1/leases", `{"ttl_s":0}`, "ttl 0s"},
		{http.MethodPost, "/v1/leases", `{"ttl_s":-5}`, "ttl -5s"},
		{http.MethodPost, "/v1/leases", `{"ttl_s":99999999}`, "want 1s"},
		{http.MethodPost, "/v1/leases", `{"ttl":5}`, "ttl_s"},
		{http.MethodPost, "/v1/leases", `nope`, "ttl_s"},
		{http.MethodPost, "/v1/leases/x/keepalive", ``, "lease id"},
		{http.MethodGet, "/v1/leases/0", ``, "lease id"},
		{http.MethodPut, "/v1/kv/k?lease=abc", `v`, "lease \"abc\""},
		{http.MethodPut, "/v1/kv/k?ttl=5", `v`, "ttl \"5\""},
		{http.MethodPut, "/v1/kv/k?ttl=0s", `v`, "ttl \"0s\": want 1s"},
		{http.MethodPut, "/v1/kv/k?ttl=1500ms", `v`, "whole seconds"},
		{http.MethodPut, "/v1/kv/k?ttl=10s&lease=3", `v`, "together"},
	} {
		rec := serve(t, h, request{method: tt.method, target: tt.target, body: strings.NewReader(tt.body)})
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s %s %s: %d %s, want 400", tt.method, tt.target, tt.body, rec.Code, rec.Body)
			continue
		}
		if msg := errorMessage(t, rec); !strings.Contains(msg, tt.want) {
			t.Errorf("%s %s: %q does not mention %q", tt.method, tt.target, msg, tt.want)
		}
	}
	for _, tt := range []struct{ method, target, body string }{
		{http.MethodPut, "/v1/kv/k?lease=999", "v"},
		{http.MethodPost, "/v1/leases/999/keepalive", ""},
		{http.MethodGet, "/v1/leases/999", ""},
		{http.MethodDelete, "/v1/leases/999", ""},
	} {
		if rec := serve(t, h, request{method: tt.method, target: tt.target, body: strings.NewReader(tt.body)}); rec.Code != http.StatusNotFound {
			t.Errorf("%s %s: %d %s, want 404", tt.method, tt.target, rec.Code, rec.Body)
		}
	}
	if present(t, h, "k") {
		t.Error("a put with a missing lease wrote the key")
	}
	// Its retry answers the same, not 412.
	for range 2 {
		r := put("v", RequestIDHeader, "lease-client:1")
		r.target = "/v1/kv/k?lease=999"
		if rec := serve(t, h, r); rec.Code != http.StatusNotFound || !strings.Contains(errorMessage(t, rec), "lease 999 not found") {
			t.Fatalf("put with a missing lease under a request id: %d %s, want 404 both times", rec.Code, rec.Body)
		}
	}
}

// A follower forwards keepalives and lease reads to the leader.
func TestFollowerForwardsLeases(t *testing.T) {
	n := newStoreNode(t)
	leader := newTestServer(t, Options{MinLeaseTTL: time.Second, LeaseTick: 10 * time.Millisecond}, n, n.st).Handler()
	c := newCluster(t, leader, Options{})
	id := grantLease(t, c.followerH, 30)
	for _, target := range []string{"/v1/leases/" + itoa(int(id)) + "/keepalive"} {
		if rec := serve(t, c.followerH, request{method: http.MethodPost, target: target}); rec.Code != http.StatusOK {
			t.Fatalf("forwarded keepalive: %d %s", rec.Code, rec.Body)
		}
	}
	if rec := serve(t, c.followerH, request{method: http.MethodGet, target: "/v1/leases/" + itoa(int(id))}); rec.Code != http.StatusOK {
		t.Fatalf("forwarded lease read: %d %s", rec.Code, rec.Body)
	}
}

// The real client's lease calls against the real handler and store.
func TestClientLeases(t *testing.T) {
	n, h := leaseServer(t)
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	c, err := client.New([]string{ts.URL}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx := context.Background()
	id, err := c.GrantLease(ctx, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	w := c.NewPut("k", []byte("v")).WithLease(id)
	if _, err := w.Do(ctx); err != nil || w.Lease() != id {
		t.Fatalf("put with the lease: %v, lease %d", err, w.Lease())
	}
	w.Close()
	if err := c.KeepAlive(ctx, id); err != nil {
		t.Fatal(err)
	}
	info, err := c.Lease(ctx, id)
	if err != nil || info.TTL != 30*time.Second || len(info.Keys) != 1 || info.Keys[0] != "k" || info.Remaining <= 0 {
		t.Fatalf("Lease = %+v, %v", info, err)
	}
	tw := c.NewPut("t", []byte("v")).WithTTL(60 * time.Second)
	if _, err := tw.Do(ctx); err != nil || tw.Lease() == 0 || tw.Lease() == id {
		t.Fatalf("put with a ttl: %v, lease %d", err, tw.Lease())
	}
	tw.Close()
	if err := c.RevokeLease(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := c.KeepAlive(ctx, id); !errors.Is(err, client.ErrLeaseNotFound) {
		t.Fatalf("keepalive after revoke: %v", err)
	}
	if _, err := n.st.Get([]byte("k")); err == nil {
		t.Fatal("the revoke left the key")
	}
}
