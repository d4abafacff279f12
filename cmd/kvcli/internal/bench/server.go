package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The histograms a raftkv leader's /metrics is read for (api/metrics
// defines them; README.md's metrics table describes them).
const (
	metricFsyncSeconds    = "raftkv_wal_fsync_duration_seconds"
	metricFsyncEntries    = "raftkv_wal_fsync_batch_entries"
	metricAppendEntries   = "raftkv_raft_append_batch_entries"
	metricApplyEntries    = "raftkv_raft_apply_batch_entries"
	metricProposalEntries = "raftkv_raft_proposal_batch_entries"
)

var serverMetrics = []string{metricFsyncSeconds, metricFsyncEntries, metricAppendEntries, metricApplyEntries, metricProposalEntries}

// HistDelta is what one histogram gained during the run: observations and
// their sum. Known is false when the server does not serve it.
type HistDelta struct {
	Count uint64
	Sum   float64
	Known bool
}

// Mean is Sum/Count, or false when unknown or nothing was observed.
func (h HistDelta) Mean() (float64, bool) {
	if !h.Known || h.Count == 0 {
		return 0, false
	}
	return h.Sum / float64(h.Count), true
}

// ServerStats is what the leader saw during the run, from its /metrics
// read just before the first request and just after the last answer.
type ServerStats struct {
	Endpoint string
	// LeaderChanged is set when the run followed another leader: the
	// figures then cover only the part the first one served.
	LeaderChanged bool
	Fsync         HistDelta // seconds per fsync of the Raft log
	FsyncEntries  HistDelta // entries made durable per fsync
	AppendEntries HistDelta // entries per AppendEntries message sent
	ApplyEntries  HistDelta // entries per batch applied to badger
	Proposals     HistDelta // proposals per batch appended by the leader
}

// histTotals are a scrape's cumulative count and sum per histogram name.
type histTotals map[string]HistDelta

const scrapeTimeout = 2 * time.Second

// scrape reads endpoint's /metrics (Prometheus text format) and returns
// the totals of the histograms in serverMetrics, each summed over its
// series (a node serves one series of each, labelled with its id).
func scrape(ctx context.Context, hc *http.Client, endpoint, token string) (histTotals, error) {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	if token != "" {
		// /metrics needs a token where auth.protect_metrics is on.
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", endpoint, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s/metrics: %w", endpoint, err)
	}
	out := histTotals{}
	for _, name := range serverMetrics {
		f, ok := families[name]
		if !ok || f.GetType() != dto.MetricType_HISTOGRAM {
			continue
		}
		var t HistDelta
		for _, m := range f.GetMetric() {
			t.Count += m.GetHistogram().GetSampleCount()
			t.Sum += m.GetHistogram().GetSampleSum()
		}
		t.Known = true
		out[name] = t
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s/metrics has none of raftkv's batch histograms (an older kvserver?)", endpoint)
	}
	return out, nil
}

// errWentBack marks a second scrape with lower totals than the first.
var errWentBack = errors.New("its counters went backwards (did the node restart?)")

// serverDelta computes what the histograms gained between two scrapes.
func serverDelta(endpoint string, before, after histTotals) (*ServerStats, error) {
	d := func(name string) (HistDelta, error) {
		b, a := before[name], after[name]
		if !b.Known || !a.Known {
			return HistDelta{}, nil
		}
		if a.Count < b.Count || a.Sum < b.Sum {
			return HistDelta{}, fmt.Errorf("%s: %s %w", endpoint, name, errWentBack)
		}
		return HistDelta{Count: a.Count - b.Count, Sum: a.Sum - b.Sum, Known: true}, nil
	}
	st := &ServerStats{Endpoint: endpoint}
	for _, f := range []struct {
		name string
		to   *HistDelta
	}{
		{metricFsyncSeconds, &st.Fsync},
		{metricFsyncEntries, &st.FsyncEntries},
		{metricAppendEntries, &st.AppendEntries},
		{metricApplyEntries, &st.ApplyEntries},
		{metricProposalEntries, &st.Proposals},
	} {
		v, err := d(f.name)
		if err != nil {
			return nil, err
		}
		*f.to = v
	}
	return st, nil
}

// serverWatch reads one node's metrics around the measured part of a run.
type serverWatch struct {
	endpoint string
	token    string
	hc       *http.Client
	before   histTotals
	err      error // why there will be no ServerStats
}

// startServerWatch reads the leader's metrics before the run (raftkv only;
// with Spread it looks the leader up first). Failure is not fatal: the
// run goes on and the report says why the server figures are missing.
func startServerWatch(ctx context.Context, cfg Config, s store, tg *targets) *serverWatch {
	w := &serverWatch{hc: &http.Client{Timeout: scrapeTimeout}, token: cfg.Token}
	if cfg.TLS != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg.TLS.Clone()
		w.hc.Transport = tr
	}
	if cfg.Protocol == ProtocolEtcdV2 {
		w.err = errors.New("not read with --protocol etcd-v2 (raftkv's /metrics only)")
		return w
	}
	if cfg.Spread {
		lctx, cancel := context.WithTimeout(ctx, min(cfg.Timeout, time.Second))
		ep, err := s.leader(lctx)
		cancel()
		if err != nil {
			w.err = err
			return w
		}
		w.endpoint = ep
	} else {
		w.endpoint = tg.next()
	}
	w.before, w.err = scrape(ctx, w.hc, w.endpoint, w.token)
	return w
}

// finish reads the metrics again and fills res.Server, or res.ServerNote
// with the reason there are none. It runs after an interrupt too, so it
// does not take the caller's cancellation.
func (w *serverWatch) finish(ctx context.Context, res *Result) {
	defer w.hc.CloseIdleConnections()
	if w.err == nil {
		var after histTotals
		if after, w.err = scrape(context.WithoutCancel(ctx), w.hc, w.endpoint, w.token); w.err == nil {
			res.Server, w.err = serverDelta(w.endpoint, w.before, after)
		}
	}
	if w.err != nil {
		res.ServerNote = w.err.Error()
		return
	}
	res.Server.LeaderChanged = res.Leaders && len(res.Targets) > 1
}
