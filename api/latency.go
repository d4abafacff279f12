package api

import (
	"slices"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// latencySamples bounds the write-latency recorder. Past this many writes
// in a second the percentiles come from the most recent ones, which is
// plenty for a chart and keeps the write path's cost fixed.
const latencySamples = 8192

// latencyWindow is what the dashboard charts: the writes this node answered
// in the last second and how long they took.
type latencyWindow struct {
	Count int     `json:"count"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
}

// latencyRecorder keeps the handling time of recent successful writes in a
// ring. Recording is a lock and two stores; the sort happens only when the
// dashboard asks, at most a few times a second.
type latencyRecorder struct {
	mu   sync.Mutex // guards at, took, next and full
	at   [latencySamples]int64
	took [latencySamples]time.Duration
	next int  // slot the next sample goes to
	full bool // every slot holds a sample
}

func (r *latencyRecorder) record(now time.Time, d time.Duration) {
	r.mu.Lock()
	r.at[r.next], r.took[r.next] = now.UnixNano(), d
	r.next++
	if r.next == latencySamples {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

// window summarises the samples of the second before now.
func (r *latencyRecorder) window(now time.Time) latencyWindow {
	from := now.Add(-time.Second).UnixNano()
	to := now.UnixNano()
	var ds []time.Duration
	r.mu.Lock()
	n := r.next
	if r.full {
		n = latencySamples
	}
	for i := range n {
		if at := r.at[i]; at > from && at <= to {
			ds = append(ds, r.took[i])
		}
	}
	r.mu.Unlock()
	if len(ds) == 0 {
		return latencyWindow{}
	}
	slices.Sort(ds)
	return latencyWindow{Count: len(ds), P50Ms: millis(quantile(ds, 0.50)), P99Ms: millis(quantile(ds, 0.99))}
}

// quantile is the nearest-rank quantile of sorted, non-empty ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(ds))+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func millis(d time.Duration) float64 {
	// Three decimals: microsecond resolution is all a chart can use, and
	// it keeps the JSON short.
	return float64(d.Round(time.Microsecond)) / float64(time.Millisecond)
}

// recordWrite is deferred by the write path: a write answered 2xx counts,
// forwarded ones included, since that is the latency a client of this node
// sees. Failed writes are left out: a 504 after the request timeout would
// say more about the timeout than about commit latency.
func (s *Server) recordWrite(start time.Time, c *gin.Context) {
	if st := c.Writer.Status(); st >= 200 && st < 300 {
		now := time.Now()
		s.writeLatency.record(now, now.Sub(start))
	}
}
