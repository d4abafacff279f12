package transport

import (
	"context"
	"log"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/raftkv/raftkv/raft/wire"
)

// peer is the outbound side of one peer: a bounded queue filled by Send
// and one goroutine (run) that owns the PUSH socket.
type peer struct {
	id       wire.NodeID
	addr     string // as configured
	endpoint string // with our guarded scheme
	queue    chan wire.Message
	sockCtx  context.Context
	zlog     *log.Logger
	log      *slog.Logger
	cancel   context.CancelFunc // stops run; set before run starts
	ident    *identity          // what frames are stamped with
	sealer   *sealer            // nil: frames go unsealed
	boots    *bootBook          // with sealer: the boot each frame echoes
	hello    chan struct{}      // asks run for an empty frame (handshake.go)
	self     wire.NodeID        // this node: the frames' sender

	maxFrame    int
	sendTimeout time.Duration
	dialTimeout time.Duration
	silence     time.Duration

	lastHeard atomic.Int64 // unix nanoseconds; stored by the receive loop
	lastHello atomic.Int64 // unix nanoseconds of the last hello requested
	connected atomic.Bool

	sentMsgs            atomic.Uint64
	sentFrames          atomic.Uint64
	sentBytes           atomic.Uint64
	droppedQueueFull    atomic.Uint64
	droppedSendError    atomic.Uint64
	droppedDisconnected atomic.Uint64
	droppedTooLarge     atomic.Uint64
	reconnects          atomic.Uint64
	dialFailures        atomic.Uint64

	// Owned by the run goroutine alone.
	sock          zmq4.Socket
	everConnected bool
	down          bool // a failure was logged and no success since
	connectedAt   time.Time
	backoff       time.Duration
	nextDial      time.Time
	buf           []byte // the frame's envelope and batch
	sealed        []byte // buf sealed, when sealing
	batch         []wire.Message
	carry         wire.Message
	hasCarry      bool
}

func newPeer(id wire.NodeID, addr, endpoint string, cfg *ZMQConfig, sockCtx context.Context, zlog *log.Logger, lg *slog.Logger) *peer {
	return &peer{
		id:          id,
		addr:        addr,
		endpoint:    endpoint,
		self:        cfg.ID,
		queue:       make(chan wire.Message, cfg.QueueSize),
		hello:       make(chan struct{}, 1),
		sockCtx:     sockCtx,
		zlog:        zlog,
		log:         lg.With("peer", id, "addr", addr),
		maxFrame:    cfg.MaxFrameBytes,
		sendTimeout: cfg.SendTimeout,
		dialTimeout: cfg.DialTimeout,
		silence:     cfg.SilenceTimeout,
		backoff:     backoffMin,
	}
}

// run sends batches until ctx ends. While the peer is unreachable it
// drops what is queued (Raft retries) instead of letting it go stale.
func (p *peer) run(ctx context.Context, wg *sync.WaitGroup) {
	defer wg.Done()
	defer p.closeSocket()
	for {
		var first wire.Message
		if p.hasCarry {
			first, p.carry, p.hasCarry = p.carry, wire.Message{}, false
		} else {
			select {
			case <-ctx.Done():
				return
			case first = <-p.queue:
			case <-p.hello:
				p.sendHello(ctx)
				continue
			}
		}
		if !p.ready(ctx) {
			p.dropQueued()
			continue
		}
		p.send(ctx, p.collect(first))
	}
}

// ready makes sure there is a socket to send on, dialing if the backoff
// allows. A socket to a peer silent for too long is re-created first: a
// PUSH whose peer restarted can otherwise keep "succeeding" into nothing.
func (p *peer) ready(ctx context.Context) bool {
	now := time.Now()
	if p.sock != nil {
		last := max(p.lastHeard.Load(), p.connectedAt.UnixNano())
		if now.UnixNano()-last <= p.silence.Nanoseconds() {
			return true
		}
		p.log.Debug("peer silent; re-creating its socket", "silent_for", time.Duration(now.UnixNano()-last))
		p.closeSocket()
		p.nextDial = time.Time{}
	}
	if now.Before(p.nextDial) {
		return false
	}
	return p.dial(ctx)
}

func (p *peer) dial(ctx context.Context) bool {
	sock := zmq4.NewPush(p.sockCtx,
		zmq4.WithTimeout(p.sendTimeout),
		zmq4.WithDialerMaxRetries(0), // we retry, with backoff and without blocking anyone
		zmq4.WithDialerTimeout(p.dialTimeout),
		zmq4.WithLogger(p.zlog),
		// No WithAutomaticReconnect: it re-dials inside a failing Send
		// and can deadlock (docs/ZMQ4.md).
	)
	if err := sock.Dial(p.endpoint); err != nil {
		sock.Close()
		if ctx.Err() == nil {
			p.dialFailures.Add(1)
			p.failed("dial", err)
		}
		return false
	}
	p.sock = sock
	p.connectedAt = time.Now()
	p.connected.Store(true)
	if p.everConnected {
		p.reconnects.Add(1)
	}
	p.everConnected = true
	if p.down {
		p.down = false
		p.log.Info("peer reachable again")
	}
	return true
}

// failed schedules the next dial and logs the first failure of a run.
func (p *peer) failed(op string, err error) {
	p.nextDial = time.Now().Add(p.backoff)
	p.backoff = min(2*p.backoff, backoffMax)
	if !p.down {
		p.down = true
		p.log.Warn("peer unreachable; dropping its messages until it is back", "op", op, "err", err)
	}
}

// collect batches first with everything already queued, up to maxFrame.
// A message that does not fit is carried to the next batch. Send refused
// messages that cannot fit alone, so first always fits.
func (p *peer) collect(first wire.Message) []wire.Message {
	p.batch = append(p.batch[:0], first)
	size := frameOverhead + wire.EncodedMessageSize(&first)
	for {
		select {
		case m := <-p.queue:
			s := wire.EncodedMessageSize(&m)
			if size+s > p.maxFrame {
				p.carry, p.hasCarry = m, true
				return p.batch
			}
			p.batch = append(p.batch, m)
			size += s
		default:
			return p.batch
		}
	}
}

func (p *peer) send(ctx context.Context, batch []wire.Message) {
	defer clear(batch) // let the entries go
	n := uint64(len(batch))
	frame := p.frame(batch)
	if err := p.sock.SendMulti(zmq4.NewMsg(frame)); err != nil {
		p.droppedSendError.Add(n)
		// A timed-out write goes on in zmq4's goroutine until the socket
		// closes, reading the frame meanwhile: never reuse its buffer.
		p.buf, p.sealed = nil, nil
		p.closeSocket()
		if ctx.Err() == nil {
			p.failed("send", err)
		}
		return
	}
	p.sentMsgs.Add(n)
	p.sentFrames.Add(1)
	p.sentBytes.Add(uint64(len(frame)))
	p.backoff = backoffMin
}

// frame encodes batch behind its envelope, sealed when keys are set.
func (p *peer) frame(batch []wire.Message) []byte {
	p.buf = appendEnvelope(p.buf[:0], p.ident.cluster.Load(), p.self, p.ident.self.Load())
	p.buf = wire.EncodeBatch(p.buf, batch)
	if p.sealer == nil {
		return p.buf
	}
	p.sealed = p.sealer.seal(p.sealed[:0], p.buf, p.boots.echoFor(p.id))
	return p.sealed
}

// dropQueued drops the message run just took and everything queued behind it.
func (p *peer) dropQueued() {
	n := uint64(1)
	for {
		select {
		case <-p.queue:
			n++
		default:
			p.droppedDisconnected.Add(n)
			return
		}
	}
}

// stop ends run; what was queued is dropped with the peer.
func (p *peer) stop() { p.cancel() }

func (p *peer) closeSocket() {
	if p.sock == nil {
		return
	}
	if err := p.sock.Close(); err != nil {
		p.log.Debug("close peer socket", "err", err)
	}
	p.sock = nil
	p.connected.Store(false)
}

func (p *peer) stats() PeerStats {
	s := PeerStats{
		Addr:                p.addr,
		Connected:           p.connected.Load(),
		QueueLen:            len(p.queue),
		QueueCap:            cap(p.queue),
		SentMsgs:            p.sentMsgs.Load(),
		SentFrames:          p.sentFrames.Load(),
		SentBytes:           p.sentBytes.Load(),
		DroppedQueueFull:    p.droppedQueueFull.Load(),
		DroppedSendError:    p.droppedSendError.Load(),
		DroppedDisconnected: p.droppedDisconnected.Load(),
		DroppedTooLarge:     p.droppedTooLarge.Load(),
		Reconnects:          p.reconnects.Load(),
		DialFailures:        p.dialFailures.Load(),
	}
	if ns := p.lastHeard.Load(); ns != 0 {
		s.LastHeard = time.Unix(0, ns)
	}
	return s
}
