package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

func decodeMembers(t *testing.T, body []byte) membersBody {
	t.Helper()
	var m membersBody
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil || m.Members == nil {
		t.Fatalf("body %s is not a member list (%v)", body, err)
	}
	return m
}

func threeVoters() map[uint64]string {
	return map[uint64]string{0: "127.0.0.1:8000", 1: "127.0.0.1:8001", 2: "127.0.0.1:8002"}
}

func TestMembersList(t *testing.T) {
	store := newFakeStore()
	h := newTestServer(t, Options{}, newLeader(store).withMembers(threeVoters()), store).Handler()
	rec := serve(t, h, request{method: http.MethodGet, target: "/v1/cluster/members"})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	m := decodeMembers(t, rec.Body.Bytes())
	want := memberBody{ID: 1, RaftAddr: "tcp://127.0.0.1:7001", HTTPAddr: "127.0.0.1:8001", Role: "voter"}
	if len(m.Members) != 3 || m.Members[1] != want || m.ConfigIndex != 0 {
		t.Fatalf("members %+v", m)
	}
	if rec := serve(t, h, request{method: http.MethodGet, target: "/v1/cluster/members?stale=maybe"}); rec.Code != http.StatusBadRequest {
		t.Errorf("stale=maybe: %d", rec.Code)
	}
}

// TestMembersChange drives add, promote and remove on the leader, with the
// answers a refusal maps to.
func TestMembersChange(t *testing.T) {
	tests := []struct {
		name        string
		method      string
		target      string
		body        string
		confErr     error
		wantCode    int
		wantMsg     string
		wantChanges int // how many changes reached consensus
	}{
		{"add", "POST", "/v1/cluster/members", `{"id":3,"raft_addr":"tcp://127.0.0.1:7003","http_addr":"127.0.0.1:8003"}`, nil, 201, "", 1},
		{"add node 0 again", "POST", "/v1/cluster/members", `{"id":0,"raft_addr":"tcp://127.0.0.1:7009","http_addr":"127.0.0.1:8009"}`, nil, 409, "already exists", 1},
		{"add without id", "POST", "/v1/cluster/members", `{"raft_addr":"tcp://127.0.0.1:7003","http_addr":"127.0.0.1:8003"}`, nil, 400, `"id" is missing`, 0},
		{"add without http", "POST", "/v1/cluster/members", `{"id":3,"raft_addr":"tcp://127.0.0.1:7003"}`, nil, 400, "http_addr", 0},
		{"add udp raft addr", "POST", "/v1/cluster/members", `{"id":3,"raft_addr":"udp://127.0.0.1:7003","http_addr":"127.0.0.1:8003"}`, nil, 400, "raft_addr", 0},
		{"add reserved id", "POST", "/v1/cluster/members", fmt.Sprintf(`{"id":%d,"raft_addr":"tcp://h:1","http_addr":"h:2"}`, wire.None), nil, 400, "reserved", 0},
		{"add not json", "POST", "/v1/cluster/members", `id=3`, nil, 400, "body", 0},
		{"add unknown field", "POST", "/v1/cluster/members", `{"id":3,"raft_addr":"tcp://h:1","http_addr":"h:2","voter":true}`, nil, 400, "unknown field", 0},
		{"add while another is in flight", "POST", "/v1/cluster/members", `{"id":3,"raft_addr":"tcp://h:1","http_addr":"h:2"}`, core.ErrConfChangeInFlight, 409, "not yet committed", 1},
		{"add too early", "POST", "/v1/cluster/members", `{"id":3,"raft_addr":"tcp://h:1","http_addr":"h:2"}`, core.ErrConfChangeTooEarly, 503, "retry", 1},
		{"promote unknown", "POST", "/v1/cluster/members/7/promote", ``, nil, 404, "no such member", 1},
		{"promote bad id", "POST", "/v1/cluster/members/x/promote", ``, nil, 400, "member id", 0},
		{"promote a voter", "POST", "/v1/cluster/members/1/promote", ``, fmt.Errorf("promote: %w", core.ErrNotLearner), 409, "already a voter", 1},
		{"remove", "DELETE", "/v1/cluster/members/2", ``, nil, 200, "", 1},
		{"remove unknown", "DELETE", "/v1/cluster/members/9", ``, nil, 404, "no such member", 1},
		{"remove the last voter", "DELETE", "/v1/cluster/members/0", ``, core.ErrLastVoter, 409, "last voter", 1},
		{"remove, no quorum", "DELETE", "/v1/cluster/members/1", ``, raft.ErrStopped, 503, "shutting down", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newFakeStore()
			node := newLeader(store).withMembers(threeVoters())
			node.confErr = tt.confErr
			h := newTestServer(t, Options{}, node, store).Handler()
			rec := serve(t, h, request{method: tt.method, target: tt.target, body: strings.NewReader(tt.body)})
			if rec.Code != tt.wantCode {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.wantCode, rec.Body)
			}
			if tt.wantMsg != "" {
				if msg := errorMessage(t, rec); !strings.Contains(msg, tt.wantMsg) {
					t.Errorf("message %q does not mention %q", msg, tt.wantMsg)
				}
			}
			if len(node.changes) != tt.wantChanges {
				t.Errorf("%d changes reached consensus, want %d", len(node.changes), tt.wantChanges)
			}
			if tt.wantCode >= 300 {
				return
			}
			m := decodeMembers(t, rec.Body.Bytes())
			if m.ConfigIndex != 1 {
				t.Errorf("config_index %d, want the change's 1", m.ConfigIndex)
			}
			switch tt.method {
			case "POST":
				if len(m.Members) != 4 || m.Members[3].Role != "learner" || m.Members[3].HTTPAddr != "127.0.0.1:8003" {
					t.Errorf("after add: %+v", m)
				}
			case "DELETE":
				if len(m.Members) != 2 || m.Members[1].ID != 1 {
					t.Errorf("after remove: %+v", m)
				}
			}
		})
	}
}

func TestMembersPromoteBehind(t *testing.T) {
	store := newFakeStore()
	node := newLeader(store).withMembers(threeVoters())
	node.confErr = fmt.Errorf("promote member 3: %w", &core.LearnerBehindError{ID: 3, Match: 40, Last: 100, RecentlySeen: true})
	h := newTestServer(t, Options{}, node, store).Handler()
	rec := serve(t, h, request{method: "POST", target: "/v1/cluster/members/3/promote"})
	if rec.Code != http.StatusConflict {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	var b learnerBehindBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	if b.Behind != 60 || b.MatchIndex != 40 || b.LastIndex != 100 || !b.RecentlySeen || !strings.Contains(b.Error, "60 entries behind") {
		t.Fatalf("body %+v", b)
	}
}

// TestMembersForwarded: a follower passes changes and the list to the
// leader, which answers them.
func TestMembersForwarded(t *testing.T) {
	c := newCluster(t, nil, Options{})
	rec := serve(t, c.followerH, request{method: "POST", target: "/v1/cluster/members",
		body: strings.NewReader(`{"id":3,"raft_addr":"tcp://127.0.0.1:7003","http_addr":"127.0.0.1:8003","incarnation":77}`)})
	if rec.Code != http.StatusCreated {
		t.Fatalf("forwarded add: %d %s", rec.Code, rec.Body)
	}
	c.leaderNode.mu.Lock()
	changes := c.leaderNode.changes
	c.leaderNode.mu.Unlock()
	if len(changes) != 1 || changes[0].Member.ID != 3 || changes[0].Member.Incarnation != 77 {
		t.Fatalf("the leader saw %+v", changes)
	}
	rec = serve(t, c.followerH, request{method: "GET", target: "/v1/cluster/members"})
	if m := decodeMembers(t, rec.Body.Bytes()); rec.Code != 200 || len(m.Members) != 3 || m.Members[2].ID != 3 {
		t.Fatalf("forwarded list: %d %s", rec.Code, rec.Body)
	}
	// ?stale=1 answers from the follower's own (older) view.
	rec = serve(t, c.followerH, request{method: "GET", target: "/v1/cluster/members?stale=1"})
	if m := decodeMembers(t, rec.Body.Bytes()); rec.Code != 200 || len(m.Members) != 2 {
		t.Fatalf("stale list: %d %s", rec.Code, rec.Body)
	}
	rec = serve(t, c.followerH, request{method: "DELETE", target: "/v1/cluster/members/3"})
	if rec.Code != http.StatusOK {
		t.Fatalf("forwarded remove: %d %s", rec.Code, rec.Body)
	}
	got := c.seen.all()
	if len(got) != 3 || got[2].method != "DELETE" || got[2].forwardedBy != "1" {
		t.Fatalf("the leader received %+v", got)
	}
}

func TestMembersRecordIncarnation(t *testing.T) {
	store := newFakeStore()
	node := newLeader(store).withMembers(threeVoters())
	h := newTestServer(t, Options{}, node, store).Handler()
	post := func(target, body string) *httptest.ResponseRecorder {
		return serve(t, h, request{method: "POST", target: target, body: strings.NewReader(body)})
	}
	for i := range 2 { // the retry of a recorded incarnation is a success too
		rec := post("/v1/cluster/members/1/incarnation", `{"incarnation":77}`)
		if rec.Code != http.StatusOK {
			t.Fatalf("attempt %d: %d %s", i, rec.Code, rec.Body)
		}
		if m := decodeMembers(t, rec.Body.Bytes()); m.Members[1].Incarnation != 77 {
			t.Fatalf("attempt %d: %+v", i, m)
		}
	}
	for _, body := range []string{`{"incarnation":0}`, `{}`, `{"incarnation":"x"}`, `{"incarnation":1,"x":2}`} {
		if rec := post("/v1/cluster/members/1/incarnation", body); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d", body, rec.Code)
		}
	}
	if rec := post("/v1/cluster/members/9/incarnation", `{"incarnation":5}`); rec.Code != http.StatusNotFound {
		t.Errorf("unknown member: %d", rec.Code)
	}
}

// A route overrides the membership's HTTP address: forwarding and the
// cluster status go where the route says.
func TestHTTPRoutesOverrideMembership(t *testing.T) {
	c := newCluster(t, nil, Options{}, map[uint64]string{0: "127.0.0.1:1", 1: "127.0.0.1:2"})
	rec := serve(t, c.followerH, request{method: "PUT", target: "/v1/kv/k", body: strings.NewReader("v")})
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("without a route the leader's recorded address is dead: %d %s", rec.Code, rec.Body)
	}
	routed := newTestServer(t, Options{NodeID: 1, HTTPRoutes: map[uint64]string{0: strings.TrimPrefix(c.leaderURL, "http://")}},
		c.follower, c.follower.store).Handler()
	if rec := serve(t, routed, request{method: "PUT", target: "/v1/kv/k", body: strings.NewReader("v")}); rec.Code != http.StatusOK {
		t.Fatalf("forward through the route: %d %s", rec.Code, rec.Body)
	}
	rec = serve(t, routed, request{method: "GET", target: "/v1/status?all=1"})
	if !strings.Contains(rec.Body.String(), `"http_addr":"`+strings.TrimPrefix(c.leaderURL, "http://")+`"`) {
		t.Errorf("cluster status does not use the route: %s", rec.Body)
	}
}
