package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// benchJSON is the --json file; decoding with DisallowUnknownFields and
// checking every field is present pins the format.
type benchJSON struct {
	Ops       *int64   `json:"ops"`
	Errors    *int64   `json:"errors"`
	DurationS *float64 `json:"duration_s"`
	OpsPerSec *float64 `json:"ops_per_sec"`
	MBPerSec  *float64 `json:"mb_per_sec"`
	Clients   *int     `json:"clients"`
	ValueSize *int     `json:"value_size"`
	LatencyMS *struct {
		P50  *float64 `json:"p50"`
		P90  *float64 `json:"p90"`
		P99  *float64 `json:"p99"`
		P999 *float64 `json:"p999"`
		Max  *float64 `json:"max"`
	} `json:"latency_ms"`
	// Server is there only when the leader's metrics were read.
	Server *struct {
		Endpoint          string   `json:"endpoint"`
		LeaderChanged     bool     `json:"leader_changed"`
		Fsyncs            *uint64  `json:"fsyncs"`
		FsyncMeanMS       *float64 `json:"fsync_mean_ms"`
		EntriesPerFsync   *float64 `json:"entries_per_fsync"`
		EntriesPerAppend  *float64 `json:"entries_per_append"`
		EntriesPerApply   *float64 `json:"entries_per_apply"`
		ProposalsPerBatch *float64 `json:"proposals_per_batch"`
		Proposals         *uint64  `json:"proposals"`
	} `json:"server"`
}

func decodeBenchJSON(t *testing.T, data []byte) benchJSON {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var b benchJSON
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("bench JSON %s: %v", data, err)
	}
	if b.Ops == nil || b.Errors == nil || b.DurationS == nil || b.OpsPerSec == nil || b.MBPerSec == nil ||
		b.Clients == nil || b.ValueSize == nil || b.LatencyMS == nil || b.LatencyMS.P50 == nil ||
		b.LatencyMS.P90 == nil || b.LatencyMS.P99 == nil || b.LatencyMS.P999 == nil || b.LatencyMS.Max == nil {
		t.Fatalf("bench JSON lacks a field: %s", data)
	}
	return b
}

// checkSaneBench asserts what any successful run's JSON must satisfy.
func checkSaneBench(t *testing.T, b benchJSON, clients, valueSize int) {
	t.Helper()
	l := b.LatencyMS
	if *b.Ops <= 0 || *b.OpsPerSec <= 0 || *b.DurationS <= 0 || *b.Clients != clients || *b.ValueSize != valueSize {
		t.Errorf("ops %d, ops/s %f, duration %f, clients %d, value size %d",
			*b.Ops, *b.OpsPerSec, *b.DurationS, *b.Clients, *b.ValueSize)
	}
	if !(*l.P50 > 0 && *l.P50 <= *l.P90 && *l.P90 <= *l.P99 && *l.P99 <= *l.P999 && *l.P999 <= *l.Max) {
		t.Errorf("latencies out of order: p50 %f p90 %f p99 %f p99.9 %f max %f", *l.P50, *l.P90, *l.P99, *l.P999, *l.Max)
	}
	// duration_s is rounded to the millisecond, which matters for a run of
	// a few milliseconds: allow for half a millisecond either way.
	lo, hi := float64(*b.Ops)/(*b.DurationS+0.0005), float64(*b.Ops)/max(*b.DurationS-0.0005, 1e-9)
	if *b.OpsPerSec < lo*0.98 || *b.OpsPerSec > hi*1.02 {
		t.Errorf("ops/s %f, but ops/duration is %f..%f", *b.OpsPerSec, lo, hi)
	}
}

func TestBenchCommand(t *testing.T) {
	f, url := newFake(t, 0, 0)
	file := filepath.Join(t.TempDir(), "result.json")
	r := runCLI(t, "--endpoints", url, "bench", "write", "--requests", "100", "--clients", "4",
		"--value-size", "16", "--keys", "10", "--json", file)
	r.check(t, exitOK, r.stdout)
	for _, want := range []string{"bench write: 4 clients, 16-byte values, to the leader at " + url, "100 ok, 0 failed", "latency     p50"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b := decodeBenchJSON(t, data)
	checkSaneBench(t, b, 4, 16)
	if *b.Ops != 100 || *b.Errors != 0 {
		t.Errorf("ops %d errors %d", *b.Ops, *b.Errors)
	}
	if v, ok := f.Get("bench/9"); !ok || len(v) != 16 {
		t.Errorf("bench/9 = %q, %v", v, ok)
	}

	// -o json: the same object on stdout; read and mixed work too.
	for _, args := range [][]string{
		{"bench", "read", "-n", "50", "-c", "2", "--keys", "5"},
		{"--consistency", "stale", "bench", "read", "-n", "50", "-c", "2", "--keys", "5"},
		{"bench", "mixed", "-n", "50", "-c", "2", "--keys", "5", "--read-ratio", "0.9", "--key-order", "random", "--seed", "7"},
		{"bench", "write", "-n", "30", "--spread", "--value-size", "0", "--endpoints", url + "," + url},
	} {
		r := runCLI(t, append([]string{"--endpoints", url, "-o", "json"}, args...)...)
		r.check(t, exitOK, r.stdout)
		b := decodeBenchJSON(t, []byte(r.stdout))
		if *b.Ops == 0 || *b.Errors != 0 {
			t.Errorf("%v: %s", args, r.stdout)
		}
	}
	if q := lastQuery(f); q != "" {
		t.Errorf("a write was last, yet the query is %q", q)
	}
}

func TestBenchNoReachableEndpoint(t *testing.T) {
	file := filepath.Join(t.TempDir(), "result.json")
	r := runCLI(t, "--endpoints", deadAddr(t)+","+deadAddr(t), "bench", "write", "-d", "1s", "--json", file)
	r.check(t, exitUnavailable, "")
	if !strings.Contains(r.stderr, "find the leader") || !strings.Contains(r.stderr, "refused") {
		t.Errorf("stderr %q does not say why", r.stderr)
	}
	if _, err := os.Stat(file); err == nil {
		t.Error("a --json file was written for a run that never started")
	}
}

func TestBenchEveryRequestFails(t *testing.T) {
	_, url := newFake(t, 0, 503) // status answers; every write gets 503
	file := filepath.Join(t.TempDir(), "result.json")
	start := time.Now()
	r := runCLI(t, "--endpoints", url, "bench", "write", "-d", "1m", "--json", file)
	if time.Since(start) > 20*time.Second {
		t.Errorf("a failing benchmark ran for %v", time.Since(start))
	}
	if r.code != exitUnavailable {
		t.Fatalf("exit %d; stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "kvcli: BENCHMARK FAILED: every request failed") || !strings.Contains(r.stderr, "http 503") {
		t.Errorf("stderr %q", r.stderr)
	}
	if !strings.Contains(r.stdout, "0 ok") || !strings.Contains(r.stdout, "stopped early") {
		t.Errorf("report %q", r.stdout)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if b := decodeBenchJSON(t, data); *b.Ops != 0 || *b.Errors == 0 {
		t.Errorf("JSON of a failed run: %s", data)
	}
}

func TestBenchInterrupt(t *testing.T) {
	_, url := newFake(t, 0, 0)
	sigs := newFakeSignals()
	go func() {
		<-sigs.subscribed
		time.Sleep(200 * time.Millisecond)
		sigs.Interrupt()
	}()
	start := time.Now()
	r := runWith(t, opts{signals: sigs}, "--endpoints", url, "bench", "write", "-d", "1m", "-c", "2")
	if r.code != exitInterrupted || time.Since(start) > 10*time.Second {
		t.Fatalf("exit %d after %v; stderr %q", r.code, time.Since(start), r.stderr)
	}
	if !strings.Contains(r.stdout, "interrupted") || !strings.Contains(r.stdout, "ops/s") {
		t.Errorf("report %q", r.stdout)
	}
}

func TestBenchProtocolFlag(t *testing.T) {
	r := runCLI(t, "--endpoints", deadAddr(t), "bench", "write", "--protocol", "etcd3", "-n", "1")
	r.check(t, exitUsage, "")
	if !strings.Contains(r.stderr, `--protocol "etcd3" is not raftkv or etcd-v2`) {
		t.Errorf("stderr %q", r.stderr)
	}
	r = runCLI(t, "--endpoints", deadAddr(t), "--consistency", "lease", "bench", "read", "--protocol", "etcd-v2", "-n", "1")
	r.check(t, exitUsage, "")
	if !strings.Contains(r.stderr, "lease has no etcd-v2 equivalent") {
		t.Errorf("stderr %q", r.stderr)
	}
}

// TestBenchEtcdV2: --protocol etcd-v2 speaks etcd's v2 keys API (a
// minimal fake of it here; internal/bench tests the requests in detail).
func TestBenchEtcdV2(t *testing.T) {
	var puts, quorumGets atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v2/stats/self":
			fmt.Fprint(w, `{"name":"e0","state":"StateLeader"}`)
		case strings.HasPrefix(r.URL.Path, "/v2/keys/bench/") && r.Method == http.MethodPut &&
			r.Header.Get("Content-Type") == "application/x-www-form-urlencoded":
			r.ParseForm()
			puts.Add(1)
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"action":"set","node":{"key":%q,"value":%q,"modifiedIndex":7,"createdIndex":7}}`, r.URL.Path[len("/v2/keys"):], r.PostForm.Get("value"))
		case strings.HasPrefix(r.URL.Path, "/v2/keys/bench/") && r.Method == http.MethodGet && r.URL.RawQuery == "quorum=true":
			quorumGets.Add(1)
			fmt.Fprint(w, `{"action":"get","node":{"key":"/bench/1","value":"0123456789abcdef","modifiedIndex":7}}`)
		default:
			http.Error(w, `{"errorCode":100,"message":"Key not found"}`, http.StatusNotFound)
		}
	})
	s := httptest.NewServer(h)
	defer s.Close()
	r := runCLI(t, "--endpoints", s.URL, "bench", "read", "--protocol", "etcd-v2", "-n", "40", "-c", "2", "--keys", "4", "--value-size", "16")
	r.check(t, exitOK, r.stdout)
	for _, want := range []string{"bench read (etcd-v2): 2 clients, 16-byte values, to the leader at " + s.URL, "40 ok, 0 failed",
		"server:     no figures: not read with --protocol etcd-v2"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, r.stdout)
		}
	}
	if puts.Load() != 4 || quorumGets.Load() != 40 {
		t.Errorf("%d PUTs (want 4, the prefill), %d quorum GETs (want 40)", puts.Load(), quorumGets.Load())
	}
	r = runCLI(t, "--endpoints", s.URL, "-o", "json", "bench", "write", "--protocol", "etcd-v2", "-n", "500", "-c", "1", "--value-size", "16") // enough to last over 1 ms: duration_s is in milliseconds
	r.check(t, exitOK, r.stdout)
	checkSaneBench(t, decodeBenchJSON(t, []byte(r.stdout)), 1, 16)
}
