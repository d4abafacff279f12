package metrics

import (
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/transport"
	"github.com/raftkv/raftkv/raft/wire"
)

// collector reads state that already exists elsewhere (the node's status,
// the transport's counters, file sizes) when Prometheus scrapes, instead
// of mirroring it into gauges on every change.
type collector struct {
	src Sources
}

func desc(subsystem, name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, labels, nil)
}

var (
	termDesc      = desc("raft", "term", "Current Raft term.")
	roleDesc      = desc("raft", "role", "1 for this node's current role, 0 for the others.", "role")
	hasLeaderDesc = desc("raft", "has_leader", "1 when this node knows a leader.")
	leaderIDDesc  = desc("raft", "leader_id", "ID of the leader this node knows, -1 when none.")
	commitDesc    = desc("raft", "commit_index", "Highest log index this node knows to be committed.")
	appliedDesc   = desc("raft", "applied_index", "Highest log index applied to the state machine.")
	lastLogDesc   = desc("raft", "last_log_index", "Index of the last entry in the log.")
	firstLogDesc  = desc("raft", "first_log_index", "Index of the first entry still in the log (older ones are in the snapshot).")
	snapIndexDesc = desc("raft", "snapshot_index", "Last log index covered by the latest snapshot on this node.")
	matchDesc     = desc("raft", "peer_match_index", "Leader only: highest index known to be replicated on each follower.", "peer")
	lagDesc       = desc("raft", "peer_lag_entries", "Leader only: entries each follower is behind the leader's last log index.", "peer")
	walSizeDesc   = desc("wal", "size_bytes", "Bytes of records in the Raft log's segment files (preallocated space not counted).")
	kvSizeDesc    = desc("kv", "size_bytes", "Disk space of the state machine's badger files.")

	queueLenDesc   = desc("transport", "queue_length", "Messages waiting in a peer's outbound queue.", "peer")
	queueCapDesc   = desc("transport", "queue_capacity", "Capacity of a peer's outbound queue; messages beyond it are dropped.", "peer")
	connectedDesc  = desc("transport", "peer_connected", "1 while the outbound connection to a peer is up.", "peer")
	sentMsgsDesc   = desc("transport", "sent_messages_total", "Messages written to a peer's socket.", "peer")
	sentFramesDesc = desc("transport", "sent_frames_total", "ZeroMQ messages written to a peer (each carries a batch).", "peer")
	sentBytesDesc  = desc("transport", "sent_bytes_total", "Bytes written to a peer.", "peer")
	droppedDesc    = desc("transport", "dropped_messages_total",
		"Messages the transport dropped, by peer and reason (queue_full, send_error, disconnected, too_large; unknown_peer, invalid, and frames refused as wrong_cluster, wrong_incarnation, wrong_sender with peer=\"none\").", "peer", "reason")
	reconnectsDesc = desc("transport", "reconnects_total", "Times the socket to a peer was re-created after an error or a silence.", "peer")
	dialFailsDesc  = desc("transport", "dial_failures_total", "Failed attempts to connect to a peer.", "peer")
	recvMsgsDesc   = desc("transport", "received_messages_total", "Messages received and delivered to Raft.")
	recvFramesDesc = desc("transport", "received_frames_total", "Well-formed ZeroMQ messages received.")
	malformedDesc  = desc("transport", "malformed_frames_total", "Received frames refused by the decoder.")
	sealedDesc     = desc("transport", "peer_sealing", "1 when this node seals its Raft frames and refuses unsealed ones (peer_key_file is set).")
	sealDropsDesc  = desc("transport", "peer_frames_refused_total",
		"Received frames refused for their sealing before anything read them, by reason (unsealed, unknown_key, bad_auth, replay, stale_session, wrong_receiver, malformed; handshake: not yet echoing this node's boot, a few at every start).", "reason")
)

var allDescs = []*prometheus.Desc{termDesc, roleDesc, hasLeaderDesc, leaderIDDesc, commitDesc, appliedDesc,
	lastLogDesc, firstLogDesc, snapIndexDesc, matchDesc, lagDesc, walSizeDesc, kvSizeDesc,
	queueLenDesc, queueCapDesc, connectedDesc, sentMsgsDesc, sentFramesDesc, sentBytesDesc, droppedDesc,
	reconnectsDesc, dialFailsDesc, recvMsgsDesc, recvFramesDesc, malformedDesc, sealedDesc, sealDropsDesc}

var roles = []core.Role{core.Follower, core.PreCandidate, core.Candidate, core.Leader}

func newCollector(src Sources) *collector { return &collector{src: src} }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if c.src.Status != nil {
		st := c.src.Status()
		gauge(termDesc, float64(st.Term))
		for _, r := range roles {
			gauge(roleDesc, bool01(st.Role == r), r.String())
		}
		gauge(hasLeaderDesc, bool01(st.Leader != wire.None))
		leader := -1.0
		if st.Leader != wire.None {
			leader = float64(st.Leader)
		}
		gauge(leaderIDDesc, leader)
		gauge(commitDesc, float64(st.CommitIndex))
		gauge(appliedDesc, float64(st.AppliedIndex))
		gauge(lastLogDesc, float64(st.LastLogIndex))
		gauge(firstLogDesc, float64(st.FirstIndex))
		gauge(snapIndexDesc, float64(st.Snapshot.Index))
		for _, p := range st.Peers {
			if p.ID == st.ID {
				continue
			}
			gauge(matchDesc, float64(p.MatchIndex), peerLabel(p.ID))
			gauge(lagDesc, float64(st.LastLogIndex-min(p.MatchIndex, st.LastLogIndex)), peerLabel(p.ID))
		}
	}
	if c.src.LogBytes != nil {
		gauge(walSizeDesc, float64(c.src.LogBytes()))
	}
	if c.src.StoreBytes != nil {
		gauge(kvSizeDesc, float64(c.src.StoreBytes()))
	}
	if c.src.Transport != nil {
		c.collectTransport(c.src.Transport(), gauge, counter)
	}
}

func (c *collector) collectTransport(ts transport.Stats, gauge func(*prometheus.Desc, float64, ...string), counter func(*prometheus.Desc, uint64, ...string)) {
	for _, id := range slices.Sorted(maps.Keys(ts.Peers)) {
		p, peer := ts.Peers[id], peerLabel(id)
		gauge(queueLenDesc, float64(p.QueueLen), peer)
		gauge(queueCapDesc, float64(p.QueueCap), peer)
		gauge(connectedDesc, bool01(p.Connected), peer)
		counter(sentMsgsDesc, p.SentMsgs, peer)
		counter(sentFramesDesc, p.SentFrames, peer)
		counter(sentBytesDesc, p.SentBytes, peer)
		counter(droppedDesc, p.DroppedQueueFull, peer, "queue_full")
		counter(droppedDesc, p.DroppedSendError, peer, "send_error")
		counter(droppedDesc, p.DroppedDisconnected, peer, "disconnected")
		counter(droppedDesc, p.DroppedTooLarge, peer, "too_large")
		counter(reconnectsDesc, p.Reconnects, peer)
		counter(dialFailsDesc, p.DialFailures, peer)
	}
	counter(droppedDesc, ts.DroppedUnknownPeer, "none", "unknown_peer")
	counter(droppedDesc, ts.DroppedInvalid, "none", "invalid")
	counter(droppedDesc, ts.WrongCluster, "none", "wrong_cluster")
	counter(droppedDesc, ts.WrongIncarnation, "none", "wrong_incarnation")
	counter(droppedDesc, ts.WrongSender, "none", "wrong_sender")
	counter(recvMsgsDesc, ts.RecvMsgs)
	counter(recvFramesDesc, ts.RecvFrames)
	counter(malformedDesc, ts.MalformedFrames)
	gauge(sealedDesc, bool01(ts.Sealed))
	for _, r := range ts.SealDrops.ByReason() {
		counter(sealDropsDesc, r.N, r.Reason)
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
