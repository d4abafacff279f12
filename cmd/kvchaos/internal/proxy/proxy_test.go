package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoServer echoes every line back and counts what it received.
type echoServer struct {
	ln       net.Listener
	accepted atomic.Int64
	received atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex // guards conns
	conns    []net.Conn
}

func newEchoServer(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer c.Close()
				buf := make([]byte, 1024)
				for {
					n, err := c.Read(buf)
					s.received.Add(int64(n))
					if n > 0 {
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := Listen("127.0.0.1:0", target, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends line and expects it echoed within a second.
func roundTrip(c net.Conn, line string) error {
	c.SetDeadline(time.Now().Add(time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if got != line+"\n" {
		return errors.New("echo mismatch: " + got)
	}
	return nil
}

// expectClosed waits for the proxy to close c (EOF or reset).
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("connection still open (read err %v)", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{Pass: "pass", Drop: "drop", Blackhole: "blackhole", Mode(9): "mode(9)"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", int32(m), got, want)
		}
	}
}

func TestPassForwardsBothWays(t *testing.T) {
	srv := newEchoServer(t)
	p := newProxy(t, srv.ln.Addr().String())
	if p.Target() != srv.ln.Addr().String() || p.Mode() != Pass {
		t.Fatalf("Target %q Mode %v", p.Target(), p.Mode())
	}
	c := dial(t, p.Addr())
	for _, line := range []string{"hello", "world", string(make([]byte, 40000))} {
		if err := roundTrip(c, line); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	}
	// Switching to the mode it is already in changes nothing.
	p.SetMode(Pass)
	if err := roundTrip(c, "again"); err != nil {
		t.Fatal(err)
	}
	if p.Discarded() != 0 {
		t.Fatalf("Discarded = %d in pass mode", p.Discarded())
	}
}

func TestDropClosesAndRefuses(t *testing.T) {
	srv := newEchoServer(t)
	p := newProxy(t, srv.ln.Addr().String())
	c := dial(t, p.Addr())
	if err := roundTrip(c, "before"); err != nil {
		t.Fatal(err)
	}
	p.SetMode(Drop)
	expectClosed(t, c)
	waitFor(t, "no connections held", func() bool { return p.Conns() == 0 })

	// New connections are accepted by the kernel and closed at once, and
	// never reach the target.
	before := srv.accepted.Load()
	c2 := dial(t, p.Addr())
	io.WriteString(c2, "lost\n")
	expectClosed(t, c2)
	if got := srv.accepted.Load(); got != before {
		t.Fatalf("target accepted %d connections while dropped", got-before)
	}

	p.SetMode(Pass)
	if err := roundTrip(dial(t, p.Addr()), "after"); err != nil {
		t.Fatalf("after heal: %v", err)
	}
}

func TestBlackholeDiscardsThenHeals(t *testing.T) {
	srv := newEchoServer(t)
	p := newProxy(t, srv.ln.Addr().String())
	lossy := dial(t, p.Addr()) // will lose bytes
	quiet := dial(t, p.Addr()) // idle during the black hole
	for _, c := range []net.Conn{lossy, quiet} {
		if err := roundTrip(c, "warm"); err != nil {
			t.Fatal(err)
		}
	}
	received := srv.received.Load()
	accepted := srv.accepted.Load()

	p.SetMode(Blackhole)
	if _, err := io.WriteString(lossy, "into the void\n"); err != nil {
		t.Fatal(err)
	}
	// A connection opened during the black hole is accepted and held.
	held := dial(t, p.Addr())
	if _, err := io.WriteString(held, "held\n"); err != nil {
		t.Fatal(err)
	}
	want := int64(len("into the void\n") + len("held\n"))
	waitFor(t, "bytes discarded", func() bool { return p.Discarded() == want })
	if got := srv.received.Load(); got != received {
		t.Fatalf("target received %d bytes through a black hole", got-received)
	}
	if got := srv.accepted.Load(); got != accepted {
		t.Fatalf("target saw %d new connections through a black hole", got-accepted)
	}
	// Nothing comes back either.
	lossy.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := lossy.Read(make([]byte, 64)); n != 0 || err == nil {
		t.Fatalf("read through black hole: %d bytes, %v", n, err)
	}
	lossy.SetReadDeadline(time.Time{})

	p.SetMode(Pass)
	// Streams with a hole in them are cut; the untouched one goes on.
	expectClosed(t, lossy)
	expectClosed(t, held)
	if err := roundTrip(quiet, "still here"); err != nil {
		t.Fatalf("idle connection after heal: %v", err)
	}
	if err := roundTrip(dial(t, p.Addr()), "new"); err != nil {
		t.Fatalf("new connection after heal: %v", err)
	}
}

func TestBlackholeToDropClosesHeld(t *testing.T) {
	srv := newEchoServer(t)
	p := newProxy(t, srv.ln.Addr().String())
	p.SetMode(Blackhole)
	held := dial(t, p.Addr())
	waitFor(t, "connection held", func() bool { return p.Conns() == 1 })
	p.SetMode(Drop)
	expectClosed(t, held)
}

func TestTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	p := newProxy(t, addr)
	expectClosed(t, dial(t, p.Addr()))
}

func TestCloseEndsEverything(t *testing.T) {
	srv := newEchoServer(t)
	p, err := Listen("127.0.0.1:0", srv.ln.Addr().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	if err := roundTrip(c, "x"); err != nil {
		t.Fatal(err)
	}
	p.SetMode(Blackhole)
	held := dial(t, p.Addr())
	waitFor(t, "both connections held", func() bool { return p.Conns() == 2 })
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	expectClosed(t, c)
	expectClosed(t, held)
	if _, err := net.DialTimeout("tcp", p.Addr(), 200*time.Millisecond); err == nil {
		t.Fatal("proxy still accepts after Close")
	}
}

func TestListenBadAddress(t *testing.T) {
	if _, err := Listen("256.0.0.1:0", "127.0.0.1:1", nil); err == nil {
		t.Fatal("Listen on a bad address succeeded")
	}
}
