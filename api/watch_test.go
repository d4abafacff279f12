package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft/wire"
)

// openWatch opens a watch stream on ts; extra header name/value pairs.
func openWatch(t *testing.T, ts *httptest.Server, path string, header ...string) (<-chan sseEvent, *http.Response) {
	t.Helper()
	hdr := map[string]string{}
	for i := 0; i+1 < len(header); i += 2 {
		hdr[header[i]] = header[i+1]
	}
	c := openStream(t, ts.URL+path, hdr)
	return c.events, c.resp
}

func nextWatch(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case e, ok := <-ch:
		if !ok {
			t.Fatal("the watch stream ended")
		}
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return sseEvent{}
}

func wantEvent(t *testing.T, ch <-chan sseEvent, id, event, data string) {
	t.Helper()
	if e := nextWatch(t, ch); e.id != id || e.name != event || e.data != data {
		t.Fatalf("event {id %q, %q, %s}, want {id %q, %q, %s}", e.id, e.name, e.data, id, event, data)
	}
}

func watchServer(t *testing.T, n *storeNode, opts Options) (*httptest.Server, *Server) {
	srv := newTestServer(t, opts, n, n.st)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, srv
}

func TestWatch(t *testing.T) {
	n := newStoreNode(t)
	ts, _ := watchServer(t, n, Options{WatchProgress: time.Hour})
	h := n.handler(t)
	wantOK(t, serve(t, h, put("before")), 1, `"1"`)

	ch, resp := openWatch(t, ts, "/v1/watch/k")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	wantOK(t, serve(t, h, put("v2")), 2, `"2"`)
	other := put("x")
	other.target = "/v1/kv/k2"
	serve(t, h, other)
	del := put("")
	del.method, del.body = http.MethodDelete, nil
	serve(t, h, del)
	// From now: the write before the watch is not replayed; k2 is not k.
	wantEvent(t, ch, "1", "progress", `{"revision":1}`)
	wantEvent(t, ch, "2", "put", `{"key":"k","value":"v2","create_revision":1,"mod_revision":2,"version":2}`)
	wantEvent(t, ch, "4", "delete", `{"key":"k","create_revision":0,"mod_revision":4,"version":0}`)

	// A prefix watch replaying from revision 1.
	pch, _ := openWatch(t, ts, "/v1/watch/k?prefix=1&start_revision=1")
	for _, want := range []string{"0 progress", "1 put", "2 put", "3 put", "4 delete"} {
		e := nextWatch(t, pch)
		if e.id+" "+e.name != want {
			t.Fatalf("prefix replay: %s %s %s, want %s", e.id, e.name, e.data, want)
		}
	}
	// An empty prefix is every key.
	ach, _ := openWatch(t, ts, "/v1/watch/?prefix=1&start_revision=3")
	wantEvent(t, ach, "2", "progress", `{"revision":2}`)
	if e := nextWatch(t, ach); e.id != "3" || !strings.Contains(e.data, `"k2"`) {
		t.Fatalf("watch of every key from 3: %+v", e)
	}
	// Last-Event-ID resumes after it: no duplicate, no gap.
	rch, _ := openWatch(t, ts, "/v1/watch/k?prefix=1", "Last-Event-ID", "2")
	wantEvent(t, rch, "2", "progress", `{"revision":2}`)
	if e := nextWatch(t, rch); e.id != "3" {
		t.Fatalf("resume after 2 gave %+v, want revision 3 first", e)
	}
}

// A transaction's events share its revision; only the last carries the id,
// so a reconnect never skips the rest of it.
func TestWatchTransactionEvents(t *testing.T) {
	n := newStoreNode(t)
	ts, _ := watchServer(t, n, Options{WatchProgress: time.Hour})
	ch, _ := openWatch(t, ts, "/v1/watch/t?prefix=1")
	wantEvent(t, ch, "0", "progress", `{"revision":0}`)
	rec := serve(t, n.handler(t), txnRequestOf(`{"success":[{"op":"put","key":"t1","value":"a"},{"op":"put","key":"t2","value":"b"}]}`))
	decodeTxn(t, rec.Code, rec.Body.Bytes())
	if e := nextWatch(t, ch); e.id != "" || !strings.Contains(e.data, `"t1"`) {
		t.Fatalf("first event of the txn: %+v; want no id", e)
	}
	if e := nextWatch(t, ch); e.id != "1" || !strings.Contains(e.data, `"t2"`) {
		t.Fatalf("last event of the txn: %+v; want id 1", e)
	}
}

func TestWatchProgressAndClose(t *testing.T) {
	n := newStoreNode(t)
	ts, srv := watchServer(t, n, Options{WatchProgress: 20 * time.Millisecond})
	serve(t, n.handler(t), put("v"))
	ch, _ := openWatch(t, ts, "/v1/watch/other")
	wantEvent(t, ch, "1", "progress", `{"revision":1}`) // where it starts
	wantEvent(t, ch, "1", "progress", `{"revision":1}`) // and the ticker's
	srv.Close()
	for range ch {
	}
}

// restartedStoreNode is a storeNode whose store applied n writes of k and
// was then reopened, as after a restart: its history starts at n.
func restartedStoreNode(t *testing.T, n uint64) *storeNode {
	t.Helper()
	dir := t.TempDir()
	first := newStoreNodeIn(t, dir)
	for i := uint64(1); i <= n; i++ {
		if err := first.st.Apply([]wire.Entry{{Index: i, Term: 1, Data: kv.EncodeSet([]byte("k"), []byte("v"))}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.st.Close(); err != nil {
		t.Fatal(err)
	}
	node := newStoreNodeIn(t, dir)
	node.index = n
	return node
}

func TestWatchCompacted(t *testing.T) {
	n := restartedStoreNode(t, 3)
	ts, _ := watchServer(t, n, Options{WatchProgress: time.Hour})
	ch, _ := openWatch(t, ts, "/v1/watch/k?start_revision=2")
	wantEvent(t, ch, "", "compacted", `{"compact_revision":3}`)
	if _, ok := <-ch; ok {
		t.Fatal("the stream stayed open after compacted")
	}
}

func TestWatchBadRequests(t *testing.T) {
	n := newStoreNode(t)
	h := n.handler(t)
	for _, tt := range []struct {
		target, header, want string
	}{
		{"/v1/watch/k?start_revision=0", "", "start_revision"},
		{"/v1/watch/k?start_revision=x", "", "start_revision"},
		{"/v1/watch/k?prefix=maybe", "", "prefix"},
		{"/v1/watch/", "", "empty key"},
		{"/v1/watch/k", "nope", "Last-Event-ID"},
	} {
		r := request{method: http.MethodGet, target: tt.target, header: map[string]string{}}
		if tt.header != "" {
			r.header["Last-Event-ID"] = tt.header
		}
		rec := serve(t, h, r)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", tt.target, rec.Code)
			continue
		}
		if msg := errorMessage(t, rec); !strings.Contains(msg, tt.want) {
			t.Errorf("%s: %q does not mention %q", tt.target, msg, tt.want)
		}
	}
}
