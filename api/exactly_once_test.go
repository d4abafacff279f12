package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
)

func TestRequestIDRetryAppliedOnce(t *testing.T) {
	store := newFakeStore()
	node := newLeader(store)
	h := newTestServer(t, Options{}, node, store).Handler()
	put := func(value, id string) *responseIndex {
		rec := serve(t, h, request{method: http.MethodPut, target: "/v1/kv/k", body: strings.NewReader(value),
			header: map[string]string{RequestIDHeader: id}})
		if rec.Code != http.StatusOK {
			t.Fatalf("PUT %s with id %s: %d %s", value, id, rec.Code, rec.Body)
		}
		return &responseIndex{decodeIndex(t, rec.Body.Bytes())}
	}
	first := put("one", "client-a:1")
	other := serve(t, h, request{method: http.MethodPut, target: "/v1/kv/k", body: strings.NewReader("two")})
	if other.Code != http.StatusOK {
		t.Fatal(other.Body)
	}
	retry := put("one", "client-a:1")
	if retry.index != first.index {
		t.Errorf("retry answered index %d, want the first application's %d", retry.index, first.index)
	}
	if v, _ := store.get("k"); string(v) != "two" {
		t.Errorf("k = %q after the retry; the retry was applied again", v)
	}
	// The id travels in the command.
	node.mu.Lock()
	last := node.proposals[len(node.proposals)-1]
	node.mu.Unlock()
	cmd, err := kv.DecodeCommand(last)
	if err != nil || cmd.Client != "client-a" || cmd.Seq != 1 {
		t.Errorf("proposed command %+v, %v; want client-a:1", cmd, err)
	}
	// A client id may itself contain colons: the last one separates.
	put("x", "host:port:7")
	if _, ok := store.RequestResult("host:port", 7); !ok {
		t.Error("client id with a colon was split at the wrong colon")
	}
}

type responseIndex struct{ index uint64 }

func TestRequestIDMalformed(t *testing.T) {
	for _, id := range []string{"nocolon", ":5", "c:", "c:0", "c:-1", "c:x", "c:18446744073709551616", strings.Repeat("c", 129) + ":1"} {
		for _, method := range []string{http.MethodPut, http.MethodDelete} {
			store := newFakeStore()
			node := newLeader(store)
			h := newTestServer(t, Options{}, node, store).Handler()
			rec := serve(t, h, request{method: method, target: "/v1/kv/k", body: strings.NewReader("v"),
				header: map[string]string{RequestIDHeader: id}})
			if rec.Code != http.StatusBadRequest {
				t.Errorf("%s with Request-Id %q: %d, want 400", method, id, rec.Code)
				continue
			}
			if msg := errorMessage(t, rec); !strings.Contains(msg, "Request-Id") {
				t.Errorf("error %q does not name the header", msg)
			}
			if node.proposalCount() != 0 {
				t.Errorf("a malformed Request-Id reached Propose")
			}
		}
	}
}

func TestFollowerForwardsRequestID(t *testing.T) {
	c := newCluster(t, nil, Options{})
	for range 2 {
		rec := serve(t, c.followerH, request{method: http.MethodPut, target: "/v1/kv/k", body: strings.NewReader("v"),
			header: map[string]string{RequestIDHeader: "cli:3"}})
		if rec.Code != http.StatusOK || decodeIndex(t, rec.Body.Bytes()) != 1 {
			t.Fatalf("forwarded PUT with id: %d %s", rec.Code, rec.Body)
		}
	}
	if r, ok := c.leaderStore.RequestResult("cli", 3); !ok || r.Index != 1 {
		t.Fatalf("leader saw request id cli:3? %d %v", r.Index, ok)
	}
}

func TestTransferLeader(t *testing.T) {
	peers := map[uint64]string{0: "127.0.0.1:1", 1: "127.0.0.1:2", 2: "127.0.0.1:3"}
	tests := []struct {
		name     string
		body     string
		err      error
		wantCode int
		want     uint64
	}{
		{"to a node", `{"to": 2}`, nil, http.StatusOK, 2},
		{"to anyone", ``, nil, http.StatusOK, 1},
		{"empty object", `{}`, nil, http.StatusOK, 1},
		{"to self", `{"to": 0}`, nil, http.StatusOK, 0},
		{"unknown node", `{"to": 9}`, nil, http.StatusBadRequest, 0},
		{"bad json", `{"to": "two"}`, nil, http.StatusBadRequest, 0},
		{"unknown field", `{"too": 1}`, nil, http.StatusBadRequest, 0},
		{"did not complete", `{"to": 1}`, raft.ErrTransferFailed, http.StatusServiceUnavailable, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newFakeStore()
			node := newLeader(store).withMembers(peers)
			node.transferErr = tt.err
			h := newTestServer(t, Options{}, node, store).Handler()
			rec := serve(t, h, request{method: http.MethodPost, target: "/v1/cluster/transfer-leader", body: strings.NewReader(tt.body)})
			if rec.Code != tt.wantCode {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantCode, rec.Body)
			}
			if tt.wantCode != http.StatusOK {
				errorMessage(t, rec)
				return
			}
			var got transferBody
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Leader != tt.want {
				t.Fatalf("answer %s, want leader %d", rec.Body, tt.want)
			}
		})
	}
}

func TestTransferLeaderForwardedByFollower(t *testing.T) {
	c := newCluster(t, nil, Options{})
	rec := serve(t, c.followerH, request{method: http.MethodPost, target: "/v1/cluster/transfer-leader", body: strings.NewReader(`{"to": 1}`)})
	if rec.Code != http.StatusOK {
		t.Fatalf("forwarded transfer: %d %s", rec.Code, rec.Body)
	}
	if st := c.leaderNode.Status(); st.Leader != 1 {
		t.Fatalf("leader after transfer is %d, want 1", st.Leader)
	}
}

// TestRequestIDTooOld: a write the state machine skipped as older than the
// client's recent requests is answered 409, never 200.
func TestRequestIDTooOld(t *testing.T) {
	store := newFakeStore()
	node := newLeader(store)
	h := newTestServer(t, Options{}, node, store).Handler()
	for _, id := range []string{"cli:5", "cli:3"} {
		rec := serve(t, h, request{method: http.MethodPut, target: "/v1/kv/k", body: strings.NewReader(id),
			header: map[string]string{RequestIDHeader: id}})
		if id == "cli:5" && rec.Code != http.StatusOK {
			t.Fatalf("first write: %d %s", rec.Code, rec.Body)
		}
		if id == "cli:3" {
			if rec.Code != http.StatusConflict || !strings.Contains(errorMessage(t, rec), "unknown") {
				t.Fatalf("stale request id: %d %s, want 409", rec.Code, rec.Body)
			}
		}
	}
	if v, _ := store.get("k"); string(v) != "cli:5" {
		t.Fatalf("k = %q: the stale write was applied", v)
	}
}
