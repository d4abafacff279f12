package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/internal/fakenode"
)

func TestMember(t *testing.T) {
	f, url := newFake(t, 0, 0)
	f.SetMembers(client.Members{Members: []client.Member{{ID: 0, RaftAddr: "tcp://127.0.0.1:7000", HTTPAddr: "127.0.0.1:8000", Role: "voter"}}})
	eps := "--endpoints=" + url

	runCLI(t, eps, "member", "list").check(t, exitOK,
		"ID  ROLE   RAFT                  HTTP\n0   voter  tcp://127.0.0.1:7000  127.0.0.1:8000\n(config index 0)\n")
	r := runCLI(t, eps, "member", "add", "3", "tcp://127.0.0.1:7003", "127.0.0.1:8003")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "node 3 added as a learner") || !strings.Contains(r.stdout, "3   learner  tcp://127.0.0.1:7003") {
		t.Fatalf("member add: %+v", r)
	}
	if got := adminRequests(f); got[len(got)-1] != `POST /v1/cluster/members {"id":3,"raft_addr":"tcp://127.0.0.1:7003","http_addr":"127.0.0.1:8003"}` {
		t.Errorf("add sent %q", got[len(got)-1])
	}
	r = runCLI(t, eps, "-o", "json", "member", "promote", "3")
	var m struct {
		ConfigIndex uint64 `json:"config_index"`
		Members     []struct {
			ID   uint64 `json:"id"`
			Role string `json:"role"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil || r.code != exitOK || m.ConfigIndex != 2 || len(m.Members) != 2 || m.Members[1].Role != "voter" {
		t.Fatalf("member promote -o json: %+v (%v)", r, err)
	}
	if r := runCLI(t, eps, "member", "remove", "3"); r.code != exitOK || !strings.HasPrefix(r.stdout, "node 3 removed\n") || strings.Contains(r.stdout, "7003") {
		t.Fatalf("member remove: %+v", r)
	}

	// A refusal is one line on stderr, with the server's reason and an exit code.
	f.Intercept(func(r fakenode.Request) *fakenode.Answer {
		if !strings.HasPrefix(r.Path, "/v1/cluster/members") || r.Method == http.MethodGet {
			return nil
		}
		return &fakenode.Answer{Code: http.StatusConflict, Body: map[string]any{"error": "raft: learner 3 is 60 entries behind (it has 40 of 100)"}}
	})
	r = runCLI(t, eps, "member", "promote", "3")
	r.check(t, exitNotFound, "")
	if !strings.Contains(r.stderr, "60 entries behind") {
		t.Errorf("stderr %q does not say how far behind", r.stderr)
	}

	for _, args := range [][]string{
		{"member"},
		{"member", "add", "3", "tcp://h:1"},
		{"member", "add", "x", "tcp://h:1", "h:2"},
		{"member", "promote"},
		{"member", "remove", "-1"},
		{"member", "remove", "18446744073709551615"},
		{"member", "list", "extra"},
	} {
		if r := runCLI(t, append([]string{eps}, args...)...); r.code != exitUsage {
			t.Errorf("%q: exit %d, want usage (%s)", args, r.code, r.stderr)
		}
	}
}

// The status table shows learners as such, and asks members missing from
// the endpoint list (a node that joined later).
func TestStatusShowsLearnersAndJoinedNodes(t *testing.T) {
	lead, a := newFake(t, 0, 0)
	joined, b := newFake(t, 3, 0)
	joined.EditStatus(fakenode.Follows(0, ""))
	lead.EditStatus(func(st *client.Status) {
		st.Members = []client.Member{
			{ID: 0, RaftAddr: "tcp://127.0.0.1:7000", HTTPAddr: strings.TrimPrefix(a, "http://"), Role: "voter"},
			{ID: 3, RaftAddr: "tcp://127.0.0.1:7003", HTTPAddr: strings.TrimPrefix(b, "http://"), Role: "learner"},
		}
	})
	r := runCLI(t, "--endpoints="+a, "status")
	if r.code != exitOK || !strings.Contains(r.stdout, "2 of 2 nodes answered") {
		t.Fatalf("status: %+v", r)
	}
	var row string
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "3 ") {
			row = l
		}
	}
	if !strings.Contains(row, " learner ") {
		t.Errorf("joined node's row %q does not say learner:\n%s", row, r.stdout)
	}
}
