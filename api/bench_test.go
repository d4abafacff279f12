package api

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// BenchmarkHandler measures the API's own cost per request (routing, body,
// encoding, JSON) over fakes that do no work.
func BenchmarkHandler(b *testing.B) {
	store := newFakeStore()
	for i := range 1000 {
		store.set("key/"+strconv.Itoa(i), bytes.Repeat([]byte("v"), 256))
	}
	srv := New(Options{Logger: quietLogger()}, newLeader(store), store)
	b.Cleanup(srv.Close)
	h := srv.Handler()
	value := bytes.Repeat([]byte("x"), 256)

	cases := []struct {
		name, method, target string
		body                 []byte
	}{
		{"put-256B", http.MethodPut, "/v1/kv/key%2F1", value},
		{"get-linearizable", http.MethodGet, "/v1/kv/key/1", nil},
		{"get-stale", http.MethodGet, "/v1/kv/key/1?consistency=stale", nil},
		{"list-100", http.MethodGet, "/v1/kv?prefix=key/", nil},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(bc.method, bc.target, bytes.NewReader(bc.body))
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
