package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api/client"
)

// TestCompareAndSwapOnCluster: of many writers racing from one revision,
// on every node at once (followers forward over Raft), exactly one wins;
// the rest see 412 with the winner's revision; a retried conditional write
// answers its first outcome on any node.
func TestCompareAndSwapOnCluster(t *testing.T) {
	c := newE2ECluster(t)
	c.leader()
	code, body := httpDo(t, http.MethodPut, c.url(0, "/v1/kv/counter"), "0", map[string]string{"If-None-Match": "*"})
	if code != http.StatusOK {
		t.Fatalf("create: %d %s", code, body)
	}
	var created struct{ Index uint64 }
	if err := json.Unmarshal([]byte(body), &created); err != nil {
		t.Fatal(err)
	}
	rev := fmt.Sprintf(`"%d"`, created.Index)

	const writers = 24
	var wg sync.WaitGroup
	var mu sync.Mutex // guards won, failedAt
	won, failedAt := 0, map[uint64]int{}
	for w := range writers {
		wg.Go(func() {
			code, body := httpDo(t, http.MethodPut, c.url(uint64(w%3), "/v1/kv/counter"), fmt.Sprint(w), map[string]string{"If-Match": rev})
			mu.Lock()
			defer mu.Unlock()
			switch code {
			case http.StatusOK:
				won++
			case http.StatusPreconditionFailed:
				var p struct {
					ModRevision uint64 `json:"mod_revision"`
					Version     uint64 `json:"version"`
				}
				if err := json.Unmarshal([]byte(body), &p); err != nil || p.Version != 2 {
					t.Errorf("412 body %s (%v); want version 2", body, err)
				}
				failedAt[p.ModRevision]++
			default:
				t.Errorf("writer %d: %d %s", w, code, body)
			}
		})
	}
	wg.Wait()
	if won != 1 || len(failedAt) != 1 {
		t.Fatalf("%d writers won (want 1); the losers saw revisions %v (want one)", won, failedAt)
	}

	// A conditional write whose reply was lost, retried on another node.
	code, body = httpDo(t, http.MethodGet, c.url(1, "/v1/kv/counter?meta=1"), "", nil)
	var item struct {
		ModRevision uint64 `json:"mod_revision"`
	}
	if err := json.Unmarshal([]byte(body), &item); err != nil || code != http.StatusOK {
		t.Fatalf("meta: %d %s", code, body)
	}
	hdr := map[string]string{"If-Match": fmt.Sprintf(`"%d"`, item.ModRevision), "Request-Id": "cas-client:1"}
	code1, body1 := httpDo(t, http.MethodPut, c.url(2, "/v1/kv/counter"), "mine", hdr)
	code2, body2 := httpDo(t, http.MethodPut, c.url(0, "/v1/kv/counter"), "mine", hdr)
	if code1 != http.StatusOK || code2 != http.StatusOK || body1 != body2 {
		t.Fatalf("first %d %s, retry %d %s; want the same 200 twice", code1, body1, code2, body2)
	}
	if code, body := httpDo(t, http.MethodGet, c.url(0, "/v1/kv/counter"), "", nil); code != http.StatusOK || !strings.Contains(body, "mine") {
		t.Fatalf("counter = %d %s", code, body)
	}
}

// TestTxnOnCluster sends a transaction to a follower (forwarded over Raft:
// the follower learns the outcome from its own apply) and reads it back
// on every node.
func TestTxnOnCluster(t *testing.T) {
	c := newE2ECluster(t)
	lead := c.leader()
	follower := c.others(lead)[0]
	body := `{"compare":[{"key":"cfg","target":"version","op":"=","value":0}],
		"success":[{"op":"put","key":"cfg","value":"v1"},{"op":"put","key":"cfg-owner","value":"me"},{"op":"get","key":"cfg"}]}`
	code, out := httpDo(t, http.MethodPost, c.url(follower, "/v1/txn"), body, nil)
	var a struct {
		Succeeded bool             `json:"succeeded"`
		Revision  uint64           `json:"revision"`
		Results   []map[string]any `json:"results"`
	}
	if err := json.Unmarshal([]byte(out), &a); err != nil || code != http.StatusOK || !a.Succeeded || len(a.Results) != 3 {
		t.Fatalf("txn on follower %d: %d %s", follower, code, out)
	}
	if a.Results[2]["value"] != "v1" || a.Results[0]["mod_revision"] != float64(a.Revision) || a.Results[1]["mod_revision"] != float64(a.Revision) {
		t.Fatalf("results %v at revision %d: both writes at the txn's revision, the get sees the put", a.Results, a.Revision)
	}
	for id := range uint64(3) {
		code, out := httpDo(t, http.MethodGet, c.url(id, "/v1/kv/cfg-owner?meta=1"), "", nil)
		if code != http.StatusOK || !strings.Contains(out, fmt.Sprintf(`"mod_revision":%d`, a.Revision)) {
			t.Fatalf("node %d: %d %s", id, code, out)
		}
	}
	code, out = httpDo(t, http.MethodPost, c.url(follower, "/v1/txn"), body, nil)
	if code != http.StatusOK || !strings.Contains(out, `"succeeded":false`) {
		t.Fatalf("second txn: %d %s; want the failure branch", code, out)
	}
}

// TestWatchOnClusterSurvivesNodeDeath watches a prefix through a follower
// while another node writes; the follower is killed mid-stream and the
// client resumes on the last node: every change arrives once, in order.
func TestWatchOnClusterSurvivesNodeDeath(t *testing.T) {
	c := newE2ECluster(t)
	lead := c.leader()
	others := c.others(lead)
	watched, spare := others[0], others[1]
	cl := c.client(watched, spare)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := make(chan client.WatchEvent, 1000)
	done := make(chan error, 1)
	go func() {
		done <- cl.Watch(ctx, "w/", true, 0, func(ev client.WatchEvent) error {
			if ev.Type != "progress" {
				got <- ev
			}
			return nil
		})
	}()
	writer := c.client(lead)
	// Writes until the watch sees the first, so it is surely open.
	first := time.Now()
	for len(got) == 0 && time.Since(first) < 5*time.Second {
		if _, err := writer.Put(ctx, "w/open", []byte("x")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // pacing the probe writes, not synchronisation: the loop waits on got
	}
	var revs []uint64
	for len(got) > 0 {
		revs = append(revs, (<-got).Revision)
	}
	if len(revs) == 0 {
		t.Fatal("the watch saw nothing")
	}
	want := map[uint64]string{}
	put := func(i int) {
		idx, err := writer.Put(ctx, fmt.Sprintf("w/%d", i), []byte(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		want[idx] = fmt.Sprintf("w/%d", i)
	}
	for i := range 20 {
		put(i)
	}
	c.kill(watched)
	for i := 20; i < 40; i++ {
		put(i)
	}
	seen := map[uint64]bool{}
	last := revs[len(revs)-1]
	for len(seen) < len(want) {
		select {
		case ev := <-got:
			if ev.Revision <= last {
				t.Fatalf("revision %d after %d: out of order or repeated", ev.Revision, last)
			}
			last = ev.Revision
			if k, ok := want[ev.Revision]; ok {
				if ev.Item.Key != k {
					t.Fatalf("revision %d is %s, want %s", ev.Revision, ev.Item.Key, k)
				}
				seen[ev.Revision] = true
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("saw %d of %d writes; the watch did not resume", len(seen), len(want))
		}
	}
	cancel()
	<-done
}
