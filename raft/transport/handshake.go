package transport

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"

	"github.com/raftkv/raftkv/raft/wire"
)

// Freshness across restarts. Replay windows live in memory, so a node
// that restarts could be fed frames captured before. Each transport
// therefore draws a random boot id at start, stamps it on its frames,
// and takes only frames that echo it back (seal.go). A sender learns a
// receiver's boot from the receiver's authentic frames; until then its
// frames are refused ("handshake"), and the receiver, having learned the
// sender's boot from the refused frame, answers with an empty sealed
// frame so the sender learns its boot within one round trip. A new peer
// link starts with such an empty frame too, so the exchange is usually
// over before Raft has anything to send.
//
// Learning from frames that are refused is what lets two fresh nodes
// start; a replayed old frame can teach a stale boot, which only costs a
// round trip: the other side refuses the frames that echo it and answers
// with its current boot.

// helloEvery bounds the empty answers to one peer.
const helloEvery = 50 * time.Millisecond

// newBootID is a random, non-zero id (zero means "not known").
func newBootID() uint64 {
	var b [8]byte
	for {
		rand.Read(b[:]) // never fails: it crashes the program instead
		if id := binary.LittleEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}

// bootBook holds the latest boot learned for each sender.
type bootBook struct {
	mu    sync.Mutex
	boots map[wire.NodeID]uint64
}

func (b *bootBook) learn(id wire.NodeID, boot uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.boots == nil {
		b.boots = map[wire.NodeID]uint64{}
	}
	b.boots[id] = boot
}

// echoFor is the boot to echo to id; 0 while none is known.
func (b *bootBook) echoFor(id wire.NodeID) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.boots[id]
}

// answerHello asks the peer's goroutine for an empty frame in answer to
// a refused one, at most once per helloEvery.
func (p *peer) answerHello(now time.Time) {
	last := p.lastHello.Load()
	if now.UnixNano()-last < helloEvery.Nanoseconds() || !p.lastHello.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	p.sayHello()
}

// sayHello asks the peer's goroutine for an empty frame. A new link says
// it outside the rate limit, which is for answers: the answer to its own
// hello must not be held back by it.
func (p *peer) sayHello() {
	select {
	case p.hello <- struct{}{}:
	default:
	}
}

// sendHello sends an empty frame, dialing at once: a hello answers a
// frame the peer just sent, or opens a new link, so the backoff left by an
// earlier failure does not apply (answerHello bounds the rate).
func (p *peer) sendHello(ctx context.Context) {
	p.nextDial = time.Time{}
	if p.ready(ctx) {
		p.send(ctx, nil)
	}
}
