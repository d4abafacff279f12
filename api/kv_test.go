package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

func TestRoundTripOnLeader(t *testing.T) {
	store := newFakeStore()
	node := newLeader(store)
	h := newTestServer(t, Options{}, node, store).Handler()

	rec := serve(t, h, request{method: http.MethodPut, target: "/v1/kv/color", body: strings.NewReader("blue")})
	if rec.Code != http.StatusOK {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	if got := decodeIndex(t, rec.Body.Bytes()); got != 1 {
		t.Errorf("PUT index = %d, want 1", got)
	}
	if want := kv.EncodeSet([]byte("color"), []byte("blue")); !bytes.Equal(node.proposals[0], want) {
		t.Errorf("proposed %q, want %q", node.proposals[0], want)
	}

	rec = serve(t, h, request{method: http.MethodGet, target: "/v1/kv/color"})
	if rec.Code != http.StatusOK || rec.Body.String() != "blue" {
		t.Fatalf("GET: %d %q", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("GET Content-Type = %q", ct)
	}

	rec = serve(t, h, request{method: http.MethodDelete, target: "/v1/kv/color"})
	if rec.Code != http.StatusOK || decodeIndex(t, rec.Body.Bytes()) != 2 {
		t.Fatalf("DELETE: %d %s", rec.Code, rec.Body)
	}
	if want := kv.EncodeDel([]byte("color")); !bytes.Equal(node.proposals[1], want) {
		t.Errorf("proposed %q, want %q", node.proposals[1], want)
	}
	rec = serve(t, h, request{method: http.MethodGet, target: "/v1/kv/color"})
	if rec.Code != http.StatusNotFound {
		t.Fatalf("GET after DELETE: %d %s", rec.Code, rec.Body)
	}
	if msg := errorMessage(t, rec); !strings.Contains(msg, "not found") {
		t.Errorf("404 message %q", msg)
	}

	// Deleting an absent key is not an error.
	rec = serve(t, h, request{method: http.MethodDelete, target: "/v1/kv/never-there"})
	if rec.Code != http.StatusOK || decodeIndex(t, rec.Body.Bytes()) != 3 {
		t.Fatalf("DELETE absent: %d %s", rec.Code, rec.Body)
	}
}

func TestEmptyAndMaximalValues(t *testing.T) {
	store := newFakeStore()
	h := newTestServer(t, Options{MaxValueBytes: 1000}, newLeader(store), store).Handler()

	for _, size := range []int{0, 1, 1000} {
		value := bytes.Repeat([]byte{0xff}, size)
		rec := serve(t, h, request{method: http.MethodPut, target: "/v1/kv/k", body: bytes.NewReader(value)})
		if rec.Code != http.StatusOK {
			t.Fatalf("PUT %d bytes: %d %s", size, rec.Code, rec.Body)
		}
		rec = serve(t, h, request{method: http.MethodGet, target: "/v1/kv/k"})
		if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), value) {
			t.Fatalf("GET after PUT of %d bytes: %d, %d bytes back", size, rec.Code, rec.Body.Len())
		}
	}
}

// onlyReader hides the length of a body, as a chunked upload does.
type onlyReader struct{ io.Reader }

func TestValueTooLarge(t *testing.T) {
	const limit = 1 << 20
	store := newFakeStore()
	node := newLeader(store)
	h := newTestServer(t, Options{}, node, store).Handler() // default limit: 1 MiB

	tests := []struct {
		name string
		body io.Reader
	}{
		{"content-length", bytes.NewReader(make([]byte, limit+1))},
		{"chunked", onlyReader{bytes.NewReader(make([]byte, limit+1))}},
		{"chunked far over", onlyReader{io.LimitReader(zeros{}, 64<<20)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, h, request{method: http.MethodPut, target: "/v1/kv/big", body: tt.body})
			if rec.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413; body %s", rec.Code, rec.Body)
			}
			errorMessage(t, rec)
		})
	}
	if n := node.proposalCount(); n != 0 {
		t.Errorf("%d proposals made for oversized values", n)
	}
	// Exactly the limit is fine, with and without a known length.
	for _, body := range []io.Reader{bytes.NewReader(make([]byte, limit)), onlyReader{bytes.NewReader(make([]byte, limit))}} {
		if rec := serve(t, h, request{method: http.MethodPut, target: "/v1/kv/big", body: body}); rec.Code != http.StatusOK {
			t.Fatalf("PUT of exactly the limit: %d %s", rec.Code, rec.Body)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestKeys(t *testing.T) {
	tests := []struct {
		name   string
		target string
		want   string // stored key; "" means 400
	}{
		{"plain", "/v1/kv/a", "a"},
		{"escaped slash", "/v1/kv/a%2Fb", "a/b"},
		{"unescaped slash", "/v1/kv/a/b", "a/b"},
		{"mixed slashes", "/v1/kv/a%2Fb/c", "a/b/c"},
		{"leading slash escaped", "/v1/kv/%2Fa", "/a"},
		{"double slash", "/v1/kv//a", "/a"},
		{"trailing slash", "/v1/kv/a/", "a/"},
		{"plus stays plus", "/v1/kv/a+b", "a+b"},
		{"plus next to escape", "/v1/kv/a+b%2Fc", "a+b/c"},
		{"space", "/v1/kv/a%20b", "a b"},
		{"escaped percent decoded once", "/v1/kv/100%252F", "100%2F"},
		{"unicode", "/v1/kv/%E2%82%AC", "€"},
		{"binary", "/v1/kv/%00%FF", "\x00\xff"},
		{"dot dot", "/v1/kv/..", ".."},
		{"query is not key", "/v1/kv/q?x=1", "q"},
		{"max length", "/v1/kv/" + strings.Repeat("k", MaxKeyBytes), strings.Repeat("k", MaxKeyBytes)},
		{"max length escaped", "/v1/kv/" + strings.Repeat("%2F", MaxKeyBytes), strings.Repeat("/", MaxKeyBytes)},
		{"empty", "/v1/kv/", ""},
		{"too long", "/v1/kv/" + strings.Repeat("k", MaxKeyBytes+1), ""},
		{"too long once decoded", "/v1/kv/" + strings.Repeat("%C3%A9", MaxKeyBytes/2+1), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newFakeStore()
			node := newLeader(store)
			h := newTestServer(t, Options{}, node, store).Handler()
			for _, method := range []string{http.MethodPut, http.MethodGet, http.MethodDelete} {
				rec := serve(t, h, request{method: method, target: tt.target, body: strings.NewReader("v")})
				if tt.want == "" {
					if rec.Code != http.StatusBadRequest {
						t.Fatalf("%s: status %d, want 400; body %s", method, rec.Code, rec.Body)
					}
					errorMessage(t, rec)
					continue
				}
				if rec.Code != http.StatusOK {
					t.Fatalf("%s: status %d; body %s", method, rec.Code, rec.Body)
				}
				if method == http.MethodPut {
					if _, ok := store.get(tt.want); !ok {
						t.Fatalf("PUT did not store key %q; have %v", tt.want, store.data)
					}
				}
			}
			if tt.want == "" && node.proposalCount() != 0 {
				t.Errorf("bad key reached Propose")
			}
		})
	}
}

func TestConsistency(t *testing.T) {
	tests := []struct {
		query     string
		wantCode  int
		wantReads int
	}{
		{"", http.StatusOK, 1},
		{"?consistency=", http.StatusOK, 1},
		{"?consistency=linearizable", http.StatusOK, 1},
		{"?consistency=stale", http.StatusOK, 0},
		{"?consistency=lease", http.StatusOK, 1}, // the fake's LeaseRead is a ReadIndex
		{"?consistency=STALE", http.StatusBadRequest, 0},
		{"?consistency=%00", http.StatusBadRequest, 0},
	}
	for _, tt := range tests {
		for _, base := range []string{"/v1/kv/k", "/v1/kv"} {
			t.Run(base+tt.query, func(t *testing.T) {
				store := newFakeStore()
				store.set("k", []byte("v"))
				node := newLeader(store)
				h := newTestServer(t, Options{}, node, store).Handler()
				rec := serve(t, h, request{method: http.MethodGet, target: base + tt.query})
				if rec.Code != tt.wantCode {
					t.Fatalf("status %d, want %d; body %s", rec.Code, tt.wantCode, rec.Body)
				}
				if tt.wantCode != http.StatusOK {
					errorMessage(t, rec)
				}
				if got := node.readCount(); got != tt.wantReads {
					t.Errorf("ReadIndex called %d times, want %d", got, tt.wantReads)
				}
				node.mu.Lock()
				leases := node.leaseReads
				node.mu.Unlock()
				if wantLease := strings.Contains(tt.query, "lease"); (leases == 1) != wantLease || leases > 1 {
					t.Errorf("LeaseRead called %d times for %q", leases, tt.query)
				}
			})
		}
	}
}

func TestConsensusErrors(t *testing.T) {
	tests := []struct {
		name        string
		proposeErr  error
		readErr     error
		block       bool
		wantCode    int
		retryAfter  bool
		wantMessage string
	}{
		{name: "no leader on write", proposeErr: &core.NotLeaderError{Leader: wire.None}, wantCode: 503, retryAfter: true, wantMessage: "no leader"},
		{name: "proposal dropped", proposeErr: core.ErrProposalDropped, wantCode: 503, retryAfter: true},
		{name: "wrapped proposal dropped", proposeErr: fmt.Errorf("batch: %w", core.ErrProposalDropped), wantCode: 503, retryAfter: true},
		{name: "stopped on write", proposeErr: raft.ErrStopped, wantCode: 503, retryAfter: true, wantMessage: "shutting down"},
		{name: "unexpected write error", proposeErr: errors.New("disk on fire"), wantCode: 500, wantMessage: "disk on fire"},
		{name: "no leader on read", readErr: core.ErrNoLeader, wantCode: 503, retryAfter: true, wantMessage: "no leader"},
		{name: "stopped on read", readErr: raft.ErrStopped, wantCode: 503, retryAfter: true},
		{name: "write times out", block: true, wantCode: 504, wantMessage: "within 50ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newFakeStore()
			node := newLeader(store)
			node.proposeErr, node.readErr, node.block = tt.proposeErr, tt.readErr, tt.block
			h := newTestServer(t, Options{RequestTimeout: 50 * time.Millisecond}, node, store).Handler()
			var reqs []request
			if tt.readErr == nil {
				reqs = append(reqs,
					request{method: http.MethodPut, target: "/v1/kv/k", body: strings.NewReader("v")},
					request{method: http.MethodDelete, target: "/v1/kv/k"})
			}
			if tt.proposeErr == nil {
				reqs = append(reqs, request{method: http.MethodGet, target: "/v1/kv/k"},
					request{method: http.MethodGet, target: "/v1/kv?prefix=k"})
			}
			for _, r := range reqs {
				start := time.Now()
				rec := serve(t, h, r)
				if rec.Code != tt.wantCode {
					t.Fatalf("%s %s: status %d, want %d; body %s", r.method, r.target, rec.Code, tt.wantCode, rec.Body)
				}
				if got := rec.Header().Get("Retry-After"); (got != "") != tt.retryAfter {
					t.Errorf("%s %s: Retry-After %q, want present=%v", r.method, r.target, got, tt.retryAfter)
				}
				if msg := errorMessage(t, rec); !strings.Contains(msg, tt.wantMessage) {
					t.Errorf("%s %s: message %q does not mention %q", r.method, r.target, msg, tt.wantMessage)
				}
				if tt.block && time.Since(start) > 5*time.Second {
					t.Errorf("timeout took %v", time.Since(start))
				}
			}
		})
	}
}

func TestList(t *testing.T) {
	store := newFakeStore()
	store.set("user/1", []byte("ann"))
	store.set("user/2", []byte{0xff, 0x00})
	store.set("user/\xfe", []byte(""))
	store.set("other", []byte("x"))
	h := newTestServer(t, Options{}, newLeader(store), store).Handler()

	type item struct {
		Key         *string `json:"key"`
		KeyBase64   *string `json:"key_base64"`
		Value       *string `json:"value"`
		ValueBase64 *string `json:"value_base64"`
	}
	list := func(t *testing.T, query string) []item {
		t.Helper()
		rec := serve(t, h, request{method: http.MethodGet, target: "/v1/kv" + query})
		if rec.Code != http.StatusOK {
			t.Fatalf("list%s: %d %s", query, rec.Code, rec.Body)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
			t.Fatalf("list body %q: %v", rec.Body, err)
		}
		if string(raw["items"]) == "null" {
			t.Fatalf("items is null: %s", rec.Body)
		}
		var out struct{ Items []item }
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		return out.Items
	}
	str := func(p *string) string {
		if p == nil {
			return "<nil>"
		}
		return *p
	}

	items := list(t, "?prefix=user%2F")
	if len(items) != 3 {
		t.Fatalf("got %d items, want 3: %+v", len(items), items)
	}
	if str(items[0].Key) != "user/1" || str(items[0].Value) != "ann" || items[0].KeyBase64 != nil || items[0].ValueBase64 != nil {
		t.Errorf("item 0 = key %s value %s", str(items[0].Key), str(items[0].Value))
	}
	if items[1].Value != nil || str(items[1].ValueBase64) != base64.StdEncoding.EncodeToString([]byte{0xff, 0}) {
		t.Errorf("binary value: value %s value_base64 %s", str(items[1].Value), str(items[1].ValueBase64))
	}
	if items[2].Key != nil || str(items[2].KeyBase64) != base64.StdEncoding.EncodeToString([]byte("user/\xfe")) {
		t.Errorf("binary key: key %s key_base64 %s", str(items[2].Key), str(items[2].KeyBase64))
	}
	if items[2].Value == nil || *items[2].Value != "" {
		t.Errorf("empty value must be \"value\": \"\", got %s", str(items[2].Value))
	}

	if items := list(t, "?prefix=nothing"); len(items) != 0 {
		t.Errorf("prefix with no match: %+v", items)
	}
	if items := list(t, ""); len(items) != 4 || store.listLimit != DefaultListLimit {
		t.Errorf("no prefix: %d items, limit %d", len(items), store.listLimit)
	}
	if items := list(t, "?limit=2"); len(items) != 2 || str(items[0].Key) != "other" {
		t.Errorf("limit=2: %+v", items)
	}
	if list(t, "?limit=10000"); store.listLimit != MaxListLimit {
		t.Errorf("limit=10000 passed as %d", store.listLimit)
	}
}

func TestListBadLimit(t *testing.T) {
	store := newFakeStore()
	node := newLeader(store)
	h := newTestServer(t, Options{}, node, store).Handler()
	for _, q := range []string{"0", "-1", "10001", "abc", "", "1.5", "99999999999999999999999", "1e3", "+"} {
		rec := serve(t, h, request{method: http.MethodGet, target: "/v1/kv?limit=" + q})
		if rec.Code != http.StatusBadRequest {
			t.Errorf("limit=%q: status %d, want 400", q, rec.Code)
			continue
		}
		if msg := errorMessage(t, rec); !strings.Contains(msg, "limit") {
			t.Errorf("limit=%q: message %q", q, msg)
		}
	}
	if node.readCount() != 0 {
		t.Errorf("bad limit still paid for a read barrier")
	}
}
