package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/cmd/kvchaos/internal/history"
)

// Options configure the clients.
type Options struct {
	Clients int
	Keys    int
	// Nodes maps node ids to their HTTP addresses.
	Nodes map[uint64]string
	// Lease sends half the reads with ?consistency=lease.
	Lease bool
	// WriteRetries is how often a write with an unknown outcome is sent
	// again, with the same Request-Id, before it is given up as unknown.
	WriteRetries int
	// Timeout bounds one attempt.
	Timeout time.Duration
	// Rate is the total operations per second over all clients; 0 means
	// as fast as the cluster answers.
	Rate float64
	Seed uint64
	// Lessees is how many more clients run leases (see lease.go), with
	// leases of LeaseTTL (whole seconds).
	Lessees  int
	LeaseTTL time.Duration
	// RunID makes Request-Ids unique across runs.
	RunID  string
	Logger *slog.Logger
}

// Workload is the set of clients of one run.
type Workload struct {
	opts Options
	rec  *history.Recorder
	hc   *http.Client
	ids  []uint64
	log  *slog.Logger

	// leaseMissing is set when the server refused ?consistency=lease with
	// a 400: the feature is not there yet, so reads fall back to
	// linearizable ones instead of all failing.
	leaseMissing atomic.Bool
	leaseOnce    sync.Once

	leasesRefused atomic.Bool // the server refused a grant (400): lessees stop
	leaseMu       sync.Mutex  // guards leaseRecs
	leaseRecs     []*LeaseRecord
}

// New prepares the clients; Run starts them.
func New(opts Options, rec *history.Recorder) *Workload {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(opts.Clients, 2)
	w := &Workload{opts: opts, rec: rec, hc: &http.Client{Transport: tr}, log: opts.Logger}
	for id := range opts.Nodes {
		w.ids = append(w.ids, id)
	}
	slices.Sort(w.ids)
	return w
}

// Close releases idle connections.
func (w *Workload) Close() { w.hc.CloseIdleConnections() }

// LeaseMissing reports whether the server refused lease reads.
func (w *Workload) LeaseMissing() bool { return w.leaseMissing.Load() }

// Run runs the clients until stop is closed, then waits for the operations
// in flight to finish (each within its timeout) and returns. ctx cancels
// everything at once, leaving writes in flight unknown.
func (w *Workload) Run(ctx context.Context, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for i := range w.opts.Clients {
		c := w.newClient(i)
		wg.Go(func() { c.run(ctx, stop) })
	}
	for i := range w.opts.Lessees {
		l := w.newLessee(i)
		wg.Go(func() { l.run(ctx, stop) })
	}
	wg.Wait()
}

// newClient returns client i, starting on the i-th node (modulo).
func (w *Workload) newClient(i int) *client {
	return &client{w: w, id: i,
		rng:  rand.New(rand.NewPCG(w.opts.Seed, uint64(i)+1)),
		name: fmt.Sprintf("%s-c%d", w.opts.RunID, i),
		node: w.ids[i%len(w.ids)],
		last: map[string]string{}}
}

// client is one sequential client: one operation at a time.
type client struct {
	w    *Workload
	id   int
	rng  *rand.Rand
	name string // the client part of its Request-Ids
	seq  uint64
	node uint64 // where it sends requests; moves on after a failure
	// last is what this client last saw on a key (read or wrote); a cas
	// expects it. Absent keys are missing.
	last map[string]string
}

func (c *client) run(ctx context.Context, stop <-chan struct{}) {
	var pace time.Duration
	if c.w.opts.Rate > 0 {
		pace = time.Duration(float64(time.Second) * float64(c.w.opts.Clients) / c.w.opts.Rate)
	}
	next := time.Now()
	for {
		if pace > 0 {
			// Jitter keeps the clients from marching in step.
			next = next.Add(pace/2 + rand.N(pace))
			if d := time.Until(next); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-stop:
					t.Stop()
					return
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			} else {
				next = time.Now()
			}
		}
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		// A little wandering spreads every client over every node.
		if c.rng.IntN(20) == 0 {
			c.moveOn()
		}
		key := fmt.Sprintf("k%d", c.rng.IntN(c.w.opts.Keys))
		switch r := c.rng.IntN(100); {
		case r < 50:
			c.get(ctx, key)
		case r < 75:
			c.seq++
			c.write(ctx, stop, history.Put, key, fmt.Sprintf("c%d-%d", c.id, c.seq))
		case r < 85:
			c.seq++
			c.cas(ctx, stop, key, fmt.Sprintf("c%d-%d", c.id, c.seq))
		default:
			c.seq++
			c.write(ctx, stop, history.Delete, key, "")
		}
	}
}

// moveOn switches to another node, at random.
func (c *client) moveOn() {
	if len(c.w.ids) < 2 {
		return
	}
	for {
		n := c.w.ids[c.rng.IntN(len(c.w.ids))]
		if n != c.node {
			c.node = n
			return
		}
	}
}

func (c *client) get(ctx context.Context, key string) {
	consistency := "linearizable"
	if c.w.opts.Lease && !c.w.leaseMissing.Load() && c.rng.IntN(2) == 0 {
		consistency = "lease"
	}
	op := history.Op{Client: c.id, Node: c.node, Kind: history.Get, Key: key, Consistency: consistency, Attempts: 1}
	op.Call = c.w.rec.Now()
	actx, cancel := context.WithTimeout(ctx, c.w.opts.Timeout)
	a := send(actx, c.w.hc, http.MethodGet, c.w.opts.Nodes[c.node], key, "consistency="+consistency, nil, "")
	cancel()
	op.Return = c.w.rec.Now()
	switch {
	case a.status == http.StatusOK:
		op.Found, op.Value = true, string(a.body)
		c.last[key] = op.Value
	case a.status == http.StatusNotFound:
		delete(c.last, key)
	case a.status == http.StatusBadRequest && consistency == "lease" && strings.Contains(string(a.body), "consistency"):
		c.w.leaseOnce.Do(func() {
			c.w.log.Warn("the server refuses lease reads (feature missing?); reading linearizably instead",
				"answer", a.String())
		})
		c.w.leaseMissing.Store(true)
		c.get(ctx, key) // nothing happened: ask again, linearizably
		return
	default:
		// A read that got no answer had no effect: it leaves the check.
		op.Outcome, op.Err = history.Failed, a.String()
		c.moveOn()
	}
	c.w.rec.Add(op)
}

// write sends a put or delete, retrying an unknown outcome with the same
// Request-Id (so the server applies it at most once) on another node.
func (c *client) write(ctx context.Context, stop <-chan struct{}, kind history.Kind, key, value string) {
	op := history.Op{Client: c.id, Kind: kind, Key: key, Value: value}
	method, body := http.MethodPut, []byte(value)
	if kind == history.Delete {
		method, body = http.MethodDelete, nil
	}
	path := "/v1/kv/" + url.PathEscape(key)
	c.attempt(ctx, stop, &op, method, path, body, func([]byte) error { return nil })
}

// cas puts value on key in a transaction whose compare expects what this
// client last saw there (absent when it saw nothing), so the compare both
// holds and fails often enough to be checked.
func (c *client) cas(ctx context.Context, stop <-chan struct{}, key, value string) {
	expect, seen := c.last[key]
	op := history.Op{Client: c.id, Kind: history.Cas, Key: key, Value: value, Expect: expect, ExpectAbsent: !seen}
	cmp := map[string]any{"key": key, "target": "value", "op": "=", "value": expect}
	if !seen {
		cmp = map[string]any{"key": key, "target": "version", "op": "=", "value": 0}
	}
	body, _ := json.Marshal(map[string]any{"compare": []any{cmp},
		"success": []any{map[string]string{"op": "put", "key": key, "value": value}}})
	c.attempt(ctx, stop, &op, http.MethodPost, "/v1/txn", body, func(answer []byte) error {
		var a struct {
			Succeeded *bool `json:"succeeded"`
		}
		if err := json.Unmarshal(answer, &a); err != nil || a.Succeeded == nil {
			return fmt.Errorf("transaction answer %q", shorten(string(answer)))
		}
		op.Succeeded = *a.Succeeded
		return nil
	})
}

// attempt sends a write, retrying an unknown outcome with the same
// Request-Id (so the server applies it at most once) on another node, and
// records it; decode reads a 2xx answer into op.
func (c *client) attempt(ctx context.Context, stop <-chan struct{}, op *history.Op, method, path string, body []byte, decode func([]byte) error) {
	op.RequestID, op.Outcome = fmt.Sprintf("%s:%d", c.name, c.seq), history.Failed
	ambiguous := false // some attempt may have been applied
	op.Call = c.w.rec.Now()
attempts:
	for attempt := 0; attempt <= c.w.opts.WriteRetries; attempt++ {
		if attempt > 0 {
			c.moveOn()
			if !c.backoff(ctx, stop) {
				break attempts
			}
		}
		op.Node, op.Attempts = c.node, attempt+1
		actx, cancel := context.WithTimeout(ctx, c.w.opts.Timeout)
		a := sendTo(actx, c.w.hc, method, c.w.opts.Nodes[c.node], path, body, op.RequestID)
		cancel()
		op.Return = c.w.rec.Now()
		op.Err = a.String()
		switch {
		case a.status >= 200 && a.status < 300:
			if err := decode(a.body); err != nil {
				op.Err, ambiguous = err.Error(), true // applied or not, we cannot tell
				break attempts
			}
			op.Outcome, op.Err = history.OK, ""
			c.noteWrite(*op)
			c.w.rec.Add(*op)
			return
		case a.notSent():
			continue // this attempt did nothing; try elsewhere
		case a.status >= 400 && a.status < 500:
			break attempts // refused outright: nothing more to try
		default:
			// A timeout, a broken connection or a 5xx: it may still apply.
			ambiguous = true
		}
	}
	if ambiguous {
		op.Outcome = history.Unknown
	}
	delete(c.last, op.Key) // who knows now
	c.w.rec.Add(*op)
}

// noteWrite remembers what a completed write left on its key, for the
// next cas's expectation.
func (c *client) noteWrite(op history.Op) {
	switch {
	case op.Kind == history.Put || op.Kind == history.Cas && op.Succeeded:
		c.last[op.Key] = op.Value
	case op.Kind == history.Delete:
		delete(c.last, op.Key)
	}
}

// backoff waits a little before a retry; false when told to stop.
func (c *client) backoff(ctx context.Context, stop <-chan struct{}) bool {
	return pause(ctx, stop, 100*time.Millisecond+rand.N(200*time.Millisecond))
}
