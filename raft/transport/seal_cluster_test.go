package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/raftkv/raftkv/logs"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// nullSM applies entries by counting them; the cluster test looks only at
// terms and logs.
type nullSM struct {
	mu            sync.Mutex
	applied, term uint64
}

func (s *nullSM) Apply(ents []wire.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(ents); n > 0 {
		s.applied, s.term = ents[n-1].Index, ents[n-1].Term
	}
	return nil
}

func (s *nullSM) AppliedIndex() uint64 { s.mu.Lock(); defer s.mu.Unlock(); return s.applied }
func (s *nullSM) AppliedTerm() uint64  { s.mu.Lock(); defer s.mu.Unlock(); return s.term }
func (s *nullSM) Sync() error          { return nil }
func (s *nullSM) Snapshot(func(index, term uint64) (io.Writer, error)) error {
	return errors.New("no snapshots")
}
func (s *nullSM) Restore(io.Reader, uint64, uint64) error { return errors.New("no snapshots") }

// tap sits between the other nodes and the victim and forwards every
// frame, as an attacker on the wire would; asked to, it holds one back.
type tap struct {
	in, out zmq4.Socket
	cancel  context.CancelFunc
	done    chan struct{}
	held    chan []byte

	mu       sync.Mutex
	holdNext bool
}

func startTap(t *testing.T, listen, forwardTo string) *tap {
	ctx, cancel := context.WithCancel(context.Background())
	tp := &tap{in: zmq4.NewPull(ctx), out: zmq4.NewPush(ctx, zmq4.WithTimeout(time.Second), zmq4.WithDialerMaxRetries(0)),
		cancel: cancel, done: make(chan struct{}), held: make(chan []byte, 1)}
	if err := tp.in.Listen(listen); err != nil {
		cancel()
		t.Fatalf("tap listen: %v", err)
	}
	if err := tp.out.Dial(forwardTo); err != nil {
		tp.in.Close()
		cancel()
		t.Fatalf("tap dial: %v", err)
	}
	go tp.run(ctx)
	t.Cleanup(tp.stop)
	return tp
}

func (tp *tap) run(ctx context.Context) {
	defer close(tp.done)
	for ctx.Err() == nil {
		msg, err := tp.in.Recv()
		if err != nil || len(msg.Frames) != 1 {
			continue
		}
		tp.mu.Lock()
		hold := tp.holdNext
		tp.holdNext = false
		tp.mu.Unlock()
		if hold {
			tp.held <- bytes.Clone(msg.Frames[0])
			continue
		}
		tp.out.Send(msg) // an error drops the frame, as a lossy network would
	}
}

func (tp *tap) stop() {
	tp.cancel()
	tp.in.Close()
	tp.out.Close()
	<-tp.done
}

// intercept returns the next sealed frame on its way to the victim, which
// the victim has not received; send, if not nil, makes one go.
func (tp *tap) intercept(t *testing.T, send func()) []byte {
	t.Helper()
	tp.mu.Lock()
	tp.holdNext = true
	tp.mu.Unlock()
	if send != nil {
		send()
	}
	select {
	case f := <-tp.held:
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no frame to intercept")
		return nil
	}
}

// TestSealedClusterDropsForgeries: a 3-node Raft cluster over sealed ZMQ
// transports. At the victim's Raft port an attacker injects a forged vote
// and a forged append (unsealed, legacy, under another key, and under
// another key claiming the cluster's key id), a bit-flipped captured
// frame and a replayed one. Each is dropped and counted for its reason,
// and the victim's term and log do not move.
func TestSealedClusterDropsForgeries(t *testing.T) {
	key, wrong := testKey(1), testKey(9)
	ids := []wire.NodeID{1, 2, 3}
	const victim = wire.NodeID(3)
	addrs := map[wire.NodeID]string{1: freeAddr(t), 2: freeAddr(t), 3: freeAddr(t)}
	tapAddr := freeAddr(t)
	trs := map[wire.NodeID]*ZMQ{}
	sealed := func(c *ZMQConfig) { c.PeerKeys = []PeerKey{key} }
	// The victim first, so that the tap can dial it and is closed after
	// the nodes that send through it.
	trs[victim] = startZMQ(t, victim, addrs, sealed)
	tp := startTap(t, tapAddr, addrs[victim])
	for _, id := range ids[:2] {
		trs[id] = startZMQ(t, id, addrs, func(c *ZMQConfig) {
			sealed(c)
			c.Peers[victim] = tapAddr
		})
	}
	nodes := map[wire.NodeID]*raft.Node{}
	for _, id := range ids {
		wal, err := logs.Open(filepath.Join(t.TempDir(), "wal"), logs.Options{NoSync: true, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		// Elections slow enough that a loaded machine holds one leader
		// for the whole test: the term must only move if a forgery got in.
		n, err := raft.StartNode(raft.NodeConfig{ID: id, Peers: ids, TickInterval: 10 * time.Millisecond,
			ElectionTimeoutMin: 2 * time.Second, ElectionTimeoutMax: 4 * time.Second,
			HeartbeatInterval: 50 * time.Millisecond, Seed: uint64(id),
			Storage: wal, Transport: trs[id], StateMachine: &nullSM{}, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		nodes[id] = n
		t.Cleanup(func() {
			n.Stop()
			wal.Close()
		})
	}

	lead := waitLeader(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 {
		if _, err := nodes[lead].Propose(ctx, fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatalf("propose: %v", err)
		}
	}
	want := nodes[lead].Status()
	eventually(t, 10*time.Second, "the victim to catch up", func() bool {
		st := nodes[victim].Status()
		return st.LastLogIndex == want.LastLogIndex && st.CommitIndex == want.CommitIndex
	})
	before := nodes[victim].Status()
	captured := tp.intercept(t, nil) // Raft's heartbeats make one go
	from := wire.NodeID(senderOf(captured))

	attacks := forgeries(t, before, from, victim, key, wrong, captured)
	raw := rawPush(t, addrs[victim])
	expect := trs[victim].Stats().SealDrops // the handshakes of the start
	for _, a := range attacks {
		if err := raw.Send(zmq4.NewMsg(a.frame)); err != nil {
			t.Fatalf("%s: send: %v", a.name, err)
		}
		a.count(&expect)
	}
	var got SealDrops
	defer func() {
		if t.Failed() {
			t.Logf("dropped %+v, want %+v; stats %+v", got, expect, trs[victim].Stats())
		}
	}()
	eventually(t, 10*time.Second, "every forgery to be counted", func() bool {
		got = trs[victim].Stats().SealDrops
		if got.Unsealed+got.UnknownKey+got.BadAuth+got.Replay > expect.Unsealed+expect.UnknownKey+expect.BadAuth+expect.Replay {
			t.Fatalf("dropped %+v, want %+v", got, expect)
		}
		return got == expect
	})
	after := nodes[victim].Status()
	if after.Term != before.Term || after.LastLogIndex != before.LastLogIndex || after.CommitIndex != before.CommitIndex ||
		after.Leader != lead {
		t.Fatalf("the victim moved: term %d -> %d, last %d -> %d, commit %d -> %d, leader %d -> %d",
			before.Term, after.Term, before.LastLogIndex, after.LastLogIndex, before.CommitIndex, after.CommitIndex,
			lead, after.Leader)
	}
	if st := trs[victim].Stats(); st.MalformedFrames != 0 || st.WrongSender != 0 {
		t.Fatalf("forgeries got past the opener: %+v", st)
	}
	t.Logf("victim %d, leader %d, term %d: dropped %+v", victim, lead, after.Term, expect)
}

type attack struct {
	name  string
	frame []byte
	count func(*SealDrops)
}

// forgeries builds the injected frames: a vote and an append far ahead of
// the cluster, in each form an attacker without the key can make; an
// intercepted frame bit-flipped (in the ciphertext and in the tag), then
// delivered as it was (accepted: it is genuine), then replayed.
func forgeries(t *testing.T, st core.Status, from, to wire.NodeID, key, wrong PeerKey, captured []byte) []attack {
	high := st.Term + 100
	vote := wire.Message{Type: wire.MsgVote, From: from, To: to, Term: high, LogTerm: high, Index: st.LastLogIndex + 100}
	app := wire.Message{Type: wire.MsgApp, From: from, To: to, Term: high, LogTerm: st.Term, Index: st.LastLogIndex,
		Commit: st.LastLogIndex + 1, Entries: []wire.Entry{{Index: st.LastLogIndex + 1, Term: high, Data: []byte("forged")}}}
	ourID := testRing(t, key).keys[0].id
	var out []attack
	for _, m := range []wire.Message{vote, app} {
		plain := wire.EncodeBatch(appendEnvelope(nil, 0, from, 0), []wire.Message{m})
		underOurID := testSealer(testRing(t, wrong), from, to).seal(nil, plain, testBoot)
		copy(underOurID[offKeyID:], ourID[:])
		out = append(out,
			attack{m.Type.String() + " unsealed", plain, func(d *SealDrops) { d.Unsealed++ }},
			attack{m.Type.String() + " legacy", wire.EncodeBatch(nil, []wire.Message{m}), func(d *SealDrops) { d.Unsealed++ }},
			attack{m.Type.String() + " another key", testSealer(testRing(t, wrong), from, to).seal(nil, plain, testBoot),
				func(d *SealDrops) { d.UnknownKey++ }},
			attack{m.Type.String() + " another key, our key id", underOurID, func(d *SealDrops) { d.BadAuth++ }},
		)
	}
	flipBody, flipTag := bytes.Clone(captured), bytes.Clone(captured)
	flipBody[sealHeaderSize] ^= 0x01
	flipTag[len(flipTag)-1] ^= 0x80
	return append(out,
		attack{"intercepted, bit flipped in the body", flipBody, func(d *SealDrops) { d.BadAuth++ }},
		attack{"intercepted, bit flipped in the tag", flipTag, func(d *SealDrops) { d.BadAuth++ }},
		attack{"intercepted, delivered", bytes.Clone(captured), func(*SealDrops) {}},
		attack{"intercepted, replayed", captured, func(d *SealDrops) { d.Replay++ }},
	)
}

func senderOf(frame []byte) uint64 {
	h, err := parseSealedHeader(frame)
	if err != nil {
		panic(err)
	}
	return h.from
}

// waitLeader waits until every node follows one leader.
func waitLeader(t *testing.T, nodes map[wire.NodeID]*raft.Node) wire.NodeID {
	t.Helper()
	var lead wire.NodeID
	eventually(t, 20*time.Second, "one leader", func() bool {
		lead = wire.None
		for _, n := range nodes {
			st := n.Status()
			if lead == wire.None {
				lead = st.Leader
			}
			if st.Leader == wire.None || st.Leader != lead {
				return false
			}
		}
		return true
	})
	return lead
}
