package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"
	zmqtransport "github.com/go-zeromq/zmq4/transport"
)

// zmq4 runs the ZMTP handshake with no deadline, never closes a connection
// whose handshake failed, and allocates whatever frame size a peer
// announces. We cannot change zmq4, but it lets a program register its own
// transport scheme, and every net.Conn it uses then comes from us. Our
// conns bound the handshake, close themselves when their socket's context
// ends, and on the inbox side refuse oversized frames before zmq4 allocates
// them.

// Scheme names registered with zmq4. Users still write tcp:// and ipc://;
// NewZMQ rewrites the endpoint.
const (
	schemeTCP = "raftkv-tcp"
	schemeIPC = "raftkv-ipc"
)

// handshakeFrameMax caps the frames of the handshake (the READY command
// carries a few bytes of metadata).
const handshakeFrameMax = 64 << 10

var registerOnce sync.Once

func registerSchemes() error {
	var err error
	registerOnce.Do(func() {
		err = errors.Join(
			zmq4.RegisterTransport(schemeTCP, guardedTransport{network: "tcp", base: zmqtransport.New("tcp")}),
			zmq4.RegisterTransport(schemeIPC, guardedTransport{network: "unix", base: zmqtransport.New("unix")}),
		)
	})
	return err
}

// zmqEndpoint maps a user endpoint (tcp://host:port, ipc://path) to our scheme.
func zmqEndpoint(ep string) (string, error) {
	scheme, addr, ok := strings.Cut(ep, "://")
	if !ok || addr == "" {
		return "", fmt.Errorf("endpoint %q: want tcp://host:port or ipc://path", ep)
	}
	switch scheme {
	case "tcp":
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", fmt.Errorf("endpoint %q: %w", ep, err)
		}
		return schemeTCP + "://" + addr, nil
	case "ipc":
		return schemeIPC + "://" + addr, nil
	}
	return "", fmt.Errorf("endpoint %q: unsupported scheme %q (want tcp or ipc)", ep, scheme)
}

// connPolicy travels to our transport in the socket's context (zmq4 passes
// the socket's context to Dial and Listen), so each ZMQ instance keeps its
// own limits although the scheme registration is process-wide.
type connPolicy struct {
	handshakeTimeout time.Duration
	maxFrame         uint64 // inbound frame cap after the handshake; 0: stop watching
	oversized        *atomic.Uint64
	handshakeFails   *atomic.Uint64
}

type policyKey struct{}

func withPolicy(ctx context.Context, p *connPolicy) context.Context {
	return context.WithValue(ctx, policyKey{}, p)
}

func policyFrom(ctx context.Context) *connPolicy {
	if p, ok := ctx.Value(policyKey{}).(*connPolicy); ok {
		return p
	}
	return &connPolicy{handshakeTimeout: time.Second, oversized: new(atomic.Uint64), handshakeFails: new(atomic.Uint64)}
}

type guardedTransport struct {
	network string
	base    zmqtransport.Transport
}

func (g guardedTransport) Dial(ctx context.Context, d zmqtransport.Dialer, addr string) (net.Conn, error) {
	c, err := d.DialContext(ctx, g.network, addr)
	if err != nil {
		return nil, err
	}
	p := *policyFrom(ctx)
	p.maxFrame = 0 // a PUSH never reads after the handshake
	return newGuardedConn(ctx, c, &p), nil
}

func (g guardedTransport) Listen(ctx context.Context, addr string) (net.Listener, error) {
	l, err := net.Listen(g.network, addr)
	if err != nil {
		return nil, err
	}
	return guardedListener{Listener: l, ctx: ctx, policy: policyFrom(ctx)}, nil
}

func (g guardedTransport) Addr(ep string) (string, error) { return g.base.Addr(ep) }

type guardedListener struct {
	net.Listener
	ctx    context.Context
	policy *connPolicy
}

func (l guardedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newGuardedConn(l.ctx, c, l.policy), nil
}

// errFrameTooLarge is returned by Read when a peer announces a frame past
// the cap; zmq4 then drops the connection without allocating the frame.
var errFrameTooLarge = errors.New("zmq frame larger than the configured maximum")

// guardedConn wraps every connection our sockets use.
type guardedConn struct {
	net.Conn
	policy    *connPolicy
	hsDone    atomic.Bool
	closeOnce sync.Once

	mu      sync.Mutex // guards hsTimer and stopCtx, set once in newGuardedConn
	hsTimer *time.Timer
	stopCtx func() bool

	// scan is only touched by Read, which zmq4 calls from one goroutine
	// at a time (the handshake, then the connection's reader).
	scan frameScanner
}

func newGuardedConn(ctx context.Context, c net.Conn, p *connPolicy) *guardedConn {
	g := &guardedConn{Conn: c, policy: p}
	g.scan.reset(p.maxFrame)
	// The callbacks below may fire at once; holding mu makes them wait
	// until both fields are set.
	g.mu.Lock()
	defer g.mu.Unlock()
	// Closing unblocks the handshake wherever it is stuck and releases
	// connections zmq4 abandons after a failed handshake.
	g.hsTimer = time.AfterFunc(p.handshakeTimeout, func() {
		if !g.hsDone.Load() {
			p.handshakeFails.Add(1)
			g.Close()
		}
	})
	// zmq4 can add a connection to a socket that is already closing; tie
	// every connection's life to its socket's context so none outlives it.
	g.stopCtx = context.AfterFunc(ctx, func() { g.Close() })
	return g
}

func (g *guardedConn) Read(b []byte) (int, error) {
	n, err := g.Conn.Read(b)
	if g.scan.state == scanIdle {
		return n, err
	}
	switch g.scan.feed(b[:n]) {
	case scanHandshakeDone:
		g.hsDone.Store(true)
		g.mu.Lock()
		g.hsTimer.Stop()
		g.mu.Unlock()
	case scanTooLarge:
		g.policy.oversized.Add(1)
		g.Close()
		return 0, errFrameTooLarge
	}
	if err != nil && !g.hsDone.Load() {
		// zmq4 does not close a connection whose handshake failed.
		g.Close()
	}
	return n, err
}

func (g *guardedConn) Close() error {
	err := net.ErrClosed
	g.closeOnce.Do(func() {
		g.mu.Lock()
		g.hsTimer.Stop()
		g.stopCtx()
		g.mu.Unlock()
		err = g.Conn.Close()
	})
	return err
}

// frameScanner follows the ZMTP 3 byte stream as zmq4 reads it: a 64-byte
// greeting, one command (READY, under the NULL mechanism) that ends the
// handshake, then frames of messages. It only needs frame boundaries and
// sizes: flags bit 0 is MORE, bit 1 LONG (8-byte size, else 1 byte).
type frameScanner struct {
	state    scanState
	need     int    // bytes left in the greeting or the size field
	size     uint64 // size being read, then body bytes left
	more     bool   // current frame is followed by another of the same message
	msgTotal uint64 // bytes of the current message so far
	inHS     bool   // still in the handshake command
	maxMsg   uint64 // cap of one message after the handshake; 0: stop scanning then
}

type scanState uint8

const (
	scanGreeting scanState = iota
	scanFlags
	scanSize
	scanBody
	scanIdle
)

type scanEvent uint8

const (
	scanNone scanEvent = iota
	scanHandshakeDone
	scanTooLarge
)

const zmtpGreetingLen = 64

func (s *frameScanner) reset(maxMsg uint64) {
	*s = frameScanner{state: scanGreeting, need: zmtpGreetingLen, inHS: true, maxMsg: maxMsg}
}

// feed consumes bytes read from the peer. The size of each message (all its
// frames) is checked as soon as it is known, before zmq4 allocates it.
func (s *frameScanner) feed(b []byte) scanEvent {
	ev := scanNone
	for len(b) > 0 && s.state != scanIdle {
		switch s.state {
		case scanGreeting:
			k := min(len(b), s.need)
			s.need -= k
			b = b[k:]
			if s.need == 0 {
				s.state = scanFlags
			}
		case scanFlags:
			f := b[0]
			b = b[1:]
			s.more = f&0x01 != 0
			s.need = 1
			if f&0x02 != 0 {
				s.need = 8
			}
			s.size = 0
			s.state = scanSize
		case scanSize:
			s.size = s.size<<8 | uint64(b[0])
			b = b[1:]
			if s.need--; s.need > 0 {
				continue
			}
			limit := s.maxMsg
			if s.inHS {
				limit = handshakeFrameMax
			}
			if s.size > limit || s.msgTotal+s.size > limit {
				return scanTooLarge
			}
			s.msgTotal += s.size
			s.state = scanBody
			if s.size == 0 {
				ev = max(ev, s.endFrame())
			}
		case scanBody:
			k := uint64(len(b))
			if k > s.size {
				k = s.size
			}
			s.size -= k
			b = b[k:]
			if s.size == 0 {
				ev = max(ev, s.endFrame())
			}
		}
	}
	return ev
}

func (s *frameScanner) endFrame() scanEvent {
	s.state = scanFlags
	if s.more {
		return scanNone
	}
	s.msgTotal = 0
	if s.inHS {
		s.inHS = false
		if s.maxMsg == 0 {
			s.state = scanIdle
		}
		return scanHandshakeDone
	}
	return scanNone
}
