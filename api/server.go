// Package api serves the key-value store over HTTP (gin, everything under
// /v1). It reaches consensus and storage only through the small interfaces
// below, so it can be tested with fakes and knows nothing of their insides.
package api

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/auth"
	"github.com/raftkv/raftkv/internal/defaults"
	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
)

// Consensus is the part of a Raft node the API needs.
type Consensus interface {
	// Propose replicates data and returns its log index once it is committed and applied on this node.
	// Errors: *core.NotLeaderError (this node is not the leader; .Leader may be wire.None), core.ErrProposalDropped,
	// raft.ErrStopped, context errors.
	Propose(ctx context.Context, data []byte) (uint64, error)
	// ReadIndex returns once this node's state machine reflects every write committed before the call
	// (linearizable read barrier, via the leader). Errors: core.ErrNoLeader, raft.ErrStopped, context errors.
	ReadIndex(ctx context.Context) error
	// LeaseRead is ReadIndex without the heartbeat round while this node leads and its lease holds;
	// otherwise it behaves as ReadIndex.
	LeaseRead(ctx context.Context) error
	// TransferLeadership hands leadership from this node (the leader) to `to` (wire.None: the most
	// up-to-date follower) and returns the new leader. *core.NotLeaderError on other nodes.
	TransferLeadership(ctx context.Context, to uint64) (uint64, error)
	// SnapshotNow takes a snapshot of this node's state now and compacts its log.
	SnapshotNow(ctx context.Context) (core.SnapshotInfo, error)
	Status() core.Status
	// Subscribe returns this node's election, leader, role and membership
	// events (buffered to buf; a full channel loses events) and a function
	// that ends the subscription.
	Subscribe(buf int) (<-chan raft.Event, func())
	// ChangeMembership makes one membership change on this node (the
	// leader) and returns, once it is committed and applied here, the
	// membership it made and its entry's index. Refusals wrap the raft
	// package's reasons (core.ErrMemberExists, *core.LearnerBehindError...).
	ChangeMembership(ctx context.Context, cc core.ConfChange) (core.Membership, uint64, error)
}

// Snapshots gives access to this node's snapshot files, for backups.
type Snapshots interface {
	// OpenRaw returns the whole snapshot file at index and its size.
	OpenRaw(index uint64) (io.ReadCloser, int64, error)
}

// Store is the read side of the state machine, and where a caller learns
// what its write did.
type Store interface {
	GetItem(key []byte) (kv.Item, error) // kv.ErrNotFound when absent
	List(prefix []byte, limit int) ([]kv.Item, error)
	// RequestResult is how the write with request id (client, seq) was first applied, while the
	// client's session still holds it.
	RequestResult(client string, seq uint64) (kv.RequestOutcome, bool)
	// Expect registers a command's nonce before it is proposed; Outcome returns (once) what applying
	// it did on this node; Forget drops the registration.
	Expect(nonce uint64)
	Outcome(nonce uint64) (kv.Outcome, bool)
	Forget(nonce uint64)
	// Changes returns changes after a revision from the store's history (see kv.Store.Changes);
	// HistoryRevision is where a watch that starts now starts after.
	Changes(after uint64, match func(key []byte) bool, max int) ([]kv.Event, uint64, <-chan struct{}, error)
	HistoryRevision() uint64
	// Leases is every lease's TTL by id; Lease one lease with its keys.
	Leases() map[uint64]time.Duration
	Lease(id uint64) (kv.LeaseInfo, bool)
}

// Options configures a Server. Zero values get the documented defaults.
type Options struct {
	NodeID uint64
	// HTTPRoutes, when set, are where this node reaches the listed
	// members' HTTP API instead of the address the membership records
	// (config.json's routes; the kvchaos harness proxies every link).
	HTTPRoutes     map[uint64]string
	RequestTimeout time.Duration // default 5s
	MaxValueBytes  int64         // default 1 MiB
	Logger         *slog.Logger  // default slog.Default()
	Client         *http.Client  // for forwarding; nil = a pooled keep-alive client made here
	// PeerTLS, when set, means the nodes serve HTTPS: this node calls the
	// others (forwarding, the cluster status) at https:// with it. The
	// client made here uses it; a caller's Client must carry it itself.
	PeerTLS   *tls.Config
	Snapshots Snapshots // for GET /v1/admin/backup; nil disables it
	TrailPath string    // this node's committed-entry trail, tailed by the dashboard; "" = none
	// Metrics, when set, counts requests and reads and is served at GET /metrics.
	Metrics Metrics
	// ReadyMaxLag: GET /readyz answers 503 while the applied index trails
	// the commit index by more entries than this (default DefaultReadyMaxLag).
	ReadyMaxLag uint64
	// WatchProgress is how often an idle watch sends a progress event
	// (default DefaultWatchProgress).
	WatchProgress time.Duration
	// MinLeaseTTL is the shortest lease granted (default
	// DefaultMinLeaseTTL; kvserver sets twice the election timeout).
	// LeaseTick is how often the leader checks lease deadlines.
	MinLeaseTTL time.Duration
	LeaseTick   time.Duration
	// Auth, when set, makes the routes ask for tokens (auth.go); nil
	// serves everyone.
	Auth *AuthOptions
}

// Limits and names shared with clients.
const (
	// ForwardedHeader marks a write a follower forwarded to the leader; its
	// value is the forwarding node's id. Such a request is never forwarded
	// again, so two nodes that each think the other leads cannot bounce it.
	ForwardedHeader = "X-Raftkv-Forwarded"
	// RequestIDHeader carries "<client-id>:<seq>" on a write: a retry with
	// the same id is applied at most once.
	RequestIDHeader = "Request-Id"
	MaxKeyBytes     = 1024

	// config.json's, so that a server built without it behaves the same.
	DefaultRequestTimeout = defaults.RequestTimeoutMS * time.Millisecond
	DefaultMaxValueBytes  = defaults.MaxValueBytes
	DefaultListLimit      = 100
	MaxListLimit          = 10000
)

// Server is the HTTP front end of one node.
type Server struct {
	opts   Options
	cons   Consensus
	store  Store
	log    *slog.Logger
	client *http.Client
	// ownClient is true when client was made by New, so Close may shut its
	// idle connections without disturbing a caller's client.
	ownClient bool
	engine    *gin.Engine

	// The dashboard's sources (see events.go). Nothing runs until a
	// dashboard connects or RecordEvents is called; Close stops it all.
	writeLatency latencyRecorder
	events       *eventRecorder
	hub          *hub
	lessor       *lessor
	// tokens are the tokens requests are checked against; nil when the
	// server was started without them (SetTokens replaces them).
	tokens atomic.Pointer[auth.Set]
	// closing is closed by Close: watch streams end.
	closing   chan struct{}
	closeOnce sync.Once
}

// New builds a Server. It does not listen; serve Handler() with net/http.
func New(opts Options, c Consensus, s Store) *Server {
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.MaxValueBytes <= 0 {
		opts.MaxValueBytes = DefaultMaxValueBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ReadyMaxLag == 0 {
		opts.ReadyMaxLag = DefaultReadyMaxLag
	}
	if opts.WatchProgress <= 0 {
		opts.WatchProgress = DefaultWatchProgress
	}
	if opts.MinLeaseTTL <= 0 {
		opts.MinLeaseTTL = DefaultMinLeaseTTL
	}
	if opts.LeaseTick <= 0 {
		opts.LeaseTick = DefaultLeaseTick
	}
	srv := &Server{
		opts:    opts,
		cons:    c,
		store:   s,
		log:     opts.Logger.With("component", "api", "node", opts.NodeID),
		client:  opts.Client,
		events:  newEventRecorder(opts.NodeID),
		closing: make(chan struct{}),
	}
	if opts.Auth != nil {
		srv.tokens.Store(auth.NewSet(opts.Auth.Tokens))
	}
	srv.hub = newHub(srv)
	srv.lessor = newLessor(srv)
	go srv.lessor.run()
	if srv.client == nil {
		srv.client = newForwardClient(opts.PeerTLS)
		srv.ownClient = true
	}
	srv.engine = srv.newEngine()
	return srv
}

// Handler returns the gin engine serving every route.
func (s *Server) Handler() http.Handler { return s.engine }

// RecordEvents starts keeping this node's recent Raft events for the
// dashboard's timeline now, rather than when the first dashboard connects,
// so that the timeline also shows what happened before anyone looked.
func (s *Server) RecordEvents() { s.events.start(s.cons) }

// Close ends every dashboard event stream (call it before shutting the
// http.Server down: a stream never goes idle by itself), stops the
// dashboard's background work, and releases the idle keep-alive
// connections of the forwarding client made by New (a caller-supplied
// client is left alone). Other routes stay usable; later forwards simply
// dial again, and /v1/events answers 503.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.lessor.close()
	})
	s.hub.close()
	s.events.close()
	if s.ownClient {
		s.client.CloseIdleConnections()
	}
}

// peerScheme is how this node calls the others: every node serves the
// same scheme (config validation sees to it).
func (s *Server) peerScheme() string {
	if s.opts.PeerTLS != nil {
		return "https"
	}
	return "http"
}

// newForwardClient is a keep-alive client sized for many concurrent forwards
// to one leader: the default transport keeps only 2 idle connections per
// host, which would make every burst of writes on a follower dial anew.
func newForwardClient(peerTLS *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Node-to-node traffic must not detour through an HTTP_PROXY meant for
	// the operator's own outbound requests.
	tr.Proxy = nil
	if peerTLS != nil {
		tr.TLSClientConfig = peerTLS.Clone()
		// HTTP/1.1 as over plain HTTP: the idle pool below is sized for it.
		var p http.Protocols
		p.SetHTTP1(true)
		tr.Protocols = &p
	}
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 128
	tr.IdleConnTimeout = 90 * time.Second
	return &http.Client{
		Transport: tr,
		// The leader's answer is passed through as is, redirects included.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (s *Server) newEngine() *gin.Engine {
	// Release mode before gin.New, or gin prints its debug banner and every route.
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	// An API answers the path it was given; redirects to a "fixed" path
	// would make PUT /v1/kv a 307 instead of a clear 405.
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	// Routing uses URL.Path (decoded once by net/url), and the key is taken
	// from it verbatim: see keyParam for why gin's UseRawPath is not used.
	e.UseRawPath = false
	e.ForwardedByClientIP = false

	if s.opts.Metrics != nil {
		e.Use(s.countRequests) // outermost, to count the 500s recoverPanics writes
	}
	// Access is checked after cors, whose preflights carry no credentials.
	e.Use(s.logRequests, s.recoverPanics, cors, s.checkAccess, s.withTimeout)
	e.NoRoute(func(c *gin.Context) { abortError(c, http.StatusNotFound, "no such route: "+c.Request.URL.Path) })
	e.NoMethod(func(c *gin.Context) {
		abortError(c, http.StatusMethodNotAllowed, "method "+c.Request.Method+" not allowed on "+c.Request.URL.Path)
	})

	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", s.handleReady)
	if s.opts.Metrics != nil {
		e.GET("/metrics", gin.WrapH(s.opts.Metrics))
	}
	v1 := e.Group("/v1")
	v1.GET("/status", s.handleStatus)
	v1.GET("/kv", s.handleList)
	v1.GET("/kv/*key", s.handleGet)
	v1.PUT("/kv/*key", s.handlePut)
	v1.DELETE("/kv/*key", s.handleDelete)
	v1.POST("/txn", s.handleTxn)
	v1.GET("/watch/*key", s.handleWatch)
	v1.POST("/leases", s.handleGrantLease)
	v1.GET("/leases/:id", s.handleGetLease)
	v1.POST("/leases/:id/keepalive", s.handleKeepAlive)
	v1.DELETE("/leases/:id", s.handleRevokeLease)
	v1.POST("/cluster/transfer-leader", s.handleTransfer)
	v1.GET("/cluster/members", s.handleMembers)
	v1.POST("/cluster/members", s.handleAddMember)
	v1.POST("/cluster/members/:id/promote", s.handlePromoteMember)
	v1.POST("/cluster/members/:id/incarnation", s.handleRecordIncarnation)
	v1.DELETE("/cluster/members/:id", s.handleRemoveMember)
	v1.POST("/admin/snapshot", s.handleSnapshot)
	v1.GET("/admin/backup", s.handleBackup)
	s.addDashboard(e, v1)
	return e
}
