package metrics

import (
	"errors"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

type want struct {
	name   string
	labels map[string]string
	value  float64
}

func TestObserverUpdatesMetrics(t *testing.T) {
	tests := []struct {
		name string
		do   func(m *Metrics)
		want []want
	}{
		{
			name: "accepted proposals count and fill the batch histogram",
			do: func(m *Metrics) {
				m.ObserveProposals(3, true)
				m.ObserveProposals(1, true)
			},
			want: []want{
				{"raftkv_raft_proposals_total", nil, 4},
				{"raftkv_raft_proposals_refused_total", nil, 0},
				{"raftkv_raft_proposal_batch_entries", nil, 2},
			},
		},
		{
			name: "refused proposals are counted apart",
			do:   func(m *Metrics) { m.ObserveProposals(5, false) },
			want: []want{
				{"raftkv_raft_proposals_total", nil, 0},
				{"raftkv_raft_proposals_refused_total", nil, 5},
				{"raftkv_raft_proposal_batch_entries", nil, 0},
			},
		},
		{
			name: "persist and apply",
			do: func(m *Metrics) {
				m.ObservePersist(10, 2*time.Millisecond)
				m.ObservePersist(0, time.Millisecond)
				m.ObserveApply(7, 300*time.Microsecond)
			},
			want: []want{
				{"raftkv_wal_fsync_duration_seconds", nil, 2},
				{"raftkv_wal_fsync_batch_entries", nil, 2},
				{"raftkv_raft_apply_duration_seconds", nil, 1},
				{"raftkv_raft_apply_batch_entries", nil, 1},
			},
		},
		{
			name: "messages by direction, peer and type; appends by size",
			do: func(m *Metrics) {
				m.ObserveMessage(raft.DirSent, 1, wire.MsgApp, 4)
				m.ObserveMessage(raft.DirSent, 1, wire.MsgApp, 0) // a probe: not an append batch
				m.ObserveMessage(raft.DirSent, 2, wire.MsgHeartbeat, 0)
				m.ObserveMessage(raft.DirReceived, 2, wire.MsgAppResp, 0)
				m.ObserveMessage(raft.DirReceived, 2, wire.MsgApp, 9) // only sent appends are sized
			},
			want: []want{
				{"raftkv_raft_messages_sent_total", map[string]string{"peer": "1", "type": "MsgApp"}, 2},
				{"raftkv_raft_messages_sent_total", map[string]string{"peer": "2", "type": "MsgHeartbeat"}, 1},
				{"raftkv_raft_messages_sent_total", map[string]string{"peer": "2", "type": "MsgApp"}, 0},
				{"raftkv_raft_messages_received_total", map[string]string{"peer": "2", "type": "MsgAppResp"}, 1},
				{"raftkv_raft_append_batch_entries", nil, 1},
			},
		},
		{
			name: "a peer outside the configuration still gets its series",
			do:   func(m *Metrics) { m.ObserveMessage(raft.DirReceived, 9, wire.MsgVote, 0) },
			want: []want{{"raftkv_raft_messages_received_total", map[string]string{"peer": "9", "type": "MsgVote"}, 1}},
		},
		{
			name: "elections by cause, pre-vote failures among them",
			do: func(m *Metrics) {
				m.ObserveEvent(raft.Event{Kind: raft.EventElection, Cause: core.CauseTimeout})
				m.ObserveEvent(raft.Event{Kind: raft.EventElection, Cause: core.CauseTimeout})
				m.ObserveEvent(raft.Event{Kind: raft.EventElection, Cause: core.CauseTransfer})
				m.ObserveEvent(raft.Event{Kind: raft.EventRole, Role: core.Follower, Cause: core.CausePreVoteFailed})
				m.ObserveEvent(raft.Event{Kind: raft.EventRole, Role: core.Leader}) // not an election
			},
			want: []want{
				{"raftkv_raft_elections_total", map[string]string{"cause": "timeout"}, 2},
				{"raftkv_raft_elections_total", map[string]string{"cause": "transfer"}, 1},
				{"raftkv_raft_elections_total", map[string]string{"cause": "prevote-failed"}, 1},
			},
		},
		{
			name: "snapshots by kind and result",
			do: func(m *Metrics) {
				m.ObserveSnapshot(raft.SnapshotTaken, 40*time.Millisecond, 12345, nil)
				m.ObserveSnapshot(raft.SnapshotSent, time.Second, 999, nil)
				m.ObserveSnapshot(raft.SnapshotSent, time.Second, -1, errors.New("peer went away"))
				m.ObserveSnapshot(raft.SnapshotInstalled, 20*time.Millisecond, -1, nil)
			},
			want: []want{
				{"raftkv_raft_snapshots_total", map[string]string{"kind": "taken", "result": "ok"}, 1},
				{"raftkv_raft_snapshots_total", map[string]string{"kind": "sent", "result": "ok"}, 1},
				{"raftkv_raft_snapshots_total", map[string]string{"kind": "sent", "result": "failed"}, 1},
				{"raftkv_raft_snapshots_total", map[string]string{"kind": "installed", "result": "ok"}, 1},
				{"raftkv_raft_snapshots_total", map[string]string{"kind": "installed", "result": "failed"}, 0},
				{"raftkv_raft_snapshot_duration_seconds", map[string]string{"kind": "taken"}, 1},
				{"raftkv_raft_snapshot_duration_seconds", map[string]string{"kind": "sent"}, 1},
				{"raftkv_raft_snapshot_size_bytes", map[string]string{"kind": "taken"}, 12345},
				{"raftkv_raft_snapshot_size_bytes", map[string]string{"kind": "sent"}, 999},
			},
		},
		{
			name: "HTTP requests by method, route and code",
			do: func(m *Metrics) {
				m.ObserveHTTP("PUT", "/v1/kv/*key", 200, time.Millisecond)
				m.ObserveHTTP("PUT", "/v1/kv/*key", 200, time.Millisecond)
				m.ObserveHTTP("PUT", "/v1/kv/*key", 413, time.Millisecond)
				m.ObserveHTTP("BREW", "", 404, time.Millisecond) // any token, any path
			},
			want: []want{
				{"raftkv_http_requests_total", map[string]string{"method": "PUT", "route": "/v1/kv/*key", "code": "200"}, 2},
				{"raftkv_http_requests_total", map[string]string{"method": "PUT", "route": "/v1/kv/*key", "code": "413"}, 1},
				{"raftkv_http_requests_total", map[string]string{"method": "other", "route": "unmatched", "code": "404"}, 1},
				{"raftkv_http_request_duration_seconds", map[string]string{"method": "PUT", "route": "/v1/kv/*key"}, 3},
			},
		},
		{
			name: "reads by consistency; the default is linearizable",
			do: func(m *Metrics) {
				m.CountRead("")
				m.CountRead("linearizable")
				m.CountRead("stale")
				m.CountRead("sloppy") // refused by the API; never a series
			},
			want: []want{
				{"raftkv_api_reads_total", map[string]string{"consistency": "linearizable"}, 2},
				{"raftkv_api_reads_total", map[string]string{"consistency": "stale"}, 1},
				{"raftkv_api_reads_total", map[string]string{"consistency": "lease"}, 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMetrics(0, 0, 1, 2)
			tt.do(m)
			for _, w := range tt.want {
				if got := sample(t, m.Registry(), w.name, w.labels); got != w.value {
					t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.value)
				}
			}
		})
	}
}

func TestObserverValuesAreInBaseUnits(t *testing.T) {
	m := newTestMetrics(0, 0, 1)
	m.ObservePersist(3, 1500*time.Microsecond)
	if got := histSum(t, m.Registry(), "raftkv_wal_fsync_duration_seconds", nil); got != 0.0015 {
		t.Fatalf("fsync seconds sum %v, want 0.0015", got)
	}
	if got := histSum(t, m.Registry(), "raftkv_wal_fsync_batch_entries", nil); got != 3 {
		t.Fatalf("fsync entries sum %v, want 3", got)
	}
}

func TestNoSeriesForSelfOrUnknownLabels(t *testing.T) {
	m := newTestMetrics(1, 0, 1, 2)
	if _, ok := lookup(t, m.Registry(), "raftkv_raft_messages_sent_total", map[string]string{"peer": "1"}); ok {
		t.Fatal("series for messages to this node itself")
	}
	m.CountRead("sloppy")
	m.ObserveMessage(raft.DirSent, 2, wire.MessageType(200), 0)
	if _, ok := lookup(t, m.Registry(), "raftkv_api_reads_total", map[string]string{"consistency": "sloppy"}); ok {
		t.Fatal("a read series for an unknown consistency")
	}
	if _, ok := lookup(t, m.Registry(), "raftkv_raft_messages_sent_total", map[string]string{"type": "MsgUnknown"}); ok {
		t.Fatal("a message series for an invalid type")
	}
	m.ObserveEvent(raft.Event{Kind: raft.EventElection, Cause: "solar flare"})
	if got := sample(t, m.Registry(), "raftkv_raft_elections_total", map[string]string{"cause": "other"}); got != 1 {
		t.Fatalf("unknown cause counted as other %v times, want 1", got)
	}
}

// A leader change is a new leader or a new term, not losing sight of the
// same leader and finding it again.
func TestLeaderChanges(t *testing.T) {
	m := newTestMetrics(0, 0, 1, 2)
	steps := []struct {
		e    raft.Event
		want float64
	}{
		{raft.Event{Kind: raft.EventLeader, Leader: 1, Term: 2}, 1},
		{raft.Event{Kind: raft.EventLeader, Leader: wire.None, Term: 2}, 1},
		{raft.Event{Kind: raft.EventLeader, Leader: 1, Term: 2}, 1},
		{raft.Event{Kind: raft.EventLeader, Leader: 1, Term: 3}, 2},
		{raft.Event{Kind: raft.EventLeader, Leader: 2, Term: 4}, 3},
		{raft.Event{Kind: raft.EventRole, Role: core.Follower, Leader: 0, Term: 5}, 3},
		// A membership event names the leader too, but is no leader change.
		{raft.Event{Kind: raft.EventMembership, Leader: 0, Term: 6, ConfigIndex: 9}, 3},
	}
	for i, s := range steps {
		m.ObserveEvent(s.e)
		if got := sample(t, m.Registry(), "raftkv_raft_leader_changes_total", nil); got != s.want {
			t.Fatalf("after step %d (%+v): %v leader changes, want %v", i, s.e, got, s.want)
		}
	}
}

// The driver calls these for every message and every fsync: they must
// not allocate.
func TestHotPathDoesNotAllocate(t *testing.T) {
	m := newTestMetrics(0, 0, 1, 2)
	calls := map[string]func(){
		"ObserveMessage sent":     func() { m.ObserveMessage(raft.DirSent, 1, wire.MsgApp, 8) },
		"ObserveMessage received": func() { m.ObserveMessage(raft.DirReceived, 2, wire.MsgHeartbeatResp, 0) },
		"ObservePersist":          func() { m.ObservePersist(8, time.Millisecond) },
		"ObserveApply":            func() { m.ObserveApply(8, time.Millisecond) },
		"ObserveProposals":        func() { m.ObserveProposals(8, true) },
	}
	for name, f := range calls {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations per call, want 0", name, n)
		}
	}
}

func BenchmarkObserveMessage(b *testing.B) {
	m := newTestMetrics(0, 0, 1, 2)
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveMessage(raft.DirSent, 1, wire.MsgApp, 8)
	}
}

// The per-peer series follow the membership: a new member's exist at 0, a
// removed member's go, and a kept member's keep counting.
func TestSetPeersFollowsMembership(t *testing.T) {
	m := newTestMetrics(0, 0, 1, 2)
	m.ObserveMessage(raft.DirSent, 1, wire.MsgApp, 1)
	m.SetPeers([]wire.NodeID{0, 1, 3})
	sent := func(peer string) (float64, bool) {
		return lookup(t, m.Registry(), "raftkv_raft_messages_sent_total", map[string]string{"peer": peer, "type": "MsgApp"})
	}
	if v, ok := sent("3"); !ok || v != 0 {
		t.Errorf("new member 3: %v %v, want a series at 0", v, ok)
	}
	if _, ok := sent("2"); ok {
		t.Errorf("removed member 2 still has series:\n%s", listSeries(t, m.Registry(), "raftkv_raft_messages"))
	}
	m.ObserveMessage(raft.DirSent, 1, wire.MsgApp, 1)
	if v, _ := sent("1"); v != 2 {
		t.Errorf("kept member 1 counted %v, want 2", v)
	}
	if n := testing.AllocsPerRun(100, func() { m.ObserveMessage(raft.DirSent, 3, wire.MsgApp, 1) }); n != 0 {
		t.Errorf("counting for an added member allocates %v times", n)
	}
}
