package bench

import (
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeNode is just enough of the raftkv API for the benchmark.
type fakeNode struct {
	id     uint64
	delay  time.Duration // added to each kv request
	failAt int64         // when > 0, kv requests after this many answer 503
	// leaderHTTP, when set, makes the node a follower naming that leader;
	// after failAt it becomes the state of a node that stepped down.
	leaderHTTP string
	movedTo    atomic.Pointer[string] // after failAt: the leader it names
	quiet      bool                   // after failAt, keep serving (as a forwarding follower would)

	puts, gets atomic.Int64
	mu         sync.Mutex // guards data, queries
	data       map[string][]byte
	queries    map[string]int // RawQuery of GETs
	keys       map[string]int // writes per key
}

func newFakeNode(id uint64) *fakeNode {
	return &fakeNode{id: id, data: map[string][]byte{}, queries: map[string]int{}, keys: map[string]int{}}
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	jsonOut := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	n := f.puts.Load() + f.gets.Load()
	failing := f.failAt > 0 && n >= f.failAt
	if r.URL.Path == "/v1/status" {
		st := map[string]any{"id": f.id, "state": "leader", "term": 3, "leader": f.id, "leader_http": nil,
			"commit_index": 1, "applied_index": 1, "last_log_index": 1, "peers": []any{}}
		leaderHTTP := f.leaderHTTP
		if p := f.movedTo.Load(); p != nil && failing {
			leaderHTTP = *p
			st["term"] = 4
		}
		if leaderHTTP != "" {
			st["state"], st["leader"], st["leader_http"] = "follower", 99, leaderHTTP
		}
		jsonOut(200, st)
		return
	}
	key, ok := strings.CutPrefix(r.URL.Path, "/v1/kv/")
	if !ok {
		jsonOut(404, map[string]string{"error": "no route"})
		return
	}
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	if failing && !f.quiet {
		w.Header().Set("Retry-After", "1")
		jsonOut(503, map[string]string{"error": "no leader"})
		return
	}
	switch r.Method {
	case http.MethodPut:
		f.puts.Add(1)
		v, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.data[key] = v
		f.keys[key]++
		f.mu.Unlock()
		jsonOut(200, map[string]uint64{"index": uint64(f.puts.Load())})
	case http.MethodGet:
		f.gets.Add(1)
		f.mu.Lock()
		v, ok := f.data[key]
		f.queries[r.URL.RawQuery]++
		f.mu.Unlock()
		if !ok {
			jsonOut(404, map[string]string{"error": "key not found"})
			return
		}
		w.Write(v)
	}
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// statusOnly serves f's status and answers every other request 503.
func statusOnly(f *fakeNode) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/status" {
			f.ServeHTTP(w, r)
			return
		}
		http.Error(w, `{"error":"no leader"}`, http.StatusServiceUnavailable)
	})
}

func nan() float64 { return math.NaN() }
