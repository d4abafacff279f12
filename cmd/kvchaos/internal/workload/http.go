// Package workload runs the clients of a chaos run: concurrent HTTP
// clients doing puts, gets, deletes and compare-and-swaps on a few keys,
// recording every operation for the linearizability check, and lessees
// whose leases are checked against their TTLs (lease.go).
package workload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// answer is one HTTP exchange's result.
type answer struct {
	status int    // 0 when no answer came
	body   []byte // the body of a 2xx, the error message otherwise
	err    error  // transport error, when status is 0
}

// notSent reports whether the request certainly never reached the server:
// the connection was refused, so nothing was written.
func (a answer) notSent() bool {
	var op *net.OpError
	return a.status == 0 && errors.As(a.err, &op) && op.Op == "dial"
}

func (a answer) String() string {
	if a.status == 0 {
		return shorten(a.err.Error())
	}
	if a.status >= 200 && a.status < 300 {
		return fmt.Sprint(a.status)
	}
	return fmt.Sprintf("%d %s", a.status, shorten(string(a.body)))
}

// shorten keeps error strings readable in the visualization.
func shorten(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s, "http://") {
		// "Put \"http://...\": context deadline exceeded" -> the cause
		s = s[i+2:]
	}
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

// send does one request for key on addr and reads the whole answer.
func send(ctx context.Context, hc *http.Client, method, addr, key, query string, body []byte, requestID string) answer {
	path := "/v1/kv/" + url.PathEscape(key)
	if query != "" {
		path += "?" + query
	}
	return sendTo(ctx, hc, method, addr, path, body, requestID)
}

// sendTo does one request for path on addr and reads the whole answer.
func sendTo(ctx context.Context, hc *http.Client, method, addr, path string, body []byte, requestID string) answer {
	u := "http://" + addr + path
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return answer{err: err}
	}
	if requestID != "" {
		req.Header.Set("Request-Id", requestID)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		// The status came but the body did not: for a read the value is
		// unknown, for a write the status already says what happened.
		if resp.StatusCode >= 200 && resp.StatusCode < 300 && method == http.MethodGet {
			return answer{err: fmt.Errorf("read body: %w", err)}
		}
	}
	return answer{status: resp.StatusCode, body: b}
}
