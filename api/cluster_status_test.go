package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// peerAPI serves a follower's API with id, as a peer of the node under test.
func peerAPI(t *testing.T, id uint64) string {
	t.Helper()
	store := newFakeStore()
	node := &fakeNode{id: id, leader: 0, role: core.Follower, store: store, index: 4}
	ts := httptest.NewServer(newTestServer(t, Options{NodeID: id}, node, store).Handler())
	t.Cleanup(ts.Close)
	return strings.TrimPrefix(ts.URL, "http://")
}

func TestClusterStatus(t *testing.T) {
	follower := peerAPI(t, 1)
	impostor := peerAPI(t, 7) // configured as node 3, answers as node 7
	dead := deadAddr(t)
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // answers long after the peer timeout, or when the caller gives up
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer hung.Close()
	peers := map[uint64]string{0: "self:8000", 1: follower, 2: dead, 3: impostor, 4: strings.TrimPrefix(hung.URL, "http://")}
	store := newFakeStore()
	node := (&fakeNode{id: 0, leader: 0, role: core.Leader, store: store, index: 9}).withMembers(peers)
	node.members.Members[4].Learner = true
	h := newTestServer(t, Options{}, node, store).Handler()

	start := time.Now()
	rec := serve(t, h, request{method: http.MethodGet, target: "/v1/status?all=1"})
	took := time.Since(start)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	if took > 2*peerStatusTimeout {
		t.Errorf("took %v: peers must be asked in parallel, each within %v", took, peerStatusTimeout)
	}
	var body struct {
		Nodes []map[string]json.RawMessage `json:"nodes"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Nodes) != 5 {
		t.Fatalf("%d nodes, want 5: %s", len(body.Nodes), rec.Body)
	}
	tests := []struct {
		id          string
		up          string
		state       string // raw JSON; "" = absent
		commit      string
		addr        string
		errContains string
	}{
		{id: "0", up: "true", state: `"leader"`, commit: "9", addr: `"self:8000"`},
		{id: "1", up: "true", state: `"follower"`, commit: "4", addr: `"` + follower + `"`},
		{id: "2", up: "false", addr: `"` + dead + `"`, errContains: "refused"},
		{id: "3", up: "false", addr: `"` + impostor + `"`, errContains: "answered as node 7"},
		{id: "4", up: "false", addr: `"` + peers[4] + `"`, errContains: "no answer within 400ms"},
	}
	for i, tt := range tests {
		n := body.Nodes[i]
		if string(n["id"]) != tt.id || string(n["up"]) != tt.up || string(n["http_addr"]) != tt.addr {
			t.Errorf("node %d: id %s up %s addr %s, want %s %s %s", i, n["id"], n["up"], n["http_addr"], tt.id, tt.up, tt.addr)
		}
		wantRole := `"voter"`
		if tt.id == "4" {
			wantRole = `"learner"`
		}
		if string(n["role"]) != wantRole {
			t.Errorf("node %s: role %s, want %s", tt.id, n["role"], wantRole)
		}
		if string(n["state"]) != tt.state || string(n["commit_index"]) != tt.commit && tt.commit != "" {
			t.Errorf("node %s: state %s commit %s, want %s %s", tt.id, n["state"], n["commit_index"], tt.state, tt.commit)
		}
		var errMsg string
		if raw, ok := n["error"]; ok {
			json.Unmarshal(raw, &errMsg)
		}
		if (tt.errContains == "") != (errMsg == "") || !strings.Contains(errMsg, tt.errContains) {
			t.Errorf("node %s: error %q, want one containing %q", tt.id, errMsg, tt.errContains)
		}
		if _, ok := n["write_latency"]; ok {
			t.Errorf("node %s: write_latency belongs to dashboards only", tt.id)
		}
		if tt.up == "true" {
			// The usual status fields are all there.
			for _, f := range []string{"term", "leader", "leader_http", "applied_index", "last_log_index", "first_log_index", "snapshot_index", "snapshot_term", "log_bytes", "peers"} {
				if _, ok := n[f]; !ok {
					t.Errorf("node %s: no %s field", tt.id, f)
				}
			}
		}
	}
}

func TestStatusQueryFlags(t *testing.T) {
	tests := []struct {
		target   string
		wantCode int
		wantKeys []string // top-level keys the answer must have
		notKeys  []string
	}{
		{"/v1/status", 200, []string{"id", "commit_index"}, []string{"nodes", "events", "write_latency"}},
		{"/v1/status?all=0", 200, []string{"id"}, []string{"nodes"}},
		{"/v1/status?all=1", 200, []string{"nodes"}, []string{"id"}},
		{"/v1/status?all=true", 200, []string{"nodes"}, nil},
		{"/v1/status?all", 200, []string{"nodes"}, nil},
		{"/v1/status?detail=1", 200, []string{"id", "events", "write_latency"}, []string{"nodes"}},
		{"/v1/status?all=maybe", 400, []string{"error"}, nil},
		{"/v1/status?detail=2", 400, []string{"error"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			store := newFakeStore()
			h := newTestServer(t, Options{}, newLeader(store), store).Handler()
			rec := serve(t, h, request{method: http.MethodGet, target: tt.target})
			if rec.Code != tt.wantCode {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantCode, rec.Body)
			}
			var got map[string]json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			for _, k := range tt.wantKeys {
				if _, ok := got[k]; !ok {
					t.Errorf("no %q in %s", k, rec.Body)
				}
			}
			for _, k := range tt.notKeys {
				if _, ok := got[k]; ok {
					t.Errorf("unexpected %q in %s", k, rec.Body)
				}
			}
		})
	}
}

// A peer's dashboard learns this node's Raft events from status?detail=1.
func TestStatusDetailEvents(t *testing.T) {
	store := newFakeStore()
	node := newLeader(store)
	h := newTestServer(t, Options{}, node, store).Handler()
	// The first detail request starts the recorder.
	serve(t, h, request{method: http.MethodGet, target: "/v1/status?detail=1"})
	waitFor(t, "the recorder to subscribe", func() bool { return node.subscribers() == 1 })
	for i := range peerEvents + 5 {
		node.emit(raft.Event{Time: time.Now(), Kind: raft.EventLeader, Term: uint64(i), Leader: wire.None})
	}
	var body detailBody
	waitFor(t, "the events", func() bool {
		rec := serve(t, h, request{method: http.MethodGet, target: "/v1/status?detail=1"})
		body = detailBody{}
		return json.Unmarshal(rec.Body.Bytes(), &body) == nil && len(body.Events) > 0 &&
			body.Events[len(body.Events)-1].Seq == peerEvents+5
	})
	if len(body.Events) != peerEvents || body.Events[0].Seq != 6 || body.Events[0].Leader != nil || body.WriteLatency == nil {
		t.Errorf("detail: %d events from seq %d, latency %v; want the newest %d", len(body.Events), body.Events[0].Seq, body.WriteLatency, peerEvents)
	}
}
