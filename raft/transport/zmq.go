// Package transport carries raft.Messages between nodes: over ZeroMQ
// (go-zeromq/zmq4) in production, and over an in-memory network with
// injectable faults in tests.
package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/wire"
)

// ZMQConfig configures a ZMQ transport. Zero values take the defaults.
type ZMQConfig struct {
	ID     wire.NodeID
	Listen string                 // e.g. "tcp://127.0.0.1:7000"; bind address of this node's PULL inbox
	Peers  map[wire.NodeID]string // peer id -> its Listen address (this node excluded)
	// ClusterID and Incarnation are stamped on every frame (see
	// envelope.go); 0 until known. SetCluster changes the former later.
	ClusterID   uint64
	Incarnation uint64
	// PeerKeys seal and authenticate every frame (seal.go): PeerKeys[0]
	// seals, each of them opens, at most MaxPeerKeys. Without keys frames
	// go unsealed and sealed ones are refused, so a cluster where only
	// some nodes have the key fails loudly (counted, WARN) rather than
	// half works.
	PeerKeys []PeerKey

	QueueSize   int           // per-peer outbound queue (messages); default 1024
	SendTimeout time.Duration // bound of one zmq send; default 200ms
	// MaxFrameBytes caps one zmq message both ways: batches are cut to fit,
	// a single message that cannot fit is dropped, and a peer announcing a
	// larger inbound frame is disconnected. Keep it equal on all nodes and
	// above the Raft layer's largest MsgApp. Default 8 MiB.
	MaxFrameBytes int
	// SilenceTimeout: a peer socket is re-created before sending when
	// nothing has been heard from that peer for this long, because zmq4
	// has no heartbeats and can keep writing into a dead connection.
	// Default 2s.
	SilenceTimeout   time.Duration
	DialTimeout      time.Duration // TCP connect; default 1s
	HandshakeTimeout time.Duration // ZMTP greeting and READY, either way; default 1s
	Logger           *slog.Logger  // default slog.Default()
}

const (
	defaultQueueSize        = 1024
	defaultSendTimeout      = 200 * time.Millisecond
	defaultMaxFrameBytes    = 8 << 20
	defaultSilenceTimeout   = 2 * time.Second
	defaultDialTimeout      = time.Second
	defaultHandshakeTimeout = time.Second

	receiveBuffer = 4096

	backoffMin = 20 * time.Millisecond
	backoffMax = 200 * time.Millisecond

	// zmq4 leaks a reader goroutine per connection whose queue is full at
	// Close unless Recv keeps draining; closeDrain bounds that drain and
	// closeWait the wait for our own goroutines.
	closeDrain = 200 * time.Millisecond
	closeWait  = 5 * time.Second
)

func (c *ZMQConfig) setDefaults() {
	if c.QueueSize == 0 {
		c.QueueSize = defaultQueueSize
	}
	if c.SendTimeout == 0 {
		c.SendTimeout = defaultSendTimeout
	}
	if c.MaxFrameBytes == 0 {
		c.MaxFrameBytes = defaultMaxFrameBytes
	}
	if c.SilenceTimeout == 0 {
		c.SilenceTimeout = defaultSilenceTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = defaultDialTimeout
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = defaultHandshakeTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *ZMQConfig) validate() error {
	if c.ID == wire.None {
		return errors.New("node ID is wire.None")
	}
	if c.QueueSize < 0 || c.SendTimeout < 0 || c.MaxFrameBytes < 0 || c.SilenceTimeout < 0 ||
		c.DialTimeout < 0 || c.HandshakeTimeout < 0 {
		return errors.New("negative size or duration")
	}
	if _, ok := c.Peers[c.ID]; ok {
		return fmt.Errorf("peers include this node (%d)", c.ID)
	}
	return nil
}

// ZMQ is the production transport: one PULL inbox bound at Listen, and per
// peer one PUSH socket owned by one goroutine that drains a bounded queue
// and packs everything queued into one zmq message. See docs/ZMQ4.md for why.
type ZMQ struct {
	cfg    ZMQConfig
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	policy *connPolicy

	inbox zmq4.Socket // used by recvLoop; closed by Close
	// peers is replaced whole by SetPeers and never modified in place, so
	// Send and the receive loop read it without a lock.
	peers   atomic.Pointer[map[wire.NodeID]*peer]
	recvc   chan wire.Message
	snaps   *snapStreams // snapshot files, beside the messages on recvc
	ident   identity
	ring    *keyRing // nil: no sealing
	open    opener
	sockCtx context.Context // ctx with the connection policy, for peer sockets
	zlog    *log.Logger

	// setMu serialises SetPeers and Close, and guards retired: the
	// counters of peers SetPeers removed, so Stats totals never go back.
	setMu   sync.Mutex
	retired PeerStats

	wg        sync.WaitGroup // recvLoop and one run per peer
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	droppedUnknown atomic.Uint64
	droppedInvalid atomic.Uint64
	recvMsgs       atomic.Uint64
	recvFrames     atomic.Uint64
	malformed      atomic.Uint64
	misaddressed   atomic.Uint64
	recvErrors     atomic.Uint64
	oversized      atomic.Uint64
	handshakeFails atomic.Uint64
	wrongCluster   atomic.Uint64
	wrongInc       atomic.Uint64
	wrongSender    atomic.Uint64
	sealDrops      sealDrops
}

var _ raft.Transport = (*ZMQ)(nil)

// NewZMQ binds the inbox (failing if the address is taken) and starts the
// receive goroutine and one goroutine per peer. Peers are dialed lazily,
// when there is something to send them.
func NewZMQ(cfg ZMQConfig) (*ZMQ, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("zmq transport config: %w", err)
	}
	listen, err := zmqEndpoint(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("zmq transport listen address: %w", err)
	}
	ring, err := newKeyRing(cfg.PeerKeys)
	if err != nil {
		return nil, fmt.Errorf("zmq transport peer keys: %w", err)
	}
	if err := registerSchemes(); err != nil {
		return nil, fmt.Errorf("register zmq transports: %w", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	t := &ZMQ{
		cfg:    cfg,
		log:    cfg.Logger.With("component", "transport", "node", cfg.ID),
		ctx:    ctx,
		cancel: cancel,
		recvc:  make(chan wire.Message, receiveBuffer),
		ring:   ring,
		open:   opener{self: cfg.ID, boot: newBootID(), ring: ring},
	}
	t.policy = &connPolicy{
		handshakeTimeout: cfg.HandshakeTimeout,
		maxFrame:         uint64(cfg.MaxFrameBytes),
		oversized:        &t.oversized,
		handshakeFails:   &t.handshakeFails,
	}
	t.snaps = newSnapStreams(cfg.ID, t.Send)
	t.ident.cluster.Store(cfg.ClusterID)
	t.ident.self.Store(cfg.Incarnation)
	t.sockCtx = withPolicy(ctx, t.policy)
	t.zlog = slog.NewLogLogger(t.log.With("lib", "zmq4").Handler(), slog.LevelDebug)
	t.peers.Store(&map[wire.NodeID]*peer{})
	if _, err := t.resolvePeers(cfg.Peers); err != nil {
		cancel()
		return nil, err
	}

	t.inbox = zmq4.NewPull(t.sockCtx, zmq4.WithLogger(t.zlog))
	if err := t.inbox.Listen(listen); err != nil {
		t.inbox.Close()
		cancel()
		return nil, fmt.Errorf("bind zmq inbox %s: %w", cfg.Listen, err)
	}

	t.wg.Add(1)
	go t.recvLoop()
	if err := t.SetPeers(cfg.Peers); err != nil {
		t.Close()
		return nil, err
	}
	t.log.Info("zmq transport started", "listen", cfg.Listen, "peers", len(cfg.Peers), "sealed", ring != nil)
	return t, nil
}

// resolvePeers checks every address before anything changes, so that a
// bad one leaves the transport as it was.
func (t *ZMQ) resolvePeers(peers map[wire.NodeID]string) (map[wire.NodeID]string, error) {
	eps := make(map[wire.NodeID]string, len(peers))
	for id, addr := range peers {
		if id == t.cfg.ID {
			continue
		}
		if id == wire.None {
			return nil, fmt.Errorf("zmq transport peer id %d is reserved", id)
		}
		ep, err := zmqEndpoint(addr)
		if err != nil {
			return nil, fmt.Errorf("zmq transport peer %d: %w", id, err)
		}
		eps[id] = ep
	}
	return eps, nil
}

// SetPeers makes peers (id -> Listen address) the set this transport
// sends to, as the membership changes: peers no longer named stop and
// drop what they had queued, a changed address replaces its peer, and
// unchanged peers keep their connection and queue. This node's own id is
// ignored. An invalid address is an error and changes nothing. After
// Close it does nothing.
func (t *ZMQ) SetPeers(peers map[wire.NodeID]string) error {
	eps, err := t.resolvePeers(peers)
	if err != nil {
		return err
	}
	t.setMu.Lock()
	defer t.setMu.Unlock()
	if t.closed.Load() {
		return nil
	}
	old := *t.peers.Load()
	next := make(map[wire.NodeID]*peer, len(eps))
	var started []*peer
	for id, ep := range eps {
		if p := old[id]; p != nil && p.addr == peers[id] {
			next[id] = p
			continue
		}
		p := newPeer(id, peers[id], ep, &t.cfg, t.sockCtx, t.zlog, t.log)
		p.ident = &t.ident
		if t.ring != nil {
			p.sealer = newSealer(t.ring, t.cfg.ID, id, t.open.boot)
			p.boots = &t.open.boots
		}
		next[id] = p
		started = append(started, p)
	}
	t.peers.Store(&next)
	for id, p := range old {
		if next[id] != p {
			p.stop()
			t.retired.add(p.stats())
			t.log.Info("peer removed", "peer", id, "addr", p.addr)
		}
	}
	for _, p := range started {
		ctx, cancel := context.WithCancel(t.ctx)
		p.cancel = cancel
		t.wg.Add(1)
		go p.run(ctx, &t.wg)
		if p.sealer != nil {
			p.sayHello() // start the handshake before Raft needs the link
		}
		t.log.Info("peer added", "peer", p.id, "addr", p.addr)
	}
	return nil
}

func (t *ZMQ) peer(id wire.NodeID) *peer { return (*t.peers.Load())[id] }

// Send queues each message for its destination and returns at once. A
// message is dropped and counted when its peer's queue is full, its peer is
// unknown, its type is invalid or it cannot fit in one frame; Raft retries.
// Entries are copied so the caller may reuse its slice; their Data is
// shared and must not be modified afterwards. After Close, Send does
// nothing.
func (t *ZMQ) Send(msgs []wire.Message) {
	if t.closed.Load() {
		return
	}
	for i := range msgs {
		m := &msgs[i]
		p := t.peer(m.To)
		switch {
		case p == nil:
			t.droppedUnknown.Add(1)
			continue
		case !m.Type.Valid():
			t.droppedInvalid.Add(1)
			continue
		case frameOverhead+wire.EncodedMessageSize(m) > t.cfg.MaxFrameBytes:
			if n := p.droppedTooLarge.Add(1); n&(n-1) == 0 {
				t.log.Warn("message larger than MaxFrameBytes dropped", "peer", m.To, "type", m.Type,
					"entries", len(m.Entries), "max_frame_bytes", t.cfg.MaxFrameBytes, "dropped_so_far", n)
			}
			continue
		}
		c := *m
		if len(c.Entries) > 0 {
			c.Entries = slices.Clone(c.Entries)
		}
		select {
		case p.queue <- c:
		default:
			p.droppedQueueFull.Add(1)
		}
	}
}

// SendSnapshot streams a snapshot file to a peer (see raft.SnapshotTransport).
func (t *ZMQ) SendSnapshot(ctx context.Context, h raft.SnapshotHeader, size int64, body io.Reader) error {
	return t.snaps.SendSnapshot(ctx, h, size, body)
}

// IncomingSnapshots delivers the snapshot streams peers send this node.
func (t *ZMQ) IncomingSnapshots() <-chan *raft.IncomingSnapshot { return t.snaps.IncomingSnapshots() }

// Receive delivers the messages addressed to this node. The channel is
// never closed (a closed channel would hand zero Messages to a select
// loop); stop reading when you Close the transport.
func (t *ZMQ) Receive() <-chan wire.Message { return t.recvc }

// recvLoop reads the inbox until Close. zmq4's Recv errors are not fatal:
// it returns EOF each time one peer's connection ends.
func (t *ZMQ) recvLoop() {
	defer t.wg.Done()
	for {
		msg, err := t.inbox.Recv()
		if t.ctx.Err() != nil {
			break
		}
		if err != nil {
			t.recvErrors.Add(1)
			t.log.Debug("inbox receive", "err", err)
			continue
		}
		if !t.deliverFrame(msg) {
			break
		}
	}
	t.drainInbox()
}

// deliverFrame decodes one zmq message and hands its messages to Receive.
// It returns false when Close interrupted it.
func (t *ZMQ) deliverFrame(msg zmq4.Msg) bool {
	if len(msg.Frames) != 1 {
		t.countMalformed(fmt.Errorf("%w: %d parts, want 1", wire.ErrMalformedFrame, len(msg.Frames)))
		return true
	}
	o := t.open.open(msg.Frames[0])
	if o.reason != dropNone {
		t.countSealDrop(o.reason, o.from)
		if p := t.peer(o.from); p != nil && o.reason == dropHandshake {
			p.answerHello(time.Now())
		}
		return true
	}
	batch, sender, reason := t.ident.openEnvelope(o.plain)
	if o.from != wire.None && reason == "" {
		sender, reason = sealedSender(sender, o.from)
	}
	switch reason {
	case "malformed":
		t.countMalformed(fmt.Errorf("%w: no envelope", wire.ErrMalformedFrame))
		return true
	case "wrong_cluster":
		t.countForeign(&t.wrongCluster, "dropped frame from another cluster", sender)
		return true
	case "wrong_incarnation":
		t.countForeign(&t.wrongInc, "dropped frame from another incarnation of a member (wiped or replaced)", sender)
		return true
	case "wrong_sender":
		t.countForeign(&t.wrongSender, "dropped sealed frame whose envelope names another sender", sender)
		return true
	}
	msgs, err := wire.DecodeBatch(batch)
	if err != nil {
		t.countMalformed(err)
		return true
	}
	t.recvFrames.Add(1)
	now := time.Now().UnixNano()
	for _, m := range msgs {
		if sender != wire.None && m.From != sender {
			t.countForeign(&t.wrongSender, "dropped message whose sender is not the frame's", m.From)
			continue
		}
		if m.To != t.cfg.ID {
			if n := t.misaddressed.Add(1); n&(n-1) == 0 {
				t.log.Warn("dropped message addressed to another node", "to", m.To, "from", m.From, "dropped_so_far", n)
			}
			continue
		}
		if p := t.peer(m.From); p != nil {
			p.lastHeard.Store(now)
		}
		if t.snaps.intercept(&m) {
			continue
		}
		// Counted first so that a reader never sees a message the
		// counter does not include yet.
		t.recvMsgs.Add(1)
		select {
		case t.recvc <- m:
		case <-t.ctx.Done():
			t.recvMsgs.Add(^uint64(0))
			return false
		}
	}
	return true
}

// sealedSender is the sender of a sealed frame: the one its header names
// (authenticated), which the envelope, when it names one, must agree with.
func sealedSender(envelope, sealed wire.NodeID) (wire.NodeID, string) {
	if envelope != wire.None && envelope != sealed {
		return envelope, "wrong_sender"
	}
	return sealed, ""
}

// countSealDrop counts a frame the opener refused: DEBUG each time, WARN
// at most once per warnEvery and reason.
func (t *ZMQ) countSealDrop(r dropReason, from wire.NodeID) {
	warn, since := t.sealDrops.add(r, time.Now())
	t.log.Debug("dropped peer frame", "reason", r, "claimed_from", from)
	if warn && dropWarnings[r] != "" {
		t.log.Warn(dropWarnings[r], "reason", r, "claimed_from", from, "dropped_since_last_warning", since,
			"sealed_here", t.ring != nil)
	}
}

// countForeign counts a frame or message the envelope refused, logging at
// powers of two.
func (t *ZMQ) countForeign(c *atomic.Uint64, what string, from wire.NodeID) {
	if n := c.Add(1); n&(n-1) == 0 {
		t.log.Warn(what, "from", from, "dropped_so_far", n)
	}
}

// SetCluster sets the cluster id stamped on frames and required of them
// (0: not known, anything goes), as the membership names it.
func (t *ZMQ) SetCluster(id uint64) { t.ident.cluster.Store(id) }

// SetIncarnations sets each member's recorded incarnation: frames from a
// member that carry another one are dropped (0: not recorded).
func (t *ZMQ) SetIncarnations(incs map[wire.NodeID]uint64) {
	m := make(map[wire.NodeID]uint64, len(incs))
	for id, inc := range incs {
		m[id] = inc
	}
	t.ident.known.Store(&m)
}

func (t *ZMQ) countMalformed(err error) {
	// Logged at powers of two: a broken or hostile peer must not flood the log.
	if n := t.malformed.Add(1); n&(n-1) == 0 {
		t.log.Warn("dropped malformed frame", "err", err, "malformed_so_far", n)
	}
}

// drainInbox keeps receiving after Close so that zmq4's per-connection
// readers blocked on its full internal queue can exit. Once cancelled, Recv
// picks at random between the cancellation and a queued message, so many
// cancellations in a row mean the queue is empty; and a reader blocked on a
// full queue keeps it full, so an empty queue means none is left.
func (t *ZMQ) drainInbox() {
	deadline := time.Now().Add(closeDrain)
	for misses := 0; misses < 64 && time.Now().Before(deadline); {
		if _, err := t.inbox.Recv(); errors.Is(err, context.Canceled) {
			misses++
		} else {
			misses = 0
		}
	}
}

// Close stops all goroutines and closes every socket. It is idempotent and
// returns an error only if goroutines were still running after a few seconds.
func (t *ZMQ) Close() error {
	t.closeOnce.Do(func() {
		t.setMu.Lock()
		t.closed.Store(true)
		t.setMu.Unlock()
		t.cancel()
		t.snaps.close()
		if err := t.inbox.Close(); err != nil {
			t.log.Debug("close inbox", "err", err)
		}
		done := make(chan struct{})
		go func() {
			t.wg.Wait()
			close(done)
		}()
		timer := time.NewTimer(closeWait)
		defer timer.Stop()
		select {
		case <-done:
			t.log.Info("zmq transport closed")
		case <-timer.C:
			t.closeErr = fmt.Errorf("close zmq transport of node %d: goroutines still running after %v", t.cfg.ID, closeWait)
		}
	})
	return t.closeErr
}

// Stats returns a snapshot of the counters.
func (t *ZMQ) Stats() Stats {
	s := Stats{
		DroppedUnknownPeer: t.droppedUnknown.Load(),
		DroppedInvalid:     t.droppedInvalid.Load(),
		RecvMsgs:           t.recvMsgs.Load(),
		RecvFrames:         t.recvFrames.Load(),
		MalformedFrames:    t.malformed.Load(),
		Misaddressed:       t.misaddressed.Load(),
		OversizedFrames:    t.oversized.Load(),
		HandshakeTimeout:   t.handshakeFails.Load(),
		RecvErrors:         t.recvErrors.Load(),
		WrongCluster:       t.wrongCluster.Load(),
		WrongIncarnation:   t.wrongInc.Load(),
		WrongSender:        t.wrongSender.Load(),
		Sealed:             t.ring != nil,
		SealDrops:          t.sealDrops.stats(),
	}
	t.setMu.Lock()
	peers := *t.peers.Load()
	total := t.retired
	t.setMu.Unlock()
	s.Peers = make(map[wire.NodeID]PeerStats, len(peers))
	for id, p := range peers {
		ps := p.stats()
		s.Peers[id] = ps
		total.add(ps)
	}
	s.SentMsgs = total.SentMsgs
	s.SentFrames = total.SentFrames
	s.DroppedQueueFull = total.DroppedQueueFull
	s.DroppedSendError = total.DroppedSendError
	s.DroppedDisconnected = total.DroppedDisconnected
	s.DroppedTooLarge = total.DroppedTooLarge
	s.Reconnects = total.Reconnects
	s.DialFailures = total.DialFailures
	return s
}
