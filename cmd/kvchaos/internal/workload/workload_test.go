package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftkv/raftkv/cmd/kvchaos/internal/history"
	"github.com/raftkv/raftkv/internal/fakenode"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeServer is a key-value server whose answers a test scripts: each
// request takes the next scripted status (200 when the script is empty)
// and is applied only on 200 or 504 (a timed-out write may still apply).
type fakeServer struct {
	srv *httptest.Server

	mu      sync.Mutex // guards the fields below
	data    map[string]string
	script  []int
	noLease bool     // refuse ?consistency=lease, as a server without lease reads does
	seen    []string // "METHOD key Request-Id consistency" per request
}

func newFakeServer(t *testing.T) *fakeServer {
	f := &fakeServer{data: map[string]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

func (f *fakeServer) setScript(statuses ...int) {
	f.mu.Lock()
	f.script = statuses
	f.mu.Unlock()
}

func (f *fakeServer) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/v1/kv/")
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, strings.Join([]string{r.Method, key, r.Header.Get("Request-Id"), r.URL.Query().Get("consistency")}, " "))
	status := http.StatusOK
	if len(f.script) > 0 {
		status, f.script = f.script[0], f.script[1:]
	}
	if f.noLease && r.URL.Query().Get("consistency") == "lease" {
		http.Error(w, `{"error":"consistency \"lease\": want linearizable (the default) or stale"}`, http.StatusBadRequest)
		return
	}
	if status != http.StatusOK && status != http.StatusGatewayTimeout {
		http.Error(w, `{"error":"scripted"}`, status)
		return
	}
	if r.URL.Path == "/v1/txn" {
		f.txn(w, body, status)
		return
	}
	switch r.Method {
	case http.MethodPut:
		f.data[key] = string(body)
	case http.MethodDelete:
		delete(f.data, key)
	case http.MethodGet:
		if status == http.StatusOK {
			v, ok := f.data[key]
			if !ok {
				http.Error(w, `{"error":"key not found"}`, http.StatusNotFound)
				return
			}
			io.WriteString(w, v)
			return
		}
	}
	if status == http.StatusOK {
		io.WriteString(w, `{"index":1}`)
		return
	}
	http.Error(w, `{"error":"write did not complete (it may still be applied)"}`, status)
}

// txn runs the one shape of transaction the workload sends: a compare on
// one key's value (or version 0), then a put.
func (f *fakeServer) txn(w http.ResponseWriter, body []byte, status int) {
	var t struct {
		Compare []struct {
			Key, Target string
			Value       any
		}
		Success []struct{ Key, Value string }
	}
	if err := json.Unmarshal(body, &t); err != nil || len(t.Compare) != 1 || len(t.Success) != 1 {
		http.Error(w, `{"error":"not the workload's transaction"}`, http.StatusBadRequest)
		return
	}
	cmp := t.Compare[0]
	v, present := f.data[cmp.Key]
	holds := !present
	if cmp.Target == "value" {
		holds = present && v == cmp.Value
	}
	if holds {
		f.data[t.Success[0].Key] = t.Success[0].Value
	}
	if status != http.StatusOK {
		http.Error(w, `{"error":"write did not complete (it may still be applied)"}`, status)
		return
	}
	fmt.Fprintf(w, `{"succeeded":%v,"revision":1,"results":[]}`, holds)
}

func newTestClient(t *testing.T, nodes map[uint64]string, lease bool) (*client, *history.Recorder) {
	rec := history.NewRecorder()
	w := New(Options{Clients: 1, Keys: 1, Nodes: nodes, Lease: lease, WriteRetries: 2,
		Timeout: 2 * time.Second, Seed: 1, RunID: "test"}, rec)
	t.Cleanup(w.Close)
	return w.newClient(3), rec
}

func lastOp(t *testing.T, rec *history.Recorder) history.Op {
	t.Helper()
	ops := rec.Ops()
	if len(ops) != 1 {
		t.Fatalf("%d ops recorded, want 1: %+v", len(ops), ops)
	}
	return ops[0]
}

func TestWriteOutcomes(t *testing.T) {
	tests := []struct {
		name         string
		script       []int
		refused      bool // every node refuses connections
		wantOutcome  history.Outcome
		wantAttempts int
	}{
		{"ok at once", nil, false, history.OK, 1},
		{"timeout then ok", []int{504, 200}, false, history.OK, 2},
		{"unavailable then ok", []int{503, 503, 200}, false, history.OK, 3},
		{"always timing out", []int{504, 504, 504}, false, history.Unknown, 3},
		{"5xx", []int{500, 503, 502}, false, history.Unknown, 3},
		{"timeout then refused input", []int{504, 400}, false, history.Unknown, 2},
		{"bad request", []int{400}, false, history.Failed, 1},
		{"too large", []int{413}, false, history.Failed, 1},
		{"connection refused everywhere", nil, true, history.Failed, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t)
			addr := f.addr()
			if tt.refused {
				addr = fakenode.DeadAddr(t)
			}
			f.setScript(tt.script...)
			c, rec := newTestClient(t, map[uint64]string{0: addr, 1: addr}, false)
			c.seq = 7
			c.write(context.Background(), nil, history.Put, "k0", "v7")
			op := lastOp(t, rec)
			if op.Outcome != tt.wantOutcome || op.Attempts != tt.wantAttempts {
				t.Fatalf("outcome %v after %d attempts (%s), want %v after %d", op.Outcome, op.Attempts, op.Err,
					tt.wantOutcome, tt.wantAttempts)
			}
			if op.RequestID != "test-c3:7" || op.Client != 3 || op.Kind != history.Put || op.Value != "v7" {
				t.Fatalf("op %+v", op)
			}
			if op.Return < op.Call {
				t.Fatalf("returned before called: %+v", op)
			}
			if (op.Outcome == history.OK) != (op.Err == "") {
				t.Fatalf("outcome %v with error %q", op.Outcome, op.Err)
			}
			// Every attempt carried the same Request-Id.
			for _, r := range f.requests() {
				if r != "PUT k0 test-c3:7 " {
					t.Fatalf("request %q", r)
				}
			}
			if !tt.refused && len(f.requests()) != tt.wantAttempts {
				t.Fatalf("server saw %d requests, want %d", len(f.requests()), tt.wantAttempts)
			}
		})
	}
}

func TestCas(t *testing.T) {
	f := newFakeServer(t)
	c, rec := newTestClient(t, map[uint64]string{0: f.addr()}, false)
	ctx := context.Background()
	c.seq = 1
	c.cas(ctx, nil, "k0", "a") // nothing seen: expects absent, and it is
	c.get(ctx, "k0")
	c.seq = 2
	c.cas(ctx, nil, "k0", "b") // expects the "a" it read
	f.mu.Lock()
	f.data["k0"] = "other" // someone else writes
	f.mu.Unlock()
	c.seq = 3
	c.cas(ctx, nil, "k0", "c") // still expects "b": fails
	f.setScript(http.StatusGatewayTimeout)
	c.seq = 4
	c.cas(ctx, nil, "k0", "d") // an unknown outcome is retried, same id
	ops := rec.Ops()
	want := []string{
		"cas k0 absent -> a: ok true",
		"get k0: ok",
		"cas k0 a -> b: ok true",
		"cas k0 b -> c: ok false",
		"cas k0 b -> d: ok false",
	}
	if len(ops) != len(want) {
		t.Fatalf("%d ops: %+v", len(ops), ops)
	}
	for i, op := range ops {
		var got string
		if op.Kind == history.Get {
			got = fmt.Sprintf("get %s: %v", op.Key, op.Outcome)
		} else {
			expect := op.Expect
			if op.ExpectAbsent {
				expect = "absent"
			}
			got = fmt.Sprintf("cas %s %s -> %s: %v %v", op.Key, expect, op.Value, op.Outcome, op.Succeeded)
		}
		if got != want[i] {
			t.Errorf("op %d: %s, want %s", i, got, want[i])
		}
	}
	if last := ops[len(ops)-1]; last.Attempts != 2 || last.RequestID != "test-c3:4" {
		t.Errorf("retried cas: %d attempts, id %s", last.Attempts, last.RequestID)
	}
}

func TestDeleteAndRead(t *testing.T) {
	f := newFakeServer(t)
	c, rec := newTestClient(t, map[uint64]string{4: f.addr()}, false)
	ctx := context.Background()
	c.seq++
	c.write(ctx, nil, history.Put, "k0", "a")
	c.get(ctx, "k0")
	c.seq++
	c.write(ctx, nil, history.Delete, "k0", "")
	c.get(ctx, "k0")
	f.setScript(500)
	c.get(ctx, "k0")
	ops := rec.Ops()
	if len(ops) != 5 {
		t.Fatalf("%d ops", len(ops))
	}
	if g := ops[1]; g.Kind != history.Get || !g.Found || g.Value != "a" || g.Outcome != history.OK || g.Node != 4 {
		t.Fatalf("get after put: %+v", g)
	}
	if d := ops[2]; d.Kind != history.Delete || d.Outcome != history.OK || d.RequestID != "test-c3:2" {
		t.Fatalf("delete: %+v", d)
	}
	if g := ops[3]; g.Found || g.Outcome != history.OK || g.Consistency != "linearizable" {
		t.Fatalf("get after delete: %+v", g)
	}
	if g := ops[4]; g.Outcome != history.Failed || !strings.Contains(g.Err, "500") {
		t.Fatalf("failed get: %+v", g)
	}
	if f.requests()[1] != "GET k0  linearizable" {
		t.Fatalf("read request %q", f.requests()[1])
	}
}

func TestLeaseFallback(t *testing.T) {
	f := newFakeServer(t)
	c, rec := newTestClient(t, map[uint64]string{0: f.addr()}, true)
	ctx := context.Background()
	f.noLease = true
	// Half the reads ask for a lease; the first one that does is refused.
	for range 20 {
		c.get(ctx, "k0")
	}
	if !c.w.LeaseMissing() {
		t.Fatal("lease never tried in 20 reads, or the 400 was not taken as 'feature missing'")
	}
	ops := rec.Ops()
	if len(ops) != 20 {
		t.Fatalf("%d ops recorded, want 20 (the refused lease read is asked again)", len(ops))
	}
	for _, op := range ops {
		if op.Outcome != history.OK {
			t.Fatalf("read failed: %+v", op)
		}
	}
	// After the refusal, reads are linearizable only.
	reqs := f.requests()
	i := 0
	for ; i < len(reqs) && !strings.HasSuffix(reqs[i], "lease"); i++ {
	}
	for _, r := range reqs[i+1:] {
		if strings.HasSuffix(r, "lease") {
			t.Fatalf("lease read after the server refused them: %v", reqs)
		}
	}
}

func TestReadTimeoutFails(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	rec := history.NewRecorder()
	w := New(Options{Clients: 1, Keys: 1, Nodes: map[uint64]string{0: strings.TrimPrefix(srv.URL, "http://")},
		Timeout: 50 * time.Millisecond, RunID: "t"}, rec)
	defer w.Close()
	c := w.newClient(0)
	c.get(context.Background(), "k0")
	if op := lastOp(t, rec); op.Outcome != history.Failed || !strings.Contains(op.Err, "deadline") {
		t.Fatalf("timed-out read: %+v", op)
	}
}

func TestRunAndFinalReads(t *testing.T) {
	f := newFakeServer(t)
	rec := history.NewRecorder()
	w := New(Options{Clients: 3, Keys: 2, Nodes: map[uint64]string{0: f.addr(), 1: f.addr()}, Lease: true,
		WriteRetries: 1, Timeout: time.Second, Rate: 300, Seed: 9, RunID: "run"}, rec)
	defer w.Close()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { w.Run(context.Background(), stop); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(rec.Ops()) < 30 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d ops in 5s", len(rec.Ops()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	<-done
	n := len(rec.Ops())
	counts := history.Count(rec.Ops())
	if counts[history.Get][history.OK] == 0 || counts[history.Put][history.OK] == 0 {
		t.Fatalf("counts %v", counts)
	}
	if err := w.FinalReads(context.Background(), 3, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	final := rec.Ops()[n:]
	if len(final) != 4 { // 2 nodes x 2 keys
		t.Fatalf("%d final reads, want 4", len(final))
	}
	for _, op := range rec.Ops() {
		if op.Client == 3 && (op.Kind != history.Get || op.Consistency != "linearizable") {
			t.Fatalf("final read %+v", op)
		}
	}
	if res := history.Check(rec.Ops(), 10*time.Second); res.Verdict != history.Linearizable {
		t.Fatalf("a single in-memory map gave %q", res.Verdict)
	}
}

func TestFinalReadsGiveUp(t *testing.T) {
	rec := history.NewRecorder()
	w := New(Options{Clients: 1, Keys: 1, Nodes: map[uint64]string{0: fakenode.DeadAddr(t)}, Timeout: time.Second}, rec)
	defer w.Close()
	err := w.FinalReads(context.Background(), 1, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "read k0 from node 0") {
		t.Fatalf("FinalReads = %v", err)
	}
}
