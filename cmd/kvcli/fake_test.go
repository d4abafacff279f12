package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/internal/fakenode"
	"github.com/raftkv/raftkv/internal/syncbuf"

	"github.com/raftkv/raftkv/api/client"
)

// newFakeNode is a fake node as kvcli's tests expect it: in term 4, and
// answering code to every request but its status when code is not 0.
func newFakeNode(id uint64, code int) *fakenode.Node {
	f := fakenode.New(id)
	f.SetTerm(4)
	if code != 0 {
		f.Fail(code)
	}
	return f
}

// newFake starts newFakeNode(id, code); its URL is "http://127.0.0.1:port".
func newFake(t *testing.T, id uint64, code int) (*fakenode.Node, string) {
	t.Helper()
	f := newFakeNode(id, code)
	return f, f.Serve(t)
}

func deadAddr(t *testing.T) string { return fakenode.DeadAddr(t) }

// holdAllButStatus makes f keep every request but its status unanswered.
func holdAllButStatus(r fakenode.Request) *fakenode.Answer {
	if r.Path == "/v1/status" {
		return nil
	}
	return &fakenode.Answer{Hold: true}
}

// holdStatus makes f keep its status requests unanswered.
func holdStatus(r fakenode.Request) *fakenode.Answer {
	if r.Path != "/v1/status" {
		return nil
	}
	return &fakenode.Answer{Hold: true}
}

func isWrite(r fakenode.Request) bool {
	return r.Key != "" && (r.Method == http.MethodPut || r.Method == http.MethodDelete)
}

// requestIDs returns the Request-Id of every write and transaction f
// received, refused ones too.
func requestIDs(f *fakenode.Node) []string {
	var ids []string
	for _, r := range f.Requests() {
		if isWrite(r) || r.Path == "/v1/txn" {
			ids = append(ids, r.Header.Get("Request-Id"))
		}
	}
	return ids
}

// conds returns the If-Match / If-None-Match of every write f received
// ("" when neither).
func conds(f *fakenode.Node) []string {
	var cs []string
	for _, r := range f.Requests() {
		if isWrite(r) {
			cs = append(cs, strings.TrimSpace(r.Header.Get("If-Match")+" "+r.Header.Get("If-None-Match")))
		}
	}
	return cs
}

// txns returns the bodies of the transactions f received.
func txns(f *fakenode.Node) []string {
	var bodies []string
	for _, r := range f.Requests() {
		if r.Path == "/v1/txn" {
			bodies = append(bodies, r.Body)
		}
	}
	return bodies
}

// adminRequests returns f's admin and cluster requests as
// "METHOD path body".
func adminRequests(f *fakenode.Node) []string {
	var out []string
	for _, r := range f.Requests() {
		if strings.HasPrefix(r.Path, "/v1/admin/") || strings.HasPrefix(r.Path, "/v1/cluster/") {
			out = append(out, r.Method+" "+r.Path+" "+r.Body)
		}
	}
	return out
}

// lastQuery returns the raw query of the last kv or watch request.
func lastQuery(f *fakenode.Node) string {
	rs := f.Requests()
	for i := len(rs) - 1; i >= 0; i-- {
		if p := rs[i].Path; p == "/v1/kv" || strings.HasPrefix(p, "/v1/kv/") || strings.HasPrefix(p, "/v1/watch/") {
			return rs[i].RawQuery
		}
	}
	return ""
}

// syncBuffer is a buffer a test may read while the code under test writes.
type syncBuffer = syncbuf.Buffer

// noLeader is a status edit: an election is under way.
func noLeader(st *client.Status) {
	st.State, st.Leader, st.LeaderHTTP = "candidate", nil, nil
}
