package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// histText is one histogram of a node in the Prometheus text format, as
// client_golang writes it.
func histText(name string, count uint64, sum float64) string {
	return fmt.Sprintf(`# HELP %[1]s A histogram.
# TYPE %[1]s histogram
%[1]s_bucket{node="1",le="1"} 0
%[1]s_bucket{node="1",le="+Inf"} %[2]d
%[1]s_sum{node="1"} %[3]g
%[1]s_count{node="1"} %[2]d
`, name, count, sum)
}

// withMetrics serves node, and at /metrics the pages in turn (the last
// one from then on); status, when not 200, answers /metrics with it.
type withMetrics struct {
	node    http.Handler
	pages   []string
	status  int
	scrapes atomic.Int64
}

func (m *withMetrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/metrics" {
		m.node.ServeHTTP(w, r)
		return
	}
	n := int(m.scrapes.Add(1)) - 1
	if m.status != 0 && m.status != http.StatusOK {
		http.Error(w, "no", m.status)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	fmt.Fprint(w, m.pages[min(n, len(m.pages)-1)])
}

// page is a /metrics page with the five histograms and some noise.
func page(fsyncs uint64, fsyncSecs, fsyncEntries, appends, appendEntries, applies, applyEntries, batches, proposals float64) string {
	return "# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 42\n" +
		histText(metricFsyncSeconds, fsyncs, fsyncSecs) +
		histText(metricFsyncEntries, fsyncs, fsyncEntries) +
		histText(metricAppendEntries, uint64(appends), appendEntries) +
		histText(metricApplyEntries, uint64(applies), applyEntries) +
		histText(metricProposalEntries, uint64(batches), proposals) +
		"# HELP raftkv_raft_term Term.\n# TYPE raftkv_raft_term gauge\nraftkv_raft_term{node=\"1\"} 3\n"
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

func TestServerFigures(t *testing.T) {
	m := &withMetrics{node: newFakeNode(1), pages: []string{
		page(10, 0.01, 20, 5, 20, 4, 20, 4, 20),
		// +100 fsyncs taking 0.2s for 800 entries; 200 appends of 1600 entries
		// (two followers), 100 applies of 810, 100 batches of 800 proposals.
		page(110, 0.21, 820, 205, 1620, 104, 830, 104, 820),
	}}
	url := serve(t, m)
	res, err := Run(context.Background(), cfgFor(Write, url))
	if err != nil {
		t.Fatal(err)
	}
	if m.scrapes.Load() != 2 {
		t.Errorf("%d scrapes, want 2 (before and after)", m.scrapes.Load())
	}
	st := res.Server
	if st == nil {
		t.Fatalf("no server figures: %s", res.ServerNote)
	}
	if st.Endpoint != url || st.LeaderChanged || res.ServerNote != "" {
		t.Errorf("server %+v, note %q", st, res.ServerNote)
	}
	check := func(name string, h HistDelta, count uint64, sum, mean float64) {
		t.Helper()
		m, ok := h.Mean()
		if !h.Known || h.Count != count || !near(h.Sum, sum) || !ok || !near(m, mean) {
			t.Errorf("%s: %+v (mean %v), want count %d sum %v mean %v", name, h, m, count, sum, mean)
		}
	}
	check("fsync seconds", st.Fsync, 100, 0.2, 0.002)
	check("fsync entries", st.FsyncEntries, 100, 800, 8)
	check("append entries", st.AppendEntries, 200, 1600, 8)
	check("apply entries", st.ApplyEntries, 100, 810, 8.1)
	check("proposals", st.Proposals, 100, 800, 8)

	var text bytes.Buffer
	res.WriteText(&text)
	for _, w := range []string{
		"  server:     leader " + url + ", its /metrics before and after the run\n",
		"    fsync     100 fsyncs, mean 2.00ms, 8.00 entries per fsync\n",
		"    batching  8.00 proposals per batch, 8.00 entries per append message, 8.10 entries per apply\n",
	} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("report lacks %q:\n%s", w, text.String())
		}
	}

	js, err := res.JSON()
	if err != nil {
		t.Fatal(err)
	}
	// The usual fields first, unchanged, then "server".
	before, server, ok := strings.Cut(string(js), `,"server":`)
	if !ok || !jsonShape.MatchString(before+"}\n") {
		t.Fatalf("JSON %s", js)
	}
	want := `{"endpoint":"` + url + `","leader_changed":false,"fsyncs":100,"fsync_mean_ms":2,"entries_per_fsync":8,` +
		`"entries_per_append":8,"entries_per_apply":8.1,"proposals_per_batch":8,"proposals":800}}` + "\n"
	if server != want {
		t.Errorf("server JSON\n %s\nwant\n %s", server, want)
	}
}

// TestServerFiguresUnavailable: a node without usable metrics costs the
// report one line and nothing else.
func TestServerFiguresUnavailable(t *testing.T) {
	good := page(1, 1, 1, 1, 1, 1, 1, 1, 1)
	for _, tt := range []struct {
		name   string
		pages  []string
		status int
		note   string
	}{
		{name: "404", status: http.StatusNotFound, note: "/metrics: 404 Not Found"},
		{name: "500", status: http.StatusInternalServerError, note: "500 Internal Server Error"},
		{name: "not the text format", pages: []string{"{\"metrics\": 1}\n"}, note: "/metrics:"},
		{name: "older server", pages: []string{"# TYPE go_goroutines gauge\ngo_goroutines 42\n"}, note: "an older kvserver?"},
		{name: "restarted", pages: []string{good, page(0, 0, 0, 0, 0, 0, 0, 0, 0)}, note: "went backwards"},
		{name: "gone after", pages: []string{good, "garbage {{{\n"}, note: "/metrics:"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &withMetrics{node: newFakeNode(1), pages: tt.pages, status: tt.status}
			res, err := Run(context.Background(), cfgFor(Write, serve(t, m)))
			if err != nil {
				t.Fatalf("a metrics failure failed the run: %v", err)
			}
			checkSane(t, res)
			if res.Ops != 200 || res.Errors != 0 {
				t.Errorf("ops %d errors %d", res.Ops, res.Errors)
			}
			if res.Server != nil || !strings.Contains(res.ServerNote, tt.note) {
				t.Errorf("server %+v, note %q, want it to contain %q", res.Server, res.ServerNote, tt.note)
			}
			var text bytes.Buffer
			res.WriteText(&text)
			if n := strings.Count(text.String(), "server:"); n != 1 || !strings.Contains(text.String(), "  server:     no figures: ") {
				t.Errorf("report:\n%s", text.String())
			}
			if js, _ := res.JSON(); !jsonShape.Match(js) || bytes.Contains(js, []byte("server")) {
				t.Errorf("JSON %s", js)
			}
		})
	}
}

// TestServerFiguresPartial: a histogram the server does not serve, or
// one that saw nothing, is "-" in the report and null in JSON.
func TestServerFiguresPartial(t *testing.T) {
	before := histTotals{metricFsyncSeconds: {Count: 3, Sum: 0.003, Known: true}, metricApplyEntries: {Count: 7, Sum: 70, Known: true}}
	after := histTotals{metricFsyncSeconds: {Count: 3, Sum: 0.003, Known: true}, metricApplyEntries: {Count: 9, Sum: 90, Known: true}}
	st, err := serverDelta("http://n", before, after)
	if err != nil {
		t.Fatal(err)
	}
	res := &Result{Mode: Read, Server: st}
	var text bytes.Buffer
	res.WriteText(&text)
	for _, w := range []string{"    fsync     0 fsyncs, mean -, - entries per fsync\n", "- proposals per batch, - entries per append message, 10.00 entries per apply\n"} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("report lacks %q:\n%s", w, text.String())
		}
	}
	js, _ := res.JSON()
	var back struct {
		Server map[string]any `json:"server"`
	}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	wantNull := []string{"fsync_mean_ms", "entries_per_fsync", "entries_per_append", "proposals_per_batch", "proposals"}
	for _, k := range wantNull {
		if v, ok := back.Server[k]; !ok || v != nil {
			t.Errorf("%s = %v (present %v), want null", k, v, ok)
		}
	}
	if back.Server["fsyncs"] != 0.0 || back.Server["entries_per_apply"] != 10.0 {
		t.Errorf("server %v", back.Server)
	}
}

// TestServerFiguresSpread: with --spread the leader is looked up to be
// scraped; the followers' metrics are not read.
func TestServerFiguresSpread(t *testing.T) {
	leader := &withMetrics{node: newFakeNode(2), pages: []string{page(1, 1, 1, 1, 1, 1, 1, 1, 1), page(2, 2, 2, 2, 2, 2, 2, 2, 2)}}
	lURL := serve(t, leader)
	fnode := newFakeNode(0)
	follower(fnode, strings.TrimPrefix(lURL, "http://"))
	follower := &withMetrics{node: fnode, pages: []string{"x"}}
	cfg := cfgFor(Write, serve(t, follower), lURL)
	cfg.Spread = true
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Server == nil || res.Server.Endpoint != lURL || follower.scrapes.Load() != 0 || res.Server.Fsync.Count != 1 {
		t.Errorf("server %+v, note %q, follower scraped %d times", res.Server, res.ServerNote, follower.scrapes.Load())
	}
}
