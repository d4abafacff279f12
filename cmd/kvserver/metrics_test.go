package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/config"
)

// scrape is one node's /metrics, parsed as Prometheus parses it.
type scrape map[string]*dto.MetricFamily

// scrape reads node id's metrics. The HTTP families appear with the
// first answered request, so a fresh node is asked for /healthz first.
func (c *e2eCluster) scrape(t *testing.T, id uint64) scrape {
	t.Helper()
	if code := c.rawRequest(t, id, http.MethodGet, "/healthz", ""); code != http.StatusOK {
		t.Fatalf("healthz on node %d: %d", id, code)
	}
	resp, err := http.Get("http://" + c.httpAddr(id) + "/metrics")
	if err != nil {
		t.Fatalf("scrape node %d: %v", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape node %d: %s", id, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse node %d's metrics: %v", id, err)
	}
	return fams
}

// get sums the series of name whose labels include labels (name, value
// pairs): counter and gauge values, histogram sample counts. A family
// that is absent fails the test: a typo must not read as zero.
func (s scrape) get(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return s.sumOf(t, name, false, labels...)
}

// histSum is the sum of a histogram's observations.
func (s scrape) histSum(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	return s.sumOf(t, name, true, labels...)
}

func (s scrape) sumOf(t *testing.T, name string, histSum bool, labels ...string) float64 {
	t.Helper()
	mf, ok := s[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	total := 0.0
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && have[labels[i]] == labels[i+1]
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil && histSum:
			total += m.GetHistogram().GetSampleSum()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}

// rawRequest sends one request to node id and returns the status.
func (c *e2eCluster) rawRequest(t *testing.T, id uint64, method, path string, body string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx5s(t), method, "http://"+c.httpAddr(id)+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s on node %d: %v", method, path, id, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (c *e2eCluster) others(id uint64) []uint64 {
	var ids []uint64
	for _, n := range c.cfg.Nodes {
		if n.ID != id {
			ids = append(ids, n.ID)
		}
	}
	return ids
}

// TestMetricsTrackWritesElectionsSnapshots scrapes real nodes before and
// after writes, a leadership transfer and a snapshot, and checks that
// what each did shows up in its own metrics.
func TestMetricsTrackWritesElectionsSnapshots(t *testing.T) {
	c := newE2ECluster(t, `"snapshot_keep_entries": 5`)
	lead := c.leader()
	followers := c.others(lead)
	before := c.scrape(t, lead)
	fBefore := c.scrape(t, followers[0])

	const n = 40
	cl := c.client(lead)
	for i := range n {
		if _, err := cl.Put(ctx5s(t), fmt.Sprintf("k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if code := c.rawRequest(t, lead, http.MethodPut, "/v1/kv/", "x"); code != http.StatusBadRequest {
		t.Fatalf("PUT without a key: %d", code)
	}
	if _, err := cl.Get(ctx5s(t), "k1", "stale"); err != nil {
		t.Fatal(err)
	}
	after := c.scrape(t, lead)
	delta := func(name string, labels ...string) float64 {
		t.Helper()
		return after.get(t, name, labels...) - before.get(t, name, labels...)
	}
	checks := []struct {
		what string
		got  float64
		want func(float64) bool
	}{
		{"PUT 200", delta("raftkv_http_requests_total", "method", "PUT", "route", "/v1/kv/*key", "code", "200"), eq(n)},
		{"PUT 400", delta("raftkv_http_requests_total", "method", "PUT", "route", "/v1/kv/*key", "code", "400"), eq(1)},
		{"PUT latency observations", delta("raftkv_http_request_duration_seconds", "method", "PUT", "route", "/v1/kv/*key"), eq(n + 1)},
		{"stale reads", delta("raftkv_api_reads_total", "consistency", "stale"), eq(1)},
		{"proposals", delta("raftkv_raft_proposals_total"), eq(n)},
		{"proposal batches", delta("raftkv_raft_proposal_batch_entries"), between(1, n)},
		{"fsyncs", delta("raftkv_wal_fsync_duration_seconds"), between(1, n+10)},
		{"entries fsynced", after.histSum(t, "raftkv_wal_fsync_batch_entries") - before.histSum(t, "raftkv_wal_fsync_batch_entries"), eq(n)},
		{"entries applied", after.histSum(t, "raftkv_raft_apply_batch_entries") - before.histSum(t, "raftkv_raft_apply_batch_entries"), eq(n)},
		{"apply latency observations", delta("raftkv_raft_apply_duration_seconds"), between(1, n)},
		{"commit index", delta("raftkv_raft_commit_index"), eq(n)},
		{"applied index", after.get(t, "raftkv_raft_applied_index") - after.get(t, "raftkv_raft_commit_index"), eq(0)},
		{"appends sent", delta("raftkv_raft_messages_sent_total", "type", "MsgApp", "peer", fmt.Sprint(followers[0])), between(1, 10*n)},
		{"append batches", delta("raftkv_raft_append_batch_entries"), between(1, 10*n)},
		{"answers received", delta("raftkv_raft_messages_received_total", "type", "MsgAppResp", "peer", fmt.Sprint(followers[1])), between(1, 10*n)},
		{"transport messages written", delta("raftkv_transport_sent_messages_total"), between(1, 1e9)},
		{"leader role", after.get(t, "raftkv_raft_role", "role", "leader"), eq(1)},
		{"log size", after.get(t, "raftkv_wal_size_bytes"), between(1, 1e9)},
		{"badger size", after.get(t, "raftkv_kv_size_bytes"), between(1, 1e12)},
	}
	for _, ck := range checks {
		if !ck.want(ck.got) {
			t.Errorf("leader: %s changed by %v", ck.what, ck.got)
		}
	}
	// A follower only one of the quorum needed may still be catching up
	// when the last write is acknowledged; the lag must drain, not be 0 at once.
	waitUntil(t, "the followers' lag to drain", func() bool {
		return c.scrape(t, lead).get(t, "raftkv_raft_peer_lag_entries") <= 2
	})
	// The follower applied and fsynced the same entries, and proposed none.
	waitUntil(t, "the follower to apply the writes", func() bool {
		fa := c.scrape(t, followers[0])
		return fa.histSum(t, "raftkv_raft_apply_batch_entries")-fBefore.histSum(t, "raftkv_raft_apply_batch_entries") == n
	})
	fAfter := c.scrape(t, followers[0])
	if d := fAfter.histSum(t, "raftkv_wal_fsync_batch_entries") - fBefore.histSum(t, "raftkv_wal_fsync_batch_entries"); d != n {
		t.Errorf("follower fsynced %v entries, want %d", d, n)
	}
	if d := fAfter.get(t, "raftkv_raft_proposals_total") - fBefore.get(t, "raftkv_raft_proposals_total"); d != 0 {
		t.Errorf("follower proposals changed by %v", d)
	}

	// An election: hand leadership to a follower.
	target := followers[0]
	changesBefore := map[uint64]float64{}
	for _, n := range c.cfg.Nodes {
		changesBefore[n.ID] = c.scrape(t, n.ID).get(t, "raftkv_raft_leader_changes_total")
	}
	tBefore := c.scrape(t, target)
	if got, err := cl.TransferLeader(ctx5s(t), target); err != nil || got != target {
		t.Fatalf("transfer to %d: %d, %v", target, got, err)
	}
	tAfter := c.scrape(t, target)
	if d := tAfter.get(t, "raftkv_raft_elections_total", "cause", "transfer") - tBefore.get(t, "raftkv_raft_elections_total", "cause", "transfer"); d != 1 {
		t.Errorf("target: elections by transfer changed by %v, want 1", d)
	}
	if d := tAfter.get(t, "raftkv_raft_elections_total", "cause", "timeout") - tBefore.get(t, "raftkv_raft_elections_total", "cause", "timeout"); d != 0 {
		t.Errorf("target: elections by timeout changed by %v, want 0", d)
	}
	if tAfter.get(t, "raftkv_raft_role", "role", "leader") != 1 || tAfter.get(t, "raftkv_raft_leader_id") != float64(target) {
		t.Errorf("target does not report itself leader")
	}
	for _, n := range c.cfg.Nodes {
		waitUntil(t, fmt.Sprintf("node %d to count the leader change", n.ID), func() bool {
			s := c.scrape(t, n.ID)
			return s.get(t, "raftkv_raft_leader_changes_total")-changesBefore[n.ID] == 1 && s.get(t, "raftkv_raft_leader_id") == float64(target)
		})
	}
	if s := c.scrape(t, lead); s.get(t, "raftkv_raft_role", "role", "follower") != 1 || s.get(t, "raftkv_raft_has_leader") != 1 {
		t.Errorf("old leader: role follower %v, has leader %v", s.get(t, "raftkv_raft_role", "role", "follower"), s.get(t, "raftkv_raft_has_leader"))
	}

	// A snapshot: counted with its size, and the log is compacted behind it.
	sBefore := c.scrape(t, lead)
	snap, err := cl.Snapshot(ctx5s(t), c.httpAddr(lead))
	if err != nil {
		t.Fatal(err)
	}
	sAfter := c.scrape(t, lead)
	if d := sAfter.get(t, "raftkv_raft_snapshots_total", "kind", "taken", "result", "ok") - sBefore.get(t, "raftkv_raft_snapshots_total", "kind", "taken", "result", "ok"); d != 1 {
		t.Errorf("snapshots taken changed by %v, want 1", d)
	}
	if d := sAfter.get(t, "raftkv_raft_snapshot_duration_seconds", "kind", "taken") - sBefore.get(t, "raftkv_raft_snapshot_duration_seconds", "kind", "taken"); d != 1 {
		t.Errorf("snapshot durations observed changed by %v, want 1", d)
	}
	if got := sAfter.get(t, "raftkv_raft_snapshot_size_bytes", "kind", "taken"); got <= 0 {
		t.Errorf("snapshot size %v", got)
	}
	if got := sAfter.get(t, "raftkv_raft_snapshot_index"); got != float64(snap.Index) {
		t.Errorf("snapshot index %v, want %d", got, snap.Index)
	}
	if first, want := sAfter.get(t, "raftkv_raft_first_log_index"), float64(snap.Index-5+1); first != want {
		t.Errorf("first log index after the snapshot %v, want %v (5 entries kept)", first, want)
	}
	if got, want := sAfter.get(t, "raftkv_wal_size_bytes"), float64(c.nodes[lead].wal.SizeBytes()); got != want {
		t.Errorf("log size %v, the log says %v", got, want)
	}
}

func eq(want float64) func(float64) bool { return func(v float64) bool { return v == want } }

func between(lo, hi float64) func(float64) bool {
	return func(v float64) bool { return v >= lo && v <= hi }
}

// TestMetricsAgreeWithClient: what a client (like kvcli bench) counts and
// what the metrics count agree: N acknowledged writes are N answered PUTs
// and N proposals, exactly.
func TestMetricsAgreeWithClient(t *testing.T) {
	c := newE2ECluster(t)
	lead := c.leader()
	before := map[uint64]scrape{}
	for _, n := range c.cfg.Nodes {
		before[n.ID] = c.scrape(t, n.ID)
	}
	const workers, each = 8, 50
	cl := c.client(lead)
	var wg sync.WaitGroup
	var mu sync.Mutex // guards acked and unavailable
	acked, unavailable := 0, 0
	for w := range workers {
		wg.Go(func() {
			for i := 0; i < each; {
				_, err := cl.Put(ctx5s(t), fmt.Sprintf("w%d-%d", w, i), bytes.Repeat([]byte("x"), 128))
				mu.Lock()
				switch {
				case err == nil:
					acked++
					i++
				case errors.Is(err, client.ErrUnavailable):
					// An election on a loaded machine: a client retries.
					// The refused PUT may have been proposed first, which
					// the proposal count below allows for.
					unavailable++
				}
				mu.Unlock()
				if err != nil && !errors.Is(err, client.ErrUnavailable) {
					t.Errorf("put: %v", err)
					return
				}
				if err != nil {
					time.Sleep(20 * time.Millisecond) // a client's backoff, not a synchronisation
				}
			}
		})
	}
	wg.Wait()
	if acked != workers*each {
		t.Fatalf("%d writes acknowledged, want %d", acked, workers*each)
	}
	var puts, proposals float64
	for _, n := range c.cfg.Nodes {
		s := c.scrape(t, n.ID)
		puts += s.get(t, "raftkv_http_requests_total", "method", "PUT", "code", "200") -
			before[n.ID].get(t, "raftkv_http_requests_total", "method", "PUT", "code", "200")
		proposals += s.get(t, "raftkv_raft_proposals_total") - before[n.ID].get(t, "raftkv_raft_proposals_total")
	}
	if puts != float64(acked) {
		t.Errorf("PUT 200 counted %v times over the cluster, client acknowledged %d", puts, acked)
	}
	if proposals < float64(acked) || proposals > float64(acked+unavailable) {
		t.Errorf("%v proposals over the cluster, client acknowledged %d writes and was refused %d times (503)",
			proposals, acked, unavailable)
	}
	s := c.scrape(t, lead)
	if batches := s.get(t, "raftkv_raft_proposal_batch_entries") - before[lead].get(t, "raftkv_raft_proposal_batch_entries"); batches > float64(acked) {
		t.Errorf("%v proposal batches for %d proposals", batches, acked)
	}
	t.Logf("%d writes in %v proposal batches and %v fsyncs on the leader", acked,
		s.get(t, "raftkv_raft_proposal_batch_entries")-before[lead].get(t, "raftkv_raft_proposal_batch_entries"),
		s.get(t, "raftkv_wal_fsync_duration_seconds")-before[lead].get(t, "raftkv_wal_fsync_duration_seconds"))
}

// kill stops node id without handing leadership over, as a crash would
// (the process's files are still closed, so it can start again).
func (c *e2eCluster) kill(id uint64) {
	c.t.Helper()
	n := c.nodes[id]
	if n.api != nil {
		n.api.Close()
	}
	if err := n.http.Close(); err != nil {
		c.t.Errorf("close http of node %d: %v", id, err)
	}
	<-n.httpc
	n.http = nil
	n.close()
	delete(c.nodes, id)
}

type readyz struct {
	code   int
	Status string `json:"status"`
	Reason string `json:"reason"`
}

func (c *e2eCluster) readyz(t *testing.T, id uint64) readyz {
	t.Helper()
	resp, err := http.Get("http://" + c.httpAddr(id) + "/readyz")
	if err != nil {
		t.Fatalf("readyz on node %d: %v", id, err)
	}
	defer resp.Body.Close()
	r := readyz{code: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("readyz body on node %d: %v", id, err)
	}
	return r
}

// TestReadyzFlipsDuringElection: a follower is ready while it has a
// leader, not ready while none can be elected, and ready again once one
// is; /healthz answers throughout.
func TestReadyzFlipsDuringElection(t *testing.T) {
	c := newE2ECluster(t)
	lead := c.leader()
	others := c.others(lead)
	watched, other := others[0], others[1]
	waitUntil(t, "the follower to be ready", func() bool { return c.readyz(t, watched).code == http.StatusOK })
	if r := c.readyz(t, watched); r.Status != "ready" || r.Reason != "" {
		t.Fatalf("ready answer %+v", r)
	}

	// With the leader gone, and the other follower too so that no
	// election can succeed, the watched node loses its leader.
	c.kill(lead)
	c.kill(other)
	var r readyz
	waitUntil(t, "the follower to be not ready", func() bool {
		r = c.readyz(t, watched)
		return r.code == http.StatusServiceUnavailable
	})
	if r.Status != "not ready" || !strings.Contains(r.Reason, "no leader") {
		t.Fatalf("not-ready answer %+v", r)
	}
	if code := c.rawRequest(t, watched, http.MethodGet, "/healthz", ""); code != http.StatusOK {
		t.Fatalf("healthz during the election: %d", code)
	}

	// A quorum again: a leader is elected and the node is ready.
	c.start(other)
	waitUntil(t, "the follower to be ready again", func() bool { return c.readyz(t, watched).code == http.StatusOK })
	c.start(lead)
	waitUntil(t, "the old leader to be ready after catching up", func() bool { return c.readyz(t, lead).code == http.StatusOK })
}

// TestPprofOnlyWhenAsked: /debug/pprof/ is absent by default and served
// beside the API with the option, which leaves other paths alone.
func TestPprofOnlyWhenAsked(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("pprof=%v", on), func(t *testing.T) {
			c := newSingleNode(t, withPprof(on))
			wantCode := http.StatusNotFound
			if on {
				wantCode = http.StatusOK
			}
			for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1"} {
				if code := c.rawRequest(t, 0, http.MethodGet, path, ""); code != wantCode {
					t.Errorf("GET %s: %d, want %d", path, code, wantCode)
				}
			}
			// The API is unchanged: a key with "//" is not redirected.
			if code := c.rawRequest(t, 0, http.MethodPut, "/v1/kv/a//b", "v"); code != http.StatusOK {
				t.Errorf("PUT /v1/kv/a//b: %d", code)
			}
			if v, err := c.client(0).Get(ctx5s(t), "a//b", "stale"); err != nil || string(v) != "v" {
				t.Errorf("get a//b: %q, %v", v, err)
			}
		})
	}
}

// newSingleNode runs a one-node cluster, started with opts.
func newSingleNode(t *testing.T, opts ...nodeOption) *e2eCluster {
	t.Helper()
	cfg, err := config.Load(testConfigJSON(t, t.TempDir(), 1))
	if err != nil {
		t.Fatal(err)
	}
	c := &e2eCluster{t: t, cfg: cfg, nodes: map[uint64]*node{}}
	n, err := startNode(cfg, 0, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[0] = n
	t.Cleanup(func() {
		for id := range c.nodes {
			c.stop(id)
		}
	})
	c.leader()
	return c
}

// TestPprofFlag: the --pprof flag reaches the node.
func TestPprofFlag(t *testing.T) {
	cfgPath := testConfigJSON(t, t.TempDir(), 1)
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"--config", cfgPath, "--node-id", "0", "--pprof", "--log-level", "error"}, &stdout, &stderr)
	}()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	c := &e2eCluster{t: t, cfg: cfg}
	url := "http://" + c.httpAddr(0) + "/debug/pprof/cmdline"
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %s", url, resp.Status)
			}
			break
		}
		select {
		case code := <-done:
			t.Fatalf("kvserver exited with %d: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kvserver did not serve within 15s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// run stops on SIGTERM, which its signal.NotifyContext catches (it
	// is registered: the node serves).
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit code %d: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("kvserver did not stop on SIGTERM")
	}
}
