package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft/core"
)

// Leases: the state machine keeps them (kv/lease.go) and never reads a
// clock; the leader's lessor keeps a monotonic deadline per lease and
// proposes the revoke of one that passed it. A node that becomes leader
// starts every lease's countdown afresh, so a leader change can make a
// lease last longer, never shorter: a TTL is a lower bound.

// Lease defaults.
const (
	DefaultMinLeaseTTL = 2 * time.Second
	DefaultLeaseTick   = 100 * time.Millisecond
)

// lessor is the leader's lease clock.
type lessor struct {
	s *Server

	mu        sync.Mutex           // guards deadlines and term
	deadlines map[uint64]time.Time // nil while this node does not lead
	// term is the term the deadlines were set in. A node that lost and
	// won leadership between two ticks must start afresh too: a keepalive
	// may have gone to the leader in between.
	term uint64

	stop chan struct{}
	done chan struct{}
}

func newLessor(s *Server) *lessor {
	return &lessor{s: s, stop: make(chan struct{}), done: make(chan struct{})}
}

func (l *lessor) run() {
	defer close(l.done)
	t := time.NewTicker(l.s.opts.LeaseTick)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			for _, id := range l.expired(time.Now()) {
				l.revoke(id)
			}
		}
	}
}

func (l *lessor) close() {
	close(l.stop)
	<-l.done
}

// expired brings the deadlines up to date with leadership and the store,
// and returns the leases past theirs.
func (l *lessor) expired(now time.Time) []uint64 {
	st := l.s.cons.Status()
	l.mu.Lock()
	defer l.mu.Unlock()
	if st.Role != core.Leader || st.Term != l.term {
		l.deadlines, l.term = nil, st.Term
	}
	if st.Role != core.Leader {
		return nil
	}
	if l.deadlines == nil {
		l.deadlines = map[uint64]time.Time{}
	}
	leases := l.s.store.Leases()
	var out []uint64
	for id, ttl := range leases {
		d, ok := l.deadlines[id]
		switch {
		case !ok:
			l.deadlines[id] = now.Add(ttl) // new, or new to this leader
		case now.After(d):
			out = append(out, id)
		}
	}
	for id := range l.deadlines {
		if _, ok := leases[id]; !ok {
			delete(l.deadlines, id)
		}
	}
	return out
}

// revoke proposes the revoke of an expired lease; a failure is retried at
// the next tick, since the lease is still there.
func (l *lessor) revoke(id uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), l.s.opts.RequestTimeout)
	defer cancel()
	if _, err := l.s.cons.Propose(ctx, kv.Command{Op: kv.OpLeaseRevoke, Lease: id}.Encode()); err != nil {
		l.s.log.Warn("revoke of an expired lease failed; retrying", "lease", id, "err", err)
		return
	}
	l.s.log.Debug("expired lease revoked", "lease", id)
}

// keepAlive restarts a lease's countdown to end at deadline. The caller
// checked that this node leads; if it stops, the next tick drops the
// deadlines anyway.
func (l *lessor) keepAlive(id uint64, deadline time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.deadlines == nil {
		l.deadlines = map[uint64]time.Time{}
	}
	if deadline.After(l.deadlines[id]) {
		l.deadlines[id] = deadline
	}
}

// remaining is the time left on a lease by this leader's clock: all of
// its TTL when the clock has not started it yet (granted, or leading,
// since the last tick).
func (l *lessor) remaining(id uint64, ttl time.Duration) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, ok := l.deadlines[id]
	if !ok {
		return ttl
	}
	return max(0, time.Until(d))
}

type leaseBody struct {
	ID  uint64 `json:"id"`
	TTL int64  `json:"ttl_s"`
}

// leaseTTL checks a TTL in whole seconds against the bounds.
func (s *Server) leaseTTL(secs int64) (time.Duration, error) {
	ttl := time.Duration(secs) * time.Second
	if secs <= 0 || ttl < s.opts.MinLeaseTTL || ttl > kv.MaxLeaseTTL {
		return 0, fmt.Errorf("want %s to %s (the minimum is above the election timeout)", s.opts.MinLeaseTTL, kv.MaxLeaseTTL)
	}
	return ttl, nil
}

func (s *Server) handleGrantLease(c *gin.Context) {
	body, ok := s.readValue(c)
	if !ok {
		return
	}
	var req struct {
		TTL *int64 `json:"ttl_s"`
	}
	if err := strictJSON(body, &req); err != nil || req.TTL == nil {
		abortError(c, http.StatusBadRequest, `lease: want {"ttl_s": N}`)
		return
	}
	ttl, err := s.leaseTTL(*req.TTL)
	if err != nil {
		abortError(c, http.StatusBadRequest, fmt.Sprintf("lease: ttl %ds: %v", *req.TTL, err))
		return
	}
	o, ok := s.proposeForOutcome(c, kv.Command{Op: kv.OpLeaseGrant, TTL: ttl}, body)
	if ok {
		c.JSON(http.StatusOK, leaseBody{ID: o.Lease, TTL: *req.TTL})
	}
}

// proposeForOutcome proposes cmd under a nonce and returns what applying
// it did, forwarding the request to the leader or answering the error.
func (s *Server) proposeForOutcome(c *gin.Context, cmd kv.Command, body []byte) (kv.Outcome, bool) {
	cmd.Nonce = newNonce()
	p, ok := s.propose(c, cmd, body)
	if ok && !p.found {
		abortUnavailable(c, fmt.Sprintf("decided at index %d, but this node installed a snapshot over it before reading its outcome", p.index))
		return kv.Outcome{}, false
	}
	return p.outcome, ok
}

// leaseParam parses /v1/leases/<id>, or answers 400.
func leaseParam(c *gin.Context) (uint64, bool) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil || id == 0 {
		abortError(c, http.StatusBadRequest, fmt.Sprintf("lease id %q: want a number from 1", c.Param("id")))
		return 0, false
	}
	return id, true
}

// onLeader runs fn when this node leads; otherwise it forwards the request.
func (s *Server) onLeader(c *gin.Context, fn func()) {
	st := s.cons.Status()
	if st.Role != core.Leader {
		s.forward(c, uint64(st.Leader), nil)
		return
	}
	fn()
}

// onLeaseLeader runs fn with the lease named by the path, on the leader
// (forwarding from other nodes), or answers 400/404. It first confirms,
// with a read barrier, that this node still led after the request came
// (at received): a keepalive answered by a leader already deposed would
// restart only its own countdown, while the real leader's, begun when it
// took over, could end before received + TTL. After the barrier any later
// leader took over after received, so its countdown ends later.
func (s *Server) onLeaseLeader(c *gin.Context, fn func(info kv.LeaseInfo, received time.Time)) {
	id, ok := leaseParam(c)
	if !ok {
		return
	}
	s.onLeader(c, func() {
		received := time.Now()
		if err := s.cons.ReadIndex(c.Request.Context()); err != nil {
			s.abortConsensusError(c, "lease", err)
			return
		}
		info, ok := s.store.Lease(id)
		if !ok {
			abortError(c, http.StatusNotFound, fmt.Sprintf("lease %d not found (expired or revoked)", id))
			return
		}
		fn(info, received)
	})
}

func (s *Server) handleKeepAlive(c *gin.Context) {
	s.onLeaseLeader(c, func(info kv.LeaseInfo, received time.Time) {
		s.lessor.keepAlive(info.ID, received.Add(info.TTL))
		c.JSON(http.StatusOK, leaseBody{ID: info.ID, TTL: int64(info.TTL / time.Second)})
	})
}

func (s *Server) handleGetLease(c *gin.Context) {
	s.onLeaseLeader(c, func(info kv.LeaseInfo, _ time.Time) {
		if !allowKeys(c, info.Keys...) {
			return
		}
		id := info.ID
		left := s.lessor.remaining(id, info.TTL)
		out := client.WireLease{ID: id, TTL: int64(info.TTL / time.Second), RemainingMS: left.Milliseconds(), Keys: []client.WireKey{}}
		for _, k := range info.Keys {
			var e client.WireKey
			e.Key, e.KeyBase64 = client.EncodeBytes(k)
			out.Keys = append(out.Keys, e)
		}
		c.JSON(http.StatusOK, out)
	})
}

func (s *Server) handleRevokeLease(c *gin.Context) {
	id, ok := leaseParam(c)
	if !ok {
		return
	}
	// Revoking deletes the lease's keys: a token limited to a prefix may
	// do it when all of them are within. This node's view of the lease
	// may trail the leader's by a moment; a key attached in that moment
	// was attached by whoever chose a lease they do not hold.
	if info, ok := s.store.Lease(id); ok && !allowKeys(c, info.Keys...) {
		return
	}
	o, ok := s.proposeForOutcome(c, kv.Command{Op: kv.OpLeaseRevoke, Lease: id}, nil)
	if !ok {
		return
	}
	if !o.Applied {
		abortError(c, http.StatusNotFound, fmt.Sprintf("lease %d not found (expired or revoked)", id))
		return
	}
	c.JSON(http.StatusOK, leaseBody{ID: id})
}

// strictJSON decodes one JSON object, refusing unknown fields.
func strictJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}
