package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeKV speaks just enough of the raftkv API to exercise the client.
type fakeKV struct {
	mu    sync.Mutex // guards data, index, last
	data  map[string][]byte
	index uint64
	last  *http.Request // the last request, for asserting on the wire format
	hits  atomic.Int64
}

func newFakeKV() *fakeKV { return &fakeKV{data: map[string][]byte{}} }

func (f *fakeKV) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = r.Clone(context.Background())
	jsonOut := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	switch p := r.URL.Path; {
	case p == "/v1/status":
		jsonOut(200, map[string]any{"id": 2, "state": "leader", "term": 9, "leader": 2, "leader_http": "x:1",
			"commit_index": f.index, "applied_index": f.index, "last_log_index": f.index,
			"peers": []map[string]any{{"id": 1, "match_index": 4}}})
	case p == "/v1/kv" && r.Method == http.MethodGet:
		var keys []string
		for k := range f.data {
			if strings.HasPrefix(k, r.URL.Query().Get("prefix")) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		items := []map[string]string{}
		for _, k := range keys {
			it := map[string]string{"key": k}
			if v := f.data[k]; strings.HasPrefix(string(v), "\xff") {
				it["value_base64"] = base64.StdEncoding.EncodeToString(v)
			} else {
				it["value"] = string(v)
			}
			items = append(items, it)
		}
		jsonOut(200, map[string]any{"items": items})
	case strings.HasPrefix(p, "/v1/kv/"):
		key := strings.TrimPrefix(p, "/v1/kv/")
		switch r.Method {
		case http.MethodGet:
			v, ok := f.data[key]
			if !ok {
				jsonOut(404, map[string]string{"error": "key not found"})
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(v)
		case http.MethodPut:
			v, _ := io.ReadAll(r.Body)
			f.data[key] = v
			f.index++
			jsonOut(200, map[string]uint64{"index": f.index})
		case http.MethodDelete:
			delete(f.data, key)
			f.index++
			jsonOut(200, map[string]uint64{"index": f.index})
		}
	default:
		jsonOut(404, map[string]string{"error": "no such route"})
	}
}

func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, timeout time.Duration, endpoints ...string) *Client {
	t.Helper()
	c, err := New(endpoints, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// statusHandler answers every request with code and a JSON error.
func statusHandler(code int, hits *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(code)
		io.WriteString(w, `{"error":"fake `+http.StatusText(code)+`"}`)
	})
}

func TestNewEndpoints(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"127.0.0.1:8000", "http://127.0.0.1:8000", false},
		{"http://127.0.0.1:8000", "http://127.0.0.1:8000", false},
		{"http://127.0.0.1:8000/", "http://127.0.0.1:8000", false},
		{" localhost:1 ", "http://localhost:1", false},
		{"https://h:443", "https://h:443", false},
		{"", "", true},
		{"ftp://h:1", "", true},
		{"http://h:1/v1", "", true},
		{"http://h:1?x=1", "", true},
		{"http://", "", true},
		{"h:1:2:%zz", "", true},
	}
	for _, tt := range tests {
		c, err := New([]string{tt.in}, time.Second)
		if tt.wantErr {
			if err == nil {
				t.Errorf("New(%q) accepted; endpoints %v", tt.in, c.Endpoints())
			}
			continue
		}
		if err != nil {
			t.Errorf("New(%q): %v", tt.in, err)
			continue
		}
		if got := c.Endpoints(); len(got) != 1 || got[0] != tt.want {
			t.Errorf("New(%q) endpoints %v, want %s", tt.in, got, tt.want)
		}
	}
	if _, err := New(nil, time.Second); err == nil {
		t.Error("New with no endpoints accepted")
	}
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
		fake.mu.Lock()
		_, stored := fake.data[key]
		fake.mu.Unlock()
		if !stored {
			t.Fatalf("Put(%q) reached the server as path %q", key, fake.last.URL.EscapedPath())
		}
		got, err := c.Get(ctx, key, "")
		if err != nil || string(got) != "v-"+key {
			t.Fatalf("Get(%q) = %q, %v", key, got, err)
		}
	}

	if _, err := c.Get(ctx, "plain", "stale"); err != nil {
		t.Fatal(err)
	}
	if q := fake.last.URL.RawQuery; q != "consistency=stale" {
		t.Errorf("stale Get sent query %q", q)
	}
	if _, err := c.Get(ctx, "missing", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(missing) error %v, want ErrNotFound", err)
	}

	idx, err := c.Delete(ctx, "plain")
	if err != nil || idx != uint64(len(keys)+1) {
		t.Fatalf("Delete = %d, %v", idx, err)
	}
	if _, err := c.Get(ctx, "plain", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}

	if _, err := c.Put(ctx, "bin", []byte("\xff\x00")); err != nil {
		t.Fatal(err)
	}
	items, err := c.List(ctx, "", 50, "linearizable")
	if err != nil {
		t.Fatal(err)
	}
	if q := fake.last.URL.Query(); q.Get("limit") != "50" || q.Get("consistency") != "linearizable" || q.Has("prefix") {
		t.Errorf("List sent query %q", fake.last.URL.RawQuery)
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
	var unavailableHits atomic.Int64
	unavailable := newServer(t, statusHandler(http.StatusServiceUnavailable, &unavailableHits))
	good := newFakeKV()
	goodSrv := newServer(t, good)

	// Closed first, 503 second, good third.
	c := newClient(t, 5*time.Second, deadAddr(t), unavailable.URL, goodSrv.URL)
	ctx := context.Background()
	if _, err := c.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("Put with failover: %v", err)
	}
	if unavailableHits.Load() != 1 || good.hits.Load() != 1 {
		t.Fatalf("hits: 503 server %d, good %d", unavailableHits.Load(), good.hits.Load())
	}
	// The next calls start from the endpoint that answered.
	for range 5 {
		if v, err := c.Get(ctx, "k", ""); err != nil || string(v) != "v" {
			t.Fatalf("Get = %q, %v", v, err)
		}
	}
	if unavailableHits.Load() != 1 || good.hits.Load() != 6 {
		t.Errorf("after settling, hits: 503 server %d, good %d", unavailableHits.Load(), good.hits.Load())
	}
	// A good endpoint going away moves the client round to the others.
	goodSrv.Close()
	_, err := c.Get(ctx, "k", "")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("all endpoints down: %v, want ErrUnavailable", err)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) && !strings.Contains(err.Error(), "refused") {
		t.Errorf("error %v carries no cause", err)
	}
	if unavailableHits.Load() != 2 {
		t.Errorf("503 server hit %d times, want 2", unavailableHits.Load())
	}
}

func TestAllUnavailable(t *testing.T) {
	var hits atomic.Int64
	a := newServer(t, statusHandler(http.StatusServiceUnavailable, &hits))
	b := newServer(t, statusHandler(http.StatusServiceUnavailable, &hits))
	c := newClient(t, 5*time.Second, a.URL, b.URL)
	_, err := c.Put(context.Background(), "k", []byte("v"))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("error %v, want ErrUnavailable", err)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 503 || apiErr.Message != "fake Service Unavailable" {
		t.Errorf("cause %#v", apiErr)
	}
	if hits.Load() != 2 {
		t.Errorf("%d attempts, want one per endpoint", hits.Load())
	}
}

func TestOtherErrorsReturnAtOnce(t *testing.T) {
	for _, code := range []int{400, 413, 500, 504} {
		var first, second atomic.Int64
		a := newServer(t, statusHandler(code, &first))
		b := newServer(t, statusHandler(200, &second))
		c := newClient(t, 5*time.Second, a.URL, b.URL)
		_, err := c.Put(context.Background(), "k", []byte("v"))
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.Status != code || errors.Is(err, ErrUnavailable) {
			t.Errorf("%d: error %v", code, err)
		}
		if second.Load() != 0 {
			t.Errorf("%d: retried on another endpoint", code)
		}
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer close(release)
	c := newClient(t, 50*time.Millisecond, slow.URL)
	start := time.Now()
	_, err := c.Get(context.Background(), "k", "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want a deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout of 50ms took %v", d)
	}
}

func TestBadAnswers(t *testing.T) {
	tests := []struct {
		name string
		body string
		call func(*Client) error
	}{
		{"put without index", `{"idx":1}`, func(c *Client) error { _, err := c.Put(context.Background(), "k", nil); return err }},
		{"list not json", `<html>`, func(c *Client) error { _, err := c.List(context.Background(), "", 0, ""); return err }},
		{"list bad base64", `{"items":[{"key":"k","value_base64":"!!"}]}`, func(c *Client) error {
			_, err := c.List(context.Background(), "", 0, "")
			return err
		}},
		{"list item without key", `{"items":[{"value":"v"}]}`, func(c *Client) error {
			_, err := c.List(context.Background(), "", 0, "")
			return err
		}},
		{"status not json", `nope`, func(c *Client) error { _, err := c.Status(context.Background(), c.endpoints[0]); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, tt.body) }))
			if err := tt.call(newClient(t, time.Second, srv.URL)); err == nil {
				t.Error("accepted a malformed answer")
			}
		})
	}
}

func TestAPIErrorMessage(t *testing.T) {
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "plain text failure", http.StatusTeapot)
	}))
	_, err := newClient(t, time.Second, srv.URL).Delete(context.Background(), "k")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusTeapot || apiErr.Message != "plain text failure" {
		t.Fatalf("error %#v", err)
	}
	if !strings.Contains(err.Error(), "418") {
		t.Errorf("Error() = %q", err.Error())
	}
}
