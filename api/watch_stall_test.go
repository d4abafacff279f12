package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft/wire"
)

// stallingServer serves h with small socket send buffers, so a watcher
// that does not read blocks its handler after a few KiB rather than after
// the kernel's auto-tuned megabytes; what it costs once blocked is what
// these tests measure.
func stallingServer(tb testing.TB, h http.Handler) *httptest.Server {
	ts, _ := countingStallingServer(tb, h)
	return ts
}

// countingStallingServer is stallingServer, with the number of its
// requests being served.
func countingStallingServer(tb testing.TB, h http.Handler) (*httptest.Server, *atomic.Int64) {
	var serving atomic.Int64
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serving.Add(1)
		defer serving.Add(-1)
		h.ServeHTTP(w, r)
	}))
	ts.Listener = smallSendBuffers{ts.Listener}
	ts.Start()
	tb.Cleanup(ts.Close)
	return ts, &serving
}

type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

// openStalledWatchers opens n watches of every key that never read a
// byte, with small receive buffers, so the server's writes to them block.
// It returns a function that closes them.
func openStalledWatchers(tb testing.TB, ts *httptest.Server, n int) (closeAll func()) {
	return openStalledWatchersFrom(tb, ts, n, 0)
}

// openStalledWatchersFrom is openStalledWatchers from a start revision
// (0: from now).
func openStalledWatchersFrom(tb testing.TB, ts *httptest.Server, n int, start uint64) (closeAll func()) {
	tb.Helper()
	addr := strings.TrimPrefix(ts.URL, "http://")
	var conns []net.Conn
	closeAll = func() {
		for _, c := range conns {
			c.Close()
		}
	}
	tb.Cleanup(closeAll)
	for range n {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			tb.Fatal(err)
		}
		conns = append(conns, conn)
		if err := conn.(*net.TCPConn).SetReadBuffer(1024); err != nil {
			tb.Fatal(err)
		}
		if _, err := fmt.Fprintf(conn, "GET /v1/watch/?prefix=1&start_revision=%d HTTP/1.1\r\nHost: x\r\n\r\n", start); err != nil {
			tb.Fatal(err)
		}
	}
	return closeAll
}

func applySets(tb testing.TB, st *kv.Store, from uint64, n int, value []byte) {
	tb.Helper()
	for i := range uint64(n) {
		key := fmt.Appendf(nil, "k%d", (from+i)%1000)
		if err := st.Apply([]wire.Entry{{Index: from + i, Term: 1, Data: kv.EncodeSet(key, value)}}); err != nil {
			tb.Fatal(err)
		}
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestStalledWatchersHoldNothing: watchers that never read cost the apply
// path nothing (every write completes) and each pins no more than the one
// batch it is blocked writing, however large the values: they start from
// a full history, block on their first batch, and the writes after that
// trim those events from the history, so what closing the watchers frees
// is what they alone held.
func TestStalledWatchersHoldNothing(t *testing.T) {
	const watchers, writes = 16, 300
	value := bytes.Repeat([]byte("v"), 64<<10) // 300 of them fill the history's 16 MiB
	n := newStoreNode(t)
	srv := newTestServer(t, Options{WatchProgress: time.Hour}, n, n.st)
	ts, open := countingStallingServer(t, srv.Handler())
	applySets(t, n.st, 1, writes, value)
	first := compactedAt(t, ts) + 1
	closeWatchers := openStalledWatchersFrom(t, ts, watchers, first)
	waitFor(t, "the watches to reach the server", func() bool { return open.Load() == watchers })
	done := make(chan struct{})
	go func() {
		defer close(done)
		applySets(t, n.st, writes+1, writes, value)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("writes did not finish: stalled watchers hold up the apply path")
	}
	if c := compactedAt(t, ts); c < first+watchBatch {
		t.Fatalf("the history still holds revision %d, which the watchers' batches hold too (compacted at %d)", first+watchBatch, c)
	}
	pinning := heapInUse()
	closeWatchers()
	waitFor(t, "the stalled handlers to end", func() bool { return open.Load() == 0 })
	freed := int64(pinning) - int64(heapInUse())
	// They all started at one revision, so they hold the same one batch
	// (without the byte bound, 256 values: 16 MiB); and a little for the
	// store's background work.
	limit := int64(kv.MaxChangesBytes + len(value) + 4<<20)
	if freed > limit {
		t.Fatalf("closing %d stalled watchers freed %d MiB; want at most %d MiB (the one batch they hold)", watchers, freed>>20, limit>>20)
	}
	t.Logf("closing %d stalled watchers freed %d KiB", watchers, freed>>10)
}

// compactedAt is the revision below which the history was dropped.
func compactedAt(t *testing.T, ts *httptest.Server) uint64 {
	t.Helper()
	ch, _ := openWatch(t, ts, "/v1/watch/?prefix=1&start_revision=1")
	e := nextWatch(t, ch)
	var c struct {
		CompactRevision uint64 `json:"compact_revision"`
	}
	if e.name != "compacted" || json.Unmarshal([]byte(e.data), &c) != nil {
		t.Fatalf("a watch from revision 1 gave %+v; want compacted (the history is bounded)", e)
	}
	return c.CompactRevision
}

// BenchmarkApplyWithStalledWatchers compares the apply rate with and
// without watchers that never read: the ratio should be about 1.
func BenchmarkApplyWithStalledWatchers(b *testing.B) {
	for _, watchers := range []int{0, 64} {
		b.Run(fmt.Sprintf("watchers=%d", watchers), func(b *testing.B) {
			st, err := kv.Open(kv.Options{Dir: b.TempDir(), MemTableBytes: 8 << 20, BlockCacheBytes: 1 << 20,
				IndexCacheBytes: 1 << 20, Logger: quietLogger(), GCInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			srv := newTestServer(b, Options{WatchProgress: time.Hour}, newLeader(newFakeStore()), st)
			ts := stallingServer(b, srv.Handler())
			openStalledWatchers(b, ts, watchers)
			value := bytes.Repeat([]byte("v"), 256)
			// Enough to fill every watcher's socket buffers, so what
			// follows is the cost of watchers that are blocked.
			const fill = 2000
			applySets(b, st, 1, fill, value)
			b.ReportAllocs()
			b.ResetTimer()
			applySets(b, st, fill+1, b.N, value)
		})
	}
}
