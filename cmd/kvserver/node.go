package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/raftkv/raftkv/api"
	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/api/metrics"
	"github.com/raftkv/raftkv/config"
	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/logs"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/transport"
	"github.com/raftkv/raftkv/raft/wire"
	"github.com/raftkv/raftkv/trail"
)

// node is one running raftkv node: every part it owns, in start order.
type node struct {
	id      uint64
	dir     string
	ident   identity // this data directory's; the watcher sets Member
	httpURL string   // where this node's own API answers
	tls     *nodeTLS // nil: plain HTTP
	// clientOpts go with this node's calls to the API (HTTPS, its token).
	clientOpts []client.Option
	// skipHandOver: do not pass leadership on when stopping (the whole
	// cluster is stopping).
	skipHandOver bool
	logger       *slog.Logger
	wal          *logs.Log
	snaps        *logs.SnapshotStore
	store        *kv.Store
	trail        *logs.Trail
	traced       *trail.StateMachine // the store, writing the trail as it applies
	tr           *transport.ZMQ
	raft         *raft.Node
	prom         *metrics.Metrics // this node's Prometheus metrics
	api          *api.Server      // closed before the HTTP server: its event streams never go idle
	http         *http.Server
	httpc        chan error // the HTTP server's exit
	// The membership watcher: gone carries its verdict (removed, or
	// replaced); closing watchStop ends it, and it closes watchDone.
	gone      chan error
	watchStop chan struct{}
	watchDone chan struct{}

	// peersMu serialises the transport's peer updates from the log and
	// from a join; peersFromLog: the log has given a membership.
	peersMu      sync.Mutex
	peersFromLog bool
	raftRoutes   map[wire.NodeID]string      // config.json's routes; fixed after startNode
	members      []core.Member               // the log's latest membership
	leaving      map[wire.NodeID]leavingPeer // members that left, still reachable
}

// startNode opens the node's storage, joins the cluster and serves HTTP.
// On error everything opened so far is closed again.
func startNode(cfg *config.Config, id uint64, logger *slog.Logger, opts ...nodeOption) (n *node, err error) {
	var o nodeOptions
	for _, opt := range opts {
		opt(&o)
	}
	self, err := selfNode(cfg, id, o.join)
	if err != nil {
		return nil, err
	}
	keys, err := peerKeys(cfg, logger)
	if err != nil {
		return nil, err
	}
	// Certificates first: a bad one fails before any storage is opened.
	nt, err := newNodeTLS(cfg.NodeTLS(id))
	if err != nil {
		return nil, err
	}
	dir := cfg.NodeDir(id)
	n = &node{id: id, dir: dir, logger: logger, tls: nt, gone: make(chan error, 1),
		clientOpts: append(nt.clientOptions(), nodeClientOptions(cfg)...)}
	defer func() {
		if err != nil {
			n.close()
			n = nil
		}
	}()
	_, statErr := os.Stat(filepath.Join(dir, "raft"))
	fresh := errors.Is(statErr, fs.ErrNotExist)
	if fresh && o.join == nil {
		if err := checkFreshBootstrap(context.Background(), cfg, id, n.clientOpts); err != nil {
			return n, err
		}
	}
	if n.ident, _, err = loadIdentity(dir, id); err != nil {
		return n, err
	}
	if n.wal, err = logs.Open(filepath.Join(dir, "raft"), logs.Options{Logger: logger, SegmentBytes: walSegmentBytes}); err != nil {
		return n, fmt.Errorf("open raft log: %w", err)
	}
	if n.snaps, err = logs.OpenSnapshotStore(cfg.SnapshotDir(id)); err != nil {
		return n, fmt.Errorf("open snapshot store: %w", err)
	}
	n.snaps.SetLogger(logger)
	if n.store, err = kv.Open(kv.Options{Dir: filepath.Join(dir, "kv"), Logger: logger,
		MemTableBytes: cfg.Badger.MemTableBytes, BlockCacheBytes: cfg.Badger.BlockCacheBytes,
		IndexCacheBytes: cfg.Badger.IndexCacheBytes}); err != nil {
		return n, fmt.Errorf("open state machine: %w", err)
	}
	if n.trail, err = logs.OpenTrail(cfg.TrailPath(id)); err != nil {
		return n, fmt.Errorf("open trail: %w", err)
	}
	n.trail.RotateAt(trailMaxBytes)
	n.trail.SetLogger(logger)
	if n.traced, err = trail.Wrap(n.store, n.trail, n.wal, n.store.Describe, logger); err != nil {
		return n, err
	}
	// config.json's nodes seed a brand-new cluster only; afterwards the
	// membership comes from the log, and raftObserver points the
	// transport and metrics at it (first during StartNode).
	var boot core.Membership
	if o.join == nil {
		boot = bootstrapMembership(cfg)
	}
	n.raftRoutes = map[wire.NodeID]string{}
	httpRoutes := map[uint64]string{}
	for _, r := range cfg.Routes {
		n.raftRoutes[r.ID], httpRoutes[r.ID] = r.RaftAddr, r.HTTPAddr
	}
	// Bind HTTP before joining so a taken port fails before any Raft traffic.
	ln, err := net.Listen("tcp", self.HTTPAddr)
	if err != nil {
		return n, fmt.Errorf("listen http %s: %w", self.HTTPAddr, err)
	}
	defer func() {
		if n.http == nil {
			ln.Close()
		}
	}()
	// One message carries up to maxMsgBytes of entries, but always at least
	// one entry, which can be a whole value: frames must fit that. Every
	// node derives the same limit from the shared config.
	maxFrame := max(8<<20, maxMsgBytes+int(cfg.MaxValueBytes)+64<<10)
	if n.tr, err = transport.NewZMQ(transport.ZMQConfig{ID: id, Listen: self.RaftAddr, Incarnation: n.ident.Incarnation,
		MaxFrameBytes: maxFrame, PeerKeys: keys, Logger: logger}); err != nil {
		return n, fmt.Errorf("start transport: %w", err)
	}
	n.prom = metrics.New(metrics.Options{Node: id})
	emin, emax := cfg.ElectionTimeout()
	n.raft, err = raft.StartNode(raft.NodeConfig{
		ID: id, Bootstrap: boot, Incarnation: n.ident.Incarnation,
		AutoPromoteAfter: cfg.AutoPromoteAfter(), ElectionTimeoutMin: emin, ElectionTimeoutMax: emax,
		HeartbeatInterval: cfg.HeartbeatInterval(), LeaseClockDrift: cfg.LeaseClockDrift(),
		MaxMsgBytes: maxMsgBytes,
		Storage:     n.wal, Transport: n.tr, StateMachine: n.traced, Logger: logger,
		Snapshots: n.snaps, SnapshotEntries: uint64(cfg.SnapshotEntries), SnapshotBytes: cfg.SnapshotBytes,
		SnapshotKeepEntries: uint64(cfg.SnapshotKeepEntries), Observer: raftObserver{n.prom, n},
	})
	if err != nil {
		return n, fmt.Errorf("start raft: %w", err)
	}
	if err := n.watchNode(); err != nil {
		return n, err
	}
	srv := api.New(api.Options{NodeID: id, HTTPRoutes: httpRoutes, RequestTimeout: cfg.RequestTimeout(),
		MaxValueBytes: cfg.MaxValueBytes, Logger: logger, Snapshots: n.snaps,
		Metrics: n.prom, ReadyMaxLag: uint64(cfg.ReadyMaxLagEntries), TrailPath: cfg.TrailPath(id),
		MinLeaseTTL: minLeaseTTL(cfg), PeerTLS: n.tls.peerConfig(), Auth: apiAuth(cfg)}, n.raft, n.store)
	srv.RecordEvents() // the dashboard's timeline then starts with this node's first election
	n.api = srv
	handler := srv.Handler()
	if o.pprof {
		handler = servePprof(handler)
	}
	n.http = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	n.httpc = make(chan error, 1)
	go func() { n.httpc <- n.tls.serve(n.http, ln, logger) }()
	n.httpURL = n.tls.selfURL(ln.Addr().String(), self.HTTPAddr)
	logger.Info("node serving", "http", n.httpURL, "raft", self.RaftAddr, "data", dir, "tokens", cfg.Auth.Enabled())
	warnIfOpen(cfg, self.HTTPAddr, logger)
	if o.join != nil && !n.ident.Member {
		if err := n.joinCluster(context.Background(), o.join); err != nil {
			return n, err
		}
	}
	n.watchStop, n.watchDone = make(chan struct{}), make(chan struct{})
	go n.watchMembership(n.watchStop, o.join == nil || n.ident.Member)
	return n, nil
}

// selfNode is this node's addresses: the flags' when joining, else its
// entry in config.json.
func selfNode(cfg *config.Config, id uint64, j *joinSpec) (config.Node, error) {
	if j == nil {
		return cfg.Node(id)
	}
	return config.Node{ID: id, RaftAddr: j.raftAddr, HTTPAddr: j.httpAddr}, nil
}

const (
	// maxMsgBytes bounds the entries of one AppendEntries message.
	maxMsgBytes = 1 << 20
	// walSegmentBytes sizes log segments: compaction drops whole segments,
	// so this is the granularity of the disk a snapshot frees.
	walSegmentBytes = 8 << 20
	// trailMaxBytes bounds each trail file; one previous file is kept.
	trailMaxBytes = 16 << 20
)

// done is closed when the node can no longer serve: Raft stopped on a
// fatal error or the HTTP server failed.
func (n *node) failed() <-chan struct{} { return n.raft.Done() }

// stop shuts the node down: HTTP first (no new requests), then Raft, the
// transport and the stores. It returns the fatal error, if Raft had one.
func (n *node) stop(ctx context.Context) error {
	if !n.skipHandOver {
		n.handOver(ctx)
	}
	if n.api != nil {
		n.api.Close() // ends dashboard event streams, which Shutdown would otherwise wait out
	}
	if n.http != nil {
		if err := n.http.Shutdown(ctx); err != nil {
			n.logger.Warn("http shutdown", "err", err)
		}
		if err := <-n.httpc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.logger.Warn("http server", "err", err)
		}
		n.http = nil
	}
	var fatal error
	if n.raft != nil {
		fatal = n.raft.Err()
	}
	n.close()
	return fatal
}

// handOver passes leadership to the most up-to-date follower before a
// leader shuts down, so a rolling restart costs no election timeout.
func (n *node) handOver(ctx context.Context) {
	if n.raft == nil || n.raft.Err() != nil {
		return
	}
	if st := n.raft.Status(); st.Role != core.Leader || len(st.Membership.Voters()) < 2 {
		return
	}
	start := time.Now()
	to, err := n.raft.TransferLeadership(ctx, wire.None)
	if err != nil {
		n.logger.Warn("leadership hand-over before shutdown failed; the others will elect a leader", "err", err)
		return
	}
	n.logger.Info("handed leadership over before shutdown", "to", to, "took", time.Since(start).Round(time.Millisecond))
}

// close releases what startNode opened, in reverse order.
func (n *node) close() {
	if n.http != nil { // startNode failed after serving (a refused join)
		if n.api != nil {
			n.api.Close()
		}
		n.http.Close()
		<-n.httpc
		n.http = nil
	}
	if n.watchStop != nil {
		close(n.watchStop)
		<-n.watchDone
		n.watchStop = nil
	}
	if n.raft != nil {
		n.raft.Stop()
	}
	if n.tr != nil {
		n.tr.Close()
	}
	if n.traced != nil {
		n.traced.Close() // after Raft: nothing applies any more
	}
	if n.trail != nil {
		if err := n.trail.Close(); err != nil {
			n.logger.Warn("close trail", "err", err)
		}
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			n.logger.Warn("close state machine", "err", err)
		}
	}
	if n.wal != nil {
		if err := n.wal.Close(); err != nil {
			n.logger.Warn("close raft log", "err", err)
		}
	}
}

// minLeaseTTL is above the election timeout, with room for an election:
// a lease shorter than that could expire while the cluster elects.
func minLeaseTTL(cfg *config.Config) time.Duration {
	_, electionMax := cfg.ElectionTimeout()
	return max(api.DefaultMinLeaseTTL, (2*electionMax+time.Second-1)/time.Second*time.Second)
}
