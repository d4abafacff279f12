package transport

import "sync"

// Replay protection for sealed frames. A sender's link to us is a session
// (random id, start time) whose frames count up from 1. Within a session a
// 64-frame sliding window (as in IPsec and WireGuard) accepts each counter
// once and tolerates the reordering a reconnect can cause (zmq4 may still
// deliver a timed-out write after the next one). A sender that restarts,
// or re-creates its link, starts a new session. Memory is bounded: we keep
// the latest few sessions per sender and, when one is forgotten, remember
// its start as a floor, so a frame of a forgotten or older session is
// refused instead of looking new. The floor compares the sender's clock
// with itself, so clock skew between nodes does not matter.
//
// The state is in memory and lost when this node restarts; frames
// captured before are then refused because they do not echo its new boot
// (handshake.go).
const (
	replayWindowBits     = 64
	maxSessionsPerSender = 4
)

// replayWindow remembers the highest counter accepted and which of the 63
// below it were.
type replayWindow struct {
	top  uint64
	seen uint64 // bit i: top-i was accepted
}

func (w *replayWindow) fresh(n uint64) bool {
	switch {
	case n == 0:
		return false
	case n > w.top:
		return true
	case w.top-n >= replayWindowBits:
		return false
	}
	return w.seen&(1<<(w.top-n)) == 0
}

// mark records n, which fresh accepted.
func (w *replayWindow) mark(n uint64) {
	if n <= w.top {
		w.seen |= 1 << (w.top - n)
		return
	}
	if shift := n - w.top; shift >= replayWindowBits {
		w.seen = 0
	} else {
		w.seen <<= shift
	}
	w.seen |= 1
	w.top = n
}

type sessionKey struct {
	id      [sessionSize]byte
	started uint64
}

type liveSession struct {
	key sessionKey
	win replayWindow
}

// senderSessions is what we remember of one sender's sessions.
type senderSessions struct {
	floor uint64 // start of the newest forgotten session; no later start is taken as new
	live  []liveSession
}

func (s *senderSessions) find(k sessionKey) *liveSession {
	for i := range s.live {
		if s.live[i].key == k {
			return &s.live[i]
		}
	}
	return nil
}

// check says why counter n of session k must be refused, or dropNone.
func (s *senderSessions) check(k sessionKey, n uint64) dropReason {
	if ls := s.find(k); ls != nil {
		if ls.win.fresh(n) {
			return dropNone
		}
		return dropReplay
	}
	if n == 0 || k.started <= s.floor {
		return dropStaleSession
	}
	if len(s.live) == maxSessionsPerSender && k.started < s.oldest().key.started {
		return dropStaleSession // it would be the first forgotten
	}
	return dropNone
}

// accept records counter n of session k, which check accepted.
func (s *senderSessions) accept(k sessionKey, n uint64) {
	ls := s.find(k)
	if ls == nil {
		if len(s.live) == maxSessionsPerSender {
			old := s.oldest()
			s.floor = max(s.floor, old.key.started)
			*old = liveSession{}
			ls = old
		} else {
			s.live = append(s.live, liveSession{})
			ls = &s.live[len(s.live)-1]
		}
		ls.key = k
	}
	ls.win.mark(n)
}

func (s *senderSessions) oldest() *liveSession {
	o := &s.live[0]
	for i := range s.live {
		if s.live[i].key.started < o.key.started {
			o = &s.live[i]
		}
	}
	return o
}

// replayGuard holds the sessions of every sender that has sent us an
// authentic frame; forgeries create no state.
type replayGuard struct {
	mu      sync.Mutex
	senders map[uint64]*senderSessions
}

func (g *replayGuard) check(h *sealedHeader) dropReason {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.senders[h.from]
	if s == nil {
		s = &senderSessions{} // a sender never heard from: all its sessions are new
	}
	return s.check(sessionKey{h.session, h.started}, h.counter)
}

// accept checks again, since another frame of the session may have been
// accepted since check, and records the frame.
func (g *replayGuard) accept(h *sealedHeader) dropReason {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.senders == nil {
		g.senders = map[uint64]*senderSessions{}
	}
	s := g.senders[h.from]
	if s == nil {
		s = &senderSessions{}
		g.senders[h.from] = s
	}
	k := sessionKey{h.session, h.started}
	if r := s.check(k, h.counter); r != dropNone {
		return r
	}
	s.accept(k, h.counter)
	return dropNone
}
