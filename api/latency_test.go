package api

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

func TestLatencyWindow(t *testing.T) {
	now := time.Unix(1000, 0)
	ms := time.Millisecond
	tests := []struct {
		name    string
		samples func(r *latencyRecorder)
		want    latencyWindow
	}{
		{"empty", func(*latencyRecorder) {}, latencyWindow{}},
		{"one", func(r *latencyRecorder) { r.record(now, 3*ms) }, latencyWindow{Count: 1, P50Ms: 3, P99Ms: 3}},
		{"1 to 100 ms", func(r *latencyRecorder) {
			for i := 100; i >= 1; i-- { // order does not matter
				r.record(now.Add(-time.Duration(i)*ms), time.Duration(i)*ms)
			}
		}, latencyWindow{Count: 100, P50Ms: 50, P99Ms: 99}},
		{"older than a second is out", func(r *latencyRecorder) {
			r.record(now.Add(-1500*ms), 900*ms)
			r.record(now.Add(-time.Second), 800*ms) // exactly a second: out
			r.record(now.Add(-999*ms), 2*ms)
			r.record(now, 4*ms)
		}, latencyWindow{Count: 2, P50Ms: 2, P99Ms: 4}},
		{"from the future is out", func(r *latencyRecorder) {
			r.record(now.Add(ms), 7*ms)
		}, latencyWindow{}},
		{"microsecond resolution", func(r *latencyRecorder) { r.record(now, 1234567*time.Nanosecond) },
			latencyWindow{Count: 1, P50Ms: 1.235, P99Ms: 1.235}},
		{"the ring keeps the newest", func(r *latencyRecorder) {
			for i := range latencySamples + 100 {
				d := ms
				if i >= 100 {
					d = 5 * ms // only these survive the wrap
				}
				r.record(now, d)
			}
		}, latencyWindow{Count: latencySamples, P50Ms: 5, P99Ms: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r latencyRecorder
			tt.samples(&r)
			if got := r.window(now); got != tt.want {
				t.Errorf("window = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWriteLatencyRecorded(t *testing.T) {
	tests := []struct {
		name      string
		node      func(*fakeStore) *fakeNode
		method    string
		wantCount int
	}{
		{"put", newLeader, http.MethodPut, 1},
		{"delete", newLeader, http.MethodDelete, 1},
		{"failed write", func(s *fakeStore) *fakeNode {
			n := newLeader(s)
			n.proposeErr = errors.New("disk on fire")
			return n
		}, http.MethodPut, 0},
		{"follower with no leader", func(s *fakeStore) *fakeNode {
			return &fakeNode{id: 1, leader: wire.None, role: core.Follower, store: s}
		}, http.MethodPut, 0},
		{"a read is no write", newLeader, http.MethodGet, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newFakeStore()
			store.set("k", []byte("v"))
			s := newTestServer(t, Options{}, tt.node(store), store)
			serve(t, s.Handler(), request{method: tt.method, target: "/v1/kv/k", body: strings.NewReader("v")})
			if got := s.writeLatency.window(time.Now()).Count; got != tt.wantCount {
				t.Errorf("recorded %d writes, want %d", got, tt.wantCount)
			}
		})
	}
}
