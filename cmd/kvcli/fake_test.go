package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/raftkv/raftkv/internal/syncbuf"
)

// fakeNode is a one-node stand-in for the raftkv HTTP API.
type fakeNode struct {
	mu    sync.Mutex // guards every field below
	id    uint64
	data  map[string]string
	revs  map[string][3]uint64 // key -> create, mod, version (keys set with set() have none)
	index uint64
	conds []string // If-Match / If-None-Match of writes, in order ("" when neither)
	txns  []string // bodies of transactions, in order
	// code, when non-zero, is the answer to every request but /v1/status.
	code int
	// status overrides what /v1/status answers (the fake says it leads).
	status map[string]any
	// statusSeq, when set, overrides status: the n-th status request gets
	// statusSeq[n], the last one once they run out. An "http_code" member
	// makes that request fail with that code.
	statusSeq   []map[string]any
	statusCalls int // status requests answered, or held by hangStatus
	// hangStatus holds status requests until the client gives up.
	hangStatus bool
	// block, when set, holds kv requests until the client gives up.
	block   bool
	queries []string // raw queries of kv requests, in order
	ids     []string // Request-Id headers of writes, in order (also of refused ones)
	admin   []string // admin requests, "METHOD path body", in order
	// transferTo is the leader a transfer without a target reports.
	transferTo uint64
	// members is what /v1/cluster/members serves and changes; memberErr,
	// when set, answers every change (code and body).
	members   []map[string]any
	confIndex uint64
	memberErr *fakeAnswer
}

type fakeAnswer struct {
	code int
	body map[string]any
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	f.mu.Lock()
	block, hang := f.block, f.hangStatus
	if hang && r.URL.Path == "/v1/status" {
		f.statusCalls++ // so that a test can wait for the request to arrive
	}
	f.mu.Unlock()
	if block && r.URL.Path != "/v1/status" || hang && r.URL.Path == "/v1/status" {
		<-r.Context().Done()
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/v1/status" {
		st := map[string]any{"id": f.id, "state": "leader", "term": 4, "leader": f.id, "leader_http": nil,
			"commit_index": f.index, "applied_index": f.index, "last_log_index": f.index, "peers": []any{}}
		over := f.status
		if n := len(f.statusSeq); n > 0 {
			over = f.statusSeq[min(f.statusCalls, n-1)]
		}
		f.statusCalls++
		if code, ok := over["http_code"].(int); ok {
			reply(code, map[string]string{"error": "fake " + http.StatusText(code)})
			return
		}
		for k, v := range over {
			st[k] = v
		}
		reply(200, st)
		return
	}
	if r.Method == http.MethodPut || r.Method == http.MethodDelete {
		f.ids = append(f.ids, r.Header.Get("Request-Id"))
		f.conds = append(f.conds, strings.TrimSpace(r.Header.Get("If-Match")+" "+r.Header.Get("If-None-Match")))
	}
	if strings.HasPrefix(r.URL.Path, "/v1/admin/") || strings.HasPrefix(r.URL.Path, "/v1/cluster/") {
		b, _ := io.ReadAll(r.Body)
		f.admin = append(f.admin, r.Method+" "+r.URL.Path+" "+string(b))
	}
	if f.code != 0 {
		reply(f.code, map[string]string{"error": "fake " + http.StatusText(f.code)})
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/admin/snapshot":
		reply(200, map[string]uint64{"index": f.index, "term": 4})
		return
	case r.Method == http.MethodPost && r.URL.Path == "/v1/cluster/transfer-leader":
		body := f.admin[len(f.admin)-1][len("POST /v1/cluster/transfer-leader "):]
		to := f.transferTo
		if body != "" {
			var req struct {
				To *uint64 `json:"to"`
			}
			if err := json.Unmarshal([]byte(body), &req); err != nil || req.To == nil {
				reply(400, map[string]string{"error": "bad body"})
				return
			}
			if *req.To > 10 {
				reply(400, map[string]string{"error": "node " + strconv.FormatUint(*req.To, 10) + " is not a member of the cluster"})
				return
			}
			to = *req.To
		}
		reply(200, map[string]uint64{"leader": to})
		return
	}
	if strings.HasPrefix(r.URL.Path, "/v1/cluster/members") {
		f.serveMembers(r, reply)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/v1/watch/") {
		// A canned stream: where it starts, two changes, then the
		// history runs out.
		f.queries = append(f.queries, r.URL.RawQuery)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: 0\nevent: progress\ndata: {\"revision\":0}\n\n"+
			"id: 1\nevent: put\ndata: {\"key\":\"k\",\"value\":\"v\",\"create_revision\":1,\"mod_revision\":1,\"version\":1}\n\n"+
			"id: 2\nevent: delete\ndata: {\"key\":\"k\",\"create_revision\":0,\"mod_revision\":2,\"version\":0}\n\n"+
			"event: compacted\ndata: {\"compact_revision\":5}\n\n")
		return
	}
	if r.URL.Path == "/v1/txn" {
		// The fake runs no transaction: it records it and answers one of
		// the server's shapes.
		b, _ := io.ReadAll(r.Body)
		f.txns = append(f.txns, string(b))
		f.ids = append(f.ids, r.Header.Get("Request-Id"))
		f.index++
		reply(200, map[string]any{"succeeded": true, "revision": f.index,
			"results": []map[string]any{{"op": "get", "key": "k", "found": false}}})
		return
	}
	f.queries = append(f.queries, r.URL.RawQuery)
	if r.URL.Path == "/v1/kv" {
		f.list(w, r, reply)
		return
	}
	key, ok := strings.CutPrefix(r.URL.Path, "/v1/kv/")
	if !ok {
		reply(404, map[string]string{"error": "no such route"})
		return
	}
	if r.Method != http.MethodGet && !f.condHolds(r, key) {
		rv := f.revs[key]
		reply(412, map[string]any{"error": "condition failed", "mod_revision": rv[1], "version": rv[2]})
		return
	}
	switch r.Method {
	case http.MethodGet:
		v, ok := f.data[key]
		if !ok {
			reply(404, map[string]string{"error": "key not found"})
			return
		}
		if r.URL.Query().Get("meta") == "1" {
			reply(200, f.item(key))
			return
		}
		io.WriteString(w, v)
	case http.MethodPut:
		b, _ := io.ReadAll(r.Body)
		f.data[key] = string(b)
		f.index++
		rv, ok := f.revs[key]
		if !ok {
			rv[0] = f.index
		}
		f.revs[key] = [3]uint64{rv[0], f.index, rv[2] + 1}
		reply(200, map[string]uint64{"index": f.index})
	case http.MethodDelete:
		delete(f.data, key)
		delete(f.revs, key)
		f.index++
		reply(200, map[string]uint64{"index": f.index})
	}
}

// condHolds is the server's If-Match / If-None-Match rule, for the keys
// the fake knows the revisions of.
func (f *fakeNode) condHolds(r *http.Request, key string) bool {
	rv, exists := f.revs[key]
	switch im := r.Header.Get("If-Match"); {
	case r.Header.Get("If-None-Match") == "*":
		return !exists
	case im == "*":
		return exists
	case im != "":
		return exists && im == `"`+strconv.FormatUint(rv[1], 10)+`"`
	}
	return true
}

func (f *fakeNode) item(k string) map[string]any {
	it := map[string]any{"key": k, "create_revision": f.revs[k][0], "mod_revision": f.revs[k][1], "version": f.revs[k][2]}
	if v := f.data[k]; strings.HasPrefix(v, "\xff") {
		it["value_base64"] = base64.StdEncoding.EncodeToString([]byte(v))
	} else {
		it["value"] = v
	}
	return it
}

func (f *fakeNode) list(w http.ResponseWriter, r *http.Request, reply func(int, any)) {
	q := r.URL.Query()
	limit := 100
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 10000 {
			reply(400, map[string]string{"error": "bad limit"})
			return
		}
		limit = n
	}
	var keys []string
	for k := range f.data {
		if strings.HasPrefix(k, q.Get("prefix")) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) > limit {
		keys = keys[:limit]
	}
	items := []map[string]any{}
	for _, k := range keys {
		items = append(items, f.item(k))
	}
	reply(200, map[string]any{"items": items})
}

func (f *fakeNode) set(k, v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data[k] = v
}

func (f *fakeNode) get(k string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.data[k]
	return v, ok
}

func (f *fakeNode) requestIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ids...)
}

func (f *fakeNode) adminRequests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.admin...)
}

func (f *fakeNode) setStatus(st map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = st
}

// setStatusSeq sets statusSeq and starts its count again.
func (f *fakeNode) setStatusSeq(seq ...map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statusSeq, f.statusCalls = seq, 0
}

func (f *fakeNode) statusRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.statusCalls
}

func (f *fakeNode) lastQuery() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queries) == 0 {
		return ""
	}
	return f.queries[len(f.queries)-1]
}

// newFake starts a fake node; its URL is "http://127.0.0.1:port".
func newFake(t *testing.T, id uint64, code int) (*fakeNode, string) {
	t.Helper()
	f := &fakeNode{id: id, data: map[string]string{}, revs: map[string][3]uint64{}, code: code}
	s := httptest.NewServer(f)
	t.Cleanup(s.Close)
	return f, s.URL
}

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

// syncBuffer is a buffer a test may read while the code under test writes.
type syncBuffer = syncbuf.Buffer

func (f *fakeNode) serveMembers(r *http.Request, reply func(int, any)) {
	answer := func() { reply(200, map[string]any{"config_index": f.confIndex, "members": f.members}) }
	if r.Method == http.MethodGet {
		answer()
		return
	}
	if f.memberErr != nil {
		reply(f.memberErr.code, f.memberErr.body)
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, "/v1/cluster/members")
	f.index++
	f.confIndex = f.index
	switch {
	case r.Method == http.MethodPost && rest == "":
		body := f.admin[len(f.admin)-1][len("POST /v1/cluster/members "):]
		var m map[string]any
		json.Unmarshal([]byte(body), &m)
		m["role"] = "learner"
		f.members = append(f.members, m)
		reply(201, map[string]any{"config_index": f.confIndex, "members": f.members})
		return
	case r.Method == http.MethodPost && strings.HasSuffix(rest, "/promote"):
		id := strings.TrimSuffix(strings.TrimPrefix(rest, "/"), "/promote")
		for _, m := range f.members {
			if fmt.Sprint(m["id"]) == id {
				m["role"] = "voter"
			}
		}
	case r.Method == http.MethodDelete:
		id := strings.TrimPrefix(rest, "/")
		f.members = slices.DeleteFunc(f.members, func(m map[string]any) bool { return fmt.Sprint(m["id"]) == id })
	}
	answer()
}
