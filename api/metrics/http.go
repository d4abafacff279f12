package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// apiMetrics are what the HTTP API updates.
type apiMetrics struct {
	requests *prometheus.CounterVec   // method, route, code
	duration *prometheus.HistogramVec // method, route
	reads    *prometheus.CounterVec   // consistency
}

// Read consistency levels, as the API names them.
var consistencyLabels = []string{"linearizable", "lease", "stale"}

// UnmatchedRoute is the route label of requests no route matched: the raw
// path would let any client create series without bound.
const UnmatchedRoute = "unmatched"

func (m *apiMetrics) init(reg prometheus.Registerer) {
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "http", Name: "requests_total",
		Help: "HTTP requests answered, by method, route pattern and status code."}, []string{"method", "route", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "http", Name: "request_duration_seconds",
		Help: "Time to answer an HTTP request, by method and route pattern.", Buckets: latencyBuckets}, []string{"method", "route"})
	m.reads = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "api", Name: "reads_total",
		Help: "Reads (get and list) by the consistency asked for: linearizable, lease or stale."}, []string{"consistency"})
	reg.MustRegister(m.requests, m.duration, m.reads)
	for _, c := range consistencyLabels {
		m.reads.WithLabelValues(c)
	}
}

// ObserveHTTP counts one answered request. route is the matched route's
// pattern (gin's FullPath, like /v1/kv/*key), "" when none matched.
func (m *Metrics) ObserveHTTP(method, route string, code int, d time.Duration) {
	method = methodLabel(method)
	if route == "" {
		route = UnmatchedRoute
	}
	m.api.requests.WithLabelValues(method, route, codeLabel(code)).Inc()
	m.api.duration.WithLabelValues(method, route).Observe(seconds(d))
}

// CountRead counts a read served at a consistency level ("" is the
// default, linearizable).
func (m *Metrics) CountRead(consistency string) {
	if consistency == "" {
		consistency = "linearizable"
	}
	for _, c := range consistencyLabels {
		if c == consistency {
			m.api.reads.WithLabelValues(c).Inc()
			return
		}
	}
}

// methodLabel keeps the label to the standard methods: a client can send
// any token as a method.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "other"
}

func codeLabel(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code)
}
