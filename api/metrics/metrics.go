// Package metrics keeps one raftkv node's Prometheus metrics: it is the
// node's raft.Observer (proposals, fsyncs, applies, messages, elections,
// snapshots), the API's request and read counters, and a collector that
// reads gauges (term, role, indexes, sizes, transport queues) at scrape
// time. Each node has its own registry, with the constant label
// node="<id>", because `kvserver --all` runs several nodes in one process.
//
// Names follow raftkv_<subsystem>_<name>_<unit>; README.md lists them all.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/transport"
	"github.com/raftkv/raftkv/raft/wire"
)

const namespace = "raftkv"

// Options says which node the metrics are for.
type Options struct {
	Node wire.NodeID
	// Peers are the cluster's members (this node may be among them, and
	// is skipped): their message counters exist from the start, so a
	// peer that never answers shows as 0 instead of being absent.
	Peers []wire.NodeID
	// NoProcessMetrics leaves out the Go runtime and process collectors
	// (tests compare exact output; they are on in production).
	NoProcessMetrics bool
}

// Metrics is one node's metrics. It implements raft.Observer and the API's
// Metrics interface, and serves the registry over HTTP. Safe for
// concurrent use; it starts no goroutines.
type Metrics struct {
	node     wire.NodeID
	reg      *prometheus.Registry
	labelled prometheus.Registerer // reg, adding node="<id>"
	handler  http.Handler

	raft raftMetrics
	api  apiMetrics
}

var _ raft.Observer = (*Metrics)(nil)

// New makes the metrics of one node in a registry of their own.
func New(o Options) *Metrics {
	m := &Metrics{node: o.Node, reg: prometheus.NewRegistry()}
	m.labelled = prometheus.WrapRegistererWith(prometheus.Labels{"node": strconv.FormatUint(o.Node, 10)}, m.reg)
	m.raft.init(m.labelled, o.Node, o.Peers)
	m.api.init(m.labelled)
	if !o.NoProcessMetrics {
		// Process-wide, so without the node label: with --all every node
		// reports the same process.
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return m
}

// Registry is the node's registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ServeHTTP serves the metrics in the Prometheus text format.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }

// Sources are what the scrape-time collector reads; a nil one is skipped.
type Sources struct {
	Status     func() core.Status
	Transport  func() transport.Stats
	LogBytes   func() int64 // the Raft log on disk
	StoreBytes func() int64 // the state machine's (badger's) files
}

// RegisterSources adds the collector that reads src at every scrape. Call
// it once, when the node's parts are running.
func (m *Metrics) RegisterSources(src Sources) error {
	return m.labelled.Register(newCollector(src))
}

// Bucket layouts. Durations start at 50us: an fsync on a fast SSD.
var (
	latencyBuckets  = prometheus.ExponentialBuckets(50e-6, 2, 18) // 50us .. 6.5s
	snapshotBuckets = prometheus.ExponentialBuckets(0.005, 2, 14) // 5ms .. 41s
	batchBuckets    = prometheus.ExponentialBuckets(1, 2, 13)     // 1 .. 4096 entries
)

func seconds(d time.Duration) float64 { return d.Seconds() }
