package metrics

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// raftMetrics are what the raft.Observer methods update.
type raftMetrics struct {
	proposals        prometheus.Counter
	proposalsRefused prometheus.Counter
	proposalBatch    prometheus.Histogram
	appendBatch      prometheus.Histogram
	fsyncSeconds     prometheus.Histogram
	fsyncEntries     prometheus.Histogram
	applySeconds     prometheus.Histogram
	applyEntries     prometheus.Histogram
	elections        *prometheus.CounterVec // cause
	leaderChanges    prometheus.Counter
	snapshots        *prometheus.CounterVec   // kind, result
	snapshotSeconds  *prometheus.HistogramVec // kind
	snapshotBytes    *prometheus.GaugeVec     // kind
	messages         [2]*prometheus.CounterVec

	// peers holds each member's message counters, resolved once so that
	// counting a message is a map lookup and an atomic add. SetPeers
	// swaps in a new map (never edits one), under peersMu.
	self    wire.NodeID
	peers   atomic.Pointer[map[wire.NodeID]*[2][]prometheus.Counter]
	peersMu sync.Mutex

	// leaderMu guards leader and leaderTerm: the leader last counted, so
	// that losing sight of a leader and finding it again in the same
	// term is not a change.
	leaderMu   sync.Mutex
	leader     wire.NodeID
	leaderTerm uint64
}

// msgTypeCount bounds the message types: every valid one is below it.
var msgTypeCount = func() int {
	t := wire.MessageType(1)
	for t.Valid() {
		t++
	}
	return int(t)
}()

// causeLabels are the causes elections are counted by.
var causeLabels = []string{core.CauseTimeout, core.CausePreVoteFailed, core.CauseTransfer}

var snapshotKinds = []string{raft.SnapshotTaken, raft.SnapshotSent, raft.SnapshotInstalled}

func (m *raftMetrics) init(reg prometheus.Registerer, self wire.NodeID, peers []wire.NodeID) {
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Subsystem: "raft", Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	histogram := func(subsystem, name, help string, buckets []float64) prometheus.Histogram {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Subsystem: subsystem, Name: name, Help: help, Buckets: buckets})
		reg.MustRegister(h)
		return h
	}
	m.proposals = counter("proposals_total", "Proposals appended to the log by this node as leader.")
	m.proposalsRefused = counter("proposals_refused_total", "Proposals refused because this node was not the leader.")
	m.proposalBatch = histogram("raft", "proposal_batch_entries", "Proposals appended to the leader's log in one batch.", batchBuckets)
	m.appendBatch = histogram("raft", "append_batch_entries", "Entries in one AppendEntries message sent to a follower (empty ones are not counted).", batchBuckets)
	m.fsyncSeconds = histogram("wal", "fsync_duration_seconds", "Time of one durable write of the Raft log (entries and/or term and vote, one fsync).", latencyBuckets)
	m.fsyncEntries = histogram("wal", "fsync_batch_entries", "Entries made durable by one fsync of the Raft log (0: term or vote only).", batchBuckets)
	m.applySeconds = histogram("raft", "apply_duration_seconds", "Time the state machine took to apply one batch of committed entries.", latencyBuckets)
	m.applyEntries = histogram("raft", "apply_batch_entries", "Committed entries applied to the state machine in one batch.", batchBuckets)
	m.leaderChanges = counter("leader_changes_total", "Times this node saw a new leader (another node, or a new term).")

	m.elections = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "raft", Name: "elections_total",
		Help: "Campaigns this node started, by cause (timeout, transfer), and pre-vote rounds it lost (prevote-failed)."}, []string{"cause"})
	m.snapshots = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "raft", Name: "snapshots_total",
		Help: "Snapshots taken, sent to a follower or installed from the leader, by result (ok, failed)."}, []string{"kind", "result"})
	m.snapshotSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "raft", Name: "snapshot_duration_seconds",
		Help: "Time to take, send or install a snapshot (successful ones).", Buckets: snapshotBuckets}, []string{"kind"})
	m.snapshotBytes = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "raft", Name: "snapshot_size_bytes",
		Help: "Size of the snapshot file last taken, sent or installed."}, []string{"kind"})
	msgHelp := [2]string{
		raft.DirSent:     "Raft messages handed to the transport (which may still drop them), by peer and type.",
		raft.DirReceived: "Raft messages taken from the transport, by peer and type.",
	}
	for _, dir := range []raft.Direction{raft.DirSent, raft.DirReceived} {
		m.messages[dir] = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "raft",
			Name: "messages_" + dir.String() + "_total", Help: msgHelp[dir]}, []string{"peer", "type"})
	}
	reg.MustRegister(m.elections, m.snapshots, m.snapshotSeconds, m.snapshotBytes, m.messages[0], m.messages[1])

	// Series that exist from the start read 0 instead of missing, which
	// rate() and alerts need.
	for _, c := range causeLabels {
		m.elections.WithLabelValues(c)
	}
	for _, k := range snapshotKinds {
		m.snapshots.WithLabelValues(k, "ok")
		m.snapshots.WithLabelValues(k, "failed")
		m.snapshotSeconds.WithLabelValues(k)
	}
	m.self = self
	m.peers.Store(&map[wire.NodeID]*[2][]prometheus.Counter{})
	m.setPeers(peers)
	m.leader = wire.None
}

// SetPeers makes peers the members whose message series exist (at 0 until
// counted), as the membership changes: a removed member's series go, so
// the scrape stops showing a node that left.
func (m *Metrics) SetPeers(peers []wire.NodeID) { m.raft.setPeers(peers) }

func (m *raftMetrics) setPeers(peers []wire.NodeID) {
	m.peersMu.Lock()
	defer m.peersMu.Unlock()
	old := *m.peers.Load()
	next := make(map[wire.NodeID]*[2][]prometheus.Counter, len(peers))
	for _, p := range peers {
		if p == m.self {
			continue
		}
		if pc, ok := old[p]; ok {
			next[p] = pc
			continue
		}
		var pc [2][]prometheus.Counter
		for d := range pc {
			pc[d] = make([]prometheus.Counter, msgTypeCount)
			for t := 1; t < msgTypeCount; t++ {
				pc[d][t] = m.messages[d].WithLabelValues(peerLabel(p), wire.MessageType(t).String())
			}
		}
		next[p] = &pc
	}
	m.peers.Store(&next)
	for p := range old {
		if _, ok := next[p]; !ok {
			for _, v := range m.messages {
				v.DeletePartialMatch(prometheus.Labels{"peer": peerLabel(p)})
			}
		}
	}
}

func peerLabel(id wire.NodeID) string { return strconv.FormatUint(id, 10) }

// ObserveProposals implements raft.Observer.
func (m *Metrics) ObserveProposals(n int, accepted bool) {
	if accepted {
		m.raft.proposals.Add(float64(n))
		m.raft.proposalBatch.Observe(float64(n))
		return
	}
	m.raft.proposalsRefused.Add(float64(n))
}

// ObservePersist implements raft.Observer.
func (m *Metrics) ObservePersist(entries int, d time.Duration) {
	m.raft.fsyncSeconds.Observe(seconds(d))
	m.raft.fsyncEntries.Observe(float64(entries))
}

// ObserveApply implements raft.Observer.
func (m *Metrics) ObserveApply(entries int, d time.Duration) {
	m.raft.applySeconds.Observe(seconds(d))
	m.raft.applyEntries.Observe(float64(entries))
}

// ObserveSnapshot implements raft.Observer.
func (m *Metrics) ObserveSnapshot(kind string, d time.Duration, bytes int64, err error) {
	if err != nil {
		m.raft.snapshots.WithLabelValues(kind, "failed").Inc()
		return
	}
	m.raft.snapshots.WithLabelValues(kind, "ok").Inc()
	m.raft.snapshotSeconds.WithLabelValues(kind).Observe(seconds(d))
	if bytes >= 0 {
		m.raft.snapshotBytes.WithLabelValues(kind).Set(float64(bytes))
	}
}

// ObserveMessage implements raft.Observer. It is called for every message
// each way, so it does not allocate for a known peer.
func (m *Metrics) ObserveMessage(dir raft.Direction, peer wire.NodeID, t wire.MessageType, entries int) {
	if int(dir) > 1 || !t.Valid() {
		return
	}
	if dir == raft.DirSent && t == wire.MsgApp && entries > 0 {
		m.raft.appendBatch.Observe(float64(entries))
	}
	if pc, ok := (*m.raft.peers.Load())[peer]; ok {
		pc[dir][t].Inc()
		return
	}
	// Not in the configured membership: rare, so the label lookup's
	// allocation does not matter.
	m.raft.messages[dir].WithLabelValues(peerLabel(peer), t.String()).Inc()
}

// ObserveEvent implements raft.Observer.
func (m *Metrics) ObserveEvent(e raft.Event) {
	switch {
	case e.Kind == raft.EventElection:
		m.raft.elections.WithLabelValues(causeLabel(e.Cause)).Inc()
	case e.Kind == raft.EventRole && e.Cause == core.CausePreVoteFailed:
		m.raft.elections.WithLabelValues(core.CausePreVoteFailed).Inc()
	case e.Kind == raft.EventLeader && e.Leader != wire.None:
		r := &m.raft
		r.leaderMu.Lock()
		changed := e.Leader != r.leader || e.Term != r.leaderTerm
		r.leader, r.leaderTerm = e.Leader, e.Term
		r.leaderMu.Unlock()
		if changed {
			r.leaderChanges.Inc()
		}
	}
}

// causeLabel keeps the label's values to the known causes.
func causeLabel(c string) string {
	for _, k := range causeLabels {
		if c == k {
			return c
		}
	}
	return "other"
}
