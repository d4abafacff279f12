package api

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft/wire"
)

// TestClientWatchResumes: the client's watch sees every change once, in
// order, across the death of the node it was reading from.
func TestClientWatchResumes(t *testing.T) {
	a, b := newStoreNode(t), newStoreNode(t)
	srvA := newTestServer(t, Options{WatchProgress: time.Hour}, a, a.st)
	tsA := httptest.NewServer(srvA.Handler())
	srvB := newTestServer(t, Options{WatchProgress: time.Hour}, b, b.st)
	tsB := httptest.NewServer(srvB.Handler())
	t.Cleanup(tsB.Close)
	// Both stores apply the same log, as two replicas would.
	index := uint64(0)
	write := func(key, value string) {
		index++
		for _, n := range []*storeNode{a, b} {
			e := wire.Entry{Index: index, Term: 1, Data: encodeSet(key, value)}
			if err := n.st.Apply([]wire.Entry{e}); err != nil {
				t.Fatal(err)
			}
		}
	}
	c, err := client.New([]string{tsA.URL, tsB.URL}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan client.WatchEvent, 100)
	done := make(chan error, 1)
	go func() {
		done <- c.Watch(ctx, "w/", true, 0, func(ev client.WatchEvent) error {
			got <- ev
			return nil
		})
	}()
	nextOf := func(kind string) client.WatchEvent {
		t.Helper()
		for {
			select {
			case ev := <-got:
				if ev.Type == kind {
					return ev
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no %s event", kind)
			}
		}
	}
	nextOf("progress") // the stream is open
	write("w/1", "one")
	write("other", "x")
	write("w/2", "two")
	for _, want := range []string{"w/1=one@1", "w/2=two@3"} {
		ev := nextOf("put")
		if s := fmt.Sprintf("%s=%s@%d", ev.Item.Key, ev.Item.Value, ev.Revision); s != want {
			t.Fatalf("event %s, want %s", s, want)
		}
	}
	// Node A dies; its stream breaks; the client resumes on B after 3.
	srvA.Close()
	tsA.Close()
	write("w/3", "three")
	ev := nextOf("put")
	if s := fmt.Sprintf("%s=%s@%d", ev.Item.Key, ev.Item.Value, ev.Revision); s != "w/3=three@4" {
		t.Fatalf("after failover: %s, want w/3=three@4 (no repeat, no gap)", s)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch returned %v", err)
	}
}

func TestClientWatchCallbackErrorAndCompacted(t *testing.T) {
	n := newStoreNode(t)
	ts := httptest.NewServer(newTestServer(t, Options{}, n, n.st).Handler())
	t.Cleanup(ts.Close)
	c, _ := client.New([]string{ts.URL}, time.Second)
	t.Cleanup(c.Close)
	// An error from the callback ends the watch with that error.
	stop := errors.New("enough")
	err := c.Watch(context.Background(), "k", false, 0, func(client.WatchEvent) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("Watch = %v, want the callback's error", err)
	}
	// Changes the server no longer has: a *CompactedError, not a retry loop.
	r := restartedStoreNode(t, 3)
	rts := httptest.NewServer(newTestServer(t, Options{}, r, r.st).Handler())
	t.Cleanup(rts.Close)
	rc, _ := client.New([]string{rts.URL}, time.Second)
	t.Cleanup(rc.Close)
	err = rc.Watch(context.Background(), "k", false, 2, func(client.WatchEvent) error { return nil })
	var ce *client.CompactedError
	if !errors.As(err, &ce) || ce.CompactRevision != 3 {
		t.Fatalf("Watch from 2 after a restart at 3 = %v, want compacted at 3", err)
	}
}

func encodeSet(k, v string) []byte { return kv.EncodeSet([]byte(k), []byte(v)) }
