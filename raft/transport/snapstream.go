package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// A snapshot file travels beside Raft's messages, on the same sockets, as
// a stream of MsgSnapChunk messages, each answered by a MsgSnapChunkAck
// naming the next offset the receiver wants. The sender keeps at most
// snapWindow chunks unacknowledged, in memory (flow control: a snapshot
// never floods a peer's queue, heartbeats to other peers are untouched,
// and the file is read once, front to back), goes back to the
// acknowledged offset when an ack is overdue (the network may drop), and
// gives up when nothing moves for snapGiveUp. The receiver accepts only
// the next expected offset and hands the bytes on as one io.Reader; the
// last ack waits for the reader's owner to say whether it kept the file,
// so the sender's SendSnapshot reports the receiver's verdict.
const (
	snapChunkBytes = 256 << 10
	snapWindow     = 4
	snapResend     = 500 * time.Millisecond
	snapGiveUp     = 10 * time.Second
)

// Errors from SendSnapshot, besides the context's.
var (
	// ErrClosed: the transport was closed.
	ErrClosed = errors.New("transport closed")
	// ErrSnapshotRefused: the receiver did not keep the snapshot (it
	// failed to store or verify it, or a newer stream replaced this one).
	ErrSnapshotRefused = errors.New("the receiver refused the snapshot")
)

var (
	errStreamReplaced = errors.New("snapshot stream replaced by a newer one")
	errStreamQuiet    = errors.New("snapshot stream went quiet")
)

// snapStreams runs the snapshot streams of one endpoint, both ways, over
// its message path: send hands messages to the network, and the endpoint's
// receive path gives intercept every message before Raft sees it.
type snapStreams struct {
	self     wire.NodeID
	send     func([]wire.Message)
	chunk    int
	resend   time.Duration
	giveUp   time.Duration
	incoming chan *raft.IncomingSnapshot // unbuffered: a stream waits for its reader
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup // receiving streams

	mu      sync.Mutex                        // guards senders, recv and closed; never held while sending
	senders map[wire.NodeID]chan wire.Message // acks for the stream to each peer
	recv    *inStream                         // the stream being received, one at a time
	closed  bool

	// dropped counts chunks and acks no stream could take: out of turn,
	// for no stream, or past a full queue. The sender's go-back resends.
	dropped atomic.Uint64
}

func newSnapStreams(self wire.NodeID, send func([]wire.Message)) *snapStreams {
	return &snapStreams{self: self, send: send, chunk: snapChunkBytes, resend: snapResend, giveUp: snapGiveUp,
		incoming: make(chan *raft.IncomingSnapshot), stop: make(chan struct{}), senders: map[wire.NodeID]chan wire.Message{}}
}

// intercept takes m when it belongs to a snapshot stream. It never blocks
// and never sends (an endpoint may call it holding its network's lock).
func (s *snapStreams) intercept(m *wire.Message) bool {
	switch m.Type {
	case wire.MsgSnapChunk:
		s.takeChunk(m)
	case wire.MsgSnapChunkAck:
		s.mu.Lock()
		acks := s.senders[m.From]
		s.mu.Unlock()
		select {
		case acks <- *m: // a nil channel (no stream to m.From) never takes
		default:
			s.dropped.Add(1)
		}
	default:
		return false
	}
	return true
}

// close ends every stream, refusing new ones, and waits for the receiving
// side's goroutines; SendSnapshot calls return ErrClosed.
func (s *snapStreams) close() {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		if s.recv != nil {
			s.recv.abort(ErrClosed)
		}
		s.mu.Unlock()
		close(s.stop)
	})
	s.wg.Wait()
}

// SendSnapshot streams size bytes of body, the snapshot file h names, to
// h.To, and returns once the receiver kept it (nil) or refused it, the
// stream stopped moving, ctx ended or the transport closed. One stream
// per peer at a time.
func (s *snapStreams) SendSnapshot(ctx context.Context, h raft.SnapshotHeader, size int64, body io.Reader) error {
	if size <= 0 {
		return fmt.Errorf("send snapshot %d to %d: empty file", h.Snap.Index, h.To)
	}
	acks := make(chan wire.Message, 16)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if _, busy := s.senders[h.To]; busy {
		s.mu.Unlock()
		return fmt.Errorf("send snapshot %d to %d: a stream to it is already running", h.Snap.Index, h.To)
	}
	s.senders[h.To] = acks
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.senders, h.To)
		s.mu.Unlock()
	}()
	out := outStream{s: s, h: h, size: size, body: body}
	return out.run(ctx, acks)
}

// IncomingSnapshots delivers each snapshot stream as it begins. The reader
// must call Done once, after it has read Body through or given up.
func (s *snapStreams) IncomingSnapshots() <-chan *raft.IncomingSnapshot { return s.incoming }

// outStream is one snapshot being sent: its window of chunks sent but
// not yet acknowledged, kept for resending.
type outStream struct {
	s      *snapStreams
	h      raft.SnapshotHeader
	size   int64
	body   io.Reader
	window []outChunk
	read   int64 // bytes taken from body
	acked  int64 // the receiver has everything before this
}

type outChunk struct {
	off  int64
	data []byte
}

func (o *outStream) run(ctx context.Context, acks <-chan wire.Message) error {
	resend := time.NewTimer(o.s.resend)
	defer resend.Stop()
	lastProgress, next := time.Now(), 0 // next: the window's first chunk not (re)sent yet
	for o.acked < o.size {
		if err := o.fill(); err != nil {
			return err
		}
		for ; next < len(o.window); next++ {
			o.sendChunk(o.window[next])
		}
		select {
		case m := <-acks:
			if m.Index != o.h.Snap.Index || m.Term != o.h.Term {
				continue // an answer to an older stream
			}
			if m.Reject {
				return fmt.Errorf("send snapshot %d to %d: %w", o.h.Snap.Index, o.h.To, ErrSnapshotRefused)
			}
			if int64(m.Offset) == o.size {
				return nil // the receiver kept the file (perhaps from an earlier stream whose verdict was lost)
			}
			if done := o.ack(int64(m.Offset)); done > 0 {
				next, lastProgress = max(0, next-done), time.Now()
			}
		case <-resend.C:
			resend.Reset(o.s.resend)
			quiet := time.Since(lastProgress)
			if quiet > o.s.giveUp {
				return fmt.Errorf("send snapshot %d to %d: no progress for %v at %d of %d bytes",
					o.h.Snap.Index, o.h.To, o.s.giveUp, o.acked, o.size)
			}
			if quiet >= o.s.resend {
				next = 0 // go back: something was dropped
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-o.s.stop:
			return ErrClosed
		}
	}
	return nil
}

// fill reads chunks from body until the window is full or body is done.
func (o *outStream) fill() error {
	for len(o.window) < snapWindow && o.read < o.size {
		buf := make([]byte, min(int64(o.s.chunk), o.size-o.read))
		if _, err := io.ReadFull(o.body, buf); err != nil {
			return fmt.Errorf("send snapshot %d to %d: read at %d: %w", o.h.Snap.Index, o.h.To, o.read, err)
		}
		o.window = append(o.window, outChunk{off: o.read, data: buf})
		o.read += int64(len(buf))
	}
	return nil
}

// ack drops the chunks the receiver has whole before off and returns how
// many. An offset that is not past acked, or past what was sent, moves
// nothing.
func (o *outStream) ack(off int64) int {
	if off <= o.acked || off > o.read {
		return 0
	}
	n := 0
	for n < len(o.window) && o.window[n].off+int64(len(o.window[n].data)) <= off {
		n++
	}
	o.window = o.window[n:]
	o.acked = o.read
	if len(o.window) > 0 {
		o.acked = o.window[0].off
	}
	return n
}

func (o *outStream) sendChunk(c outChunk) {
	o.s.send([]wire.Message{{Type: wire.MsgSnapChunk, From: o.s.self, To: o.h.To, Term: o.h.Term,
		Index: o.h.Snap.Index, LogTerm: o.h.Snap.Term, Offset: uint64(c.off), Size: uint64(o.size), Data: c.data}})
}

// inStream is one snapshot being received.
type inStream struct {
	h      raft.SnapshotHeader
	size   int64
	chunks chan wire.Message // from intercept
	pr     *io.PipeReader
	pw     *io.PipeWriter

	verdict   chan error // the reader's Done
	doneOnce  sync.Once
	aborted   chan struct{}
	abortOnce sync.Once
}

// abort ends the stream: a Read of Body or a pending Write fails with err.
func (in *inStream) abort(err error) {
	in.abortOnce.Do(func() {
		in.pw.CloseWithError(err)
		close(in.aborted)
	})
}

// takeChunk routes a chunk to the stream it belongs to; a chunk at offset
// 0 of another snapshot, or from another sender, replaces the current one.
func (s *snapStreams) takeChunk(m *wire.Message) {
	h := raft.SnapshotHeader{From: m.From, To: m.To, Term: m.Term, Snap: core.SnapshotInfo{Index: m.Index, Term: m.LogTerm}}
	if m.Size == 0 || m.Offset+uint64(len(m.Data)) > m.Size || len(m.Data) == 0 {
		s.dropped.Add(1) // malformed
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.recv
	if in != nil && (in.h != h || in.size != int64(m.Size)) && m.Offset == 0 {
		in.abort(errStreamReplaced)
		s.recv, in = nil, nil
	}
	if in == nil {
		if s.closed || m.Offset != 0 {
			s.dropped.Add(1)
			return
		}
		in = &inStream{h: h, size: int64(m.Size), chunks: make(chan wire.Message, 2*snapWindow),
			verdict: make(chan error, 1), aborted: make(chan struct{})}
		in.pr, in.pw = io.Pipe()
		s.recv = in
		s.wg.Add(1)
		go s.receive(in)
	}
	if in.h != h || in.size != int64(m.Size) {
		s.dropped.Add(1)
		return
	}
	select {
	case in.chunks <- *m:
	default:
		s.dropped.Add(1)
	}
}

// receive runs one incoming stream: it offers it to IncomingSnapshots,
// then writes its chunks, in order, to the reader, and sends the acks.
func (s *snapStreams) receive(in *inStream) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		if s.recv == in {
			s.recv = nil
		}
		s.mu.Unlock()
	}()
	offer := &raft.IncomingSnapshot{SnapshotHeader: in.h, Size: in.size, Body: in.pr, Done: func(err error) {
		in.doneOnce.Do(func() {
			if err != nil {
				in.pr.CloseWithError(err) // a Write pending on the other side fails
			}
			in.verdict <- err
		})
	}}
	quiet := time.NewTimer(2 * s.giveUp)
	defer quiet.Stop()
	select {
	case s.incoming <- offer:
	case <-quiet.C:
		in.abort(errStreamQuiet) // nobody reads snapshots: the sender gives up
		return
	case <-in.aborted:
		return
	case <-s.stop:
		return
	}
	s.feed(in)
}

// feed writes the stream's chunks to its reader until the file is whole
// and the reader's verdict is in, or the stream ends otherwise.
func (s *snapStreams) feed(in *inStream) {
	expire := time.NewTicker(s.giveUp)
	defer expire.Stop()
	var next int64
	lastSeen := time.Now()
	for {
		select {
		case m := <-in.chunks:
			if int64(m.Offset) != next {
				s.ack(in, next, false) // out of order: say what we want
				continue
			}
			if _, err := in.pw.Write(m.Data); err != nil {
				s.linger(in, 0, true) // the reader gave up, or a newer stream replaced this one
				return
			}
			next += int64(len(m.Data))
			lastSeen = time.Now()
			if next < in.size {
				s.ack(in, next, false)
				continue
			}
			in.pw.Close()
			select {
			case err := <-in.verdict:
				if err != nil {
					next = 0
				}
				s.linger(in, next, err != nil)
			case <-in.aborted:
			case <-s.stop:
			}
			return
		case <-expire.C:
			if time.Since(lastSeen) > 2*s.giveUp {
				in.abort(errStreamQuiet)
				return
			}
		case <-in.aborted:
			return
		case <-s.stop:
			in.abort(ErrClosed)
			return
		}
	}
}

// linger sends a finished stream's verdict, and sends it again for each
// chunk of the stream still arriving for giveUp: its sender missed the
// verdict and is resending. Without this, one lost ack would fail a
// stream the receiver kept.
func (s *snapStreams) linger(in *inStream, next int64, reject bool) {
	s.ack(in, next, reject)
	t := time.NewTimer(s.giveUp)
	defer t.Stop()
	for {
		select {
		case <-in.chunks:
			s.ack(in, next, reject)
		case <-t.C:
			return
		case <-in.aborted:
			return
		case <-s.stop:
			return
		}
	}
}

func (s *snapStreams) ack(in *inStream, next int64, reject bool) {
	s.send([]wire.Message{{Type: wire.MsgSnapChunkAck, From: s.self, To: in.h.From, Term: in.h.Term,
		Index: in.h.Snap.Index, Offset: uint64(next), Reject: reject}})
}
