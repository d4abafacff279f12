package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft/wire"
)

// storeNode is a leader that applies each proposal to a real kv.Store, so
// conditions, revisions and outcomes are the state machine's own.
type storeNode struct {
	*fakeNode
	st *kv.Store

	mu    sync.Mutex // serialises Propose, as the log would
	index uint64
}

func newStoreNode(t *testing.T) *storeNode {
	t.Helper()
	return newStoreNodeIn(t, t.TempDir())
}

func newStoreNodeIn(t *testing.T, dir string) *storeNode {
	t.Helper()
	st, err := kv.Open(kv.Options{Dir: dir, MemTableBytes: 4 << 20, BlockCacheBytes: 1 << 20,
		IndexCacheBytes: 1 << 20, Logger: quietLogger(), GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &storeNode{fakeNode: newLeader(newFakeStore()), st: st}
}

func (n *storeNode) Propose(ctx context.Context, data []byte) (uint64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.index++
	if err := n.st.Apply([]wire.Entry{{Index: n.index, Term: 1, Data: data}}); err != nil {
		return 0, err
	}
	return n.index, nil
}

func (n *storeNode) handler(t *testing.T) http.Handler {
	return newTestServer(t, Options{}, n, n.st).Handler()
}

type precondition struct {
	Error       *string `json:"error"`
	ModRevision *uint64 `json:"mod_revision"`
	Version     *uint64 `json:"version"`
}

func wantPrecondition(t *testing.T, rec *httptest.ResponseRecorder, mod, version uint64) {
	t.Helper()
	if rec.Code != http.StatusPreconditionFailed {
		t.Fatalf("status %d %s, want 412", rec.Code, rec.Body)
	}
	var p precondition
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Error == nil || p.ModRevision == nil || p.Version == nil {
		t.Fatalf("412 body %q is not {error, mod_revision, version} (%v)", rec.Body, err)
	}
	if *p.ModRevision != mod || *p.Version != version {
		t.Fatalf("412 says mod_revision %d version %d, want %d %d", *p.ModRevision, *p.Version, mod, version)
	}
}

func wantOK(t *testing.T, rec *httptest.ResponseRecorder, index uint64, etag string) {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d %s, want 200", rec.Code, rec.Body)
	}
	if got := decodeIndex(t, rec.Body.Bytes()); got != index {
		t.Fatalf("index %d, want %d", got, index)
	}
	if got := rec.Header().Get("ETag"); got != etag {
		t.Fatalf("ETag %q, want %q", got, etag)
	}
}

func put(value string, header ...string) request {
	r := request{method: http.MethodPut, target: "/v1/kv/k", body: strings.NewReader(value), header: map[string]string{}}
	for i := 0; i+1 < len(header); i += 2 {
		r.header[header[i]] = header[i+1]
	}
	return r
}

func TestConditionalWrites(t *testing.T) {
	n := newStoreNode(t)
	h := n.handler(t)
	wantOK(t, serve(t, h, put("a", "If-None-Match", "*")), 1, `"1"`)
	wantPrecondition(t, serve(t, h, put("b", "If-None-Match", "*")), 1, 1)
	wantOK(t, serve(t, h, put("c", "If-Match", `"1"`)), 3, `"3"`)
	// The same revision again: someone (we) moved the key on.
	wantPrecondition(t, serve(t, h, put("d", "If-Match", `"1"`)), 3, 2)
	wantOK(t, serve(t, h, put("e", "If-Match", "*")), 5, `"5"`)

	get := serve(t, h, request{method: http.MethodGet, target: "/v1/kv/k"})
	if get.Code != http.StatusOK || get.Body.String() != "e" || get.Header().Get("ETag") != `"5"` {
		t.Fatalf("GET: %d %q ETag %q; want e with ETag \"5\"", get.Code, get.Body, get.Header().Get("ETag"))
	}
	meta := serve(t, h, request{method: http.MethodGet, target: "/v1/kv/k?meta=1"})
	var item struct {
		Key            string `json:"key"`
		Value          string `json:"value"`
		CreateRevision uint64 `json:"create_revision"`
		ModRevision    uint64 `json:"mod_revision"`
		Version        uint64 `json:"version"`
	}
	if err := json.Unmarshal(meta.Body.Bytes(), &item); err != nil || meta.Code != http.StatusOK {
		t.Fatalf("GET ?meta=1: %d %s (%v)", meta.Code, meta.Body, err)
	}
	if item.Key != "k" || item.Value != "e" || item.CreateRevision != 1 || item.ModRevision != 5 || item.Version != 3 {
		t.Errorf("GET ?meta=1 = %+v; want k=e, create 1, mod 5, version 3", item)
	}

	del := func(header ...string) *httptest.ResponseRecorder {
		r := put("", header...)
		r.method, r.body = http.MethodDelete, nil
		return serve(t, h, r)
	}
	wantPrecondition(t, del("If-Match", `"1"`), 5, 3)
	wantOK(t, del("If-Match", `"5"`), 7, "")
	if rec := serve(t, h, request{method: http.MethodGet, target: "/v1/kv/k"}); rec.Code != http.StatusNotFound {
		t.Fatalf("GET after the conditional delete: %d", rec.Code)
	}
	wantPrecondition(t, del("If-Match", "*"), 0, 0)
	wantPrecondition(t, serve(t, h, put("f", "If-Match", `"5"`)), 0, 0)
	// A new life starts its own revisions.
	wantOK(t, serve(t, h, put("g", "If-None-Match", "*")), 10, `"10"`)

	list := serve(t, h, request{method: http.MethodGet, target: "/v1/kv?prefix=k"})
	var lb struct {
		Items []struct {
			Key            string `json:"key"`
			CreateRevision uint64 `json:"create_revision"`
			ModRevision    uint64 `json:"mod_revision"`
			Version        uint64 `json:"version"`
		} `json:"items"`
	}
	if err := json.Unmarshal(list.Body.Bytes(), &lb); err != nil || len(lb.Items) != 1 {
		t.Fatalf("list: %s (%v)", list.Body, err)
	}
	if it := lb.Items[0]; it.CreateRevision != 10 || it.ModRevision != 10 || it.Version != 1 {
		t.Errorf("list item %+v; want create 10, mod 10, version 1", it)
	}
}

func TestConditionalWriteBadHeaders(t *testing.T) {
	for _, hdr := range [][]string{
		{"If-Match", "5"},
		{"If-Match", `"0"`},
		{"If-Match", `"abc"`},
		{"If-Match", `W/"5"`},
		{"If-Match", `"5`},
		{"If-Match", `""`},
		{"If-Match", `"1", "2"`},
		{"If-None-Match", `"3"`},
		{"If-Match", `"1"`, "If-None-Match", "*"},
	} {
		for _, method := range []string{http.MethodPut, http.MethodDelete} {
			n := newStoreNode(t)
			r := put("v", hdr...)
			r.method = method
			rec := serve(t, n.handler(t), r)
			if rec.Code != http.StatusBadRequest {
				t.Errorf("%s with %q: %d %s, want 400", method, hdr, rec.Code, rec.Body)
				continue
			}
			if msg := errorMessage(t, rec); !strings.Contains(msg, "If-") {
				t.Errorf("%s with %q: error %q does not name the header", method, hdr, msg)
			}
			if n.st.AppliedIndex() != 0 {
				t.Errorf("%s with %q reached the log", method, hdr)
			}
		}
	}
}

// A retried conditional write answers the outcome of its first
// application: a success stays a success even though the condition no
// longer holds, and a failure stays a failure.
func TestConditionalWriteRetry(t *testing.T) {
	n := newStoreNode(t)
	h := n.handler(t)
	wantOK(t, serve(t, h, put("a")), 1, `"1"`)
	first := put("b", "If-Match", `"1"`, RequestIDHeader, "cli:1")
	wantOK(t, serve(t, h, first), 2, `"2"`)
	retry := put("b", "If-Match", `"1"`, RequestIDHeader, "cli:1")
	wantOK(t, serve(t, h, retry), 2, `"2"`)
	if v, _ := n.st.Get([]byte("k")); string(v) != "b" {
		t.Fatalf("k = %q", v)
	}
	failed := put("c", "If-Match", `"1"`, RequestIDHeader, "cli:2")
	wantPrecondition(t, serve(t, h, failed), 2, 2)
	// Someone else writes; the retry still fails (it is not applied now,
	// though its condition would hold at this revision).
	wantOK(t, serve(t, h, put("d", "If-Match", `"2"`)), 5, `"5"`)
	again := put("c", "If-Match", `"5"`, RequestIDHeader, "cli:2")
	wantPrecondition(t, serve(t, h, again), 5, 3)
	if v, _ := n.st.Get([]byte("k")); string(v) != "d" {
		t.Fatalf("k = %q after the retried failure; it was applied", v)
	}
}

// A follower forwards the condition to the leader and relays its answer:
// status, the 412 body and the ETag.
func TestFollowerForwardsConditions(t *testing.T) {
	n := newStoreNode(t)
	c := newCluster(t, n.handler(t), Options{})
	wantOK(t, serve(t, c.followerH, put("a", "If-None-Match", "*")), 1, `"1"`)
	wantPrecondition(t, serve(t, c.followerH, put("b", "If-None-Match", "*")), 1, 1)
	wantOK(t, serve(t, c.followerH, put("c", "If-Match", `"1"`)), 3, `"3"`)
}

// Of many writers racing from one revision exactly one wins.
func TestConcurrentCompareAndSwap(t *testing.T) {
	n := newStoreNode(t)
	h := n.handler(t)
	wantOK(t, serve(t, h, put("0")), 1, `"1"`)
	const writers = 32
	codes := make(chan int, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest(http.MethodPut, "/v1/kv/k", strings.NewReader(string(rune('a'+i))))
			req.Header.Set("If-Match", `"1"`)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			io.Copy(io.Discard, rec.Body)
			codes <- rec.Code
		}()
	}
	wg.Wait()
	close(codes)
	won := 0
	for code := range codes {
		switch code {
		case http.StatusOK:
			won++
		case http.StatusPreconditionFailed:
		default:
			t.Errorf("status %d", code)
		}
	}
	if won != 1 {
		t.Fatalf("%d writers won, want exactly 1", won)
	}
}

var _ Consensus = (*storeNode)(nil)

// TestClientConditions runs the real client's conditional writes and
// GetItem against the real handler and store over HTTP.
func TestClientConditions(t *testing.T) {
	n := newStoreNode(t)
	ts := httptest.NewServer(n.handler(t))
	t.Cleanup(ts.Close)
	c, err := client.New([]string{ts.URL}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx := context.Background()
	do := func(w *client.Write) (uint64, error) {
		defer w.Close()
		return w.Do(ctx)
	}
	if idx, err := do(c.NewPut("k", []byte("a")).IfAbsent()); err != nil || idx != 1 {
		t.Fatalf("create = %d, %v", idx, err)
	}
	_, err = do(c.NewPut("k", []byte("b")).IfAbsent())
	var ce *client.ConditionError
	if !errors.As(err, &ce) || ce.ModRevision != 1 || ce.Version != 1 || ce.Message == "" {
		t.Fatalf("second create: %v (%#v); want a ConditionError at revision 1", err, ce)
	}
	if idx, err := do(c.NewPut("k", []byte("c")).IfRevision(1)); err != nil || idx != 3 {
		t.Fatalf("CAS from 1 = %d, %v", idx, err)
	}
	it, err := c.GetItem(ctx, "k", "")
	if err != nil || string(it.Value) != "c" || it.CreateRevision != 1 || it.ModRevision != 3 || it.Version != 2 {
		t.Fatalf("GetItem = %+v, %v", it, err)
	}
	if _, err := do(c.NewDelete("k").IfRevision(1)); !errors.As(err, &ce) || ce.ModRevision != 3 {
		t.Fatalf("delete from a stale revision: %v", err)
	}
	if _, err := do(c.NewDelete("k").IfRevision(3)); err != nil {
		t.Fatalf("delete from the current revision: %v", err)
	}
	if _, err := c.GetItem(ctx, "k", ""); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("GetItem after delete: %v", err)
	}
	items, err := c.List(ctx, "", 0, "")
	if err != nil || len(items) != 0 {
		t.Fatalf("List = %v, %v", items, err)
	}
}
