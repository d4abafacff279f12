package client

import (
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
)

// RequestIDHeader carries "<client-id>:<seq>" on every write. The server
// applies a write at most once per id, so a write whose first attempt may
// or may not have reached it can be sent again safely.
const RequestIDHeader = "Request-Id"

// MaxClientIDBytes is the longest id WithClientID accepts: the server
// takes 128 bytes, and the client may add a suffix of up to 21 (see
// sessionPool).
const MaxClientIDBytes = 100

// WithClientID sets the client id of the Request-Id header instead of a
// random one. It must be unique among the clients of a cluster (two
// clients sharing one would have each other's writes skipped), also once
// the client adds "-N" to it for concurrent writes (so "app" and "app-1"
// may clash). It is up to MaxClientIDBytes printable ASCII characters
// without blanks; "" keeps the random id.
func WithClientID(id string) Option {
	return func(o *options) { o.clientID = id }
}

// ClientID returns the id the client's writes carry (those sent while
// another write of this client is in flight add a suffix: see NewPut).
func (c *Client) ClientID() string { return c.sessions.base }

// randomClientID returns 16 hex digits: 64 random bits, so clients that
// pick their ids independently do not collide.
func randomClientID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics instead)
	return hex.EncodeToString(b[:])
}

func checkClientID(id string) error {
	if len(id) > MaxClientIDBytes {
		return fmt.Errorf("client: client id %q is %d bytes; the limit is %d", id, len(id), MaxClientIDBytes)
	}
	for i := range len(id) {
		if b := id[i]; b <= ' ' || b > '~' {
			return fmt.Errorf("client: client id %q: byte %d (%#x) is not printable ASCII", id, i, b)
		}
	}
	return nil
}

// The server remembers, per client id, only the highest sequence number
// it applied, and skips any write with a lower one as a stale retry. Two
// writes in flight under one id could therefore reach the log out of
// order and the later-numbered one would make the server skip the other,
// while still answering 200. So each write in flight gets a session of its
// own: lane 0 is the plain client id, lane k > 0 is "<id>-k". A lane is
// held from NewPut or NewDelete to Close, and the sequence number is drawn
// after the lane is taken, so within a lane numbers rise in the order the
// writes are sent. Lanes are reused lowest first: a client that writes
// from one goroutine always uses the plain id, and one with n writes in
// flight uses n sessions on the server.
type sessionPool struct {
	base string

	mu    sync.Mutex // guards free and lanes
	free  laneHeap   // released lanes, lowest on top
	lanes uint64     // lanes created so far: 0..lanes-1
}

func newSessionPool(base string) *sessionPool { return &sessionPool{base: base} }

func (p *sessionPool) acquire() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) > 0 {
		return heap.Pop(&p.free).(uint64)
	}
	p.lanes++
	return p.lanes - 1
}

func (p *sessionPool) release(lane uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	heap.Push(&p.free, lane)
}

// name is lane's client id on the wire.
func (p *sessionPool) name(lane uint64) string {
	if lane == 0 {
		return p.base
	}
	return p.base + "-" + strconv.FormatUint(lane, 10)
}

// laneHeap is a min-heap of lane numbers (container/heap).
type laneHeap []uint64

func (h laneHeap) Len() int           { return len(h) }
func (h laneHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h laneHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *laneHeap) Push(x any)        { *h = append(*h, x.(uint64)) }
func (h *laneHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// errWriteClosed is returned by Do and DoAt after Close.
var errWriteClosed = errors.New("client: write already closed")

// Write is one logical write with its request id. Do (or DoAt) may be
// called again after an error whose outcome is unknown, such as a timeout
// or a 504: every attempt carries the same id, so the write is applied at
// most once, and an attempt after it was applied answers the index of
// that first application. Close the Write when done with it: until then it
// holds a session of the client (see NewPut), and after Close an earlier
// attempt still in flight can no longer take effect once a later write of
// the client has been applied in its session. A Write is for one
// goroutine.
type Write struct {
	c      *Client
	method string
	path   string
	body   []byte
	lane   uint64
	id     string      // the Request-Id header value
	hdr    http.Header // Request-Id and the condition, sent with every attempt
	closed bool
	lease  uint64 // the key's lease, from the last answer (WithTTL, WithLease)
}

// Lease is the lease the written key got, from the answer of Do: the new
// one of WithTTL, or WithLease's.
func (w *Write) Lease() uint64 { return w.lease }

// decode reads {"index":N,"lease":L} into w.
func (w *Write) decode(body []byte) (uint64, error) {
	var b struct {
		Lease uint64 `json:"lease"`
	}
	if err := json.Unmarshal(body, &b); err == nil {
		w.lease = b.Lease
	}
	return decodeIndex(body)
}

// NewPut prepares a write of value to key, under a new request id.
func (c *Client) NewPut(key string, value []byte) *Write {
	return c.newWrite(http.MethodPut, key, value)
}

// NewDelete prepares a deletion of key, under a new request id.
func (c *Client) NewDelete(key string) *Write { return c.newWrite(http.MethodDelete, key, nil) }

func (c *Client) newWrite(method, key string, body []byte) *Write {
	lane := c.sessions.acquire()
	seq := c.seq.Add(1) // after acquire: see sessionPool
	id := c.sessions.name(lane) + ":" + strconv.FormatUint(seq, 10)
	return &Write{c: c, method: method, path: keyPath(key), body: body, lane: lane, id: id,
		hdr: http.Header{RequestIDHeader: {id}}}
}

// IfRevision makes the write take effect only if the key exists with this
// mod_revision (If-Match); otherwise Do returns a *ConditionError. The
// server decides when it applies the write, and a retry answers the first
// decision.
func (w *Write) IfRevision(rev uint64) *Write {
	w.hdr.Del("If-None-Match")
	w.hdr.Set("If-Match", `"`+strconv.FormatUint(rev, 10)+`"`)
	return w
}

// IfAbsent makes the write take effect only if the key does not exist
// (If-None-Match: *): a create.
func (w *Write) IfAbsent() *Write {
	w.hdr.Del("If-Match")
	w.hdr.Set("If-None-Match", "*")
	return w
}

// ConditionError is a conditional write whose condition did not hold: it
// wrote nothing. ModRevision and Version are the key's (0 when absent).
type ConditionError struct {
	ModRevision uint64
	Version     uint64
	Message     string
}

func (e *ConditionError) Error() string { return e.Message }

// conditionError decodes a 412 answer.
func conditionError(body []byte) (*ConditionError, bool) {
	var b struct {
		Error       string  `json:"error"`
		ModRevision *uint64 `json:"mod_revision"`
		Version     *uint64 `json:"version"`
	}
	if json.Unmarshal(body, &b) != nil || b.ModRevision == nil || b.Version == nil {
		return nil, false
	}
	return &ConditionError{ModRevision: *b.ModRevision, Version: *b.Version, Message: b.Error}, true
}

// RequestID returns the Request-Id header value every attempt carries.
func (w *Write) RequestID() string { return w.id }

// Do sends the write, failing over like every call of the client, and
// returns the log index at which it was applied.
func (w *Write) Do(ctx context.Context) (uint64, error) {
	if w.closed {
		return 0, errWriteClosed
	}
	body, err := w.c.do(ctx, w.method, w.path, w.body, w.hdr, true)
	if err != nil {
		return 0, err
	}
	return w.decode(body)
}

// DoAt sends the write to endpoint only, without failover.
func (w *Write) DoAt(ctx context.Context, endpoint string) (uint64, error) {
	if w.closed {
		return 0, errWriteClosed
	}
	body, err := w.c.at(ctx, endpoint, w.method, w.path, w.body, w.hdr)
	if err != nil {
		return 0, err
	}
	return w.decode(body)
}

// Close releases the write's session for the client's next write. It is
// idempotent.
func (w *Write) Close() {
	if !w.closed {
		w.closed = true
		w.c.sessions.release(w.lane)
	}
}

// TxnAnswer is POST /v1/txn's answer. Each result is the server's JSON
// object for one operation of the branch that ran.
type TxnAnswer struct {
	Succeeded bool              `json:"succeeded"`
	Revision  uint64            `json:"revision"`
	Results   []json.RawMessage `json:"results"`
	// Retried: the request id was applied before; only whether it
	// succeeded is known, not its results.
	Retried bool `json:"retried"`
}

// Txn sends a transaction (the JSON body of POST /v1/txn) under a request
// id, failing over like a write: a retry answers the first application.
func (c *Client) Txn(ctx context.Context, body []byte) (TxnAnswer, error) {
	w := c.newWrite(http.MethodPost, "", body)
	w.path = "/v1/txn"
	defer w.Close()
	out, err := c.do(ctx, w.method, w.path, w.body, w.hdr, true)
	if err != nil {
		return TxnAnswer{}, err
	}
	var a TxnAnswer
	if err := json.Unmarshal(out, &a); err != nil {
		return TxnAnswer{}, fmt.Errorf("client: decode transaction answer: %w", err)
	}
	return a, nil
}
