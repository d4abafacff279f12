package bench

import (
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/internal/fakenode"
)

// newFakeNode is a fake node leading in term 3.
func newFakeNode(id uint64) *fakenode.Node {
	n := fakenode.New(id)
	n.SetTerm(3)
	return n
}

// follower makes n a follower of node 99 at leaderHTTP.
func follower(n *fakenode.Node, leaderHTTP string) {
	n.EditStatus(fakenode.Follows(99, leaderHTTP))
}

// stepDown makes n, after it has let through after kv requests, report
// that it follows the leader at movedTo in term 4, and answer its kv
// requests 503 unless it keeps serving (as a forwarding follower would).
func stepDown(n *fakenode.Node, after int64, movedTo string, keepServing bool) {
	var admitted atomic.Int64
	down := func() bool { return admitted.Load() >= after }
	n.EditStatus(func(st *client.Status) {
		if down() {
			fakenode.Follows(99, movedTo)(st)
			st.Term = 4
		}
	})
	n.Intercept(func(r fakenode.Request) *fakenode.Answer {
		if r.Key == "" {
			return nil
		}
		if down() && !keepServing {
			return &fakenode.Answer{Code: http.StatusServiceUnavailable}
		}
		admitted.Add(1)
		return nil
	})
}

// served returns the kv requests n answered with method, by key.
func served(n *fakenode.Node, method string) map[string]int {
	byKey := map[string]int{}
	for _, r := range n.Requests() {
		if r.Key != "" && r.Method == method && (r.Code == http.StatusOK || r.Code == http.StatusNotFound) {
			byKey[r.Key]++
		}
	}
	return byKey
}

// puts counts the writes n applied.
func puts(n *fakenode.Node) int {
	total := 0
	for _, c := range served(n, http.MethodPut) {
		total += c
	}
	return total
}

// getQueries counts n's reads by their raw query.
func getQueries(n *fakenode.Node) map[string]int {
	qs := map[string]int{}
	for _, r := range n.Requests() {
		if r.Key != "" && r.Method == http.MethodGet {
			qs[r.RawQuery]++
		}
	}
	return qs
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

func deadAddr(t *testing.T) string { return "http://" + fakenode.DeadAddr(t) }

func nan() float64 { return math.NaN() }
