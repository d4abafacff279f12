// Package fakenode is a one-node stand-in for a raftkv node's HTTP API,
// for the tests of its clients (api/client, kvcli and kvcli's benchmark).
// It answers the routes those clients call, in the server's paths, JSON
// shapes, headers and status codes, from a plain map: no log, no
// consensus, no forwarding. A test shapes what it says (its status, its
// failures, its latency) and reads back what it was sent.
//
// Where a shape exists as a type of api/client it is encoded from that
// type, so that the fake cannot drift from what the client decodes. For
// that reason the tests of package client that use it are in package
// client_test. Nothing but tests may import it.
package fakenode

import (
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
	"time"

	"github.com/raftkv/raftkv/api/client"
)

// Request is one request the node received, as it arrived.
type Request struct {
	Method      string
	Path        string // decoded, as the server routes on it
	EscapedPath string
	RawQuery    string
	Header      http.Header
	Body        string
	// Key is the key of a /v1/kv/<key> request, "" for other paths.
	Key string
	// N counts the requests for the same path that came before it, so
	// that a test can make, say, the second status request fail.
	N int
	// Code is the status it was answered with; 0 while it is held or
	// being served.
	Code int
}

// Answer replaces the node's own answer to a request (see Intercept).
type Answer struct {
	Code int
	// Body is encoded as the JSON answer; nil sends the server's error
	// shape, {"error": "fake <status text>"}.
	Body any
	// Hold keeps the request unanswered until the client gives up, as a
	// node that stopped responding does; Code and Body are then unused.
	Hold bool
}

// Node is a fake raftkv node. It is an http.Handler; Serve starts it.
// Its zero value is not usable: make one with New.
type Node struct {
	mu      sync.Mutex // guards every field below
	id      uint64
	term    uint64
	index   uint64
	items   map[string]*item
	log     []Request
	perPath map[string]int

	intercept func(Request) *Answer
	latency   time.Duration

	// statusEdits is applied to the status answer: the n-th status
	// request after statusFrom gets statusEdits[n], the last one once
	// they run out.
	statusEdits []func(*client.Status)
	statusFrom  int
	statusCalls int

	transferTo  uint64
	members     client.Members
	txnResults  []json.RawMessage
	watchEvents []client.WatchEvent
	compactAt   uint64
	metrics     []string
	metricsFrom int
}

type item struct {
	value                     []byte
	create, mod, version, rev uint64
}

// New returns a node with the given id that says it leads in term 1,
// holds no keys and is at index 0.
func New(id uint64) *Node {
	return &Node{id: id, term: 1, transferTo: id, items: map[string]*item{}, perPath: map[string]int{}}
}

// Serve starts n on a loopback port for the length of the test and
// returns its URL, "http://127.0.0.1:port".
func (n *Node) Serve(t testing.TB) string {
	t.Helper()
	s := httptest.NewServer(n)
	t.Cleanup(s.Close)
	return s.URL
}

// DeadAddr returns a loopback host:port where nothing listens.
func DeadAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// SetTerm sets the term the node reports (in its status and snapshots).
func (n *Node) SetTerm(term uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.term = term
}

// SetIndex sets the log index; the next write takes the one after it.
func (n *Node) SetIndex(index uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.index = index
}

// Index is the log index of the last write.
func (n *Node) Index() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.index
}

// Set stores k without spending an index and with zero revisions, as a
// key written before the server kept revisions reads.
func (n *Node) Set(k, v string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.items[k] = &item{value: []byte(v)}
}

// Get returns k's value.
func (n *Node) Get(k string) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	it, ok := n.items[k]
	if !ok {
		return "", false
	}
	return string(it.value), true
}

// Requests returns every request received so far, in order.
func (n *Node) Requests() []Request {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.log)
}

// Intercept calls f with every request before the node serves it (it is
// recorded already); an Answer f returns is sent instead of the node's.
// f runs without the node's lock: it may call the node's methods.
func (n *Node) Intercept(f func(Request) *Answer) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.intercept = f
}

// Fail makes every request but GET /v1/status answer code, as a node that
// can say who it is but cannot serve does (503: no leader). A 503 comes
// with the server's Retry-After.
func (n *Node) Fail(code int) {
	n.Intercept(func(r Request) *Answer {
		if r.Path == "/v1/status" {
			return nil
		}
		return &Answer{Code: code}
	})
}

// SetLatency delays every /v1/kv/<key> request by d (the client giving up ends
// the wait).
func (n *Node) SetLatency(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.latency = d
}

// EditStatus sets how GET /v1/status differs from the default (this
// node leading in its term, at its index, with no peers): the n-th status
// request from now on gets edits[n] applied, the last one once they run
// out; a nil edit changes nothing. Edits run under the node's lock, so
// they must not call its methods (an intercept may).
func (n *Node) EditStatus(edits ...func(*client.Status)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.statusEdits, n.statusFrom = edits, n.statusCalls
}

// Follows is a status edit: the node follows leader, whose HTTP address
// is leaderHTTP ("" when the node does not know it).
func Follows(leader uint64, leaderHTTP string) func(*client.Status) {
	return func(st *client.Status) {
		st.State, st.Leader, st.LeaderHTTP = "follower", &leader, nil
		if leaderHTTP != "" {
			st.LeaderHTTP = &leaderHTTP
		}
	}
}

// StatusRequests counts the status requests received, held ones too.
func (n *Node) StatusRequests() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.statusCalls
}

// SetTransferTarget names the node a leadership transfer without a
// target reports as the new leader (by default this node). A transfer
// to a named node succeeds at once, unless the node has a membership
// (SetMembers) that lacks it: then it is the server's 400.
func (n *Node) SetTransferTarget(id uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.transferTo = id
}

// SetMembers sets the membership /v1/cluster/members serves and changes.
func (n *Node) SetMembers(m client.Members) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.members = m
}

// SetTxnResults sets the results of every transaction's answer. The node
// runs no transaction: it spends an index and answers that it succeeded.
func (n *Node) SetTxnResults(results ...json.RawMessage) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.txnResults = results
}

// SetWatch sets what every watch request streams: events, then, when
// compactAt is not 0, that the history before compactAt is gone, which
// ends the stream. Without it the stream stays open.
func (n *Node) SetWatch(compactAt uint64, events ...client.WatchEvent) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.watchEvents, n.compactAt = events, compactAt
}

// SetMetrics makes GET /metrics serve pages: the n-th scrape from now gets
// pages[n], the last one once they run out. Without pages there is no
// such route, as on a server built without metrics.
func (n *Node) SetMetrics(pages ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.metrics, n.metricsFrom = pages, n.perPath["/metrics"]
}

func (n *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key, isKV := strings.CutPrefix(r.URL.Path, "/v1/kv/")
	rec := Request{Method: r.Method, Path: r.URL.Path, EscapedPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: string(body), Key: key}
	n.mu.Lock()
	rec.N = n.perPath[rec.Path]
	n.perPath[rec.Path]++
	seq := len(n.log)
	n.log = append(n.log, rec)
	intercept, latency := n.intercept, n.latency
	statusCall := -1
	if r.URL.Path == "/v1/status" {
		// Counted on arrival, so that a test can await a held one.
		statusCall = n.statusCalls - n.statusFrom
		n.statusCalls++
	}
	n.mu.Unlock()
	rw := &recorder{ResponseWriter: w, code: http.StatusOK}
	defer func() {
		n.mu.Lock()
		n.log[seq].Code = rw.code
		n.mu.Unlock()
	}()
	if intercept != nil {
		if a := intercept(rec); a != nil {
			if a.Hold {
				<-r.Context().Done()
				rw.code = 0
				return
			}
			answerError(rw, a.Code, a.Body)
			return
		}
	}
	if isKV && latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			rw.code = 0
			return
		}
	}
	n.mu.Lock()
	open := n.route(rw, r, rec, statusCall)
	n.mu.Unlock()
	if open {
		// The server streams a watch until the client goes; the fake has
		// nothing more to say.
		<-r.Context().Done()
	}
}

// recorder notes the status written, for Request.Code.
type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// route serves r under n.mu. It reports whether the answer is a stream
// to be kept open.
func (n *Node) route(w http.ResponseWriter, r *http.Request, rec Request, statusCall int) bool {
	key, body := rec.Key, []byte(rec.Body)
	isKV := strings.HasPrefix(rec.Path, "/v1/kv/")
	switch p, m := r.URL.Path, r.Method; {
	case p == "/v1/status" && m == http.MethodGet:
		answer(w, http.StatusOK, n.status(statusCall, r.Host))
	case p == "/v1/kv" && m == http.MethodGet:
		n.list(w, r)
	case isKV && key == "":
		answerError(w, http.StatusBadRequest, errorBody("empty key"))
	case isKV && m == http.MethodGet:
		n.get(w, r, key)
	case isKV && (m == http.MethodPut || m == http.MethodDelete):
		n.write(w, r, key, body)
	case p == "/v1/txn" && m == http.MethodPost:
		n.index++
		answer(w, http.StatusOK, client.TxnAnswer{Succeeded: true, Revision: n.index, Results: n.txnResults})
	case strings.HasPrefix(p, "/v1/watch/") && m == http.MethodGet:
		return n.watch(w)
	case p == "/v1/admin/snapshot" && m == http.MethodPost:
		answer(w, http.StatusOK, client.SnapshotInfo{Index: n.index, Term: n.term})
	case p == "/v1/cluster/transfer-leader" && m == http.MethodPost:
		n.transfer(w, body)
	case p == "/v1/cluster/members" || strings.HasPrefix(p, "/v1/cluster/members/"):
		n.changeMembers(w, r, body)
	case p == "/metrics" && m == http.MethodGet && len(n.metrics) > 0:
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		io.WriteString(w, n.metrics[min(rec.N-n.metricsFrom, len(n.metrics)-1)])
	default:
		answerError(w, http.StatusNotFound, errorBody("404 page not found"))
	}
	return false
}

func (n *Node) status(call int, host string) client.Status {
	id := n.id
	st := client.Status{ID: n.id, State: "leader", Term: n.term, Leader: &id, LeaderHTTP: &host,
		CommitIndex: n.index, AppliedIndex: n.index, LastLogIndex: n.index, Peers: []client.PeerStatus{}}
	if len(n.statusEdits) > 0 {
		if edit := n.statusEdits[min(call, len(n.statusEdits)-1)]; edit != nil {
			edit(&st)
		}
	}
	return st
}

// The server's api.DefaultListLimit and api.MaxListLimit, copied: that
// package would bring the whole server into every client's tests. The
// tests of this package check that they agree.
const (
	defaultListLimit = 100
	maxListLimit     = 10000
)

// encodeItem leaves out a nil value, as the server does in a delete event.
func encodeItem(k string, v []byte, create, mod, version uint64) client.WireItem {
	wi := client.WireItem{CreateRevision: create, ModRevision: mod, Version: version}
	wi.Key, wi.KeyBase64 = client.EncodeBytes([]byte(k))
	if v != nil {
		wi.Value, wi.ValueBase64 = client.EncodeBytes(v)
	}
	return wi
}

func (n *Node) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := defaultListLimit
	if raw, ok := q["limit"]; ok {
		l, err := strconv.Atoi(raw[0])
		if err != nil || l < 1 || l > maxListLimit {
			answerError(w, http.StatusBadRequest, errorBody(fmt.Sprintf("limit %q: want an integer from 1 to %d", raw[0], maxListLimit)))
			return
		}
		limit = l
	}
	var keys []string
	for k := range n.items {
		if strings.HasPrefix(k, q.Get("prefix")) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	items := []client.WireItem{}
	for _, k := range keys[:min(limit, len(keys))] {
		it := n.items[k]
		items = append(items, encodeItem(k, it.value, it.create, it.mod, it.version))
	}
	answer(w, http.StatusOK, struct {
		Items []client.WireItem `json:"items"`
	}{items})
}

func (n *Node) get(w http.ResponseWriter, r *http.Request, key string) {
	it, ok := n.items[key]
	if !ok {
		answerError(w, http.StatusNotFound, errorBody("key not found"))
		return
	}
	if it.mod != 0 {
		w.Header().Set("ETag", etag(it.mod))
	}
	if r.URL.Query().Get("meta") == "1" {
		answer(w, http.StatusOK, encodeItem(key, it.value, it.create, it.mod, it.version))
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(it.value)
}

func etag(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }

// write serves PUT and DELETE of a key, with the server's If-Match and
// If-None-Match. Unlike the server, it spends no index on a write whose
// condition fails.
func (n *Node) write(w http.ResponseWriter, r *http.Request, key string, body []byte) {
	it, exists := n.items[key]
	if !conditionHolds(r.Header, it, exists) {
		var mod, version uint64
		if exists {
			mod, version = it.mod, it.version
		}
		answer(w, http.StatusPreconditionFailed, struct {
			Error       string `json:"error"`
			ModRevision uint64 `json:"mod_revision"`
			Version     uint64 `json:"version"`
		}{"condition failed", mod, version})
		return
	}
	n.index++
	if r.Method == http.MethodDelete {
		delete(n.items, key)
	} else {
		if !exists {
			it = &item{create: n.index}
			n.items[key] = it
		}
		it.value, it.mod = body, n.index
		it.version++
		w.Header().Set("ETag", etag(n.index))
	}
	answer(w, http.StatusOK, struct {
		Index uint64 `json:"index"`
	}{n.index})
}

func conditionHolds(h http.Header, it *item, exists bool) bool {
	switch im := strings.TrimSpace(h.Get("If-Match")); {
	case strings.TrimSpace(h.Get("If-None-Match")) == "*":
		return !exists
	case im == "*":
		return exists
	case im != "":
		return exists && im == etag(it.mod)
	}
	return true
}

func (n *Node) transfer(w http.ResponseWriter, body []byte) {
	to := n.transferTo
	if len(body) > 0 {
		var req struct {
			To *uint64 `json:"to"`
		}
		if err := json.Unmarshal(body, &req); err != nil || req.To == nil {
			answerError(w, http.StatusBadRequest, errorBody(`body: want {"to": <node id>} or nothing`))
			return
		}
		to = *req.To
		if len(n.members.Members) > 0 && !slices.ContainsFunc(n.members.Members, func(m client.Member) bool { return m.ID == to }) {
			answerError(w, http.StatusBadRequest, errorBody(fmt.Sprintf("node %d is not a member of the cluster", to)))
			return
		}
	}
	answer(w, http.StatusOK, struct {
		Leader uint64 `json:"leader"`
	}{to})
}

// changeMembers serves the membership routes. Each change takes effect
// at once and spends an index, which becomes the config index.
func (n *Node) changeMembers(w http.ResponseWriter, r *http.Request, body []byte) {
	rest := strings.TrimPrefix(r.URL.Path, "/v1/cluster/members")
	if r.Method == http.MethodGet && rest == "" {
		answer(w, http.StatusOK, n.members)
		return
	}
	id, action, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	code := http.StatusOK
	switch {
	case r.Method == http.MethodPost && rest == "":
		var m client.NewMember
		if err := json.Unmarshal(body, &m); err != nil {
			answerError(w, http.StatusBadRequest, errorBody("body: "+err.Error()))
			return
		}
		n.members.Members = append(n.members.Members, client.Member{ID: m.ID, RaftAddr: m.RaftAddr, HTTPAddr: m.HTTPAddr,
			Role: "learner", Incarnation: m.Incarnation})
		code = http.StatusCreated
	case r.Method == http.MethodPost && action == "promote":
		for i := range n.members.Members {
			if strconv.FormatUint(n.members.Members[i].ID, 10) == id {
				n.members.Members[i].Role = "voter"
			}
		}
	case r.Method == http.MethodDelete && action == "":
		n.members.Members = slices.DeleteFunc(n.members.Members, func(m client.Member) bool {
			return strconv.FormatUint(m.ID, 10) == id
		})
	default:
		answerError(w, http.StatusNotFound, errorBody("404 page not found"))
		return
	}
	n.index++
	n.members.ConfigIndex = n.index
	answer(w, code, n.members)
}

// watch streams the events SetWatch set and reports whether the stream
// stays open.
func (n *Node) watch(w http.ResponseWriter) bool {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	for _, ev := range n.watchEvents {
		var data any = map[string]uint64{"revision": ev.Revision}
		if ev.Type != "progress" {
			it := ev.Item
			data = encodeItem(it.Key, it.Value, it.CreateRevision, it.ModRevision, it.Version)
		}
		writeSSE(w, ev.Type, strconv.FormatUint(ev.Revision, 10), data)
	}
	if n.compactAt != 0 {
		writeSSE(w, "compacted", "", map[string]uint64{"compact_revision": n.compactAt})
		return false
	}
	w.(http.Flusher).Flush()
	return true
}

func writeSSE(w io.Writer, event, id string, data any) {
	b, _ := json.Marshal(data)
	if id != "" {
		fmt.Fprintf(w, "id: %s\n", id)
	}
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
}

type errorBody string

func (e errorBody) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"error": string(e)})
}

// answerError answers code with body, or with the server's error shape
// when body is nil; a 503 tells the client to retry, as the server's do.
func answerError(w http.ResponseWriter, code int, body any) {
	if body == nil {
		body = errorBody("fake " + http.StatusText(code))
	}
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	answer(w, code, body)
}

func answer(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
