package transport

import (
	"context"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

// The queue depth in PeerStats is what sits in the peer's queue now, so
// metrics can show a peer falling behind before it starts to drop.
func TestPeerStatsQueueDepth(t *testing.T) {
	cfg := ZMQConfig{QueueSize: 8}
	p := newPeer(2, "tcp://127.0.0.1:1", "tcp://127.0.0.1:1", &cfg, context.Background(), nil, quietLogger())
	for n := range 9 {
		if st := p.stats(); st.QueueLen != n || st.QueueCap != 8 {
			t.Fatalf("after %d queued: QueueLen %d QueueCap %d, want %d and 8", n, st.QueueLen, st.QueueCap, n)
		}
		if n < 8 {
			p.queue <- wire.Message{Type: wire.MsgHeartbeat, To: 2}
		}
	}
	<-p.queue
	if st := p.stats(); st.QueueLen != 7 {
		t.Fatalf("after one taken: QueueLen %d, want 7", st.QueueLen)
	}
}
