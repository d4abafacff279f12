package api

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/logs"
)

// stallingServer serves h with small socket send buffers, so a watcher
// that does not read blocks its handler after a few KiB rather than after
// the kernel's auto-tuned megabytes; what it costs once blocked is what
// these tests measure.
func stallingServer(tb testing.TB, h http.Handler) *httptest.Server {
	ts := httptest.NewUnstartedServer(h)
	ts.Listener = smallSendBuffers{ts.Listener}
	ts.Start()
	tb.Cleanup(ts.Close)
	return ts
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
func openStalledWatchers(tb testing.TB, ts *httptest.Server, n int) {
	tb.Helper()
	addr := strings.TrimPrefix(ts.URL, "http://")
	for range n {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { conn.Close() })
		if err := conn.(*net.TCPConn).SetReadBuffer(1024); err != nil {
			tb.Fatal(err)
		}
		if _, err := fmt.Fprintf(conn, "GET /v1/watch/?prefix=1 HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			tb.Fatal(err)
		}
	}
}

func applySets(tb testing.TB, st *kv.Store, from uint64, n int, value []byte) {
	tb.Helper()
	for i := range uint64(n) {
		key := fmt.Appendf(nil, "k%d", (from+i)%1000)
		if err := st.Apply([]logs.Entry{{Index: from + i, Term: 1, Data: kv.EncodeSet(key, value)}}); err != nil {
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
// path nothing (every write completes) and hold no more than their own
// batch each; the history stays within its bound, so a watcher that asks
// for the start of it later is told it was compacted.
func TestStalledWatchersHoldNothing(t *testing.T) {
	const watchers, writes = 16, 12000
	value := bytes.Repeat([]byte("v"), 2048) // 24 MiB in all, past the history's 16 MiB
	without := heapGrowth(t, 0, writes, value)
	with := heapGrowth(t, watchers, writes, value)
	// Each blocked watcher holds at most the one batch it is writing.
	limit := int64(watchers * min(watchBatch*len(value), kv.MaxChangesBytes+len(value)))
	if with-without > limit {
		t.Fatalf("the heap grew %d MiB with %d stalled watchers and %d MiB without; want at most %d MiB more",
			with>>20, watchers, without>>20, limit>>20)
	}
	t.Logf("heap grew %d MiB over %d writes of %d B with %d stalled watchers, %d MiB without", with>>20, writes, len(value), watchers, without>>20)
}

// heapGrowth applies writes of value to a fresh store watched by the given
// number of stalled watchers, and returns how much the heap grew. The
// history must have been trimmed: a watch from revision 1 is compacted.
func heapGrowth(t *testing.T, watchers, writes int, value []byte) int64 {
	n := newStoreNode(t)
	srv := newTestServer(t, Options{WatchProgress: time.Hour}, n, n.st)
	ts := stallingServer(t, srv.Handler())
	before := heapInUse()
	openStalledWatchers(t, ts, watchers)
	done := make(chan struct{})
	go func() {
		defer close(done)
		applySets(t, n.st, 1, writes, value)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("writes did not finish: stalled watchers hold up the apply path")
	}
	grown := int64(heapInUse()) - int64(before)
	ch, _ := openWatch(t, ts, "/v1/watch/?prefix=1&start_revision=1")
	if e := nextWatch(t, ch); e.name != "compacted" {
		t.Fatalf("a watch from revision 1 after %d writes gave %+v; want compacted (the history is bounded)", writes, e)
	}
	return grown
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
