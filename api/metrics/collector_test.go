package metrics

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/transport"
	"github.com/raftkv/raftkv/raft/wire"
)

func leaderStatus() core.Status {
	return core.Status{ID: 0, Role: core.Leader, Term: 7, Leader: 0,
		CommitIndex: 90, AppliedIndex: 88, LastLogIndex: 100, FirstIndex: 40,
		Snapshot: core.SnapshotInfo{Index: 39, Term: 6},
		Peers:    []core.PeerStatus{{ID: 0, MatchIndex: 100}, {ID: 1, MatchIndex: 100}, {ID: 2, MatchIndex: 60}}}
}

func fakeTransportStats() transport.Stats {
	return transport.Stats{
		DroppedUnknownPeer: 3, DroppedInvalid: 1, RecvMsgs: 500, RecvFrames: 50, MalformedFrames: 2,
		Sealed: true, SealDrops: transport.SealDrops{Unsealed: 6, BadAuth: 2, Replay: 1},
		Peers: map[wire.NodeID]transport.PeerStats{
			1: {Connected: true, QueueLen: 5, QueueCap: 4096, SentMsgs: 300, SentFrames: 30, SentBytes: 9000, Reconnects: 1},
			2: {QueueLen: 4096, QueueCap: 4096, DroppedQueueFull: 77, DroppedDisconnected: 8, DialFailures: 4},
		},
	}
}

func TestCollectorReadsSourcesAtScrape(t *testing.T) {
	m := newTestMetrics(0, 0, 1, 2)
	st := leaderStatus()
	logBytes := int64(1 << 20)
	if err := m.RegisterSources(Sources{
		Status:     func() core.Status { return st },
		Transport:  fakeTransportStats,
		LogBytes:   func() int64 { return logBytes },
		StoreBytes: func() int64 { return 5 << 20 },
	}); err != nil {
		t.Fatal(err)
	}
	checks := []want{
		{"raftkv_raft_term", nil, 7},
		{"raftkv_raft_role", map[string]string{"role": "leader"}, 1},
		{"raftkv_raft_role", map[string]string{"role": "follower"}, 0},
		{"raftkv_raft_role", map[string]string{"role": "candidate"}, 0},
		{"raftkv_raft_role", map[string]string{"role": "precandidate"}, 0},
		{"raftkv_raft_has_leader", nil, 1},
		{"raftkv_raft_leader_id", nil, 0},
		{"raftkv_raft_commit_index", nil, 90},
		{"raftkv_raft_applied_index", nil, 88},
		{"raftkv_raft_last_log_index", nil, 100},
		{"raftkv_raft_first_log_index", nil, 40},
		{"raftkv_raft_snapshot_index", nil, 39},
		{"raftkv_raft_peer_match_index", map[string]string{"peer": "2"}, 60},
		{"raftkv_raft_peer_lag_entries", map[string]string{"peer": "2"}, 40},
		{"raftkv_raft_peer_lag_entries", map[string]string{"peer": "1"}, 0},
		{"raftkv_wal_size_bytes", nil, 1 << 20},
		{"raftkv_kv_size_bytes", nil, 5 << 20},
		{"raftkv_transport_queue_length", map[string]string{"peer": "1"}, 5},
		{"raftkv_transport_queue_length", map[string]string{"peer": "2"}, 4096},
		{"raftkv_transport_queue_capacity", map[string]string{"peer": "2"}, 4096},
		{"raftkv_transport_peer_connected", map[string]string{"peer": "1"}, 1},
		{"raftkv_transport_peer_connected", map[string]string{"peer": "2"}, 0},
		{"raftkv_transport_sent_messages_total", map[string]string{"peer": "1"}, 300},
		{"raftkv_transport_sent_frames_total", map[string]string{"peer": "1"}, 30},
		{"raftkv_transport_sent_bytes_total", map[string]string{"peer": "1"}, 9000},
		{"raftkv_transport_dropped_messages_total", map[string]string{"peer": "2", "reason": "queue_full"}, 77},
		{"raftkv_transport_dropped_messages_total", map[string]string{"peer": "2", "reason": "disconnected"}, 8},
		{"raftkv_transport_dropped_messages_total", map[string]string{"peer": "1", "reason": "send_error"}, 0},
		{"raftkv_transport_dropped_messages_total", map[string]string{"peer": "none", "reason": "unknown_peer"}, 3},
		{"raftkv_transport_dropped_messages_total", map[string]string{"peer": "none", "reason": "invalid"}, 1},
		{"raftkv_transport_reconnects_total", map[string]string{"peer": "1"}, 1},
		{"raftkv_transport_dial_failures_total", map[string]string{"peer": "2"}, 4},
		{"raftkv_transport_received_messages_total", nil, 500},
		{"raftkv_transport_received_frames_total", nil, 50},
		{"raftkv_transport_malformed_frames_total", nil, 2},
		{"raftkv_transport_peer_sealing", nil, 1},
		{"raftkv_transport_peer_frames_refused_total", map[string]string{"reason": "unsealed"}, 6},
		{"raftkv_transport_peer_frames_refused_total", map[string]string{"reason": "bad_auth"}, 2},
		{"raftkv_transport_peer_frames_refused_total", map[string]string{"reason": "replay"}, 1},
		{"raftkv_transport_peer_frames_refused_total", map[string]string{"reason": "unknown_key"}, 0},
	}
	for _, w := range checks {
		if got := sample(t, m.Registry(), w.name, w.labels); got != w.value {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
	if _, ok := lookup(t, m.Registry(), "raftkv_raft_peer_lag_entries", map[string]string{"peer": "0"}); ok {
		t.Error("the leader reports a lag for itself")
	}

	// Values are read at each scrape, not when registered.
	st = core.Status{ID: 0, Role: core.Candidate, Term: 8, Leader: wire.None}
	logBytes = 2 << 20
	for _, w := range []want{
		{"raftkv_raft_term", nil, 8},
		{"raftkv_raft_role", map[string]string{"role": "candidate"}, 1},
		{"raftkv_raft_role", map[string]string{"role": "leader"}, 0},
		{"raftkv_raft_has_leader", nil, 0},
		{"raftkv_raft_leader_id", nil, -1},
		{"raftkv_wal_size_bytes", nil, 2 << 20},
	} {
		if got := sample(t, m.Registry(), w.name, w.labels); got != w.value {
			t.Errorf("after the change: %s%v = %v, want %v", w.name, w.labels, got, w.value)
		}
	}
	if _, ok := lookup(t, m.Registry(), "raftkv_raft_peer_match_index", nil); ok {
		t.Error("a node that does not lead reports follower match indexes")
	}
}

func TestCollectorSkipsMissingSources(t *testing.T) {
	m := newTestMetrics(0, 0, 1)
	if err := m.RegisterSources(Sources{StoreBytes: func() int64 { return 42 }}); err != nil {
		t.Fatal(err)
	}
	if got := sample(t, m.Registry(), "raftkv_kv_size_bytes", nil); got != 42 {
		t.Fatalf("kv size %v", got)
	}
	for _, name := range []string{"raftkv_raft_term", "raftkv_wal_size_bytes", "raftkv_transport_received_messages_total"} {
		if _, ok := lookup(t, m.Registry(), name, nil); ok {
			t.Errorf("%s reported without its source", name)
		}
	}
	// A second collector would report every series twice.
	if err := m.RegisterSources(Sources{}); err == nil {
		t.Fatal("RegisterSources twice succeeded")
	}
}

// Every raftkv series carries node="<id>", and process-wide ones do not;
// two nodes in one process keep apart.
func TestNodeLabelAndSeparateRegistries(t *testing.T) {
	a := New(Options{Node: 0, Peers: []uint64{0, 1}})
	b := New(Options{Node: 1, Peers: []uint64{0, 1}})
	a.ObserveProposals(2, true)
	b.ObserveProposals(5, true)
	if got := sample(t, a.Registry(), "raftkv_raft_proposals_total", map[string]string{"node": "0"}); got != 2 {
		t.Fatalf("node 0 proposals %v, want 2", got)
	}
	if got := sample(t, b.Registry(), "raftkv_raft_proposals_total", map[string]string{"node": "1"}); got != 5 {
		t.Fatalf("node 1 proposals %v, want 5", got)
	}
	mfs, err := a.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sawGo := false
	for _, mf := range mfs {
		ours := strings.HasPrefix(mf.GetName(), "raftkv_")
		sawGo = sawGo || strings.HasPrefix(mf.GetName(), "go_")
		for _, m := range mf.GetMetric() {
			if got := hasLabels(m, map[string]string{"node": "0"}); got != ours {
				t.Errorf("%s: node label present = %v, want %v", mf.GetName(), got, ours)
			}
		}
	}
	if !sawGo {
		t.Error("no Go runtime metrics")
	}
}

var nameRule = regexp.MustCompile(`^raftkv_(raft|wal|kv|transport|http|api)_[a-z][a-z_]*[a-z]$`)

// Names follow raftkv_<subsystem>_<name>_<unit>: counters end in _total
// and nothing else does; durations are in seconds and sizes in bytes.
func TestNamesFollowConventions(t *testing.T) {
	m := newTestMetrics(0, 0, 1)
	if err := m.RegisterSources(Sources{Status: leaderStatus, Transport: fakeTransportStats,
		LogBytes: func() int64 { return 1 }, StoreBytes: func() int64 { return 1 }}); err != nil {
		t.Fatal(err)
	}
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) < 40 {
		t.Fatalf("only %d metric families", len(mfs))
	}
	for _, mf := range mfs {
		name := mf.GetName()
		switch {
		case !nameRule.MatchString(name):
			t.Errorf("%s: not raftkv_<subsystem>_<name>", name)
		case (mf.GetType() == dto.MetricType_COUNTER) != strings.HasSuffix(name, "_total"):
			t.Errorf("%s: a %v; only counters end in _total", name, mf.GetType())
		case strings.Contains(name, "duration") && !strings.HasSuffix(name, "_seconds"):
			t.Errorf("%s: a duration not in seconds", name)
		case strings.Contains(name, "size") && !strings.HasSuffix(name, "_bytes"):
			t.Errorf("%s: a size not in bytes", name)
		case mf.GetHelp() == "":
			t.Errorf("%s: no help text", name)
		}
	}
}

// The handler serves the text format a Prometheus server parses.
func TestHandlerServesPrometheusText(t *testing.T) {
	m := New(Options{Node: 4, Peers: []uint64{4, 5}})
	if err := m.RegisterSources(Sources{Status: leaderStatus}); err != nil {
		t.Fatal(err)
	}
	m.ObserveHTTP(http.MethodPut, "/v1/kv/*key", http.StatusOK, 0)
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("Content-Type %q", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	put := fams["raftkv_http_requests_total"]
	if put == nil || len(put.GetMetric()) != 1 || put.GetMetric()[0].GetCounter().GetValue() != 1 ||
		!hasLabels(put.GetMetric()[0], map[string]string{"node": "4", "method": "PUT", "route": "/v1/kv/*key", "code": "200"}) {
		t.Fatalf("raftkv_http_requests_total = %v", put)
	}
	if fams["raftkv_raft_term"].GetMetric()[0].GetGauge().GetValue() != 7 {
		t.Fatalf("term %v", fams["raftkv_raft_term"])
	}
	if fams["process_start_time_seconds"] == nil && fams["go_goroutines"] == nil {
		t.Fatal("no process or runtime metrics")
	}
}
