package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Latency holds percentiles of the successful requests' latencies, each
// measured from just before the request was sent to after its answer's body
// was read. Failed requests are counted in Errors and not recorded here: a
// refused connection returns in microseconds and would flatter the figures.
type Latency struct {
	P50, P90, P99, P999, Max time.Duration
}

// Result is the outcome of a run.
type Result struct {
	Mode          Mode
	Protocol      string // as in Config: "", ProtocolRaftkv or ProtocolEtcdV2
	Ops           int64  // requests that succeeded
	Reads, Writes int64  // Ops, by kind
	Errors        int64  // requests that failed
	ErrorsByKind  map[string]int64
	Duration      time.Duration // from the first request sent to the last answer read
	OpsPerSec     float64       // Ops / Duration
	MBPerSec      float64       // value bytes written and read per second, MB = 10^6 bytes
	Clients       int
	ValueSize     int
	Latency       Latency
	Targets       []string      // where requests went: every endpoint with Spread, else each leader in turn
	Leaders       bool          // Targets are the leader and its successors, not a spread
	Prefill       time.Duration // time spent writing the key space before a read or mixed run
	// LeaderGuess, when not "", says why the run started on the first
	// endpoint instead of a leader it found (etcd-v2 only).
	LeaderGuess string
	// Server is what the leader's metrics counted during the run (raftkv
	// only); when it is nil, ServerNote says why.
	Server     *ServerStats
	ServerNote string
	// Interrupted is set when the caller's context ended the run early, and
	// FailedFast when it was stopped because nothing succeeded.
	Interrupted bool
	FailedFast  bool
}

// jsonResult is the --json file format; its field names and order are part
// of kvcli's interface, so it has exactly these and no more. "server" is
// there only when the leader's metrics could be read (raftkv, a server
// recent enough); it comes last, so the fields before it never move.
type jsonResult struct {
	Ops       int64       `json:"ops"`
	Errors    int64       `json:"errors"`
	DurationS float64     `json:"duration_s"`
	OpsPerSec float64     `json:"ops_per_sec"`
	MBPerSec  float64     `json:"mb_per_sec"`
	Clients   int         `json:"clients"`
	ValueSize int         `json:"value_size"`
	LatencyMS jsonLatency `json:"latency_ms"`
	Server    *jsonServer `json:"server,omitempty"`
}

// jsonServer is ServerStats; a figure the server did not serve, or whose
// histogram saw nothing during the run, is null.
type jsonServer struct {
	Endpoint          string   `json:"endpoint"`
	LeaderChanged     bool     `json:"leader_changed"`
	Fsyncs            *uint64  `json:"fsyncs"`
	FsyncMeanMS       *float64 `json:"fsync_mean_ms"`
	EntriesPerFsync   *float64 `json:"entries_per_fsync"`
	EntriesPerAppend  *float64 `json:"entries_per_append"`
	EntriesPerApply   *float64 `json:"entries_per_apply"`
	ProposalsPerBatch *float64 `json:"proposals_per_batch"`
	Proposals         *uint64  `json:"proposals"`
}

func (st *ServerStats) json() *jsonServer {
	if st == nil {
		return nil
	}
	mean := func(h HistDelta, scale float64) *float64 {
		m, ok := h.Mean()
		if !ok {
			return nil
		}
		v := round(m*scale, 3)
		return &v
	}
	count := func(h HistDelta) *uint64 {
		if !h.Known {
			return nil
		}
		return &h.Count
	}
	var proposals *uint64
	if st.Proposals.Known {
		n := uint64(math.Round(st.Proposals.Sum))
		proposals = &n
	}
	return &jsonServer{
		Endpoint:          st.Endpoint,
		LeaderChanged:     st.LeaderChanged,
		Fsyncs:            count(st.Fsync),
		FsyncMeanMS:       mean(st.Fsync, 1000),
		EntriesPerFsync:   mean(st.FsyncEntries, 1),
		EntriesPerAppend:  mean(st.AppendEntries, 1),
		EntriesPerApply:   mean(st.ApplyEntries, 1),
		ProposalsPerBatch: mean(st.Proposals, 1),
		Proposals:         proposals,
	}
}

type jsonLatency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// round keeps d decimals: microseconds for milliseconds, and no float noise
// such as 4123.456789123 ops/s in a file people read.
func round(v float64, d int) float64 {
	p := math.Pow10(d)
	return math.Round(v*p) / p
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

// JSON returns the result in the --json format, newline-terminated.
func (r *Result) JSON() ([]byte, error) {
	out, err := json.Marshal(jsonResult{
		Ops:       r.Ops,
		Errors:    r.Errors,
		DurationS: round(r.Duration.Seconds(), 3),
		OpsPerSec: round(r.OpsPerSec, 1),
		MBPerSec:  round(r.MBPerSec, 3),
		Clients:   r.Clients,
		ValueSize: r.ValueSize,
		LatencyMS: jsonLatency{
			P50: ms(r.Latency.P50), P90: ms(r.Latency.P90), P99: ms(r.Latency.P99),
			P999: ms(r.Latency.P999), Max: ms(r.Latency.Max),
		},
		Server: r.Server.json(),
	})
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return append(out, '\n'), nil
}

// ErrorSummary lists the error kinds, most frequent first: "refused 12,
// http 503 3", or "none".
func (r *Result) ErrorSummary() string {
	if len(r.ErrorsByKind) == 0 {
		return "none"
	}
	kinds := slices.SortedFunc(maps.Keys(r.ErrorsByKind), func(a, b string) int {
		if r.ErrorsByKind[a] != r.ErrorsByKind[b] {
			return int(r.ErrorsByKind[b] - r.ErrorsByKind[a])
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %d", k, r.ErrorsByKind[k])
	}
	return strings.Join(parts, ", ")
}

// WriteText writes the human-readable report.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	to := "to " + strings.Join(r.Targets, ", ")
	switch {
	case r.Leaders && r.LeaderGuess != "":
		to = "to " + r.Targets[0] + " (no leader found: " + r.LeaderGuess + ")"
		if len(r.Targets) > 1 {
			to += ", then the leader at " + strings.Join(r.Targets[1:], ", then ")
		}
	case r.Leaders:
		to = "to the leader at " + strings.Join(r.Targets, ", then ")
	}
	mode := string(r.Mode)
	if r.Protocol != "" && r.Protocol != ProtocolRaftkv {
		mode += " (" + r.Protocol + ")"
	}
	fmt.Fprintf(&b, "bench %s: %d clients, %d-byte values, %s\n", mode, r.Clients, r.ValueSize, to)
	if r.Prefill > 0 {
		fmt.Fprintf(&b, "  prefill     %.2fs (not measured)\n", r.Prefill.Seconds())
	}
	ops := fmt.Sprintf("%d ok", r.Ops)
	if r.Mode == Mixed {
		ops += fmt.Sprintf(" (%d reads, %d writes)", r.Reads, r.Writes)
	}
	fmt.Fprintf(&b, "  requests    %s, %d failed\n", ops, r.Errors)
	fmt.Fprintf(&b, "  errors      %s\n", r.ErrorSummary())
	fmt.Fprintf(&b, "  duration    %.2fs\n", r.Duration.Seconds())
	fmt.Fprintf(&b, "  throughput  %.1f ops/s, %.2f MB/s\n", r.OpsPerSec, r.MBPerSec)
	l := r.Latency
	fmt.Fprintf(&b, "  latency     p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n",
		fmtMS(l.P50), fmtMS(l.P90), fmtMS(l.P99), fmtMS(l.P999), fmtMS(l.Max))
	r.writeServer(&b)
	switch {
	case r.Interrupted:
		b.WriteString("  (interrupted: figures cover the part that ran)\n")
	case r.FailedFast:
		b.WriteString("  (stopped early: no request succeeded)\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtMS(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

// writeServer adds the "server:" block: what the leader counted during the
// run, or one line saying why there is nothing.
func (r *Result) writeServer(b *strings.Builder) {
	st := r.Server
	if st == nil {
		if r.ServerNote != "" {
			fmt.Fprintf(b, "  server:     no figures: %s\n", r.ServerNote)
		}
		return
	}
	fmt.Fprintf(b, "  server:     leader %s, its /metrics before and after the run\n", st.Endpoint)
	if st.LeaderChanged {
		b.WriteString("              (the leader changed: these cover only what it did while it led)\n")
	}
	per := func(h HistDelta) string {
		m, ok := h.Mean()
		if !ok {
			return "-"
		}
		return fmt.Sprintf("%.2f", m)
	}
	fsyncs, mean := "-", "-"
	if st.Fsync.Known {
		fsyncs = fmt.Sprint(st.Fsync.Count)
	}
	if m, ok := st.Fsync.Mean(); ok {
		mean = fmtMS(time.Duration(m * float64(time.Second)))
	}
	fmt.Fprintf(b, "    fsync     %s fsyncs, mean %s, %s entries per fsync\n", fsyncs, mean, per(st.FsyncEntries))
	fmt.Fprintf(b, "    batching  %s proposals per batch, %s entries per append message, %s entries per apply\n",
		per(st.Proposals), per(st.AppendEntries), per(st.ApplyEntries))
}
