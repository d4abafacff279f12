package metrics

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newTestMetrics(node uint64, peers ...uint64) *Metrics {
	return New(Options{Node: node, Peers: peers, NoProcessMetrics: true})
}

// sample finds the series of family name whose labels include want and
// returns its value: a counter's or gauge's value, a histogram's count.
func sample(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	v, ok := lookup(t, g, name, want)
	if !ok {
		t.Fatalf("no series %s%v; have:\n%s", name, want, listSeries(t, g, name))
	}
	return v
}

func lookup(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, want) {
				return value(mf.GetType(), m), true
			}
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	have := map[string]string{}
	for _, lp := range m.GetLabel() {
		have[lp.GetName()] = lp.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func value(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return m.GetUntyped().GetValue()
}

// histSum is a histogram series' sum of observations.
func histSum(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetName() == name && hasLabels(m, want) {
				return m.GetHistogram().GetSampleSum()
			}
		}
	}
	t.Fatalf("no histogram %s%v", name, want)
	return 0
}

func listSeries(t *testing.T, g prometheus.Gatherer, name string) string {
	mfs, _ := g.Gather()
	var out []string
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), name) {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, lp := range m.GetLabel() {
				ls = append(ls, lp.GetName()+"="+lp.GetValue())
			}
			out = append(out, fmt.Sprintf("  %s{%s} %v", mf.GetName(), strings.Join(ls, ","), value(mf.GetType(), m)))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
