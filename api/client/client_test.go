package client

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, timeout time.Duration, endpoints ...string) *Client {
	t.Helper()
	c, err := New(endpoints, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// statusHandler answers every request with code and a JSON error.
func statusHandler(code int, hits *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if code == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(code)
		io.WriteString(w, `{"error":"fake `+http.StatusText(code)+`"}`)
	})
}

func TestNewEndpoints(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"127.0.0.1:8000", "http://127.0.0.1:8000", false},
		{"http://127.0.0.1:8000", "http://127.0.0.1:8000", false},
		{"http://127.0.0.1:8000/", "http://127.0.0.1:8000", false},
		{" localhost:1 ", "http://localhost:1", false},
		{"https://h:443", "https://h:443", false},
		{"", "", true},
		{"ftp://h:1", "", true},
		{"http://h:1/v1", "", true},
		{"http://h:1?x=1", "", true},
		{"http://", "", true},
		{"h:1:2:%zz", "", true},
	}
	for _, tt := range tests {
		c, err := New([]string{tt.in}, time.Second)
		if tt.wantErr {
			if err == nil {
				t.Errorf("New(%q) accepted; endpoints %v", tt.in, c.Endpoints())
			}
			continue
		}
		if err != nil {
			t.Errorf("New(%q): %v", tt.in, err)
			continue
		}
		if got := c.Endpoints(); len(got) != 1 || got[0] != tt.want {
			t.Errorf("New(%q) endpoints %v, want %s", tt.in, got, tt.want)
		}
	}
	if _, err := New(nil, time.Second); err == nil {
		t.Error("New with no endpoints accepted")
	}
}

func TestAllUnavailable(t *testing.T) {
	var hits atomic.Int64
	a := newServer(t, statusHandler(http.StatusServiceUnavailable, &hits))
	b := newServer(t, statusHandler(http.StatusServiceUnavailable, &hits))
	c := newClient(t, 5*time.Second, a.URL, b.URL)
	_, err := c.Put(context.Background(), "k", []byte("v"))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("error %v, want ErrUnavailable", err)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 503 || apiErr.Message != "fake Service Unavailable" {
		t.Errorf("cause %#v", apiErr)
	}
	if hits.Load() != 2 {
		t.Errorf("%d attempts, want one per endpoint", hits.Load())
	}
}

func TestOtherErrorsReturnAtOnce(t *testing.T) {
	for _, code := range []int{400, 413, 500, 504} {
		var first, second atomic.Int64
		a := newServer(t, statusHandler(code, &first))
		b := newServer(t, statusHandler(200, &second))
		c := newClient(t, 5*time.Second, a.URL, b.URL)
		_, err := c.Put(context.Background(), "k", []byte("v"))
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.Status != code || errors.Is(err, ErrUnavailable) {
			t.Errorf("%d: error %v", code, err)
		}
		if second.Load() != 0 {
			t.Errorf("%d: retried on another endpoint", code)
		}
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer close(release)
	c := newClient(t, 50*time.Millisecond, slow.URL)
	start := time.Now()
	_, err := c.Get(context.Background(), "k", "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want a deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout of 50ms took %v", d)
	}
}

func TestBadAnswers(t *testing.T) {
	tests := []struct {
		name string
		body string
		call func(*Client) error
	}{
		{"put without index", `{"idx":1}`, func(c *Client) error { _, err := c.Put(context.Background(), "k", nil); return err }},
		{"list not json", `<html>`, func(c *Client) error { _, err := c.List(context.Background(), "", 0, ""); return err }},
		{"list bad base64", `{"items":[{"key":"k","value_base64":"!!"}]}`, func(c *Client) error {
			_, err := c.List(context.Background(), "", 0, "")
			return err
		}},
		{"list item without key", `{"items":[{"value":"v"}]}`, func(c *Client) error {
			_, err := c.List(context.Background(), "", 0, "")
			return err
		}},
		{"status not json", `nope`, func(c *Client) error { _, err := c.Status(context.Background(), c.endpoints[0]); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, tt.body) }))
			if err := tt.call(newClient(t, time.Second, srv.URL)); err == nil {
				t.Error("accepted a malformed answer")
			}
		})
	}
}

func TestAPIErrorMessage(t *testing.T) {
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "plain text failure", http.StatusTeapot)
	}))
	_, err := newClient(t, time.Second, srv.URL).Delete(context.Background(), "k")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusTeapot || apiErr.Message != "plain text failure" {
		t.Fatalf("error %#v", err)
	}
	if !strings.Contains(err.Error(), "418") {
		t.Errorf("Error() = %q", err.Error())
	}
}
