// Package proxy is a TCP proxy for one directed link between two raftkv
// nodes. The harness puts one in front of every link so it can cut or
// black-hole traffic from outside the server processes: no test-only code
// runs inside kvserver.
package proxy

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is what a proxy does with traffic.
type Mode int32

const (
	// Pass forwards bytes both ways.
	Pass Mode = iota
	// Drop closes every connection and refuses new ones (accepts and
	// closes at once: the sender sees a reset, as from a dead host).
	Drop
	// Blackhole accepts and holds connections but delivers nothing: bytes
	// are read and discarded, as on a link that silently loses packets.
	Blackhole
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Drop:
		return "drop"
	case Blackhole:
		return "blackhole"
	}
	return fmt.Sprintf("mode(%d)", int32(m))
}

// dialTimeout bounds connecting to the target; a down target should look
// down quickly, not stall the sender's handshake.
const dialTimeout = time.Second

// Proxy forwards connections accepted on its address to a target address.
type Proxy struct {
	ln     net.Listener
	target string
	log    *slog.Logger
	mode   atomic.Int32
	// discarded counts bytes thrown away by a black hole, so tests and
	// logs can tell a black hole that worked from one that saw nothing.
	discarded atomic.Int64

	mu     sync.Mutex // guards conns and closed
	conns  map[*pair]struct{}
	closed bool

	wg sync.WaitGroup // the accept loop and every pair's copiers
}

// pair is one accepted connection and, unless it was accepted while
// black-holed, its connection to the target.
type pair struct {
	down net.Conn // from the sender
	up   net.Conn // to the target; nil while held by a black hole
	// lost is set once a byte was discarded. A TCP stream with a hole in
	// it cannot resume (real TCP would stall, then time out), so such a
	// pair is closed when the black hole lifts.
	lost      atomic.Bool
	closeOnce sync.Once
}

func (c *pair) close() {
	c.closeOnce.Do(func() {
		c.down.Close()
		if c.up != nil {
			c.up.Close()
		}
	})
}

// Listen starts a proxy on addr (e.g. "127.0.0.1:0") forwarding to target.
func Listen(addr, target string, logger *slog.Logger) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("proxy listen %s: %w", addr, err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{ln: ln, target: target, log: logger, conns: map[*pair]struct{}{}}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the address senders connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address traffic is forwarded to.
func (p *Proxy) Target() string { return p.target }

// Discarded returns how many bytes black holes have thrown away so far.
func (p *Proxy) Discarded() int64 { return p.discarded.Load() }

// Mode returns the current mode.
func (p *Proxy) Mode() Mode { return Mode(p.mode.Load()) }

// Conns returns how many connections the proxy holds now.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// SetMode switches the mode. Leaving Pass for Drop closes every
// connection; leaving Blackhole closes those that lost bytes or were
// never connected to the target.
func (p *Proxy) SetMode(m Mode) {
	old := Mode(p.mode.Swap(int32(m)))
	if old == m {
		return
	}
	p.mu.Lock()
	var doomed []*pair
	for c := range p.conns {
		if m == Drop || (old == Blackhole && (c.up == nil || c.lost.Load())) {
			doomed = append(doomed, c)
		}
	}
	p.mu.Unlock()
	for _, c := range doomed {
		c.close() // the copiers notice and unregister the pair
	}
}

// Close stops accepting, closes every connection and waits for the
// proxy's goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	conns := make([]*pair, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, c := range conns {
		c.close()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		down, err := p.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.log.Warn("proxy accept", "addr", p.Addr(), "err", err)
			}
			return
		}
		p.handle(down)
	}
}

// handle sets up one accepted connection. It dials in its own goroutine so
// that a slow target does not hold up the accept loop.
func (p *Proxy) handle(down net.Conn) {
	switch p.Mode() {
	case Drop:
		down.Close()
		return
	case Blackhole:
		c := &pair{down: down}
		c.lost.Store(true)
		if !p.register(c) {
			return
		}
		p.wg.Add(1)
		go p.copy(c, down, nil)
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		up, err := net.DialTimeout("tcp", p.target, dialTimeout)
		if err != nil {
			down.Close() // the target is down: so is the link
			return
		}
		c := &pair{down: down, up: up}
		if !p.register(c) {
			return
		}
		// The mode may have changed while dialling; re-apply it to this pair.
		if p.Mode() == Drop {
			p.unregister(c)
			return
		}
		p.wg.Add(2)
		go p.copy(c, down, up)
		go p.copy(c, up, down)
	}()
}

// register adds c to the live set, or closes it if the proxy is closed.
func (p *Proxy) register(c *pair) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) unregister(c *pair) {
	c.close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// copy moves bytes from src to dst (nil: discard) until either side fails,
// discarding them while the proxy black-holes or once the stream lost a
// byte. Both directions of a pair end together: a half-closed link is of
// no use to ZeroMQ or HTTP.
func (p *Proxy) copy(c *pair, src, dst net.Conn) {
	defer p.wg.Done()
	defer p.unregister(c)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if dst == nil || p.Mode() != Pass || c.lost.Load() {
				c.lost.Store(true)
				p.discarded.Add(int64(n))
			} else if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				p.log.Debug("proxy copy", "addr", p.Addr(), "err", err)
			}
			return
		}
	}
}
