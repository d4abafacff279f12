// Package client is the Go client of the raftkv HTTP API, shared by kvcli
// and its benchmark. It spreads nothing: it talks to one endpoint at a time
// and moves on only when that one cannot serve (refused, or 503), or, for
// a request that is safe to send twice, when the connection broke before
// the answer was read: a read, or a write, since every write carries a
// Request-Id that the server applies at most once.
package client

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Errors.
var (
	// ErrNotFound is returned by Get when the key is absent.
	ErrNotFound = errors.New("key not found")
	// ErrUnavailable is returned (wrapped, with the last cause) when every
	// endpoint refused the connection or answered 503, or, for a request
	// safe to repeat, broke off before answering. A write may then have
	// been applied (at most once: its Request-Id was the same everywhere).
	ErrUnavailable = errors.New("cluster unavailable")
)

// APIError is an error answer from a server, other than the cases above.
type APIError struct {
	Status  int    // HTTP status
	Message string // the server's {"error": ...}, or the body when it was not JSON
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Item is one key and value, with its revisions, from List or GetItem.
// Key holds arbitrary bytes when the server had to send it base64.
// Revisions are 0 for a key last written before the server kept them.
type Item struct {
	Key            string
	Value          []byte
	CreateRevision uint64
	ModRevision    uint64
	Version        uint64
	Lease          uint64 // 0: none
	// TTLRemaining is the time left on the lease by the leader's clock;
	// -1 when not known (no lease, or a stale read on another node).
	TTLRemaining time.Duration
}

// WireItem is an Item as the server sends it in a list, GET ?meta=1 and
// a watch event, and the one declaration of that JSON: the server and the
// fake node encode it, so neither can drift from what Item decodes. A key
// or value that is not valid UTF-8 cannot be a JSON string without loss,
// so it goes base64 in the *_base64 field instead (see EncodeBytes);
// exactly one of each pair is set, except that a delete event has no
// value. Revisions are 0 for a key last written before the server kept
// them.
type WireItem struct {
	Key            *string `json:"key,omitempty"`
	KeyBase64      *string `json:"key_base64,omitempty"`
	Value          *string `json:"value,omitempty"`
	ValueBase64    *string `json:"value_base64,omitempty"`
	CreateRevision uint64  `json:"create_revision"`
	ModRevision    uint64  `json:"mod_revision"`
	Version        uint64  `json:"version"`
	Lease          uint64  `json:"lease,omitempty"`
	// TTLRemainingMS is the time left on the key's lease (GET ?meta=1).
	TTLRemainingMS *int64 `json:"ttl_remaining_ms,omitempty"`
}

// Item decodes w. It fails when the key or the value is in neither field.
func (w WireItem) Item() (Item, error) {
	k, err := DecodeBytes(w.Key, w.KeyBase64)
	if err != nil {
		return Item{}, fmt.Errorf("key: %w", err)
	}
	v, err := DecodeBytes(w.Value, w.ValueBase64)
	if err != nil {
		return Item{}, fmt.Errorf("value: %w", err)
	}
	left := time.Duration(-1)
	if w.TTLRemainingMS != nil {
		left = time.Duration(*w.TTLRemainingMS) * time.Millisecond
	}
	return Item{Key: string(k), Value: v, CreateRevision: w.CreateRevision, ModRevision: w.ModRevision, Version: w.Version,
		Lease: w.Lease, TTLRemaining: left}, nil
}

// EncodeBytes returns b for a pair of JSON fields such as key and
// key_base64: as text when it is valid UTF-8, else as standard base64.
func EncodeBytes(b []byte) (text, b64 *string) {
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return nil, &s
}

// DecodeBytes undoes EncodeBytes.
func DecodeBytes(text, b64 *string) ([]byte, error) {
	switch {
	case text != nil:
		return []byte(*text), nil
	case b64 != nil:
		return base64.StdEncoding.DecodeString(*b64)
	}
	return nil, errors.New("neither text nor base64 present")
}

// Status mirrors GET /v1/status.
type Status struct {
	ID           uint64  `json:"id"`
	State        string  `json:"state"`
	Term         uint64  `json:"term"`
	Leader       *uint64 `json:"leader"`      // nil while no leader is known
	LeaderHTTP   *string `json:"leader_http"` // nil while no leader is known
	CommitIndex  uint64  `json:"commit_index"`
	AppliedIndex uint64  `json:"applied_index"`
	LastLogIndex uint64  `json:"last_log_index"`
	// The log on disk: the first entry it still holds, the snapshot that
	// replaced the entries before it, and its size.
	FirstLogIndex uint64       `json:"first_log_index"`
	SnapshotIndex uint64       `json:"snapshot_index"` // 0 when the node has no snapshot
	SnapshotTerm  uint64       `json:"snapshot_term"`
	LogBytes      int64        `json:"log_bytes"`
	Peers         []PeerStatus `json:"peers"`
	// The membership in this node's log and the index of its entry.
	ConfigIndex uint64   `json:"config_index"`
	Members     []Member `json:"members"`
}

// PeerStatus is the leader's view of one follower.
type PeerStatus struct {
	ID         uint64 `json:"id"`
	MatchIndex uint64 `json:"match_index"`
}

// Client talks to a raftkv cluster. It is safe for concurrent use.
type Client struct {
	endpoints []string // normalized base URLs, e.g. "http://127.0.0.1:8000"
	scheme    string   // what a bare host:port gets: https with WithTLS
	tls       *tls.Config
	timeout   time.Duration
	http      *http.Client
	// next is the index of the endpoint to try first: the last one that
	// answered, so a client settles on a live node instead of probing dead
	// ones on every call.
	next atomic.Uint32
	// sessions names the writes: see write.go.
	sessions *sessionPool
	// seq numbers every write this client sends, from 1.
	seq atomic.Uint64
	// token, when set, goes in every request's Authorization header.
	token string
}

// Option adjusts a Client built by New.
type Option func(*options)

type options struct {
	connsPerHost int
	clientID     string // "" = random
	tls          *tls.Config
	token        string
}

// WithTLS makes the client speak HTTPS with cfg (the CA that verifies the
// nodes, a client certificate for mutual TLS): endpoints written host:port
// then mean https://host:port. An https:// endpoint works without it too,
// verified against the system's roots.
func WithTLS(cfg *tls.Config) Option {
	return func(o *options) { o.tls = cfg }
}

// WithToken sends token as "Authorization: Bearer <token>" on every
// request, to a cluster that asks for tokens. It goes in that header only:
// never in a URL, and never in an error this package returns.
func WithToken(token string) Option {
	return func(o *options) { o.token = token }
}

// WithConnsPerHost sizes the keep-alive pool: up to n idle connections are
// kept per node. A benchmark with n concurrent clients passes n, so that no
// request after the first round has to dial. n <= 0 keeps the default (256).
func WithConnsPerHost(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.connsPerHost = n
		}
	}
}

// New returns a client for endpoints ("http://host:port" or "host:port").
// timeout bounds each call, failover included; 0 means no bound beyond the
// caller's context.
func New(endpoints []string, timeout time.Duration, opts ...Option) (*Client, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("client: no endpoints")
	}
	o := options{connsPerHost: 256}
	for _, opt := range opts {
		opt(&o)
	}
	id := o.clientID
	if id == "" {
		id = randomClientID()
	} else if err := checkClientID(id); err != nil {
		return nil, err
	}
	c := &Client{timeout: timeout, sessions: newSessionPool(id), scheme: "http", token: o.token}
	if o.tls != nil {
		c.scheme, c.tls = "https", o.tls.Clone()
	}
	for _, e := range endpoints {
		u, err := c.normalize(e)
		if err != nil {
			return nil, err
		}
		c.endpoints = append(c.endpoints, u)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Benchmarks run many goroutines against a few nodes; the default of 2
	// idle connections per host would make most requests dial. The total
	// covers every endpoint plus a leader reached through a follower's
	// leader_http, which may be spelled differently.
	tr.MaxIdleConnsPerHost = o.connsPerHost
	tr.MaxIdleConns = o.connsPerHost * (len(c.endpoints) + 1)
	if o.tls != nil {
		tr.TLSClientConfig = o.tls.Clone()
	}
	// HTTP/1.1 only, over TLS too: the pool above then sizes connections
	// as it does for plain HTTP, and a refused client certificate reads
	// as TLS's "certificate required", where HTTP/2 says only that its
	// connection could not be established.
	tr.Protocols = http1Only()
	c.http = &http.Client{Transport: tr}
	return c, nil
}

func http1Only() *http.Protocols {
	var p http.Protocols
	p.SetHTTP1(true)
	return &p
}

// Normalize returns endpoint in the form the client uses ("http://host:port"),
// or an error saying why it is not an endpoint.
func Normalize(endpoint string) (string, error) { return normalizeScheme(endpoint, "http") }

// Normalize is the package's Normalize with this client's default scheme:
// a bare host:port is https for a client made WithTLS.
func (c *Client) Normalize(endpoint string) (string, error) { return c.normalize(endpoint) }

func (c *Client) normalize(endpoint string) (string, error) {
	return normalizeScheme(endpoint, c.scheme)
}

// normalizeLike normalizes addr, an address a node gave (a member's or
// the leader's http_addr), with the scheme of the endpoint that node
// answered on: every node of a cluster serves the same one.
func normalizeLike(addr, endpoint string) (string, error) {
	scheme, _, ok := strings.Cut(endpoint, "://")
	if !ok {
		scheme = "http"
	}
	return normalizeScheme(addr, scheme)
}

// normalizeScheme turns "host:port" (with scheme) or "http://host:port/"
// into "http://host:port".
func normalizeScheme(endpoint, scheme string) (string, error) {
	e := strings.TrimSpace(endpoint)
	if !strings.Contains(e, "://") {
		e = scheme + "://" + e
	}
	u, err := url.Parse(e)
	if err != nil {
		return "", fmt.Errorf("client: endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("client: endpoint %q: scheme must be http or https", endpoint)
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", fmt.Errorf("client: endpoint %q: want host:port", endpoint)
	}
	return u.Scheme + "://" + u.Host, nil
}

// TLSConfig is the configuration given WithTLS (a copy), nil without: for
// callers that make their own connections to the same nodes.
func (c *Client) TLSConfig() *tls.Config {
	if c.tls == nil {
		return nil
	}
	return c.tls.Clone()
}

// Endpoints returns the normalized endpoints, in the order given.
func (c *Client) Endpoints() []string { return append([]string(nil), c.endpoints...) }

// Current returns the endpoint the next call tries first: the one that
// answered last.
func (c *Client) Current() string {
	return c.endpoints[int(c.next.Load())%len(c.endpoints)]
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Get returns key's value. consistency is "" (the server's default,
// linearizable), "linearizable" or "stale".
func (c *Client) Get(ctx context.Context, key string, consistency string) ([]byte, error) {
	return c.do(ctx, http.MethodGet, keyPath(key)+consistencyQuery(consistency, nil), nil, nil, true)
}

// Put sets key to value and returns the log index of the write. The write
// carries a fresh Request-Id, which a failover to another endpoint resends.
func (c *Client) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	w := c.NewPut(key, value)
	defer w.Close()
	return w.Do(ctx)
}

// Delete removes key (absent is fine) and returns the log index of the
// write. Request ids as for Put.
func (c *Client) Delete(ctx context.Context, key string) (uint64, error) {
	w := c.NewDelete(key)
	defer w.Close()
	return w.Do(ctx)
}

// List returns at most limit items whose keys start with prefix, in key
// order. limit <= 0 uses the server's default.
func (c *Client) List(ctx context.Context, prefix string, limit int, consistency string) ([]Item, error) {
	q := url.Values{}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	body, err := c.do(ctx, http.MethodGet, "/v1/kv"+consistencyQuery(consistency, q), nil, nil, true)
	if err != nil {
		return nil, err
	}
	var raw struct {
		Items []WireItem `json:"items"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, fmt.Errorf("client: decode list: %w", err)
	}
	items := make([]Item, 0, len(raw.Items))
	for i, r := range raw.Items {
		it, err := r.Item()
		if err != nil {
			return nil, fmt.Errorf("client: list item %d %w", i, err)
		}
		items = append(items, it)
	}
	return items, nil
}

// GetItem returns key's value with its revisions (GET ?meta=1).
func (c *Client) GetItem(ctx context.Context, key string, consistency string) (Item, error) {
	body, err := c.do(ctx, http.MethodGet, keyPath(key)+consistencyQuery(consistency, url.Values{"meta": {"1"}}), nil, nil, true)
	if err != nil {
		return Item{}, err
	}
	var r WireItem
	if err := json.Unmarshal(body, &r); err != nil {
		return Item{}, fmt.Errorf("client: decode item: %w", err)
	}
	it, err := r.Item()
	if err != nil {
		return Item{}, fmt.Errorf("client: item %w", err)
	}
	return it, nil
}

// Status asks one endpoint (any address, not only those given to New) for
// its status; there is no failover, since the point is that node's view.
func (c *Client) Status(ctx context.Context, endpoint string) (Status, error) {
	base, err := c.normalize(endpoint)
	if err != nil {
		return Status{}, err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	body, err := c.once(ctx, base, http.MethodGet, "/v1/status", nil, nil)
	if err != nil {
		return Status{}, err
	}
	var st Status
	if err := json.Unmarshal(body, &st); err != nil {
		return Status{}, fmt.Errorf("client: decode status from %s: %w", base, err)
	}
	return st, nil
}

// PutAt sets key on endpoint only, without failover: for callers, such as
// a benchmark, that must know which node served each request. It carries
// a Request-Id like Put.
func (c *Client) PutAt(ctx context.Context, endpoint, key string, value []byte) (uint64, error) {
	w := c.NewPut(key, value)
	defer w.Close()
	return w.DoAt(ctx, endpoint)
}

// GetAt reads key from endpoint only, without failover (see PutAt).
func (c *Client) GetAt(ctx context.Context, endpoint, key, consistency string) ([]byte, error) {
	return c.at(ctx, endpoint, http.MethodGet, keyPath(key)+consistencyQuery(consistency, nil), nil, nil)
}

// at sends one request to endpoint, bounded by the client's timeout.
func (c *Client) at(ctx context.Context, endpoint, method, pathAndQuery string, body []byte, hdr http.Header) ([]byte, error) {
	base, err := c.normalize(endpoint)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	return c.once(ctx, base, method, pathAndQuery, body, hdr)
}

func keyPath(key string) string { return "/v1/kv/" + url.PathEscape(key) }

func consistencyQuery(consistency string, q url.Values) string {
	if consistency != "" {
		if q == nil {
			q = url.Values{}
		}
		q.Set("consistency", consistency)
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

func decodeIndex(body []byte) (uint64, error) {
	var b struct {
		Index *uint64 `json:"index"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Index == nil {
		return 0, fmt.Errorf("client: answer %q has no index", truncate(body))
	}
	return *b.Index, nil
}
