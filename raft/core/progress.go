package core

// progress is the leader's view of one follower's log.
//
// In probe state the leader sends one MsgApp at a time and waits for the
// answer (or the next heartbeat) before trying again, because it does not
// yet know where the follower's log matches. In replicate state it streams:
// next moves ahead optimistically as messages go out, bounded by the
// inflight window, which is what lets one slow fsync on a follower overlap
// with the next batch already on the wire.
type progress struct {
	match, next  uint64
	replicating  bool   // false = probe
	pendingSnap  uint64 // index of the snapshot being sent; appends wait for it
	probeSent    bool   // probe state: a MsgApp is out and unanswered
	inflight     []uint64
	recentActive bool   // heard from since the last check-quorum round
	readAck      uint64 // highest read-index round this peer acknowledged
	sentCommit   uint64 // commit index last sent in a MsgApp
	leaseTick    uint64 // leader's tick when it sent the newest heartbeat this peer answered
	// lastHeard is the leader's tick when this peer last answered, and
	// caughtUpSince when a learner became promotable (0: it is not).
	lastHeard, caughtUpSince uint64
}

func (p *progress) becomeProbe() {
	p.replicating, p.probeSent, p.pendingSnap = false, false, 0
	p.inflight = p.inflight[:0]
	p.next = p.match + 1
}

func (p *progress) becomeReplicate() {
	p.replicating, p.probeSent, p.pendingSnap = true, false, 0
	p.inflight = p.inflight[:0]
	p.next = p.match + 1
}

// paused reports whether the leader must not send another MsgApp now.
func (p *progress) paused(maxInflight int) bool {
	if p.pendingSnap > 0 {
		return true
	}
	if p.replicating {
		return len(p.inflight) >= maxInflight
	}
	return p.probeSent
}

// sent records a MsgApp whose last entry is last.
func (p *progress) sent(last uint64, n int) {
	if !p.replicating {
		p.probeSent = true
		return
	}
	if n > 0 {
		p.next = last + 1
		p.inflight = append(p.inflight, last)
	}
}

// acked updates the progress after the follower matched up to idx. It
// reports whether match moved.
func (p *progress) acked(idx uint64) bool {
	// Free the inflight slots whatever happens: an old ack still proves the
	// messages up to it arrived.
	i := 0
	for i < len(p.inflight) && p.inflight[i] <= idx {
		i++
	}
	p.inflight = append(p.inflight[:0], p.inflight[i:]...)
	if idx <= p.match {
		return false
	}
	p.match = idx
	if p.next <= idx {
		p.next = idx + 1
	}
	p.probeSent = false
	return true
}
