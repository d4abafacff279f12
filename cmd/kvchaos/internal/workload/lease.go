package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Leases are checked apart from the linearizability history: expiry is
// an event no client invokes, which porcupine's model cannot place. A
// lessee grants a lease, attaches a key of its own to it, keeps it alive
// for a few rounds while reading the key, lets it go and watches the key
// disappear; CheckLeases then holds the records to the TTL's promise.

// lessee is one client running leases one after another.
type lessee struct {
	w    *Workload
	id   int // its client id, after the ordinary clients'
	rng  *rand.Rand
	node uint64
	n    int // leases granted so far, for fresh key names
}

// LeasesRefused reports whether the server refused a lease grant.
func (w *Workload) LeasesRefused() bool { return w.leasesRefused.Load() }

func (w *Workload) newLessee(i int) *lessee {
	id := w.opts.Clients + i
	return &lessee{w: w, id: id, rng: rand.New(rand.NewPCG(w.opts.Seed, uint64(id)+1000)), node: w.ids[i%len(w.ids)]}
}

func (l *lessee) run(ctx context.Context, stop <-chan struct{}) {
	for !stopped(ctx, stop) && !l.w.leasesRefused.Load() {
		if r := l.lease(ctx, stop); r != nil {
			l.w.leaseMu.Lock()
			l.w.leaseRecs = append(l.w.leaseRecs, r)
			l.w.leaseMu.Unlock()
		}
	}
}

func stopped(ctx context.Context, stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	case <-ctx.Done():
		return true
	default:
		return false
	}
}

// pause waits d; false when told to stop first.
func pause(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	case <-ctx.Done():
		return false
	}
}

func (l *lessee) moveOn() {
	l.node = l.w.ids[l.rng.IntN(len(l.w.ids))]
}

// lease runs one lease's life; nil when it could not even be granted.
func (l *lessee) lease(ctx context.Context, stop <-chan struct{}) *LeaseRecord {
	ttl := l.w.opts.LeaseTTL
	r := &LeaseRecord{Key: fmt.Sprintf("lease-c%d-%d", l.id, l.n), TTL: ttl, Client: l.id}
	l.n++
	call := l.w.rec.Now()
	a := l.do(ctx, http.MethodPost, "/v1/leases", fmt.Appendf(nil, `{"ttl_s":%d}`, int(ttl/time.Second)), "")
	var granted struct {
		ID uint64 `json:"id"`
	}
	switch {
	case a.status == http.StatusBadRequest:
		l.w.log.Warn("the server refuses leases of this TTL; lessees stop", "ttl", ttl, "answer", a.String())
		l.w.leasesRefused.Store(true)
		return nil
	case a.status != http.StatusOK || json.Unmarshal(a.body, &granted) != nil:
		// Maybe granted, maybe not: an orphan lease expires by itself.
		l.moveOn()
		pause(ctx, stop, 200*time.Millisecond)
		return nil
	}
	r.ID, r.Restarts, r.LastTry = granted.ID, []int64{call}, call
	l.attach(ctx, r)
	if r.Attached == 0 {
		r.LetGo = l.w.rec.Now() // unchecked: nothing to watch
		return r
	}
	rounds := 1 + l.rng.IntN(4)
	for range rounds {
		if !pause(ctx, stop, ttl/3) || !l.keepAlive(ctx, r) || !l.read(ctx, r) {
			break
		}
	}
	r.LetGo = l.w.rec.Now()
	// Watch the key go; what stop cuts short, FinalLeases finishes.
	for r.Expired == 0 && pause(ctx, stop, 250*time.Millisecond) {
		l.read(ctx, r)
	}
	return r
}

// attach puts the record's key on its lease under one Request-Id,
// retried elsewhere while the outcome is unknown.
func (l *lessee) attach(ctx context.Context, r *LeaseRecord) {
	path := "/v1/kv/" + url.PathEscape(r.Key) + "?lease=" + strconv.FormatUint(r.ID, 10)
	reqID := fmt.Sprintf("%s-lessee%d:%d", l.w.opts.RunID, l.id, l.n)
	for range l.w.opts.WriteRetries + 1 {
		a := l.do(ctx, http.MethodPut, path, []byte("leased"), reqID)
		switch {
		case a.status == http.StatusOK:
			r.Attached = l.w.rec.Now()
			return
		case a.status >= 400 && a.status < 500:
			return // refused (the lease is already gone): nothing written
		}
		l.moveOn()
	}
}

// keepAlive restarts the countdown; false once the lease is gone.
func (l *lessee) keepAlive(ctx context.Context, r *LeaseRecord) bool {
	call := l.w.rec.Now()
	r.LastTry = call
	a := l.do(ctx, http.MethodPost, "/v1/leases/"+strconv.FormatUint(r.ID, 10)+"/keepalive", nil, "")
	switch a.status {
	case http.StatusOK:
		r.Restarts = append(r.Restarts, call)
	case http.StatusNotFound:
		r.Gone = append(r.Gone, [2]int64{call, l.w.rec.Now()})
		r.Expired = l.w.rec.Now()
		return false
	default:
		l.moveOn() // unknown: it may have restarted the countdown or not
	}
	return true
}

// read reads the key linearizably; false once it is gone.
func (l *lessee) read(ctx context.Context, r *LeaseRecord) bool {
	call := l.w.rec.Now()
	a := l.do(ctx, http.MethodGet, "/v1/kv/"+url.PathEscape(r.Key)+"?consistency=linearizable", nil, "")
	switch a.status {
	case http.StatusOK:
		r.Present++
	case http.StatusNotFound:
		ret := l.w.rec.Now()
		if call > r.Attached {
			r.Gone = append(r.Gone, [2]int64{call, ret})
		}
		r.Expired = ret
		return false
	default:
		l.moveOn()
	}
	return true
}

func (l *lessee) do(ctx context.Context, method, path string, body []byte, reqID string) answer {
	actx, cancel := context.WithTimeout(ctx, l.w.opts.Timeout)
	defer cancel()
	return sendTo(actx, l.w.hc, method, l.w.opts.Nodes[l.node], path, body, reqID)
}

// FinalLeases, once the cluster is healed, watches every lease whose key
// has not been seen gone until it is, or until its last keepalive plus
// TTL plus slack has passed, and returns all the records.
func (w *Workload) FinalLeases(ctx context.Context, slack time.Duration) []LeaseRecord {
	w.leaseMu.Lock()
	recs := append([]*LeaseRecord(nil), w.leaseRecs...)
	w.leaseMu.Unlock()
	l := &lessee{w: w, id: -1, rng: rand.New(rand.NewPCG(w.opts.Seed, 7)), node: w.ids[0]}
	for _, r := range recs {
		if r.LetGo == 0 {
			r.LetGo = w.rec.Now()
		}
		deadline := time.Now().Add(time.Duration(r.LastTry-w.rec.Now()) + r.TTL + slack)
		for r.Attached != 0 && r.Expired == 0 && time.Now().Before(deadline) && pause(ctx, nil, 250*time.Millisecond) {
			l.read(ctx, r)
		}
	}
	out := make([]LeaseRecord, len(recs))
	for i, r := range recs {
		out[i] = *r
	}
	return out
}
