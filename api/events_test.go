package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// sseEvent is one event as a client reads it off the stream.
type sseEvent struct {
	id   string
	name string
	data string
}

// sseClient reads an event stream in a goroutine, which ends when the
// stream does (close cancels the request).
type sseClient struct {
	t      *testing.T
	events chan sseEvent
	resp   *http.Response
	cancel context.CancelFunc
	done   chan struct{}
	// pending holds events read while waiting for another kind.
	pending []sseEvent
}

func openEvents(t *testing.T, url string) *sseClient {
	t.Helper()
	return openStream(t, url+eventsPath, nil)
}

// openStream opens any event stream at target, with extra request headers.
func openStream(t *testing.T, target string, header map[string]string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		cancel()
		t.Fatalf("GET %s: %s", target, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Errorf("Content-Type %q, want text/event-stream", ct)
	}
	c := &sseClient{t: t, events: make(chan sseEvent, 1024), resp: resp, cancel: cancel, done: make(chan struct{})}
	go c.read()
	t.Cleanup(c.close)
	return c
}

func (c *sseClient) read() {
	defer close(c.done)
	defer close(c.events)
	sc := bufio.NewScanner(c.resp.Body)
	sc.Buffer(nil, 4<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" || ev.data != "" || ev.id != "" {
				c.events <- ev
			}
			ev = sseEvent{}
		// One space after the colon is part of the syntax, not the value.
		case strings.HasPrefix(line, "id:"):
			ev.id = strings.TrimPrefix(strings.TrimPrefix(line, "id:"), " ")
		case strings.HasPrefix(line, "event:"):
			ev.name = strings.TrimPrefix(strings.TrimPrefix(line, "event:"), " ")
		case strings.HasPrefix(line, "data:"):
			ev.data += strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
		}
	}
}

func (c *sseClient) close() {
	c.cancel()
	c.resp.Body.Close()
	<-c.done
}

// next returns the next event named name (keeping others for later),
// failing the test after timeout.
func (c *sseClient) next(name string, timeout time.Duration) sseEvent {
	c.t.Helper()
	for i, ev := range c.pending {
		if ev.name == name {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			return ev
		}
	}
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				c.t.Fatalf("stream ended while waiting for a %s event", name)
			}
			if ev.name == name {
				return ev
			}
			c.pending = append(c.pending, ev)
		case <-deadline:
			c.t.Fatalf("no %s event within %v", name, timeout)
		}
	}
}

// until returns the first event named name for which ok holds.
func (c *sseClient) until(name string, timeout time.Duration, ok func(sseEvent) bool) sseEvent {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			c.t.Fatalf("no matching %s event within %v", name, timeout)
		}
		if ev := c.next(name, left); ok(ev) {
			return ev
		}
	}
}

func decode[T any](t *testing.T, data string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		t.Fatalf("decode %q: %v", data, err)
	}
	return v
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func writeTrail(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := from; i <= to; i++ {
		fmt.Fprintf(f, "%d, 1, SET k%d v\n", i, i)
	}
}

// eventsServer serves a leader's API over real HTTP (streams need it).
func eventsServer(t *testing.T, opts Options) (*fakeNode, *Server, *httptest.Server) {
	t.Helper()
	store := newFakeStore()
	node := newLeader(store)
	s := newTestServer(t, opts, node, store)
	ts := httptest.NewServer(s.Handler())
	// Close the Server (ending streams) before the test server, which
	// waits for open requests.
	t.Cleanup(ts.Close)
	t.Cleanup(s.Close)
	return node, s, ts
}

func TestEventsStream(t *testing.T) {
	trail := filepath.Join(t.TempDir(), "0.txt")
	writeTrail(t, trail, 1, 25)
	down := deadAddr(t)
	node, _, ts := eventsServer(t, Options{TrailPath: trail, RequestTimeout: 100 * time.Millisecond})
	node.withMembers(map[uint64]string{0: "self:1", 1: down})
	c := openEvents(t, ts.URL)

	st := decode[struct {
		From  uint64 `json:"from"`
		Nodes []struct {
			ID           uint64         `json:"id"`
			State        string         `json:"state"`
			Up           bool           `json:"up"`
			Error        string         `json:"error"`
			HTTPAddr     string         `json:"http_addr"`
			WriteLatency *latencyWindow `json:"write_latency"`
		} `json:"nodes"`
	}](t, c.next("status", 2*time.Second).data)
	if st.From != 0 || len(st.Nodes) != 2 {
		t.Fatalf("status event %+v: want from 0 and two nodes", st)
	}
	if n := st.Nodes[0]; n.ID != 0 || !n.Up || n.State != "leader" || n.HTTPAddr != "self:1" || n.WriteLatency == nil {
		t.Errorf("self in status event: %+v", n)
	}
	if n := st.Nodes[1]; n.ID != 1 || n.Up || n.Error == "" || n.HTTPAddr != down {
		t.Errorf("dead peer in status event: %+v", n)
	}

	// The trail: the last 20 lines on connect, then lines as they come.
	lines := decode[trailBatch](t, c.next("trail", 2*time.Second).data).Lines
	if len(lines) != trailTailLines || lines[0] != "6, 1, SET k6 v" || lines[19] != "25, 1, SET k25 v" {
		t.Errorf("trail on connect = %q, want lines 6..25", lines)
	}
	writeTrail(t, trail, 26, 27)
	if got := decode[trailBatch](t, c.next("trail", 2*time.Second).data).Lines; strings.Join(got, "|") != "26, 1, SET k26 v|27, 1, SET k27 v" {
		t.Errorf("new trail lines = %q", got)
	}

	// A Raft event of this node.
	node.emit(raft.Event{Time: time.Now(), Kind: raft.EventElection, Node: 0, Term: 4, Role: core.PreCandidate,
		Leader: wire.None, Cause: core.CauseTimeout})
	ev := decode[raftBatch](t, c.until("raft", 2*time.Second, func(e sseEvent) bool {
		return strings.Contains(e.data, `"kind":"election"`)
	}).data).Events
	if len(ev) != 1 || ev[0].Kind != "election" || ev[0].Cause != "timeout" || ev[0].Term != 4 ||
		ev[0].Role != "precandidate" || ev[0].Leader != nil || ev[0].Seq == 0 {
		t.Errorf("raft event = %+v", ev)
	}

	// Writes show in the stats: entries per second and their latency.
	// (Exact percentiles are latencyRecorder's test; a tick may split
	// the writes, so only their presence is checked here.)
	for i := range 5 {
		rec := serve(t, ts.Config.Handler, request{method: http.MethodPut, target: fmt.Sprintf("/v1/kv/k%d", i), body: strings.NewReader("v")})
		if rec.Code != http.StatusOK {
			t.Fatalf("put: %d %s", rec.Code, rec.Body)
		}
	}
	p := decode[statsBatch](t, c.until("stats", 3*time.Second, func(e sseEvent) bool {
		return strings.Contains(e.data, `"commit_index":5,`)
	}).data).Points
	if len(p) != 1 || p[0].CommitsPerSec <= 0 || p[0].LatencyNode == nil || *p[0].LatencyNode != 0 ||
		p[0].Writes < 1 || p[0].Writes > 5 || p[0].P99Ms < p[0].P50Ms {
		t.Errorf("stats point as the 5 writes commit = %+v", p)
	}

	// The stats wait took over a second, ten times the request timeout:
	// the stream is exempt from it and still flows.
	c.next("status", 2*time.Second)
}

func TestEventsReplayAndGenerations(t *testing.T) {
	trail := filepath.Join(t.TempDir(), "0.txt")
	writeTrail(t, trail, 1, 3)
	node, s, ts := eventsServer(t, Options{TrailPath: trail})
	s.RecordEvents()
	node.emit(raft.Event{Time: time.Now(), Kind: raft.EventRole, Role: core.Leader, Leader: 0, Term: 2})
	waitFor(t, "the recorder to see the event", func() bool { return len(s.events.recent(10)) == 1 })

	first := openEvents(t, ts.URL)
	first.next("status", 2*time.Second)
	first.next("trail", 2*time.Second)
	// What happened before anyone watched is in the timeline.
	if ev := decode[raftBatch](t, first.next("raft", 2*time.Second).data).Events; len(ev) != 1 || ev[0].Role != "leader" {
		t.Errorf("timeline on connect = %+v", ev)
	}

	// A second dashboard gets the replay at once, before any new poll.
	second := openEvents(t, ts.URL)
	got := map[string]bool{}
	for range 3 {
		select {
		case ev := <-second.events:
			got[ev.name] = true
		case <-time.After(2 * time.Second):
			t.Fatalf("replay incomplete: got %v", got)
		}
	}
	if !got["status"] || !got["raft"] || !got["trail"] {
		t.Errorf("replay = %v, want status, raft and trail", got)
	}

	// The last one out stops the producers; the next one starts them again.
	first.close()
	second.close()
	waitFor(t, "the producers to stop", func() bool {
		s.hub.mu.Lock()
		defer s.hub.mu.Unlock()
		return s.hub.gen == nil && len(s.hub.subs) == 0
	})
	third := openEvents(t, ts.URL)
	third.next("status", 2*time.Second)
}

func TestEventsCloseEndsStreams(t *testing.T) {
	_, s, ts := eventsServer(t, Options{})
	c := openEvents(t, ts.URL)
	c.next("status", 2*time.Second)
	s.Close()
	deadline := time.After(2 * time.Second)
	for ended := false; !ended; {
		select {
		case _, ok := <-c.events:
			ended = !ok
		case <-deadline:
			t.Fatal("stream still open after Close")
		}
	}
	resp, err := http.Get(ts.URL + eventsPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("events after Close: %s, want 503", resp.Status)
	}
	// Other routes still answer.
	if resp, err := http.Get(ts.URL + "/v1/status"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("status after Close: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
}

func TestHubCutsOffSlowSubscriber(t *testing.T) {
	store := newFakeStore()
	s := newTestServer(t, Options{}, newLeader(store), store)
	h := s.hub
	slow, err := h.subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer h.unsubscribe(slow)
	h.mu.Lock()
	g := h.gen
	h.mu.Unlock()
	// Nobody reads slow.ch: once its buffer is full it is cut off.
	for i := 0; i < subscriberBuffer+10; i++ {
		h.publish(g, "test", map[string]int{"i": i}, nil)
	}
	n := 0
	for range slow.ch {
		n++
	}
	if n < subscriberBuffer-10 || n > subscriberBuffer {
		t.Errorf("slow subscriber got %d events before the cut, want about %d", n, subscriberBuffer)
	}
	h.mu.Lock()
	_, still := h.subs[slow]
	h.mu.Unlock()
	if still {
		t.Error("cut-off subscriber still registered")
	}
}

func TestHubMergeDedupes(t *testing.T) {
	ev := func(node uint64, boot int64, seq uint64) raftEvent {
		return raftEvent{Node: node, Boot: boot, Seq: seq, Kind: raft.EventRole}
	}
	tests := []struct {
		name    string
		batches [][]raftEvent
		want    []string // node:boot:seq of the timeline
	}{
		{"in order", [][]raftEvent{{ev(1, 10, 1), ev(1, 10, 2)}, {ev(1, 10, 2), ev(1, 10, 3)}}, []string{"1:10:1", "1:10:2", "1:10:3"}},
		{"a restart starts a new run", [][]raftEvent{{ev(1, 10, 5)}, {ev(1, 20, 1)}}, []string{"1:10:5", "1:20:1"}},
		{"an old run is stale", [][]raftEvent{{ev(1, 20, 1)}, {ev(1, 10, 9)}}, []string{"1:20:1"}},
		{"nodes are apart", [][]raftEvent{{ev(1, 10, 1)}, {ev(2, 10, 1)}, {ev(1, 10, 1)}}, []string{"1:10:1", "2:10:1"}},
		{"a repeat of everything", [][]raftEvent{{ev(0, 1, 1), ev(0, 1, 2)}, {ev(0, 1, 1), ev(0, 1, 2)}}, []string{"0:1:1", "0:1:2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHub(nil)
			g := &generation{}
			h.gen = g
			for _, b := range tt.batches {
				h.merge(g, b)
			}
			var got []string
			for _, e := range h.timeline {
				got = append(got, fmt.Sprintf("%d:%d:%d", e.Node, e.Boot, e.Seq))
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("timeline %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("bounded", func(t *testing.T) {
		h := newHub(nil)
		g := &generation{}
		h.gen = g
		for i := 1; i <= timelineEvents+50; i++ {
			h.merge(g, []raftEvent{ev(0, 1, uint64(i))})
		}
		if len(h.timeline) != timelineEvents || h.timeline[0].Seq != 51 {
			t.Errorf("timeline holds %d events from seq %d, want %d from 51", len(h.timeline), h.timeline[0].Seq, timelineEvents)
		}
	})
}

func TestBusiestPeer(t *testing.T) {
	h := newHub(nil)
	h.peerLatency = map[uint64]latencyWindow{
		0: {}, 1: {Count: 40, P50Ms: 1, P99Ms: 2}, 2: {Count: 90, P50Ms: 3, P99Ms: 4}, 3: {Count: 90, P50Ms: 5, P99Ms: 6},
	}
	var p statsPoint
	h.busiestPeer(&p)
	if p.LatencyNode == nil || *p.LatencyNode != 2 || p.Writes != 90 || p.P99Ms != 4 {
		t.Errorf("busiest = %+v (node %v), want node 2 (ties go to the lower id)", p, p.LatencyNode)
	}
	h.peerLatency = map[uint64]latencyWindow{0: {}, 1: {}}
	p = statsPoint{}
	h.busiestPeer(&p)
	if p.LatencyNode != nil {
		t.Errorf("no writes anywhere, yet latency from node %d", *p.LatencyNode)
	}
}

// waitFor polls cond until it holds, failing the test after 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
