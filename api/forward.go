package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/raft/wire"
)

// forward replays the client's write on the leader and passes the leader's
// answer (status, content type, body) back unchanged, so the client sees one
// response whichever node it asked.
func (s *Server) forward(c *gin.Context, leader uint64, body []byte) {
	r := c.Request
	if from := r.Header.Get(ForwardedHeader); from != "" {
		// The node that sent this believed we lead; we believe otherwise.
		// Leadership is moving: bouncing the request on could loop.
		abortUnavailable(c, fmt.Sprintf("not the leader (request forwarded by node %s; leadership is changing)", from))
		return
	}
	if leader == wire.None {
		abortUnavailable(c, "no leader known")
		return
	}
	target, err := s.peerURL(leader, r.URL)
	if err != nil {
		s.log.Warn("cannot forward write", "leader", leader, "err", err)
		abortUnavailable(c, err.Error())
		return
	}

	ctx := r.Context()
	req, err := http.NewRequestWithContext(ctx, r.Method, target, bytes.NewReader(body))
	if err != nil {
		s.log.Error("build forward request", "target", target, "err", err)
		abortError(c, http.StatusInternalServerError, "forward: "+err.Error())
		return
	}
	req.Header.Set(ForwardedHeader, strconv.FormatUint(s.opts.NodeID, 10))
	// Authorization too: the leader checks the token again, against the
	// same tokens file.
	for _, name := range []string{"Content-Type", RequestIDHeader, "If-Match", "If-None-Match", authorizationHeader} {
		if v := r.Header.Get(name); v != "" {
			req.Header.Set(name, v)
		}
	}

	resp, err := s.client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The leader may have committed it: say "timed out", not "retry".
			abortError(c, http.StatusGatewayTimeout, fmt.Sprintf(
				"write forwarded to leader %d did not complete within %s (it may still be applied)",
				leader, s.opts.RequestTimeout))
			return
		}
		s.log.Warn("forward to leader failed", "leader", leader, "target", target, "err", err)
		abortUnavailable(c, fmt.Sprintf("leader %d unreachable: %v", leader, err))
		return
	}
	defer resp.Body.Close()

	h := c.Writer.Header()
	for _, name := range []string{"Content-Type", "Retry-After", "ETag"} {
		if v := resp.Header.Get(name); v != "" {
			h.Set(name, v)
		}
	}
	c.Status(resp.StatusCode)
	if _, err := io.Copy(c.Writer, resp.Body); err != nil {
		// Status is already out; the client sees a short body.
		s.log.Warn("relay leader answer", "leader", leader, "err", err)
	}
}

// peerURL is the URL of u's path and query on node id's HTTP address.
func (s *Server) peerURL(id uint64, u *url.URL) (string, error) {
	if id == s.opts.NodeID {
		// Raft says we are not the leader yet names us: a stale view that
		// the next election settles. Forwarding to ourselves would loop.
		return "", fmt.Errorf("leadership is changing (leader reported as this node %d)", id)
	}
	addr, ok := s.memberHTTP(id)
	if !ok {
		return "", fmt.Errorf("leader %d has no known http address", id)
	}
	base := addr
	if !strings.Contains(base, "://") {
		base = s.peerScheme() + "://" + base
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("leader %d http address %q: %w", id, addr, err)
	}
	// Path and RawPath both, so the leader sees the very escaping the client
	// sent (a%2Fb stays a%2Fb).
	t := url.URL{Scheme: b.Scheme, Host: b.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	return t.String(), nil
}
