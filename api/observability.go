package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/internal/defaults"
	"github.com/raftkv/raftkv/raft/wire"
)

// Metrics counts what the API serves and serves GET /metrics. Package
// api/metrics implements it with Prometheus; the API itself knows no
// metrics library.
type Metrics interface {
	http.Handler // GET /metrics
	// ObserveHTTP counts one answered request; route is the matched
	// route's pattern (like /v1/kv/*key), "" when none matched.
	ObserveHTTP(method, route string, code int, d time.Duration)
	// CountRead counts one read at a consistency level ("" = linearizable).
	CountRead(consistency string)
}

// DefaultReadyMaxLag is how many entries the applied index may trail the
// commit index on a ready node (config.json's ready_max_lag_entries).
const DefaultReadyMaxLag = defaults.ReadyMaxLagEntries

// countRequests feeds every answer to Metrics. It sits outermost, so it
// also sees the 500 written by recoverPanics. The route is gin's pattern,
// never the raw path: keys would make the series count unbounded.
func (s *Server) countRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	s.opts.Metrics.ObserveHTTP(c.Request.Method, c.FullPath(), c.Writer.Status(), time.Since(start))
}

func (s *Server) countRead(consistency string) {
	if s.opts.Metrics != nil {
		s.opts.Metrics.CountRead(consistency)
	}
}

// readyBody is the JSON of GET /readyz.
type readyBody struct {
	Status string `json:"status"`           // "ready" or "not ready"
	Reason string `json:"reason,omitempty"` // why not
}

// handleReady answers GET /readyz: 200 when this node knows a leader and
// has applied all but ReadyMaxLag of the entries it knows are committed,
// so a load balancer sends reads only where they are fresh enough; 503
// with the reason otherwise. /healthz only says the process serves.
func (s *Server) handleReady(c *gin.Context) {
	st := s.cons.Status()
	reason := ""
	switch lag := st.CommitIndex - min(st.AppliedIndex, st.CommitIndex); {
	case st.Leader == wire.None:
		reason = fmt.Sprintf("no leader known (term %d, %s)", st.Term, stateName(st.Role))
	case lag > s.opts.ReadyMaxLag:
		reason = fmt.Sprintf("applied index %d is %d entries behind the commit index %d (the limit is %d)",
			st.AppliedIndex, lag, st.CommitIndex, s.opts.ReadyMaxLag)
	}
	if reason != "" {
		c.Header("Retry-After", "1")
		c.JSON(http.StatusServiceUnavailable, readyBody{Status: "not ready", Reason: reason})
		return
	}
	c.JSON(http.StatusOK, readyBody{Status: "ready"})
}
