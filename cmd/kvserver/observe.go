package main

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/raftkv/raftkv/api/metrics"
)

// nodeOptions are choices made by flags for this run, not by the config
// every node shares.
type nodeOptions struct {
	pprof bool      // serve net/http/pprof under /debug/pprof/
	join  *joinSpec // join a running cluster instead of bootstrapping from config.json
}

type nodeOption func(*nodeOptions)

// withPprof serves net/http/pprof on the node's HTTP address when on.
func withPprof(on bool) nodeOption { return func(o *nodeOptions) { o.pprof = on } }

// withJoin makes the node join the cluster at j.urls (nil: bootstrap).
func withJoin(j *joinSpec) nodeOption { return func(o *nodeOptions) { o.join = j } }

const pprofPrefix = "/debug/pprof/"

// servePprof puts net/http/pprof under /debug/pprof/ beside the API. It
// stays outside the API's router: a CPU profile runs longer than the API's
// request timeout, and profiling is not API traffic to count. Any other
// path goes to api unchanged (a ServeMux in front would clean paths, and
// keys may contain "//").
func servePprof(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(pprofPrefix, pprof.Index) // also the named profiles: heap, goroutine, ...
	mux.HandleFunc(pprofPrefix+"cmdline", pprof.Cmdline)
	mux.HandleFunc(pprofPrefix+"profile", pprof.Profile)
	mux.HandleFunc(pprofPrefix+"symbol", pprof.Symbol)
	mux.HandleFunc(pprofPrefix+"trace", pprof.Trace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, pprofPrefix) {
			mux.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// newNodeMetrics makes node id's metrics; they must exist before Raft
// starts, since the node reports to them from its first step.
// watchNode points the metrics' scrape-time gauges at the running node.
func (n *node) watchNode() error {
	err := n.prom.RegisterSources(metrics.Sources{
		Status:     n.raft.Status,
		Transport:  n.tr.Stats,
		LogBytes:   n.wal.SizeBytes,
		StoreBytes: n.store.SizeBytes,
	})
	if err != nil {
		return fmt.Errorf("register metrics: %w", err)
	}
	return nil
}
