package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api/client"
)

// The floor must look like a raftkv leader to kvcli's client, or the
// benchmark measures failures instead of requests.
func TestAnswersLikeALeader(t *testing.T) {
	srv := httptest.NewServer(newHandler(8))
	defer srv.Close()
	c, err := client.New([]string{srv.URL}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	st, err := c.Status(ctx, srv.URL)
	if err != nil || st.State != "leader" || st.Leader == nil || *st.Leader != 0 {
		t.Fatalf("status %+v, %v", st, err)
	}
	for want := uint64(1); want <= 2; want++ {
		if idx, err := c.Put(ctx, "k", []byte("value")); err != nil || idx != want {
			t.Fatalf("put %d: index %d, %v", want, idx, err)
		}
	}
	if v, err := c.Get(ctx, "k", ""); err != nil || string(v) != "vvvvvvvv" {
		t.Fatalf("get: %q, %v", v, err)
	}
}

func TestRefusesWhatItDoesNotServe(t *testing.T) {
	srv := httptest.NewServer(newHandler(8))
	defer srv.Close()
	for _, tt := range []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, "/v1/kv/", http.StatusNotFound},
		{http.MethodGet, "/elsewhere", http.StatusNotFound},
		{http.MethodPost, "/v1/kv/k", http.StatusMethodNotAllowed},
		{http.MethodPost, "/v1/status", http.StatusNotFound},
	} {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader("x"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, resp.StatusCode, tt.code)
		}
	}
}
