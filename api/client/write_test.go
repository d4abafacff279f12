package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// idRecorder answers writes like the server and records each Request-Id
// it receives (an empty string for none).
type idRecorder struct {
	mu    sync.Mutex // guards ids
	ids   []string
	code  int  // answer code; 0 means 200 with an index
	drop  bool // close the connection without answering
	index atomic.Uint64
}

func (r *idRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	io.Copy(io.Discard, req.Body)
	r.mu.Lock()
	r.ids = append(r.ids, req.Header.Get(RequestIDHeader))
	r.mu.Unlock()
	switch {
	case r.drop:
		// The request arrived; the answer never comes: as if the node died.
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	case r.code != 0:
		w.WriteHeader(r.code)
		io.WriteString(w, `{"error":"fake"}`)
	default:
		fmt.Fprintf(w, `{"index":%d}`, r.index.Add(1))
	}
}

func (r *idRecorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

func splitID(t *testing.T, id string) (string, uint64) {
	t.Helper()
	i := strings.LastIndexByte(id, ':')
	if i <= 0 {
		t.Fatalf("Request-Id %q is not <client-id>:<seq>", id)
	}
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil || seq == 0 {
		t.Fatalf("Request-Id %q: bad sequence number", id)
	}
	return id[:i], seq
}

func TestRequestIDOnEveryWrite(t *testing.T) {
	rec := &idRecorder{}
	srv := newServer(t, rec)
	c := newClient(t, 2*time.Second, srv.URL)
	ctx := context.Background()

	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(c.ClientID()) {
		t.Errorf("random client id %q, want 16 hex digits", c.ClientID())
	}
	if other := newClient(t, time.Second, srv.URL); other.ClientID() == c.ClientID() {
		t.Errorf("two clients share the id %q", c.ClientID())
	}
	writes := []func() error{
		func() error { _, err := c.Put(ctx, "a", []byte("1")); return err },
		func() error { _, err := c.Delete(ctx, "a"); return err },
		func() error { _, err := c.PutAt(ctx, srv.URL, "b", nil); return err },
		func() error { _, err := c.Put(ctx, "c", []byte("3")); return err },
	}
	for i, w := range writes {
		if err := w(); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	// Reads carry no id.
	if _, err := c.GetAt(ctx, srv.URL, "a", ""); err != nil {
		t.Fatal(err)
	}
	ids := rec.got()
	if len(ids) != len(writes)+1 || ids[len(ids)-1] != "" {
		t.Fatalf("ids %q: want one per write and none on the read", ids)
	}
	for i, id := range ids[:len(writes)] {
		client, seq := splitID(t, id)
		if client != c.ClientID() || seq != uint64(i+1) {
			t.Errorf("write %d sent %q, want %s:%d", i, id, c.ClientID(), i+1)
		}
	}
}

func TestWithClientID(t *testing.T) {
	long := strings.Repeat("x", MaxClientIDBytes)
	tests := []struct {
		id      string
		wantErr bool
	}{
		{"app-1", false},
		{"host:pid", false}, // the server splits at the last colon
		{long, false},
		{long + "y", true},
		{"two words", true},
		{"tab\there", true},
		{"new\nline", true},
		{"é", true},
		{"nul\x00", true},
	}
	for _, tt := range tests {
		rec := &idRecorder{}
		srv := newServer(t, rec)
		c, err := New([]string{srv.URL}, time.Second, WithClientID(tt.id))
		if tt.wantErr {
			if err == nil {
				c.Close()
				t.Errorf("WithClientID(%q) accepted", tt.id)
			}
			continue
		}
		if err != nil {
			t.Errorf("WithClientID(%q): %v", tt.id, err)
			continue
		}
		if _, err := c.Put(context.Background(), "k", []byte("v")); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if ids := rec.got(); len(ids) != 1 || ids[0] != tt.id+":1" || c.ClientID() != tt.id {
			t.Errorf("WithClientID(%q): sent %q, ClientID %q", tt.id, ids, c.ClientID())
		}
	}
	// "" keeps the random id.
	c, err := New([]string{"h:1"}, time.Second, WithClientID(""))
	if err != nil || len(c.ClientID()) != 16 {
		t.Fatalf("WithClientID(\"\"): %v, id %q", err, c.ClientID())
	}
	c.Close()
}

// TestRequestIDSameAcrossFailover sends one write through a refused
// connection, a 503 and a connection that dies after the request arrived:
// every attempt that reached a server carries the same id.
func TestRequestIDSameAcrossFailover(t *testing.T) {
	unavailable := &idRecorder{code: http.StatusServiceUnavailable}
	dropping := &idRecorder{drop: true}
	good := &idRecorder{}
	eps := []string{deadAddr(t), newServer(t, unavailable).URL, newServer(t, dropping).URL, newServer(t, good).URL}
	c := newClient(t, 5*time.Second, eps...)
	ctx := context.Background()

	for _, op := range []struct {
		name string
		call func() error
	}{
		{"put", func() error { _, err := c.Put(ctx, "k", []byte("v")); return err }},
		{"delete", func() error { _, err := c.Delete(ctx, "k"); return err }},
	} {
		c.next.Store(0) // start every write at the dead endpoint
		if err := op.call(); err != nil {
			t.Fatalf("%s with failover: %v", op.name, err)
		}
	}
	u, d, g := unavailable.got(), dropping.got(), good.got()
	if len(u) != 2 || len(d) != 2 || len(g) != 2 {
		t.Fatalf("attempts: 503 %q, dropped %q, good %q; want 2 each", u, d, g)
	}
	for i := range 2 {
		if u[i] == "" || u[i] != d[i] || d[i] != g[i] {
			t.Errorf("write %d: ids %q, %q, %q differ across its attempts", i, u[i], d[i], g[i])
		}
	}
	if _, s0 := splitID(t, g[0]); true {
		if _, s1 := splitID(t, g[1]); s1 <= s0 {
			t.Errorf("second write %q does not follow the first %q", g[1], g[0])
		}
	}
}

// TestBrokenConnectionFailover: a read, or a write with its id, moves on
// when the connection dies after the request was sent; an admin call,
// which carries no id, does not.
func TestBrokenConnectionFailover(t *testing.T) {
	dropping := &idRecorder{drop: true}
	good := &idRecorder{}
	c := newClient(t, 5*time.Second, newServer(t, dropping).URL, newServer(t, good).URL)
	ctx := context.Background()
	if _, err := c.Get(ctx, "k", ""); err != nil {
		t.Errorf("read after a dropped connection: %v", err)
	}
	c.next.Store(0)
	if _, err := c.TransferLeader(ctx, AnyNode); err == nil || errors.Is(err, ErrUnavailable) {
		t.Errorf("transfer after a dropped connection: %v, want the bare failure", err)
	}
	if n := len(good.got()); n != 1 {
		t.Errorf("good endpoint saw %d requests, want 1 (the read)", n)
	}
}

// TestWriteRetry retries one write by hand after a 504: both attempts
// carry one id, a closed Write refuses to send, the next write is newer.
func TestWriteRetry(t *testing.T) {
	rec := &idRecorder{code: http.StatusGatewayTimeout}
	srv := newServer(t, rec)
	c := newClient(t, 2*time.Second, srv.URL)
	ctx := context.Background()

	w := c.NewPut("k", []byte("v"))
	if _, err := w.Do(ctx); err == nil {
		t.Fatal("504 reported as success")
	}
	rec.mu.Lock()
	rec.code = 0
	rec.mu.Unlock()
	if idx, err := w.DoAt(ctx, srv.URL); err != nil || idx != 1 {
		t.Fatalf("retry: %d, %v", idx, err)
	}
	w.Close()
	w.Close() // idempotent
	if _, err := w.Do(ctx); !errors.Is(err, errWriteClosed) {
		t.Errorf("Do after Close: %v", err)
	}
	d := c.NewDelete("k")
	if _, err := d.Do(ctx); err != nil {
		t.Fatal(err)
	}
	d.Close()
	ids := rec.got()
	if len(ids) != 3 || ids[0] != w.RequestID() || ids[1] != w.RequestID() || ids[2] != d.RequestID() {
		t.Fatalf("ids %q; want %s twice then %s", ids, w.RequestID(), d.RequestID())
	}
	c1, s1 := splitID(t, ids[1])
	c2, s2 := splitID(t, ids[2])
	if c1 != c2 || s2 <= s1 {
		t.Errorf("after the retried write %q the next is %q", ids[1], ids[2])
	}
}

// sessionServer applies writes the way the real server does: per client
// id it keeps the highest sequence number applied and skips any write at
// or below it (still answering 200). It holds the first n writes until
// all n are in flight, then applies them in the reverse of their arrival
// order, the worst case of a leader batching concurrent proposals.
type sessionServer struct {
	n       int
	mu      sync.Mutex // guards every field below
	arrived int
	release []chan struct{} // release[i] lets the i-th arrival apply
	latest  map[string]uint64
	applied int
	overlap []string // client ids that had two writes in flight at once
	flight  map[string]bool
	last    string // the client id of the latest write
	failure string
}

func newSessionServer(n int) *sessionServer {
	s := &sessionServer{n: n, latest: map[string]uint64{}, flight: map[string]bool{}}
	for range n {
		s.release = append(s.release, make(chan struct{}))
	}
	return s
}

func (s *sessionServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	id := r.Header.Get(RequestIDHeader)
	i := strings.LastIndexByte(id, ':')
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	if i <= 0 || err != nil {
		http.Error(w, "bad Request-Id "+id, http.StatusBadRequest)
		return
	}
	client := id[:i]
	s.mu.Lock()
	s.last = client
	if s.flight[client] {
		s.overlap = append(s.overlap, client)
	}
	s.flight[client] = true
	ticket := s.arrived
	s.arrived++
	if ticket == s.n-1 {
		close(s.release[ticket]) // everyone is here: the last comer goes first
	}
	s.mu.Unlock()
	if ticket < s.n {
		select {
		case <-s.release[ticket]:
		case <-time.After(5 * time.Second):
			s.mu.Lock()
			s.failure = fmt.Sprintf("only %d of %d writes were ever in flight together", s.arrived, s.n)
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	if seq > s.latest[client] {
		s.latest[client] = seq
		s.applied++
	}
	delete(s.flight, client)
	if ticket > 0 && ticket < s.n {
		close(s.release[ticket-1])
	}
	s.mu.Unlock()
	fmt.Fprintf(w, `{"index":%d}`, seq)
}

// TestConcurrentWritesAllApplied: writes in flight together from one
// client each use a session of their own, so a server that applies them in
// any order skips none; afterwards a lone write uses the plain id again.
func TestConcurrentWritesAllApplied(t *testing.T) {
	const n = 8
	s := newSessionServer(n)
	srv := newServer(t, s)
	c := newClient(t, 10*time.Second, srv.URL)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := c.Put(context.Background(), fmt.Sprint("k", i), []byte("v")); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s.mu.Lock()
	applied, overlap, failure, sessions := s.applied, s.overlap, s.failure, len(s.latest)
	s.mu.Unlock()
	if failure != "" {
		t.Fatal(failure)
	}
	if applied != n || len(overlap) > 0 {
		t.Fatalf("%d of %d concurrent writes applied; ids with two writes in flight: %q", applied, n, overlap)
	}
	if sessions != n {
		t.Errorf("%d sessions for %d writes in flight", sessions, n)
	}
	if _, err := c.Put(context.Background(), "k", nil); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	last := s.last
	s.mu.Unlock()
	if last != c.ClientID() {
		t.Errorf("a lone write after the burst used %q, want the plain id %q", last, c.ClientID())
	}
}

func TestSessionPool(t *testing.T) {
	p := newSessionPool("id")
	for want := range uint64(3) {
		if got := p.acquire(); got != want {
			t.Fatalf("acquire = %d, want %d", got, want)
		}
	}
	p.release(2)
	p.release(0)
	for _, want := range []uint64{0, 2, 3} {
		if got := p.acquire(); got != want {
			t.Fatalf("acquire after releases = %d, want %d (lowest free first)", got, want)
		}
	}
	if p.name(0) != "id" || p.name(12) != "id-12" {
		t.Errorf("names %q, %q", p.name(0), p.name(12))
	}
	if max := p.name(^uint64(0)); len(max) > MaxClientIDBytes+21 {
		t.Errorf("lane suffix longer than documented: %q", max)
	}
}
