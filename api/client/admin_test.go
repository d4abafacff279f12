package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestTransferLeader(t *testing.T) {
	var mu sync.Mutex // guards bodies
	var bodies []string
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/v1/cluster/transfer-leader" {
			http.Error(w, "wrong route "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		switch string(b) {
		case `{"to":9}`:
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"node 9 is not a member of the cluster"}`)
		case `{"to":3}`:
			io.WriteString(w, `{"leader":3}`)
		case ``:
			io.WriteString(w, `{"leader":1}`)
		default:
			io.WriteString(w, `{"chief":0}`)
		}
	}))
	var hits atomic.Int64
	unavailable := newServer(t, statusHandler(http.StatusServiceUnavailable, &hits))
	c := newClient(t, 2*time.Second, unavailable.URL, srv.URL)
	ctx := context.Background()

	if l, err := c.TransferLeader(ctx, 3); err != nil || l != 3 {
		t.Errorf("TransferLeader(3) = %d, %v", l, err)
	}
	if hits.Load() != 1 {
		t.Errorf("503 endpoint hit %d times, want 1 (then failover)", hits.Load())
	}
	if l, err := c.TransferLeader(ctx, AnyNode); err != nil || l != 1 {
		t.Errorf("TransferLeader(AnyNode) = %d, %v", l, err)
	}
	var apiErr *APIError
	if _, err := c.TransferLeader(ctx, 9); !errors.As(err, &apiErr) || apiErr.Status != 400 || !strings.Contains(err.Error(), "not a member") {
		t.Errorf("TransferLeader(9) error %v, want the 400", err)
	}
	if _, err := c.TransferLeader(ctx, 0); err == nil || !strings.Contains(err.Error(), "no leader") {
		t.Errorf("answer without a leader: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{`{"to":3}`, ``, `{"to":9}`, `{"to":0}`}; strings.Join(bodies, "|") != strings.Join(want, "|") {
		t.Errorf("bodies %q, want %q", bodies, want)
	}
}

func TestSnapshot(t *testing.T) {
	answer := func(code int, body string) string {
		return newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.URL.Path != "/v1/admin/snapshot" {
				http.Error(w, "wrong route", http.StatusNotFound)
				return
			}
			w.WriteHeader(code)
			io.WriteString(w, body)
		})).URL
	}
	good := answer(200, `{"index":120,"term":3}`)
	unavailable := answer(503, `{"error":"no leader"}`)
	c := newClient(t, 2*time.Second, unavailable, good)
	ctx := context.Background()

	if s, err := c.Snapshot(ctx, good); err != nil || s != (SnapshotInfo{Index: 120, Term: 3}) {
		t.Errorf("Snapshot = %+v, %v", s, err)
	}
	// No failover: the node asked is the one that must snapshot.
	var apiErr *APIError
	if _, err := c.Snapshot(ctx, unavailable); !errors.As(err, &apiErr) || apiErr.Status != 503 || errors.Is(err, ErrUnavailable) {
		t.Errorf("Snapshot of a 503 node: %v, want the bare 503", err)
	}
	for _, bad := range []string{`{"index":1}`, `{"term":1}`, `nope`} {
		if _, err := c.Snapshot(ctx, answer(200, bad)); err == nil {
			t.Errorf("answer %s accepted", bad)
		}
	}
	if _, err := c.Snapshot(ctx, "ftp://x:1"); err == nil {
		t.Error("bad endpoint accepted")
	}
}

// backupServer serves data as a backup, announcing size bytes (0: the
// length of data), in chunks of chunk bytes every pause, then stalls for
// stall before ending.
type backupServer struct {
	data  []byte
	size  int
	chunk int
	pause time.Duration
	stall time.Duration
	hits  atomic.Int64
}

func (b *backupServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.hits.Add(1)
	if r.Method != http.MethodGet || r.URL.Path != "/v1/admin/backup" {
		http.Error(w, "wrong route", http.StatusNotFound)
		return
	}
	size := b.size
	if size == 0 {
		size = len(b.data)
	}
	w.Header().Set("Content-Length", strconv.Itoa(size))
	w.Header().Set("X-Raftkv-Snapshot-Index", "42")
	w.Header().Set("X-Raftkv-Snapshot-Term", "7")
	chunk := b.chunk
	if chunk == 0 {
		chunk = len(b.data)
	}
	for rest := b.data; len(rest) > 0; {
		n := min(chunk, len(rest))
		w.Write(rest[:n])
		w.(http.Flusher).Flush()
		rest = rest[n:]
		if b.pause > 0 {
			time.Sleep(b.pause) // pacing a slow stream, not synchronisation
		}
	}
	if b.stall > 0 {
		select {
		case <-r.Context().Done():
		case <-time.After(b.stall):
		}
	}
}

func TestBackup(t *testing.T) {
	data := bytes.Repeat([]byte("snapshot bytes "), 1000)
	ctx := context.Background()

	t.Run("failover then stream", func(t *testing.T) {
		var hits atomic.Int64
		unavailable := newServer(t, statusHandler(http.StatusServiceUnavailable, &hits))
		good := newServer(t, &backupServer{data: data})
		c := newClient(t, 2*time.Second, deadAddr(t), unavailable.URL, good.URL)
		var out bytes.Buffer
		info, err := c.Backup(ctx, &out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), data) || info != (BackupInfo{Endpoint: good.URL, Index: 42, Term: 7, Bytes: int64(len(data))}) {
			t.Errorf("info %+v, %d bytes out", info, out.Len())
		}
		if hits.Load() != 1 || c.Current() != good.URL {
			t.Errorf("503 hits %d, current %s", hits.Load(), c.Current())
		}
	})

	t.Run("slow but steady outlasts the timeout", func(t *testing.T) {
		srv := newServer(t, &backupServer{data: data, chunk: len(data) / 8, pause: 60 * time.Millisecond})
		c := newClient(t, 300*time.Millisecond, srv.URL)
		start := time.Now()
		var out bytes.Buffer
		if _, err := c.Backup(ctx, &out); err != nil || !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("slow backup: %v, %d bytes", err, out.Len())
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Logf("the stream took only %v; the test proves less than it should", d)
		}
	})

	t.Run("stalled", func(t *testing.T) {
		srv := newServer(t, &backupServer{data: data, size: 2 * len(data), stall: 10 * time.Second})
		c := newClient(t, 100*time.Millisecond, srv.URL)
		start := time.Now()
		info, err := c.Backup(ctx, io.Discard)
		if !errors.Is(err, ErrStalled) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			t.Fatalf("stalled backup: %v", err)
		}
		if info.Bytes != int64(len(data)) {
			t.Errorf("%d bytes before the stall, want %d", info.Bytes, len(data))
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("stall noticed after %v", d)
		}
	})

	t.Run("cut short", func(t *testing.T) {
		srv := newServer(t, &backupServer{data: data, size: len(data) + 100})
		c := newClient(t, 2*time.Second, srv.URL)
		if _, err := c.Backup(ctx, io.Discard); err == nil || !strings.Contains(err.Error(), "cut short") {
			t.Fatalf("short stream: %v", err)
		}
	})

	t.Run("error answer", func(t *testing.T) {
		var hits atomic.Int64
		srv := newServer(t, statusHandler(http.StatusNotImplemented, &hits))
		c := newClient(t, 2*time.Second, srv.URL)
		var apiErr *APIError
		if _, err := c.Backup(ctx, io.Discard); !errors.As(err, &apiErr) || apiErr.Status != 501 {
			t.Fatalf("501: %v", err)
		}
	})

	t.Run("all unavailable", func(t *testing.T) {
		c := newClient(t, 2*time.Second, deadAddr(t))
		if _, err := c.Backup(ctx, io.Discard); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("dead endpoint: %v", err)
		}
	})

	t.Run("canceled", func(t *testing.T) {
		srv := newServer(t, &backupServer{data: data, size: 2 * len(data), stall: 10 * time.Second})
		c := newClient(t, 5*time.Second, srv.URL)
		ctx, cancel := context.WithCancel(ctx)
		w := &cancelAfter{n: len(data), cancel: cancel}
		if _, err := c.Backup(ctx, w); !errors.Is(err, context.Canceled) || errors.Is(err, ErrStalled) {
			t.Fatalf("canceled backup: %v", err)
		}
	})
}

// cancelAfter cancels once n bytes have been written to it.
type cancelAfter struct {
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.n -= len(p)
	if c.n <= 0 {
		c.cancel()
	}
	return len(p), nil
}

func TestStatusSnapshotFields(t *testing.T) {
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":1,"state":"follower","term":2,"leader":0,"leader_http":"h:1","commit_index":900,
			"applied_index":899,"last_log_index":901,"first_log_index":801,"snapshot_index":800,"snapshot_term":2,
			"log_bytes":12897484,"peers":[]}`)
	}))
	st, err := newClient(t, time.Second, srv.URL).Status(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if st.FirstLogIndex != 801 || st.SnapshotIndex != 800 || st.SnapshotTerm != 2 || st.LogBytes != 12897484 || st.LastLogIndex != 901 {
		t.Errorf("Status = %+v", st)
	}
}
