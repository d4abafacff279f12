package api

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/auth"
)

// logRequests logs every request at DEBUG. It sits outermost so that it also
// sees the 500 written by recoverPanics.
func (s *Server) logRequests(c *gin.Context) {
	ctx := c.Request.Context()
	if !s.log.Enabled(ctx, slog.LevelDebug) {
		c.Next()
		return
	}
	start := time.Now()
	c.Next()
	attrs := []slog.Attr{
		slog.String("method", c.Request.Method),
		slog.String("path", c.Request.URL.Path),
		slog.Int("status", c.Writer.Status()),
		slog.Int("bytes", max(c.Writer.Size(), 0)),
		slog.Duration("took", time.Since(start)),
	}
	if from := c.Request.Header.Get(ForwardedHeader); from != "" {
		attrs = append(attrs, slog.String("forwarded_by", from))
	}
	// The token's name, for an audit trail; never the token, nor any
	// header, nor the query string (where a careless client may put one).
	if v, ok := c.Get(tokenKey); ok {
		attrs = append(attrs, slog.String("token_name", v.(auth.Token).Name))
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "http request", attrs...)
}

// recoverPanics turns a panic (always a bug here: bad input is answered
// before it can reach anything that panics) into a logged 500.
func (s *Server) recoverPanics(c *gin.Context) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if r == http.ErrAbortHandler {
			// A deliberate abort: net/http knows to drop the connection quietly.
			panic(r)
		}
		s.log.Error("panic serving request", "method", c.Request.Method, "path", c.Request.URL.Path,
			"panic", r, "stack", string(debug.Stack()))
		if c.Writer.Written() {
			// Too late for a clean error: the status line is out. Dropping the
			// connection is the only honest signal left.
			panic(http.ErrAbortHandler)
		}
		abortError(c, http.StatusInternalServerError, "internal error")
	}()
	c.Next()
}

// withTimeout bounds every request by RequestTimeout, so a write that never
// commits is answered 504 instead of hanging the client.
func (s *Server) withTimeout(c *gin.Context) {
	if p := c.Request.URL.Path; p == backupPath || p == eventsPath || strings.HasPrefix(p, watchPathPrefix) {
		// A backup streams for as long as the state takes to copy; an
		// event stream, for as long as someone watches.
		c.Next()
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.opts.RequestTimeout)
	defer cancel()
	c.Request = c.Request.WithContext(ctx)
	c.Next()
}
