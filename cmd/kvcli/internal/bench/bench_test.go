package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/internal/fakenode"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func cfgFor(mode Mode, endpoints ...string) Config {
	c := Defaults(mode)
	c.Endpoints = endpoints
	c.Clients = 4
	c.Requests = 200
	c.Keys = 50
	c.ValueSize = 32
	c.Timeout = 2 * time.Second
	return c
}

// checkSane asserts what must hold of any run that did something.
func checkSane(t *testing.T, r *Result) {
	t.Helper()
	l := r.Latency
	if r.Ops <= 0 || r.OpsPerSec <= 0 || r.Duration <= 0 {
		t.Errorf("ops %d, ops/s %f, duration %v", r.Ops, r.OpsPerSec, r.Duration)
	}
	if !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Errorf("latencies out of order: %+v", l)
	}
	if r.Ops+r.Errors > 0 && r.Reads+r.Writes != r.Ops {
		t.Errorf("reads %d + writes %d != ops %d", r.Reads, r.Writes, r.Ops)
	}
}

var jsonShape = regexp.MustCompile(`^\{"ops":\d+,"errors":\d+,"duration_s":[0-9.e+-]+,"ops_per_sec":[0-9.e+-]+,"mb_per_sec":[0-9.e+-]+,` +
	`"clients":\d+,"value_size":\d+,"latency_ms":\{"p50":[0-9.e+-]+,"p90":[0-9.e+-]+,"p99":[0-9.e+-]+,"p999":[0-9.e+-]+,"max":[0-9.e+-]+\}\}\n$`)

func TestWriteByRequests(t *testing.T) {
	node := newFakeNode(1)
	node.SetLatency(time.Millisecond)
	url := serve(t, node)
	cfg := cfgFor(Write, url)
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkSane(t, res)
	if res.Ops != 200 || res.Writes != 200 || res.Errors != 0 || puts(node) != 200 {
		t.Errorf("ops %d writes %d errors %d; server saw %d puts", res.Ops, res.Writes, res.Errors, puts(node))
	}
	if res.Latency.P50 < time.Millisecond {
		t.Errorf("p50 %v is below the server's 1ms delay: not measuring the request", res.Latency.P50)
	}
	// Sequential keys over a space of 50: each written exactly 4 times.
	keys := served(node, http.MethodPut)
	for k, n := range keys {
		if n != 4 || !strings.HasPrefix(k, "bench/") || len(k) != len("bench/00") {
			t.Errorf("key %q written %d times", k, n)
		}
		if v, _ := node.Get(k); len(v) != 32 {
			t.Errorf("value of %q is %d bytes, want 32", k, len(v))
		}
	}
	if len(keys) != 50 {
		t.Errorf("%d distinct keys, want 50", len(keys))
	}
	if wantMB := float64(200*32) / res.Duration.Seconds() / 1e6; res.MBPerSec < wantMB*0.99 || res.MBPerSec > wantMB*1.01 {
		t.Errorf("MB/s %f, want %f", res.MBPerSec, wantMB)
	}
	if len(res.Targets) != 1 || res.Targets[0] != url || !res.Leaders {
		t.Errorf("targets %v", res.Targets)
	}

	js, err := res.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !jsonShape.Match(js) {
		t.Fatalf("JSON not in the promised shape:\n%s", js)
	}
	var back struct {
		Ops       int64   `json:"ops"`
		Clients   int     `json:"clients"`
		ValueSize int     `json:"value_size"`
		OpsPerSec float64 `json:"ops_per_sec"`
		Latency   struct {
			P50, P99, Max float64
		} `json:"latency_ms"`
	}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.Ops != 200 || back.Clients != 4 || back.ValueSize != 32 || back.OpsPerSec <= 0 ||
		!(back.Latency.P50 > 0 && back.Latency.P50 <= back.Latency.P99 && back.Latency.P99 <= back.Latency.Max) {
		t.Errorf("JSON %s", js)
	}

	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bench write: 4 clients, 32-byte values, to the leader at " + url, "200 ok, 0 failed", "errors      none", "ops/s", "p99.9"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, text.String())
		}
	}
}

func TestWriteByDuration(t *testing.T) {
	url := serve(t, newFakeNode(1))
	cfg := cfgFor(Write, url)
	cfg.Requests = 0
	cfg.Duration = 300 * time.Millisecond
	start := time.Now()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkSane(t, res)
	if res.Duration < 300*time.Millisecond || time.Since(start) > 5*time.Second {
		t.Errorf("a 300ms run measured %v and took %v", res.Duration, time.Since(start))
	}
}

func TestRandomKeys(t *testing.T) {
	node := newFakeNode(1)
	cfg := cfgFor(Write, serve(t, node))
	cfg.KeyOrder, cfg.Keys, cfg.Requests = Random, 1000, 300
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	keys := served(node, http.MethodPut)
	// A sequential order would write bench/000..bench/299 once each;
	// uniform draws land beyond 299 and, by the birthday bound, collide.
	var beyond int
	for k := range keys {
		if k > "bench/299" {
			beyond++
		}
		if len(k) != len("bench/000") {
			t.Errorf("key %q not zero-padded to the key space", k)
		}
	}
	if beyond == 0 || len(keys) == 300 {
		t.Errorf("%d distinct keys, %d beyond 299: not uniform over 1000", len(keys), beyond)
	}
}

func TestRead(t *testing.T) {
	node := newFakeNode(1)
	cfg := cfgFor(Read, serve(t, node))
	cfg.Consistency = "stale"
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkSane(t, res)
	if res.Reads != 200 || res.Writes != 0 || res.Errors != 0 {
		t.Errorf("reads %d writes %d errors %v", res.Reads, res.Writes, res.ErrorsByKind)
	}
	if puts(node) != 50 {
		t.Errorf("prefill wrote %d keys, want 50", puts(node))
	}
	if res.Prefill <= 0 {
		t.Error("prefill time not reported")
	}
	if qs := getQueries(node); qs["consistency=stale"] != 200 {
		t.Errorf("GET queries %v", qs)
	}
	if want := float64(200*32) / res.Duration.Seconds() / 1e6; res.MBPerSec < want*0.99 || res.MBPerSec > want*1.01 {
		t.Errorf("read MB/s %f, want %f", res.MBPerSec, want)
	}
}

func TestMixedRatio(t *testing.T) {
	for _, tt := range []struct {
		ratio          float64
		reads, writes  bool // whether each must be > 0
		noReads, noWrs bool
	}{
		{ratio: 0, writes: true, noReads: true},
		{ratio: 1, reads: true, noWrs: true},
		{ratio: 0.5, reads: true, writes: true},
	} {
		node := newFakeNode(1)
		cfg := cfgFor(Mixed, serve(t, node))
		cfg.ReadRatio = tt.ratio
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkSane(t, res)
		if res.Ops != 200 || (tt.reads && res.Reads == 0) || (tt.writes && res.Writes == 0) ||
			(tt.noReads && res.Reads != 0) || (tt.noWrs && res.Writes != 0) {
			t.Errorf("ratio %v: %d reads, %d writes of %d", tt.ratio, res.Reads, res.Writes, res.Ops)
		}
	}
}

func TestSpreadRoundRobin(t *testing.T) {
	nodes := []*fakenode.Node{newFakeNode(0), newFakeNode(1), newFakeNode(2)}
	var eps []string
	for _, n := range nodes {
		eps = append(eps, serve(t, n))
	}
	cfg := cfgFor(Write, eps...)
	cfg.Spread, cfg.Requests = true, 300
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		if puts(n) != 100 {
			t.Errorf("node %d got %d of 300 writes, want 100", i, puts(n))
		}
	}
	if len(res.Targets) != 3 || res.Leaders {
		t.Errorf("targets %v", res.Targets)
	}
}

func TestWritesGoToTheLeader(t *testing.T) {
	leader := newFakeNode(2)
	leaderURL := serve(t, leader)
	fnode := newFakeNode(0)
	follower(fnode, strings.TrimPrefix(leaderURL, "http://"))
	// The leader is not even among the endpoints: a follower names it.
	res, err := Run(context.Background(), cfgFor(Write, deadAddr(t), serve(t, fnode)))
	if err != nil {
		t.Fatal(err)
	}
	if puts(leader) != 200 || puts(fnode) != 0 || res.Targets[0] != leaderURL {
		t.Errorf("leader %d puts, follower %d, targets %v", puts(leader), puts(fnode), res.Targets)
	}
}

func TestFollowsALeaderChange(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the once-a-second leader lookup")
	}
	newLeader := newFakeNode(2)
	newURL := serve(t, newLeader)
	old := newFakeNode(1)
	stepDown(old, 20, strings.TrimPrefix(newURL, "http://"), false)
	oldURL := serve(t, old)

	cfg := cfgFor(Write, oldURL, newURL)
	cfg.Requests = 0
	cfg.Duration = 1500 * time.Millisecond
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if puts(newLeader) == 0 || res.ErrorsByKind["http 503"] == 0 || !slices.Equal(res.Targets, []string{oldURL, newURL}) {
		t.Errorf("new leader got %d writes; errors %v; targets %v", puts(newLeader), res.ErrorsByKind, res.Targets)
	}
	if res.Errors != res.ErrorsByKind["http 503"] {
		t.Errorf("errors %d, by kind %v", res.Errors, res.ErrorsByKind)
	}
}

// TestFollowsAQuietStepDown: a leader that steps down keeps answering as
// a forwarding follower, without an error; the benchmark must notice anyway.
func TestFollowsAQuietStepDown(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the once-a-second leader check")
	}
	newLeader := newFakeNode(2)
	newURL := serve(t, newLeader)
	old := newFakeNode(1)
	stepDown(old, 20, strings.TrimPrefix(newURL, "http://"), true)
	oldURL := serve(t, old)

	cfg := cfgFor(Write, oldURL)
	cfg.Requests, cfg.Duration = 0, 1800*time.Millisecond
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 || puts(newLeader) == 0 || !slices.Equal(res.Targets, []string{oldURL, newURL}) {
		t.Errorf("errors %v; new leader got %d writes; targets %v", res.ErrorsByKind, puts(newLeader), res.Targets)
	}
	var text bytes.Buffer
	res.WriteText(&text)
	if !strings.Contains(text.String(), "to the leader at "+oldURL+", then "+newURL) {
		t.Errorf("report does not show the move:\n%s", text.String())
	}
}

func TestNoReachableEndpoint(t *testing.T) {
	start := time.Now()
	_, err := Run(context.Background(), cfgFor(Write, deadAddr(t), deadAddr(t)))
	if !errors.Is(err, client.ErrUnavailable) || !strings.Contains(err.Error(), "find the leader") ||
		!strings.Contains(err.Error(), "refused") {
		t.Fatalf("error %v, want a clear unavailable", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("took %v to find nothing", time.Since(start))
	}
}

func TestNoLeader(t *testing.T) {
	node := newFakeNode(0)
	follower(node, "ftp://nowhere:1") // a follower that knows no usable leader
	_, err := Run(context.Background(), cfgFor(Write, serve(t, node)))
	if !errors.Is(err, client.ErrNoLeader) {
		t.Fatalf("error %v, want ErrNoLeader", err)
	}
}

func TestEveryRequestFails(t *testing.T) {
	t.Run("refused, stops early", func(t *testing.T) {
		cfg := cfgFor(Write, deadAddr(t))
		cfg.Spread = true // skip leader discovery, send anyway
		cfg.Requests, cfg.Duration, cfg.FailFast = 0, time.Minute, 200*time.Millisecond
		start := time.Now()
		res, err := Run(context.Background(), cfg)
		if !errors.Is(err, ErrAllFailed) || res == nil {
			t.Fatalf("error %v, result %v", err, res)
		}
		if !res.FailedFast || res.Ops != 0 || res.Errors == 0 || res.ErrorsByKind[KindRefused] != res.Errors {
			t.Errorf("result %+v", res)
		}
		if !strings.Contains(err.Error(), "refused") {
			t.Errorf("error %q does not say why", err)
		}
		if time.Since(start) > 10*time.Second {
			t.Errorf("fail-fast took %v", time.Since(start))
		}
	})
	t.Run("503 within the request budget", func(t *testing.T) {
		node := newFakeNode(0)
		node.Fail(http.StatusServiceUnavailable)
		h := serve(t, node)
		res, err := Run(context.Background(), cfgFor(Write, h))
		if !errors.Is(err, ErrAllFailed) || res.Errors != 200 || res.ErrorsByKind["http 503"] != 200 {
			t.Fatalf("error %v; result %+v", err, res)
		}
		if js, _ := res.JSON(); !jsonShape.Match(js) {
			t.Errorf("JSON of a failed run: %s", js)
		}
	})
}

func TestInterrupt(t *testing.T) {
	node := newFakeNode(1)
	node.SetLatency(5 * time.Millisecond)
	cfg := cfgFor(Write, serve(t, node))
	cfg.Requests, cfg.Duration = 0, time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || time.Since(start) > 5*time.Second {
		t.Fatalf("interrupted %v after %v", res.Interrupted, time.Since(start))
	}
	checkSane(t, res)
	if res.Errors != 0 {
		t.Errorf("requests cut short by the interrupt counted as errors: %v", res.ErrorsByKind)
	}
}

func TestProgress(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for over a second")
	}
	for _, inPlace := range []bool{false, true} {
		var buf bytes.Buffer
		cfg := cfgFor(Write, serve(t, newFakeNode(1)))
		cfg.Requests, cfg.Duration = 0, 1200*time.Millisecond
		cfg.Progress, cfg.ProgressInPlace = &buf, inPlace
		if _, err := Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if !strings.Contains(out, "ops/s") || !strings.Contains(out, "0 errors") {
			t.Errorf("in place %v: progress %q", inPlace, out)
		}
		if inPlace != strings.Contains(out, "\r\033[K") || inPlace == strings.HasSuffix(out, "\n") {
			t.Errorf("in place %v: progress %q", inPlace, out)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := cfgFor(Write, "127.0.0.1:1")
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	tests := map[string]func(*Config){
		"mode":            func(c *Config) { c.Mode = "erase" },
		"no endpoints":    func(c *Config) { c.Endpoints = nil },
		"zero clients":    func(c *Config) { c.Clients = 0 },
		"too many":        func(c *Config) { c.Clients = 10001 },
		"neg requests":    func(c *Config) { c.Requests = -1 },
		"no duration":     func(c *Config) { c.Requests, c.Duration = 0, 0 },
		"neg value":       func(c *Config) { c.ValueSize = -1 },
		"huge value":      func(c *Config) { c.ValueSize = 65<<20 + 1 },
		"no keys":         func(c *Config) { c.Keys = 0 },
		"key order":       func(c *Config) { c.KeyOrder = "zigzag" },
		"ratio":           func(c *Config) { c.ReadRatio = 1.5 },
		"consistency":     func(c *Config) { c.Consistency = "eventual" },
		"timeout":         func(c *Config) { c.Timeout = 0 },
		"fail fast":       func(c *Config) { c.FailFast = -time.Second },
		"ratio not a num": func(c *Config) { c.ReadRatio = nan() },
		"protocol":        func(c *Config) { c.Protocol = "etcd-v3" },
		"lease on etcd":   func(c *Config) { c.Protocol, c.Consistency = ProtocolEtcdV2, "lease" },
	}
	for name, mutate := range tests {
		c := ok
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := Run(context.Background(), c); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Run accepted it: %v", name, err)
		}
	}
	bad := ok
	bad.Endpoints = []string{"ftp://x:1"}
	if _, err := Run(context.Background(), bad); !errors.Is(err, ErrConfig) {
		t.Errorf("bad endpoint: %v", err)
	}
}

func TestKindOf(t *testing.T) {
	refused := func() error {
		c, err := client.New([]string{deadAddr(t)}, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.GetAt(context.Background(), c.Endpoints()[0], "k", "")
		return err
	}()
	tests := []struct {
		err  error
		want string
	}{
		{refused, KindRefused},
		{client.ErrNotFound, KindNotFound},
		{&client.APIError{Status: 503}, "http 503"},
		{fmt.Errorf("wrapped: %w", &client.APIError{Status: 504}), "http 504"},
		{context.DeadlineExceeded, KindTimeout},
		{&url.Error{Op: "Put", URL: "http://x", Err: io.EOF}, KindConnection},
		{&net.OpError{Op: "read", Err: syscall.ECONNRESET}, KindConnection},
		{&net.OpError{Op: "dial", Err: errors.New("no route to host")}, KindDial},
		{errors.New("client: answer has no index"), KindBadAnswer},
	}
	for _, tt := range tests {
		if got := kindOf(tt.err); got != tt.want {
			t.Errorf("kindOf(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestErrorSummary(t *testing.T) {
	r := &Result{ErrorsByKind: map[string]int64{"http 503": 3, KindRefused: 12, KindTimeout: 3}}
	if got, want := r.ErrorSummary(), "refused 12, http 503 3, timeout 3"; got != want {
		t.Errorf("ErrorSummary = %q, want %q", got, want)
	}
	if got := (&Result{}).ErrorSummary(); got != "none" {
		t.Errorf("no errors: %q", got)
	}
}
