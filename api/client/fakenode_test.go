package client_test

// The tests that run the client against internal/fakenode. That package
// encodes its answers with this one's types, so these tests cannot be in
// package client itself.

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/internal/fakenode"
	"github.com/raftkv/raftkv/internal/testcert"
	"github.com/raftkv/raftkv/internal/tlsconf"
)

var (
	newServer = client.ServeForTest
	newClient = client.ClientForTest
)

// newFakeKV is a node that says it leads, as node 2 in term 9, with one
// follower.
func newFakeKV() *fakenode.Node {
	n := fakenode.New(2)
	n.SetTerm(9)
	n.EditStatus(func(st *client.Status) { st.Peers = []client.PeerStatus{{ID: 1, MatchIndex: 4}} })
	return n
}

// newUnavailable is a node that answers every request but its status 503.
func newUnavailable() *fakenode.Node {
	n := fakenode.New(1)
	n.Fail(http.StatusServiceUnavailable)
	return n
}

// hits counts the requests n received.
func hits(n *fakenode.Node) int { return len(n.Requests()) }

// last is the last request n received.
func last(n *fakenode.Node) fakenode.Request {
	rs := n.Requests()
	return rs[len(rs)-1]
}

func TestOperations(t *testing.T) {
	fake := newFakeKV()
	srv := newServer(t, fake)
	c := newClient(t, 5*time.Second, srv.URL)
	ctx := context.Background()

	keys := []string{"plain", "a/b", "with space", "plus+sign", "percent%2F", "?q#f", "é"}
	for i, key := range keys {
		idx, err := c.Put(ctx, key, []byte("v-"+key))
		if err != nil || idx != uint64(i+1) {
			t.Fatalf("Put(%q) = %d, %v; want %d", key, idx, err, i+1)
		}
		_, stored := fake.Get(key)
		if !stored {
			t.Fatalf("Put(%q) reached the server as path %q", key, last(fake).EscapedPath)
		}
		got, err := c.Get(ctx, key, "")
		if err != nil || string(got) != "v-"+key {
			t.Fatalf("Get(%q) = %q, %v", key, got, err)
		}
	}

	if _, err := c.Get(ctx, "plain", "stale"); err != nil {
		t.Fatal(err)
	}
	if q := last(fake).RawQuery; q != "consistency=stale" {
		t.Errorf("stale Get sent query %q", q)
	}
	if _, err := c.Get(ctx, "missing", ""); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Get(missing) error %v, want client.ErrNotFound", err)
	}

	idx, err := c.Delete(ctx, "plain")
	if err != nil || idx != uint64(len(keys)+1) {
		t.Fatalf("Delete = %d, %v", idx, err)
	}
	if _, err := c.Get(ctx, "plain", ""); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}

	if _, err := c.Put(ctx, "bin", []byte("\xff\x00")); err != nil {
		t.Fatal(err)
	}
	items, err := c.List(ctx, "", 50, "linearizable")
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := url.ParseQuery(last(fake).RawQuery); q.Get("limit") != "50" || q.Get("consistency") != "linearizable" || q.Has("prefix") {
		t.Errorf("List sent query %q", last(fake).RawQuery)
	}
	if len(items) != len(keys) {
		t.Fatalf("List returned %d items: %+v", len(items), items)
	}
	for _, it := range items {
		if it.Key == "bin" && string(it.Value) != "\xff\x00" {
			t.Errorf("base64 value decoded to %q", it.Value)
		}
	}
	items, err = c.List(ctx, "a/", 0, "")
	if err != nil || len(items) != 1 || items[0].Key != "a/b" || string(items[0].Value) != "v-a/b" {
		t.Fatalf("List(a/) = %+v, %v", items, err)
	}

	st, err := c.Status(ctx, strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != 2 || st.State != "leader" || st.Term != 9 || st.Leader == nil || *st.Leader != 2 ||
		len(st.Peers) != 1 || st.Peers[0].MatchIndex != 4 || st.LeaderHTTP == nil {
		t.Errorf("Status = %+v", st)
	}
}

func TestFailover(t *testing.T) {
	busy := newUnavailable()
	unavailable := newServer(t, busy)
	good := newFakeKV()
	goodSrv := newServer(t, good)

	// Closed first, 503 second, good third.
	c := newClient(t, 5*time.Second, fakenode.DeadAddr(t), unavailable.URL, goodSrv.URL)
	ctx := context.Background()
	if _, err := c.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("Put with failover: %v", err)
	}
	if hits(busy) != 1 || hits(good) != 1 {
		t.Fatalf("hits: 503 server %d, good %d", hits(busy), hits(good))
	}
	// The next calls start from the endpoint that answered.
	for range 5 {
		if v, err := c.Get(ctx, "k", ""); err != nil || string(v) != "v" {
			t.Fatalf("Get = %q, %v", v, err)
		}
	}
	if hits(busy) != 1 || hits(good) != 6 {
		t.Errorf("after settling, hits: 503 server %d, good %d", hits(busy), hits(good))
	}
	// A good endpoint going away moves the client round to the others.
	goodSrv.Close()
	_, err := c.Get(ctx, "k", "")
	if !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("all endpoints down: %v, want client.ErrUnavailable", err)
	}
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) && !strings.Contains(err.Error(), "refused") {
		t.Errorf("error %v carries no cause", err)
	}
	if hits(busy) != 2 {
		t.Errorf("503 server hit %d times, want 2", hits(busy))
	}
}

func TestStatusAllAndLeader(t *testing.T) {
	fake := newFakeKV() // says it is leader 2 in term 9
	srv := newServer(t, fake)
	dead := fakenode.DeadAddr(t)
	c := newClient(t, 2*time.Second, dead, srv.URL)

	nodes := c.StatusAll(context.Background())
	if len(nodes) != 2 {
		t.Fatalf("%d answers, want 2", len(nodes))
	}
	if nodes[0].Endpoint != "http://"+dead || nodes[0].Err == nil {
		t.Errorf("dead endpoint: %+v", nodes[0])
	}
	if nodes[1].Endpoint != srv.URL || nodes[1].Err != nil || nodes[1].Status.ID != 2 {
		t.Errorf("live endpoint: %+v", nodes[1])
	}

	li, err := c.Leader(context.Background())
	if err != nil || li != (client.LeaderInfo{ID: 2, Term: 9, Endpoint: srv.URL}) {
		t.Fatalf("Leader = %+v, %v", li, err)
	}

	_, err = newClient(t, time.Second, dead).Leader(context.Background())
	if !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("Leader with every endpoint down: %v, want client.ErrUnavailable", err)
	}
}

// TestAtHasNoFailover checks that PutAt and GetAt report the named
// endpoint's failure instead of moving on, and do not move Current.
func TestAtHasNoFailover(t *testing.T) {
	unavailable := newServer(t, newUnavailable())
	good := newFakeKV()
	goodSrv := newServer(t, good)
	c := newClient(t, 2*time.Second, goodSrv.URL, unavailable.URL)
	ctx := context.Background()

	if _, err := c.PutAt(ctx, unavailable.URL, "k", []byte("v")); err == nil {
		t.Fatal("PutAt a 503 endpoint succeeded")
	} else {
		var apiErr *client.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != 503 || errors.Is(err, client.ErrUnavailable) {
			t.Errorf("PutAt error %v, want the bare 503", err)
		}
	}
	if hits(good) != 0 {
		t.Error("PutAt went to another endpoint")
	}
	if _, err := c.GetAt(ctx, "http://"+fakenode.DeadAddr(t), "k", ""); err == nil || client.Retryable(err) == false {
		t.Errorf("GetAt a dead endpoint: %v, want a dial error", err)
	}

	idx, err := c.PutAt(ctx, goodSrv.URL, "k", []byte("v"))
	if err != nil || idx != 1 {
		t.Fatalf("PutAt = %d, %v", idx, err)
	}
	v, err := c.GetAt(ctx, goodSrv.URL, "k", "stale")
	if err != nil || string(v) != "v" {
		t.Fatalf("GetAt = %q, %v", v, err)
	}
	if q := last(good).RawQuery; q != "consistency=stale" {
		t.Errorf("GetAt sent query %q", q)
	}
	if _, err := c.GetAt(ctx, goodSrv.URL, "absent", ""); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("GetAt absent key: %v", err)
	}
	if _, err := c.PutAt(ctx, "ftp://x:1", "k", nil); err == nil {
		t.Error("PutAt accepted a bad endpoint")
	}
	if c.Current() != goodSrv.URL {
		t.Errorf("Current = %s after At calls, want %s", c.Current(), goodSrv.URL)
	}
}

func TestCurrentFollowsFailover(t *testing.T) {
	good := newServer(t, newFakeKV())
	dead := fakenode.DeadAddr(t)
	c := newClient(t, 2*time.Second, dead, good.URL)
	if c.Current() != "http://"+dead {
		t.Fatalf("Current before any call = %s", c.Current())
	}
	if _, err := c.Put(context.Background(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if c.Current() != good.URL {
		t.Fatalf("Current after failover = %s, want %s", c.Current(), good.URL)
	}
}

// startTLS serves a fake node over HTTPS with a certificate from ca.
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
			// A bare host:port means https for a client made client.WithTLS.
			c, err := client.New([]string{hostPort}, 5*time.Second, client.WithTLS(cfg))
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
