package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}

// do sends the request to one endpoint after another, starting from the last
// one that answered, until one answers with something other than a refused
// connection or a 503; a repeatable request (one the server may receive
// twice without harm) also moves on when the connection broke after it was
// sent. requestID, when not "", goes in the Request-Id header of every
// attempt. It returns the body of a 2xx answer.
func (c *Client) do(ctx context.Context, method, pathAndQuery string, body []byte, hdr http.Header, repeatable bool) ([]byte, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	n := len(c.endpoints)
	start := int(c.next.Load()) % n
	var last error
	for i := range n {
		idx := (start + i) % n
		out, err := c.once(ctx, c.endpoints[idx], method, pathAndQuery, body, hdr)
		if err == nil || !(retryable(err) || repeatable && brokenAfterSend(err)) {
			c.next.Store(uint32(idx)) // it answered: start there next time
			return out, err
		}
		last = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w: %w", ErrUnavailable, last)
}

// retryable reports whether err means the request was certainly not served
// by that endpoint, so another may take it (writes included).
func retryable(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Status == http.StatusServiceUnavailable
	}
	// A failed dial never sent the request.
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// errBrokenAnswer marks an answer whose body could not be read in full.
var errBrokenAnswer = errors.New("answer cut short")

// brokenAfterSend reports whether err is a transport failure after which
// the request may or may not have been served: the node crashed or the
// connection dropped. Only what the caller's deadline or cancellation
// caused is excluded; do stops on those anyway.
func brokenAfterSend(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var urlErr *url.Error
	return errors.As(err, &urlErr) && urlErr.Op != "parse" || errors.Is(err, errBrokenAnswer)
}

// send sends one request to base and returns the answer when it is a 2xx;
// the caller closes its body. Other answers become errors: ErrNotFound
// for an absent key, *APIError for the rest.
func (c *Client) send(ctx context.Context, base, method, pathAndQuery string, body []byte, hdr http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+pathAndQuery, rd)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", method, pathAndQuery, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	for name, v := range hdr {
		req.Header[name] = v
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err // a *url.Error, which names the method and URL already
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && method == http.MethodGet && strings.HasPrefix(pathAndQuery, "/v1/kv/") {
		return nil, ErrNotFound
	}
	// An error answer is small; a cap keeps a misbehaving one from being.
	out, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("client: read error answer (%d) from %s: %w: %w", resp.StatusCode, base, errBrokenAnswer, err)
	}
	if resp.StatusCode == http.StatusPreconditionFailed {
		if ce, ok := conditionError(out); ok {
			return nil, ce
		}
	}
	return nil, &APIError{Status: resp.StatusCode, Message: errorMessage(out)}
}

// once sends one request to base and returns the body of a 2xx answer.
func (c *Client) once(ctx context.Context, base, method, pathAndQuery string, body []byte, hdr http.Header) ([]byte, error) {
	resp, err := c.send(ctx, base, method, pathAndQuery, body, hdr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("client: read answer from %s: %w: %w", base, errBrokenAnswer, err)
	}
	return out, nil
}

// errorMessage extracts {"error": ...}, falling back to the (shortened) body.
func errorMessage(body []byte) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return e.Error
	}
	return truncate(body)
}

func truncate(b []byte) string {
	const max = 200
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}
