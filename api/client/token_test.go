package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWithToken: the token goes in the Authorization header of every
// request, reads, writes and status alike; never in the URL, and never in
// the error a refusal becomes.
func TestWithToken(t *testing.T) {
	const token = "tok-6c1e-secret"
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization")+" "+r.URL.String())
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error": "invalid token"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"index": 3}`))
	}))
	defer srv.Close()
	ctx := context.Background()

	c, err := New([]string{srv.URL}, time.Second, WithToken(token))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("Put with the token: %v", err)
	}
	if _, err := c.Get(ctx, "k", ""); err != nil {
		t.Fatalf("Get with the token: %v", err)
	}
	mu.Lock()
	for _, s := range seen {
		if !strings.HasPrefix(s, "Bearer "+token+" ") || strings.Contains(strings.TrimPrefix(s, "Bearer "+token), token) {
			t.Errorf("request %q: want the token in the header only", s)
		}
	}
	mu.Unlock()

	wrong, err := New([]string{srv.URL}, time.Second, WithToken("tok-wrong-secret"))
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	_, err = wrong.Put(ctx, "k", []byte("v"))
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Fatalf("Put with a wrong token: %v, want a 401 APIError", err)
	}
	if strings.Contains(err.Error(), "tok-wrong-secret") {
		t.Fatalf("the error shows the token: %v", err)
	}
}
