package transport

import (
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/raftkv/raftkv/raft/wire"
)

func framed(cluster uint64, from wire.NodeID, inc uint64, msgs ...wire.Message) zmq4.Msg {
	return zmq4.NewMsg(wire.EncodeBatch(appendEnvelope(nil, cluster, from, inc), msgs))
}

// TestZMQEnvelope: frames from another cluster, from another incarnation
// of a member, or carrying a message in another sender's name are dropped
// and counted, and never reach Receive; the rest (legacy frames without an
// envelope, zeros meaning "not known") get through.
func TestZMQEnvelope(t *testing.T) {
	addrs := map[wire.NodeID]string{1: freeAddr(t), 2: freeAddr(t)}
	b := startZMQ(t, 2, addrs, func(c *ZMQConfig) { c.ClusterID, c.Incarnation = 0xC1, 22 })
	b.SetIncarnations(map[wire.NodeID]uint64{1: 11})
	raw := rawPush(t, addrs[2])
	send := func(m zmq4.Msg) {
		t.Helper()
		if err := raw.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	send(framed(0xC2, 1, 11, appMsg(1, 2, 1)))                                // another cluster
	send(framed(0xC1, 1, 99, appMsg(1, 2, 2)))                                // a wiped node 1
	send(framed(0xC1, 1, 11, appMsg(3, 2, 3), appMsg(1, 2, 4)))               // a forged sender beside a real message
	send(zmq4.NewMsg([]byte{envelopeMagic, 1, 2}))                            // a cut envelope
	send(framed(0xC1, 1, 11, appMsg(1, 2, 5)))                                // right
	send(framed(0, 1, 0, appMsg(1, 2, 6)))                                    // a sender that knows neither yet
	send(zmq4.NewMsg(wire.EncodeBatch(nil, []wire.Message{appMsg(1, 2, 7)}))) // no envelope (older node)

	got := receiveN(t, b.Receive(), 4, 10*time.Second)
	for i, want := range []uint64{4, 5, 6, 7} {
		if got[i].Index != want {
			t.Fatalf("message %d has index %d, want %d (all: %+v)", i, got[i].Index, want, got)
		}
	}
	eventually(t, 5*time.Second, "the drops to be counted", func() bool {
		st := b.Stats()
		return st.WrongCluster == 1 && st.WrongIncarnation == 1 && st.WrongSender == 1 && st.MalformedFrames == 1
	})
	select {
	case m := <-b.Receive():
		t.Fatalf("a dropped frame reached Receive: %+v", m)
	case <-time.After(100 * time.Millisecond):
	}

	// Once the cluster is renamed (it never is; this is the check that
	// SetCluster takes effect), the old name is refused too.
	b.SetCluster(0xC3)
	send(framed(0xC1, 1, 11, appMsg(1, 2, 8)))
	eventually(t, 5*time.Second, "the renamed cluster to refuse the old name", func() bool { return b.Stats().WrongCluster == 2 })

	// Frames our own transport sends carry its identity.
	a := startZMQ(t, 1, addrs, func(c *ZMQConfig) { c.ClusterID, c.Incarnation = 0xC3, 11 })
	a.Send([]wire.Message{appMsg(1, 2, 9)})
	if m := receiveN(t, b.Receive(), 1, 10*time.Second)[0]; m.Index != 9 {
		t.Fatalf("got %+v", m)
	}
	a.SetCluster(0xC4)
	a.Send([]wire.Message{appMsg(1, 2, 10)})
	eventually(t, 5*time.Second, "a frame stamped with another cluster to be refused", func() bool { return b.Stats().WrongCluster == 3 })
}

func FuzzOpenEnvelope(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{envelopeMagic})
	f.Add(wire.EncodeBatch(appendEnvelope(nil, 1, 2, 3), []wire.Message{appMsg(2, 1, 1)}))
	f.Add(wire.EncodeBatch(nil, []wire.Message{appMsg(2, 1, 1)}))
	var id identity
	id.cluster.Store(1)
	id.known.Store(&map[wire.NodeID]uint64{2: 3})
	f.Fuzz(func(t *testing.T, frame []byte) {
		batch, _, reason := id.openEnvelope(frame)
		if reason != "" {
			return
		}
		if _, err := wire.DecodeBatch(batch); err != nil {
			return
		}
	})
}
