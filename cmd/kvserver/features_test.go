package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func httpDo(t *testing.T, method, url, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx5s(t), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (c *e2eCluster) url(id uint64, path string) string {
	n, _ := c.cfg.Node(id)
	return "http://" + n.HTTPAddr + path
}

// TestLeaseReadsTransferAndHandOver covers the read and leadership
// features end to end: lease reads on every node, exactly-once retries
// through a follower, an explicit leadership transfer, and the hand-over
// a leader does when it is shut down.
func TestLeaseReadsTransferAndHandOver(t *testing.T) {
	c := newE2ECluster(t)
	lead := c.leader()
	follower := (lead + 1) % 3

	// A write retried with the same Request-Id through a follower is
	// applied once and answers the first index.
	hdr := map[string]string{"Request-Id": "e2e-client:1"}
	code, first := httpDo(t, http.MethodPut, c.url(follower, "/v1/kv/counter"), "1", hdr)
	if code != http.StatusOK {
		t.Fatalf("PUT with Request-Id: %d %s", code, first)
	}
	if code, body := httpDo(t, http.MethodPut, c.url(lead, "/v1/kv/counter"), "2", nil); code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, body)
	}
	code, again := httpDo(t, http.MethodPut, c.url(follower, "/v1/kv/counter"), "1", hdr)
	if code != http.StatusOK || again != first {
		t.Fatalf("retried PUT answered %d %s, want 200 %s", code, again, first)
	}

	// Lease reads on every node see the latest write.
	for id := range c.nodes {
		code, body := httpDo(t, http.MethodGet, c.url(id, "/v1/kv/counter?consistency=lease"), "", nil)
		if code != http.StatusOK || body != "2" {
			t.Fatalf("lease read on node %d: %d %q, want 2 (the retry must not have been applied)", id, code, body)
		}
	}

	// An explicit transfer, asked of a follower.
	target := (lead + 2) % 3
	code, body := httpDo(t, http.MethodPost, c.url(follower, "/v1/cluster/transfer-leader"), fmt.Sprintf(`{"to": %d}`, target), nil)
	if code != http.StatusOK {
		t.Fatalf("transfer-leader: %d %s", code, body)
	}
	var tr struct{ Leader uint64 }
	if err := json.Unmarshal([]byte(body), &tr); err != nil || tr.Leader != target {
		t.Fatalf("transfer-leader answered %s, want leader %d", body, target)
	}
	if got := c.leader(); got != target {
		t.Fatalf("leader %d after transfer, want %d", got, target)
	}

	// Shutting the leader down hands leadership over first: the others
	// have a leader as soon as it is gone, with no election timeout.
	c.stop(target)
	start := time.Now()
	newLead := c.leader()
	took := time.Since(start)
	t.Logf("after the leader's shutdown node %d leads within %v", newLead, took)
	emin, _ := c.cfg.ElectionTimeout()
	if took >= emin {
		t.Fatalf("a leader appeared %v after shutdown; a hand-over should beat the election timeout %v", took, emin)
	}
}
