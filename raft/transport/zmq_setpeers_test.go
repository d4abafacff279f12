package transport

import (
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft/wire"
)

func heartbeat(from, to wire.NodeID) wire.Message {
	return wire.Message{Type: wire.MsgHeartbeat, From: from, To: to, Term: 1}
}

func peerIDs(z *ZMQ) []wire.NodeID { return slices.Sorted(maps.Keys(z.Stats().Peers)) }

// TestZMQSetPeers walks one transport through the changes a membership
// makes: a peer added, its address changed, a bad address refused, and
// the peer removed.
func TestZMQSetPeers(t *testing.T) {
	addrs := map[wire.NodeID]string{1: freeAddr(t), 2: freeAddr(t)}
	a := startZMQ(t, 1, map[wire.NodeID]string{1: addrs[1]}, nil) // a joining node knows no one
	b := startZMQ(t, 2, addrs, nil)

	a.Send([]wire.Message{heartbeat(1, 2)})
	if st := a.Stats(); st.DroppedUnknownPeer != 1 || len(st.Peers) != 0 {
		t.Fatalf("before SetPeers: %+v", st)
	}

	// Its own id is ignored, not an error.
	if err := a.SetPeers(addrs); err != nil {
		t.Fatalf("add peer 2: %v", err)
	}
	if got := peerIDs(a); !slices.Equal(got, []wire.NodeID{2}) {
		t.Fatalf("peers after add: %v", got)
	}
	a.Send([]wire.Message{heartbeat(1, 2)})
	receiveN(t, b.Receive(), 1, 10*time.Second)
	// The sender counts after its write returns, which may be after the
	// receiver has the message.
	eventually(t, 5*time.Second, "the send to be counted", func() bool { return a.Stats().Peers[2].SentMsgs == 1 })

	// The same set again keeps the peer (and its counters).
	if err := a.SetPeers(map[wire.NodeID]string{2: addrs[2]}); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats().Peers[2]; st.SentMsgs != 1 {
		t.Fatalf("an unchanged peer was replaced: %+v", st)
	}

	// Node 2 moves: the message goes to its new address.
	moved := freeAddr(t)
	b2 := startZMQ(t, 2, map[wire.NodeID]string{1: addrs[1], 2: moved}, nil)
	if err := a.SetPeers(map[wire.NodeID]string{2: moved}); err != nil {
		t.Fatalf("move peer 2: %v", err)
	}
	if st := a.Stats(); st.Peers[2].Addr != moved || st.Peers[2].SentMsgs != 0 || st.SentMsgs != 1 {
		t.Fatalf("after the move: %+v (totals must keep the old peer's count)", st)
	}
	a.Send([]wire.Message{heartbeat(1, 2)})
	receiveN(t, b2.Receive(), 1, 10*time.Second)
	eventually(t, 5*time.Second, "the send to the moved peer to be counted", func() bool { return a.Stats().SentMsgs == 2 })

	// A bad address changes nothing.
	bad := map[wire.NodeID]string{2: moved, 3: "udp://nowhere"}
	if err := a.SetPeers(bad); err == nil {
		t.Fatal("SetPeers accepted a bad address")
	}
	if got := peerIDs(a); !slices.Equal(got, []wire.NodeID{2}) {
		t.Fatalf("peers after a refused change: %v", got)
	}
	if err := a.SetPeers(map[wire.NodeID]string{wire.None: moved}); err == nil {
		t.Fatal("SetPeers accepted the reserved id")
	}

	// Removed: messages to it are dropped as to an unknown peer.
	if err := a.SetPeers(nil); err != nil {
		t.Fatalf("remove peer 2: %v", err)
	}
	a.Send([]wire.Message{heartbeat(1, 2)})
	if st := a.Stats(); st.DroppedUnknownPeer != 2 || len(st.Peers) != 0 || st.SentMsgs != 2 {
		t.Fatalf("after removal: %+v", st)
	}
}

func TestZMQSetPeersAfterClose(t *testing.T) {
	addrs := map[wire.NodeID]string{1: freeAddr(t), 2: freeAddr(t)}
	z, err := NewZMQ(ZMQConfig{ID: 1, Listen: addrs[1], Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	if err := z.SetPeers(addrs); err != nil {
		t.Fatalf("SetPeers after Close: %v", err)
	}
	if got := peerIDs(z); len(got) != 0 {
		t.Fatalf("SetPeers after Close started peers %v", got)
	}
}

// TestZMQSetPeersWhileSending is for the race detector and goleak: peers
// come and go while messages are sent and received.
func TestZMQSetPeersWhileSending(t *testing.T) {
	addrs := map[wire.NodeID]string{1: freeAddr(t), 2: freeAddr(t), 3: freeAddr(t)}
	a := startZMQ(t, 1, addrs, nil)
	startZMQ(t, 2, addrs, nil)
	startZMQ(t, 3, addrs, nil)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				a.Send([]wire.Message{heartbeat(1, 2), heartbeat(1, 3)})
				_ = a.Stats()
			}
		}
	}()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-a.Receive():
			}
		}
	}()
	sets := []map[wire.NodeID]string{addrs, {2: addrs[2]}, {3: addrs[3]}, {}, {2: addrs[2], 3: addrs[3]}}
	for i := range 200 {
		if err := a.SetPeers(sets[i%len(sets)]); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if got := peerIDs(a); !slices.Equal(got, []wire.NodeID{2, 3}) {
		t.Fatalf("final peers %v", got)
	}
}
