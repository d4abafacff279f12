package fakenode_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api"
	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/internal/fakenode"
)

func start(t *testing.T, id uint64) (*fakenode.Node, *client.Client, string) {
	t.Helper()
	n := fakenode.New(id)
	url := n.Serve(t)
	c, err := client.New([]string{url}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return n, c, url
}

// The fake's copies of the server's list limits must not drift.
func TestListLimitsAreTheServers(t *testing.T) {
	n, c, url := start(t, 0)
	for i := range 101 {
		n.Set(strings.Repeat("k", i+1), "v")
	}
	items, err := c.List(context.Background(), "", 0, "")
	if err != nil || len(items) != api.DefaultListLimit {
		t.Errorf("default list: %d items, %v; want %d", len(items), err, api.DefaultListLimit)
	}
	for limit, want := range map[int]int{api.MaxListLimit: http.StatusOK, api.MaxListLimit + 1: http.StatusBadRequest, 0: http.StatusBadRequest} {
		resp, err := http.Get(url + "/v1/kv?limit=" + itoa(limit))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("limit %d: %d, want %d", limit, resp.StatusCode, want)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestKV: what the client writes reads back through it, with the
// revisions, ETags and base64 the server uses.
func TestKV(t *testing.T) {
	n, c, url := start(t, 0)
	ctx := context.Background()
	if idx, err := c.Put(ctx, "a/1", []byte("one")); err != nil || idx != 1 {
		t.Fatalf("Put = %d, %v", idx, err)
	}
	if idx, err := c.Put(ctx, "a/1", []byte("uno")); err != nil || idx != 2 {
		t.Fatalf("second Put = %d, %v", idx, err)
	}
	if _, err := c.Put(ctx, "bin", []byte("\xff\x00")); err != nil {
		t.Fatal(err)
	}
	n.Set("old", "set")
	it, err := c.GetItem(ctx, "a/1", "")
	if err != nil || string(it.Value) != "uno" || it.CreateRevision != 1 || it.ModRevision != 2 || it.Version != 2 {
		t.Errorf("GetItem = %+v, %v", it, err)
	}
	items, err := c.List(ctx, "", 0, "")
	if err != nil || len(items) != 3 || items[0].Key != "a/1" || items[1].Key != "bin" || string(items[1].Value) != "\xff\x00" ||
		items[2].Key != "old" || items[2].ModRevision != 0 {
		t.Errorf("List = %+v, %v", items, err)
	}
	resp, err := http.Get(url + "/v1/kv/a%2F1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "uno" || resp.Header.Get("ETag") != `"2"` || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("GET: %q, headers %v", b, resp.Header)
	}
	if idx, err := c.Delete(ctx, "a/1"); err != nil || idx != 4 {
		t.Errorf("Delete = %d, %v", idx, err)
	}
	if _, err := c.Get(ctx, "a/1", ""); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if n.Index() != 4 {
		t.Errorf("index %d, want 4", n.Index())
	}
}

func TestConditions(t *testing.T) {
	n, c, _ := start(t, 0)
	ctx := context.Background()
	do := func(w *client.Write) error {
		defer w.Close()
		_, err := w.Do(ctx)
		return err
	}
	var ce *client.ConditionError
	if err := do(c.NewPut("k", []byte("a")).IfAbsent()); err != nil {
		t.Fatal(err)
	}
	if err := do(c.NewPut("k", []byte("b")).IfAbsent()); !errors.As(err, &ce) || ce.ModRevision != 1 || ce.Version != 1 {
		t.Errorf("create over a key: %v", err)
	}
	if err := do(c.NewPut("k", []byte("c")).IfRevision(2)); !errors.As(err, &ce) {
		t.Errorf("stale revision: %v", err)
	}
	if err := do(c.NewDelete("k").IfRevision(1)); err != nil {
		t.Errorf("delete at its revision: %v", err)
	}
	// A failed condition spends no index here (the server's does).
	if n.Index() != 2 {
		t.Errorf("index %d, want 2", n.Index())
	}
}

func TestStatus(t *testing.T) {
	n, c, url := start(t, 3)
	n.SetTerm(7)
	n.SetIndex(5)
	ctx := context.Background()
	st, err := c.Status(ctx, url)
	// A leader names itself, by the address it was asked at.
	if err != nil || st.ID != 3 || st.State != "leader" || st.Term != 7 || st.Leader == nil || *st.Leader != 3 ||
		st.LeaderHTTP == nil || "http://"+*st.LeaderHTTP != url || st.CommitIndex != 5 || st.Peers == nil {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	n.EditStatus(nil, fakenode.Follows(1, "x:1"), func(st *client.Status) { st.Term = 8 })
	var got []string
	for range 4 {
		st, err := c.Status(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		lh := "-"
		if st.LeaderHTTP != nil {
			lh = *st.LeaderHTTP
		}
		got = append(got, st.State+" "+itoa(int(st.Term))+" "+itoa(int(*st.Leader))+" "+lh)
	}
	host := strings.TrimPrefix(url, "http://")
	want := []string{"leader 7 3 " + host, "follower 7 1 x:1", "leader 8 3 " + host, "leader 8 3 " + host}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("status sequence %q, want %q", got, want)
	}
	if n.StatusRequests() != 5 {
		t.Errorf("%d status requests, want 5", n.StatusRequests())
	}
	n.EditStatus(fakenode.Follows(1, ""))
	if st, err := c.Status(ctx, url); err != nil || st.LeaderHTTP != nil {
		t.Errorf("a follower that does not know where its leader is: %+v, %v", st, err)
	}
}

// TestFailuresAndRecording: Fail spares the status; Intercept sees each
// request with its count; every request is recorded with its answer.
func TestFailuresAndRecording(t *testing.T) {
	n, c, url := start(t, 0)
	ctx := context.Background()
	n.Fail(http.StatusServiceUnavailable)
	if _, err := c.Put(ctx, "k", []byte("v")); !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("Put to a failing node: %v", err)
	}
	if _, err := c.Status(ctx, url); err != nil {
		t.Errorf("status of a failing node: %v", err)
	}
	n.Intercept(func(r fakenode.Request) *fakenode.Answer {
		if r.Key == "k" && r.N == 2 {
			return &fakenode.Answer{Code: http.StatusTeapot, Body: map[string]string{"error": "short and stout"}}
		}
		return nil
	})
	if _, err := c.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	var apiErr *client.APIError
	if _, err := c.Get(ctx, "k", "stale"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusTeapot || apiErr.Message != "short and stout" {
		t.Errorf("intercepted Get: %v", err)
	}
	rs := n.Requests()
	if len(rs) != 4 {
		t.Fatalf("%d requests recorded: %+v", len(rs), rs)
	}
	r := rs[0]
	if r.Method != http.MethodPut || r.Key != "k" || r.Body != "v" || r.Header.Get("Request-Id") == "" || r.Code != 503 || r.N != 0 {
		t.Errorf("first request %+v", r)
	}
	if r := rs[3]; r.Method != http.MethodGet || r.RawQuery != "consistency=stale" || r.Code != http.StatusTeapot || r.N != 2 {
		t.Errorf("last request %+v", r)
	}
	if rs[1].Path != "/v1/status" || rs[2].Code != http.StatusOK {
		t.Errorf("requests %+v", rs)
	}
}

// TestHoldAndLatency: a held request is recorded at once and lasts until
// the client gives up; latency delays kv requests only.
func TestHoldAndLatency(t *testing.T) {
	n := fakenode.New(0)
	url := n.Serve(t)
	c, err := client.New([]string{url}, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n.Intercept(func(r fakenode.Request) *fakenode.Answer { return &fakenode.Answer{Hold: true} })
	if _, err := c.Status(context.Background(), url); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("held status: %v", err)
	}
	if n.StatusRequests() != 1 {
		t.Errorf("held status not counted")
	}
	n.Intercept(nil)
	const latency = 300 * time.Millisecond
	n.SetLatency(latency)
	slow, err := client.New([]string{url}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	start := time.Now()
	if _, err := slow.Status(context.Background(), url); err != nil || time.Since(start) >= latency {
		t.Errorf("status took %v (%v): latency is for kv requests", time.Since(start), err)
	}
	start = time.Now()
	if _, err := slow.Put(context.Background(), "k", nil); err != nil || time.Since(start) < latency {
		t.Errorf("put took %v (%v), want at least the latency", time.Since(start), err)
	}
}

func TestAdmin(t *testing.T) {
	n, c, url := start(t, 2)
	n.SetTerm(4)
	n.SetIndex(12)
	ctx := context.Background()
	if s, err := c.Snapshot(ctx, url); err != nil || s != (client.SnapshotInfo{Index: 12, Term: 4}) {
		t.Errorf("Snapshot = %+v, %v", s, err)
	}
	if to, err := c.TransferLeader(ctx, client.AnyNode); err != nil || to != 2 {
		t.Errorf("transfer to anyone = %d, %v", to, err)
	}
	n.SetTransferTarget(1)
	if to, err := c.TransferLeader(ctx, client.AnyNode); err != nil || to != 1 {
		t.Errorf("transfer to anyone = %d, %v", to, err)
	}
	if to, err := c.TransferLeader(ctx, 9); err != nil || to != 9 {
		t.Errorf("transfer to 9 without a membership = %d, %v", to, err)
	}
	n.SetMembers(client.Members{Members: []client.Member{{ID: 2, Role: "voter"}}})
	if m, err := c.AddMember(ctx, client.NewMember{ID: 3, RaftAddr: "tcp://h:1", HTTPAddr: "h:2"}); err != nil ||
		len(m.Members) != 2 || m.Members[1].Role != "learner" || m.ConfigIndex != 13 {
		t.Errorf("AddMember = %+v, %v", m, err)
	}
	var apiErr *client.APIError
	if _, err := c.TransferLeader(ctx, 9); !errors.As(err, &apiErr) || apiErr.Status != 400 || !strings.Contains(apiErr.Message, "not a member") {
		t.Errorf("transfer to a stranger: %v", err)
	}
	if m, err := c.PromoteMember(ctx, 3); err != nil || m.Members[1].Role != "voter" || m.ConfigIndex != 14 {
		t.Errorf("PromoteMember = %+v, %v", m, err)
	}
	if m, err := c.RemoveMember(ctx, 2); err != nil || len(m.Members) != 1 || m.Members[0].ID != 3 {
		t.Errorf("RemoveMember = %+v, %v", m, err)
	}
	if m, err := c.Members(ctx, false); err != nil || len(m.Members) != 1 || m.ConfigIndex != 15 {
		t.Errorf("Members = %+v, %v", m, err)
	}
	n.SetTxnResults(json.RawMessage(`{"op":"get","key":"k","found":false}`))
	if a, err := c.Txn(ctx, []byte(`{}`)); err != nil || !a.Succeeded || a.Revision != 16 || len(a.Results) != 1 {
		t.Errorf("Txn = %+v, %v", a, err)
	}
}

func TestWatch(t *testing.T) {
	n, c, _ := start(t, 0)
	n.SetWatch(5, client.WatchEvent{Type: "progress", Revision: 0},
		client.WatchEvent{Type: "put", Revision: 1, Item: client.Item{Key: "k", Value: []byte("\xff"), CreateRevision: 1, ModRevision: 1, Version: 1}},
		client.WatchEvent{Type: "delete", Revision: 2, Item: client.Item{Key: "k", ModRevision: 2}})
	var got []client.WatchEvent
	err := c.Watch(context.Background(), "k", false, 0, func(ev client.WatchEvent) error {
		got = append(got, ev)
		return nil
	})
	var ce *client.CompactedError
	if !errors.As(err, &ce) || ce.CompactRevision != 5 {
		t.Errorf("Watch ended with %v, want compacted at 5", err)
	}
	if len(got) != 3 || got[0].Type != "progress" || got[1].Type != "put" || string(got[1].Item.Value) != "\xff" ||
		got[2].Type != "delete" || got[2].Revision != 2 {
		t.Errorf("events %+v", got)
	}

	// Without a compaction the stream stays open, as the server's does.
	n.SetWatch(0, client.WatchEvent{Type: "progress", Revision: 3})
	ctx, cancel := context.WithCancel(context.Background())
	err = c.Watch(ctx, "k", false, 0, func(ev client.WatchEvent) error {
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("open watch: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	n, _, url := start(t, 0)
	get := func() (int, string) {
		resp, err := http.Get(url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(); code != http.StatusNotFound {
		t.Errorf("metrics without pages: %d", code)
	}
	n.SetMetrics("one", "two")
	var got []string
	for range 3 {
		_, page := get()
		got = append(got, page)
	}
	if strings.Join(got, ",") != "one,two,two" {
		t.Errorf("pages %q", got)
	}
}
