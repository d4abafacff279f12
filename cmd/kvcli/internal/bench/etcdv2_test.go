package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeEtcd is just enough of etcd 3.4's v2 API for the benchmark, and
// records what it was sent.
type fakeEtcd struct {
	state string // what /v2/stats/self says: StateLeader, StateFollower, or "" for a 404
	// failEvery, when > 0, answers every failEvery-th key request with
	// failStatus instead of serving it.
	failEvery  int
	failStatus int
	// missing keys are accepted by PUT but never found by GET.
	missing func(key string) bool

	mu       sync.Mutex
	data     map[string]string
	index    uint64
	n        int
	requests []etcdRequest
	statuses map[int]int // answers by status
}

type etcdRequest struct {
	method, path, query, contentType string
	form                             url.Values
	rawBody                          string
}

func newFakeEtcd(state string) *fakeEtcd {
	return &fakeEtcd{state: state, data: map[string]string{}, statuses: map[int]int{}}
}

func (f *fakeEtcd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
		f.statuses[code]++
	}
	if r.URL.Path == "/v2/stats/self" {
		if f.state == "" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"name": "e", "id": "8e9e05c52164694d", "state": f.state,
			"leaderInfo": map[string]any{"leader": "8e9e05c52164694d"}})
		return
	}
	key, ok := strings.CutPrefix(r.URL.Path, "/v2/keys/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	f.requests = append(f.requests, etcdRequest{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery,
		contentType: r.Header.Get("Content-Type"), form: form, rawBody: string(body)})
	if f.failEvery > 0 && f.n%f.failEvery == 0 {
		reply(f.failStatus, map[string]any{"errorCode": 300, "message": "Raft Internal Error", "index": f.index})
		return
	}
	switch r.Method {
	case http.MethodPut:
		v, had := f.data[key]
		f.index++
		f.data[key] = form.Get("value")
		node := map[string]any{"key": "/" + key, "value": form.Get("value"), "modifiedIndex": f.index, "createdIndex": f.index}
		if had {
			reply(http.StatusOK, map[string]any{"action": "set", "node": node,
				"prevNode": map[string]any{"key": "/" + key, "value": v, "modifiedIndex": f.index - 1}})
		} else {
			reply(http.StatusCreated, map[string]any{"action": "set", "node": node})
		}
	case http.MethodGet:
		v, ok := f.data[key]
		if !ok || (f.missing != nil && f.missing(key)) {
			reply(http.StatusNotFound, map[string]any{"errorCode": 100, "message": "Key not found", "cause": "/" + key, "index": f.index})
			return
		}
		reply(http.StatusOK, map[string]any{"action": "get", "node": map[string]any{"key": "/" + key, "value": v, "modifiedIndex": 1}})
	default:
		reply(http.StatusMethodNotAllowed, map[string]any{"errorCode": 405, "message": "method not allowed"})
	}
}

func (f *fakeEtcd) recorded() []etcdRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]etcdRequest(nil), f.requests...)
}

func etcdCfg(mode Mode, endpoints ...string) Config {
	c := cfgFor(mode, endpoints...)
	c.Protocol = ProtocolEtcdV2
	return c
}

func TestEtcdV2Write(t *testing.T) {
	follower, leader := newFakeEtcd("StateFollower"), newFakeEtcd("StateLeader")
	fURL, lURL := serve(t, follower), serve(t, leader)
	res, err := Run(context.Background(), etcdCfg(Write, fURL, lURL))
	if err != nil {
		t.Fatal(err)
	}
	checkSane(t, res)
	if res.Ops != 200 || res.Writes != 200 || res.Errors != 0 {
		t.Errorf("ops %d writes %d errors %v", res.Ops, res.Writes, res.ErrorsByKind)
	}
	if n := len(follower.recorded()); n != 0 {
		t.Errorf("the follower got %d key requests; all should go to the leader", n)
	}
	reqs := leader.recorded()
	if len(reqs) != 200 {
		t.Fatalf("leader got %d requests, want 200", len(reqs))
	}
	want := string(makeValue(32, 1))
	for _, r := range reqs {
		if r.method != http.MethodPut || !strings.HasPrefix(r.path, "/v2/keys/bench/") || len(r.path) != len("/v2/keys/bench/00") ||
			r.query != "" || r.contentType != "application/x-www-form-urlencoded" ||
			len(r.form) != 1 || r.form.Get("value") != want || r.rawBody != "value="+want {
			t.Fatalf("request %+v", r)
		}
	}
	// 50 keys, each written 4 times: 50 created, 150 replaced.
	if leader.statuses[201] != 50 || leader.statuses[200] != 150 {
		t.Errorf("answers %v, want 50 x 201 and 150 x 200", leader.statuses)
	}
	if len(res.Targets) != 1 || res.Targets[0] != lURL || !res.Leaders || res.LeaderGuess != "" {
		t.Errorf("targets %v, guess %q", res.Targets, res.LeaderGuess)
	}
	if res.Server != nil || !strings.Contains(res.ServerNote, "etcd-v2") {
		t.Errorf("server %+v, note %q", res.Server, res.ServerNote)
	}
	var text bytes.Buffer
	res.WriteText(&text)
	for _, w := range []string{"bench write (etcd-v2): 4 clients, 32-byte values, to the leader at " + lURL, "200 ok, 0 failed", "server:     no figures: not read with --protocol etcd-v2"} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("report lacks %q:\n%s", w, text.String())
		}
	}
	js, _ := res.JSON()
	if !jsonShape.Match(js) {
		t.Errorf("JSON %s", js)
	}
}

func TestEtcdV2Reads(t *testing.T) {
	for _, tt := range []struct {
		consistency, query string
	}{
		{"", "quorum=true"},
		{"linearizable", "quorum=true"},
		{"stale", ""},
	} {
		leader := newFakeEtcd("StateLeader")
		cfg := etcdCfg(Read, serve(t, leader))
		cfg.Consistency = tt.consistency
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkSane(t, res)
		if res.Reads != 200 || res.Errors != 0 {
			t.Errorf("%q: reads %d errors %v", tt.consistency, res.Reads, res.ErrorsByKind)
		}
		var puts, gets int
		for _, r := range leader.recorded() {
			switch r.method {
			case http.MethodPut:
				puts++
			case http.MethodGet:
				gets++
				if r.query != tt.query || r.rawBody != "" || !strings.HasPrefix(r.path, "/v2/keys/bench/") {
					t.Fatalf("%q: GET %+v, want query %q", tt.consistency, r, tt.query)
				}
			}
		}
		if puts != 50 || gets != 200 {
			t.Errorf("%q: %d prefill PUTs (want 50), %d GETs (want 200)", tt.consistency, puts, gets)
		}
		// MB/s counts the values read out of etcd's JSON, not the JSON.
		if want := float64(200*32) / res.Duration.Seconds() / 1e6; res.MBPerSec < want*0.99 || res.MBPerSec > want*1.01 {
			t.Errorf("read MB/s %f, want %f", res.MBPerSec, want)
		}
	}
}

func TestEtcdV2ErrorsCounted(t *testing.T) {
	t.Run("error answers", func(t *testing.T) {
		leader := newFakeEtcd("StateLeader")
		leader.failEvery, leader.failStatus = 4, http.StatusInternalServerError
		res, err := Run(context.Background(), etcdCfg(Write, serve(t, leader)))
		if err != nil {
			t.Fatal(err)
		}
		if res.Errors != 50 || res.ErrorsByKind["http 500"] != 50 || res.Ops != 150 {
			t.Errorf("ops %d, errors %d %v; want 150 ok and 50 x http 500", res.Ops, res.Errors, res.ErrorsByKind)
		}
	})
	t.Run("absent keys", func(t *testing.T) {
		leader := newFakeEtcd("StateLeader")
		leader.missing = func(k string) bool { return strings.HasSuffix(k, "7") }
		res, err := Run(context.Background(), etcdCfg(Read, serve(t, leader)))
		if err != nil {
			t.Fatal(err)
		}
		// Keys 07, 17, ..., 47 of 50, read sequentially 4 times each: 20.
		if res.ErrorsByKind[KindNotFound] != 20 || res.Errors != 20 || res.Reads != 180 {
			t.Errorf("reads %d, errors %v; want 180 and 20 not found", res.Reads, res.ErrorsByKind)
		}
	})
	t.Run("unusable answer", func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v2/stats/self" {
				fmt.Fprint(w, `{"state":"StateLeader"}`)
				return
			}
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `not json`)
		})
		res, err := Run(context.Background(), etcdCfg(Write, serve(t, h)))
		if res == nil || res.ErrorsByKind[KindBadAnswer] != 200 || err == nil {
			t.Fatalf("result %+v, error %v", res, err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		cfg := etcdCfg(Write, deadAddr(t))
		cfg.Requests, cfg.Duration, cfg.FailFast = 0, time.Minute, 200*time.Millisecond
		res, err := Run(context.Background(), cfg)
		if res == nil || res.ErrorsByKind[KindRefused] == 0 || res.ErrorsByKind[KindRefused] != res.Errors || err == nil {
			t.Fatalf("result %+v, error %v", res, err)
		}
	})
}

// TestEtcdV2NoLeaderFound: when no endpoint reports itself leader, the run
// sends to the first endpoint and says so.
func TestEtcdV2NoLeaderFound(t *testing.T) {
	first, second := newFakeEtcd(""), newFakeEtcd("StateFollower")
	fURL := serve(t, first)
	res, err := Run(context.Background(), etcdCfg(Write, fURL, serve(t, second)))
	if err != nil {
		t.Fatal(err)
	}
	if len(first.recorded()) != 200 || len(second.recorded()) != 0 {
		t.Errorf("first got %d, second %d", len(first.recorded()), len(second.recorded()))
	}
	if !strings.Contains(res.LeaderGuess, "StateLeader") {
		t.Errorf("guess %q", res.LeaderGuess)
	}
	var text bytes.Buffer
	res.WriteText(&text)
	if !strings.Contains(text.String(), "to "+fURL+" (no leader found: ") {
		t.Errorf("report:\n%s", text.String())
	}
}

func TestEtcdV2Spread(t *testing.T) {
	nodes := []*fakeEtcd{newFakeEtcd("StateFollower"), newFakeEtcd("StateLeader"), newFakeEtcd("StateFollower")}
	var eps []string
	for _, n := range nodes {
		eps = append(eps, serve(t, n))
	}
	cfg := etcdCfg(Write, eps...)
	cfg.Spread, cfg.Requests = true, 300
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		if got := len(n.recorded()); got != 100 {
			t.Errorf("node %d got %d of 300", i, got)
		}
	}
}

func TestKeysPath(t *testing.T) {
	for in, want := range map[string]string{
		"bench/007": "/v2/keys/bench/007",
		"a b":       "/v2/keys/a%20b",
		"x?y#z":     "/v2/keys/x%3Fy%23z",
	} {
		if got := keysPath(in); got != want {
			t.Errorf("keysPath(%q) = %q, want %q", in, got, want)
		}
	}
}
