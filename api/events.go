package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

const eventsPath = "/v1/events"

const (
	// statusEvery paces status events: with peerStatusTimeout, a dead
	// node shows as down within a second.
	statusEvery = 500 * time.Millisecond
	statsEvery  = time.Second
	trailEvery  = 250 * time.Millisecond
	// keepAliveEvery sends an SSE comment on an otherwise quiet stream,
	// so proxies and load balancers do not close it as idle.
	keepAliveEvery = 15 * time.Second
	// subscriberBuffer is how far a dashboard may fall behind before it
	// is cut off (the page reconnects and gets the replay).
	subscriberBuffer = 256
	statsHistory     = 120 // stats points (seconds) replayed to a new dashboard
	timelineEvents   = 200 // cluster Raft events replayed to a new dashboard
)

var errShuttingDown = errors.New("the server is shutting down")

// Event payloads. Every event but status carries a batch, so the replay on
// connect and the live updates have one shape.
type (
	statusEvent struct {
		From uint64 `json:"from"` // the node serving the stream
		clusterStatusBody
	}
	raftBatch struct {
		Events []raftEvent `json:"events"`
	}
	statsBatch struct {
		Points []statsPoint `json:"points"`
	}
	trailBatch struct {
		Node  uint64   `json:"node"`
		Lines []string `json:"lines"`
	}
)

// statsPoint is one second of the dashboard's chart.
type statsPoint struct {
	Time          time.Time `json:"time"`
	CommitIndex   uint64    `json:"commit_index"`
	CommitsPerSec float64   `json:"commits_per_sec"` // committed entries per second, from commit index deltas
	// The write latency of the second: this node's when it answered
	// writes, else that of the node that answered most (clients usually
	// write to the leader). LatencyNode is null when no node answered any.
	Writes      int     `json:"writes"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	LatencyNode *uint64 `json:"latency_node"`
}

type sseMessage struct {
	name string
	data []byte
}

// subscriber is one connected dashboard. ch is closed when the hub cuts
// it off (it fell behind, or the server is closing).
type subscriber struct{ ch chan sseMessage }

// generation is the set of producer goroutines of one period during which
// someone watches; they stop when the last dashboard leaves, so an unwatched
// node polls nothing.
type generation struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// eventMark is the newest event of one node's run merged into the timeline.
type eventMark struct {
	boot int64
	seq  uint64
}

// hub fans events out to every connected dashboard and keeps what a newly
// connected one is replayed.
type hub struct {
	s *Server

	mu     sync.Mutex // guards every field below
	subs   map[*subscriber]struct{}
	gen    *generation // nil while nobody watches
	closed bool
	// Replayed on connect. status, stats and trail belong to the current
	// generation; timeline and marks outlive it (elections are history).
	status      []byte
	stats       []statsPoint
	trail       []string
	timeline    []raftEvent
	marks       map[uint64]eventMark
	peerLatency map[uint64]latencyWindow // from the last status poll
}

func newHub(s *Server) *hub {
	return &hub{s: s, subs: map[*subscriber]struct{}{}, marks: map[uint64]eventMark{}}
}

// handleEvents streams GET /v1/events until the client leaves or the
// server closes.
func (s *Server) handleEvents(c *gin.Context) {
	sub, err := s.hub.subscribe()
	if err != nil {
		abortError(c, http.StatusServiceUnavailable, err.Error())
		return
	}
	defer s.hub.unsubscribe(sub)
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies such as nginx must not hold events back
	c.Status(http.StatusOK)
	c.Writer.WriteHeaderNow()
	c.Writer.Flush() // the page's stream opens now, not at the first event
	keepAlive := time.NewTicker(keepAliveEvery)
	defer keepAlive.Stop()
	// A loop of our own rather than c.Stream: that one also watches the
	// deprecated CloseNotifier, which the request context replaces and
	// which a wrapping ResponseWriter need not implement.
	ctx := c.Request.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-sub.ch:
			if !ok {
				return
			}
			c.SSEvent(m.name, m.data)
		case <-keepAlive.C:
			if _, err := io.WriteString(c.Writer, ": keep-alive\n\n"); err != nil {
				return
			}
		}
		c.Writer.Flush()
	}
}

// subscribe registers a dashboard, queues the replay for it, and starts
// the producers if it is the first.
func (h *hub) subscribe() (*subscriber, error) {
	h.s.events.start(h.s.cons) // outside h.mu: the recorder has its own lock
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errShuttingDown
	}
	sub := &subscriber{ch: make(chan sseMessage, subscriberBuffer)}
	// At most four messages: the buffer takes them without blocking.
	if h.status != nil {
		sub.ch <- sseMessage{"status", h.status}
	}
	if len(h.timeline) > 0 {
		h.queue(sub, "raft", raftBatch{Events: h.timeline})
	}
	if len(h.stats) > 0 {
		h.queue(sub, "stats", statsBatch{Points: h.stats})
	}
	if len(h.trail) > 0 {
		h.queue(sub, "trail", trailBatch{Node: h.s.opts.NodeID, Lines: h.trail})
	}
	h.subs[sub] = struct{}{}
	if h.gen == nil {
		h.gen = h.startGeneration()
	}
	return sub, nil
}

func (h *hub) queue(sub *subscriber, name string, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		h.s.log.Error("encode dashboard event", "event", name, "err", err)
		return
	}
	sub.ch <- sseMessage{name, data}
}

// unsubscribe removes a dashboard; the last one out stops the producers
// and waits for them.
func (h *hub) unsubscribe(sub *subscriber) {
	h.mu.Lock()
	delete(h.subs, sub)
	var stop *generation
	if len(h.subs) == 0 && h.gen != nil {
		stop, h.gen = h.gen, nil
		h.status, h.stats, h.trail, h.peerLatency = nil, nil, nil, nil
	}
	h.mu.Unlock()
	if stop != nil {
		stop.cancel()
		<-stop.done
	}
}

// close cuts off every dashboard, refuses new ones and stops the
// producers. Idempotent.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	for sub := range h.subs {
		close(sub.ch)
		delete(h.subs, sub)
	}
	stop := h.gen
	h.gen = nil
	h.mu.Unlock()
	if stop != nil {
		stop.cancel()
		<-stop.done
	}
}

// startGeneration starts the producers. Caller holds h.mu.
func (h *hub) startGeneration() *generation {
	ctx, cancel := context.WithCancel(context.Background())
	g := &generation{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(g.done)
		var wg sync.WaitGroup
		wg.Go(func() { h.statusLoop(ctx, g) })
		wg.Go(func() { h.statsLoop(ctx, g) })
		wg.Go(func() { h.raftLoop(ctx, g) })
		if h.s.opts.TrailPath != "" {
			wg.Go(func() { h.trailLoop(ctx, g) })
		}
		wg.Wait()
	}()
	return g
}

// publish sends an event to every dashboard; remember (under h.mu) updates
// the replay state. A dashboard whose buffer is full is cut off rather
// than allowed to slow the others.
func (h *hub) publish(g *generation, name string, v any, remember func(data []byte)) {
	data, err := json.Marshal(v)
	if err != nil {
		h.s.log.Error("encode dashboard event", "event", name, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if g != h.gen {
		return // a stopped generation's last word
	}
	if remember != nil {
		remember(data)
	}
	h.sendLocked(sseMessage{name, data})
}

func (h *hub) sendLocked(m sseMessage) {
	for sub := range h.subs {
		select {
		case sub.ch <- m:
		default:
			close(sub.ch)
			delete(h.subs, sub)
		}
	}
}

// statusLoop publishes the cluster status, and merges the peers' Raft
// events into the timeline, every statusEvery.
func (h *hub) statusLoop(ctx context.Context, g *generation) {
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	for {
		cs := h.s.clusterStatus(ctx, true)
		if ctx.Err() != nil {
			return
		}
		lat := map[uint64]latencyWindow{}
		for _, n := range cs.Nodes {
			if n.WriteLatency != nil {
				lat[n.ID] = *n.WriteLatency
			}
			if len(n.events) > 0 {
				h.merge(g, n.events)
			}
		}
		h.publish(g, "status", statusEvent{From: h.s.opts.NodeID, clusterStatusBody: cs}, func(data []byte) {
			h.status, h.peerLatency = data, lat
		})
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// raftLoop merges this node's Raft events as they happen.
func (h *hub) raftLoop(ctx context.Context, g *generation) {
	rec := h.s.events
	var last uint64
	for {
		if evs := rec.since(last); len(evs) > 0 {
			last = evs[len(evs)-1].Seq
			h.merge(g, evs)
		}
		select {
		case <-ctx.Done():
			return
		case <-rec.notify:
		}
	}
}

// merge adds the events not yet in the timeline and publishes them. evs
// are one node's, oldest first.
func (h *hub) merge(g *generation, evs []raftEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if g != h.gen {
		return
	}
	var fresh []raftEvent
	for _, e := range evs {
		m, seen := h.marks[e.Node]
		switch {
		case !seen || e.Boot > m.boot:
			// A node's first event, or the first of a new run of it.
		case e.Boot < m.boot || e.Seq <= m.seq:
			continue
		}
		h.marks[e.Node] = eventMark{boot: e.Boot, seq: e.Seq}
		fresh = append(fresh, e)
	}
	if len(fresh) == 0 {
		return
	}
	h.timeline = append(h.timeline, fresh...)
	if n := len(h.timeline) - timelineEvents; n > 0 {
		h.timeline = append(h.timeline[:0], h.timeline[n:]...)
	}
	data, err := json.Marshal(raftBatch{Events: fresh})
	if err != nil {
		h.s.log.Error("encode dashboard event", "event", "raft", "err", err)
		return
	}
	h.sendLocked(sseMessage{"raft", data})
}

// statsLoop publishes a point of the chart every statsEvery.
func (h *hub) statsLoop(ctx context.Context, g *generation) {
	t := time.NewTicker(statsEvery)
	defer t.Stop()
	prev, prevAt := h.s.cons.Status().CommitIndex, time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		commit := h.s.cons.Status().CommitIndex
		p := statsPoint{Time: now, CommitIndex: commit}
		if commit >= prev { // a restored snapshot could in principle move it back
			p.CommitsPerSec = float64(commit-prev) / now.Sub(prevAt).Seconds()
		}
		prev, prevAt = commit, now
		w := h.s.writeLatency.window(now)
		if w.Count > 0 {
			self := h.s.opts.NodeID
			p.Writes, p.P50Ms, p.P99Ms, p.LatencyNode = w.Count, w.P50Ms, w.P99Ms, &self
		} else {
			h.busiestPeer(&p)
		}
		h.publish(g, "stats", statsBatch{Points: []statsPoint{p}}, func([]byte) {
			h.stats = append(h.stats, p)
			if n := len(h.stats) - statsHistory; n > 0 {
				h.stats = append(h.stats[:0], h.stats[n:]...)
			}
		})
	}
}

// busiestPeer fills p's latency from the peer that answered most writes
// in its last second, as of the last status poll.
func (h *hub) busiestPeer(p *statsPoint) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, w := range h.peerLatency {
		if w.Count > p.Writes || (w.Count == p.Writes && w.Count > 0 && id < *p.LatencyNode) {
			p.Writes, p.P50Ms, p.P99Ms, p.LatencyNode = w.Count, w.P50Ms, w.P99Ms, &id
		}
	}
}

// trailLoop follows this node's committed-entry trail.
func (h *hub) trailLoop(ctx context.Context, g *generation) {
	tail := newTrailTail(h.s.opts.TrailPath)
	defer tail.close()
	var lastErr string
	report := func(err error) {
		// Once per distinct error: the tail retries four times a second.
		if msg := err.Error(); msg != lastErr {
			lastErr = msg
			h.s.log.Warn("dashboard trail tail", "err", err)
		}
	}
	send := func(lines []string) {
		h.publish(g, "trail", trailBatch{Node: h.s.opts.NodeID, Lines: lines}, func([]byte) {
			h.trail = lastN(append(h.trail, lines...), trailTailLines)
		})
	}
	if lines, err := tail.start(); err != nil {
		report(err)
	} else if len(lines) > 0 {
		send(lines)
	}
	t := time.NewTicker(trailEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lines, err := tail.poll()
		if err != nil {
			report(err)
		}
		if len(lines) > 0 {
			send(lines)
		}
	}
}
