package transport

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft/wire"
)

func hb(from, to wire.NodeID, idx uint64) wire.Message {
	return wire.Message{Type: wire.MsgHeartbeat, From: from, To: to, Index: idx}
}

// drain returns what is queued on ch right now. With no delay configured
// the network delivers synchronously, so this is everything that will
// ever arrive.
func drain(ch <-chan wire.Message) []wire.Message {
	var out []wire.Message
	for {
		select {
		case m := <-ch:
			out = append(out, m)
		default:
			return out
		}
	}
}

// reach sends one message over every ordered pair of ids and reports which
// pairs got through, as "from->to".
func reach(n *Network, ids []wire.NodeID) map[string]bool {
	for _, id := range ids {
		n.Endpoint(id)
	}
	for _, from := range ids {
		for _, to := range ids {
			if from != to {
				n.Endpoint(from).Send([]wire.Message{hb(from, to, 0)})
			}
		}
	}
	got := make(map[string]bool)
	for _, id := range ids {
		for _, m := range drain(n.Endpoint(id).Receive()) {
			got[fmt.Sprintf("%d->%d", m.From, m.To)] = true
		}
	}
	return got
}

func TestMemFaults(t *testing.T) {
	ids := []wire.NodeID{1, 2, 3, 4, 5}
	tests := []struct {
		name   string
		fault  func(n *Network)
		linked func(from, to wire.NodeID) bool
	}{
		{"healthy", func(*Network) {}, func(_, _ wire.NodeID) bool { return true }},
		{
			"partition with an unlisted node",
			func(n *Network) { n.Partition([]wire.NodeID{1, 2}, []wire.NodeID{3, 4}) },
			func(f, to wire.NodeID) bool { return f != 5 && to != 5 && (f <= 2) == (to <= 2) },
		},
		{"isolate", func(n *Network) { n.Isolate(3) }, func(f, to wire.NodeID) bool { return f != 3 && to != 3 }},
		{"one-way cut", func(n *Network) { n.Cut(1, 2) }, func(f, to wire.NodeID) bool { return !(f == 1 && to == 2) }},
		{"drop everything", func(n *Network) { n.SetDropRate(1) }, func(_, _ wire.NodeID) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := NewNetwork(1)
			defer n.Close()
			tt.fault(n)
			got := reach(n, ids)
			for _, from := range ids {
				for _, to := range ids {
					if from == to {
						continue
					}
					key := fmt.Sprintf("%d->%d", from, to)
					if want := tt.linked(from, to); got[key] != want {
						t.Errorf("%s delivered=%v, want %v", key, got[key], want)
					}
				}
			}
			delivered, dropped := n.Stats()
			if int(delivered) != len(got) || delivered+dropped != uint64(len(ids)*(len(ids)-1)) {
				t.Errorf("stats delivered=%d dropped=%d, saw %d delivered", delivered, dropped, len(got))
			}

			// Heal restores every link except the drop rate, which is not a link fault.
			n.Heal()
			n.SetDropRate(0)
			if got := reach(n, ids); len(got) != len(ids)*(len(ids)-1) {
				t.Errorf("after Heal only %d links work: %v", len(got), got)
			}
		})
	}
}

func TestMemDropRateIsSeeded(t *testing.T) {
	run := func(seed int64) []uint64 {
		n := NewNetwork(seed)
		defer n.Close()
		n.Endpoint(2) // messages to a node without an endpoint are dropped
		n.SetDropRate(0.5)
		for i := range 500 {
			n.Endpoint(1).Send([]wire.Message{hb(1, 2, uint64(i))})
		}
		var idx []uint64
		for _, m := range drain(n.Endpoint(2).Receive()) {
			idx = append(idx, m.Index)
		}
		return idx
	}
	a, b, c := run(7), run(7), run(8)
	if len(a) < 175 || len(a) > 325 {
		t.Fatalf("drop rate 0.5 delivered %d of 500", len(a))
	}
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different losses")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds, identical losses")
	}
}

func TestMemDelayReorders(t *testing.T) {
	n := NewNetwork(3)
	defer n.Close()
	n.Endpoint(2) // messages to a node without an endpoint are dropped
	const minDelay = 50 * time.Millisecond
	n.SetDelay(minDelay, 2*minDelay)
	const total = 200
	start := time.Now()
	for i := range total {
		n.Endpoint(1).Send([]wire.Message{hb(1, 2, uint64(i))})
	}
	// Only meaningful while the sends took less than the minimum delay: on
	// a loaded machine they may not (this flaked in CI with a 1 ms delay).
	if got := len(n.Endpoint(2).Receive()); got != 0 && time.Since(start) < minDelay {
		t.Fatalf("%d messages arrived before any delay elapsed", got)
	}
	msgs := receiveN(t, n.Endpoint(2).Receive(), total, 5*time.Second)
	if elapsed := time.Since(start); elapsed < minDelay {
		t.Fatalf("all delivered in %v, below the minimum delay", elapsed)
	}
	seen := make(map[uint64]bool)
	inversions := 0
	for i, m := range msgs {
		seen[m.Index] = true
		if i > 0 && m.Index < msgs[i-1].Index {
			inversions++
		}
	}
	if len(seen) != total {
		t.Fatalf("got %d distinct messages, want %d", len(seen), total)
	}
	if inversions == 0 {
		t.Fatal("random delays did not reorder anything")
	}
}

func TestMemDuplicate(t *testing.T) {
	n := NewNetwork(4)
	defer n.Close()
	n.Endpoint(2) // messages to a node without an endpoint are dropped
	n.SetDuplicateRate(1)
	const total = 50
	for i := range total {
		n.Endpoint(1).Send([]wire.Message{hb(1, 2, uint64(i))})
	}
	count := make(map[uint64]int)
	for _, m := range drain(n.Endpoint(2).Receive()) {
		count[m.Index]++
	}
	for i := range uint64(total) {
		if count[i] != 2 {
			t.Fatalf("message %d arrived %d times, want 2", i, count[i])
		}
	}
	if delivered, _ := n.Stats(); delivered != 2*total {
		t.Fatalf("delivered=%d, want %d", delivered, 2*total)
	}
}

func TestMemCopiesEntries(t *testing.T) {
	n := NewNetwork(5)
	defer n.Close()
	n.Endpoint(2) // messages to a node without an endpoint are dropped
	n.SetDuplicateRate(1)
	ents := []wire.Entry{{Index: 1, Term: 1, Data: []byte("abc")}, {Index: 2, Term: 1, Data: []byte("de")}}
	n.Endpoint(1).Send([]wire.Message{{Type: wire.MsgApp, From: 1, To: 2, Entries: ents}})
	ents[0].Data[0] = 'X'
	ents[1].Index = 99

	got := drain(n.Endpoint(2).Receive())
	if len(got) != 2 {
		t.Fatalf("got %d copies, want 2", len(got))
	}
	if string(got[0].Entries[0].Data) != "abc" || got[0].Entries[1].Index != 2 {
		t.Fatalf("sender's later writes reached the receiver: %+v", got[0].Entries)
	}
	// One receiver copy must not alias the other, nor its own neighbours.
	got[0].Entries[0].Data = append(got[0].Entries[0].Data, 'Z')
	got[0].Entries[0].Data[1] = 'Y'
	if string(got[1].Entries[0].Data) != "abc" || string(got[0].Entries[1].Data) != "de" {
		t.Fatalf("copies share memory: %q %q", got[1].Entries[0].Data, got[0].Entries[1].Data)
	}
}

func TestMemReceiveBufferOverflowDrops(t *testing.T) {
	n := NewNetwork(6)
	defer n.Close()
	n.Endpoint(2) // messages to a node without an endpoint are dropped
	for i := range memReceiveBuffer + 10 {
		n.Endpoint(1).Send([]wire.Message{hb(1, 2, uint64(i))})
	}
	delivered, dropped := n.Stats()
	if delivered != memReceiveBuffer || dropped != 10 {
		t.Fatalf("delivered=%d dropped=%d, want %d and 10", delivered, dropped, memReceiveBuffer)
	}
	// Unknown destinations are dropped, not blocked on.
	n.Endpoint(1).Send([]wire.Message{hb(1, 42, 0)})
	if _, d := n.Stats(); d != 11 {
		t.Fatalf("message to an unknown node: dropped=%d, want 11", d)
	}
}

func TestMemCutDropsInFlight(t *testing.T) {
	n := NewNetwork(8)
	defer n.Close()
	n.Endpoint(2) // messages to a node without an endpoint are dropped
	n.SetDelay(50*time.Millisecond, 50*time.Millisecond)
	n.Endpoint(1).Send([]wire.Message{hb(1, 2, 1)})
	n.Cut(1, 2)
	eventually(t, 5*time.Second, "the in-flight message to be dropped", func() bool {
		_, dropped := n.Stats()
		return dropped == 1
	})
	if got := drain(n.Endpoint(2).Receive()); len(got) != 0 {
		t.Fatalf("message crossed a cut made while it was in flight: %+v", got)
	}
}

func TestMemClose(t *testing.T) {
	n := NewNetwork(9)
	n.Endpoint(2) // messages to a node without an endpoint are dropped
	n.SetDelay(time.Hour, time.Hour)
	for i := range 10 {
		n.Endpoint(1).Send([]wire.Message{hb(1, 2, uint64(i))})
	}
	done := make(chan struct{})
	go func() {
		n.Close()
		n.Close() // idempotent
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on pending deliveries")
	}
	n.Endpoint(1).Send([]wire.Message{hb(1, 2, 99)})
	delivered, dropped := n.Stats()
	if delivered != 0 || dropped != 11 {
		t.Fatalf("after Close delivered=%d dropped=%d, want 0 and 11", delivered, dropped)
	}
}

// Concurrent senders with every fault on, closed mid-traffic: run under
// -race, and goleak (TestMain) checks no timer callback outlives Close.
func TestMemConcurrentClose(t *testing.T) {
	n := NewNetwork(10)
	n.SetDelay(0, 2*time.Millisecond)
	n.SetDropRate(0.1)
	n.SetDuplicateRate(0.1)
	n.Partition([]wire.NodeID{1, 2, 3}, []wire.NodeID{4})
	for id := wire.NodeID(1); id <= 4; id++ {
		n.Endpoint(id)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for id := wire.NodeID(1); id <= 4; id++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := n.Endpoint(id)
			for i := uint64(0); ; i++ {
				select {
				case <-stop:
					return
				case <-e.Receive():
				default:
				}
				e.Send([]wire.Message{hb(id, 1+i%4, i)})
			}
		}()
	}
	eventually(t, 5*time.Second, "traffic", func() bool {
		d, _ := n.Stats()
		return d > 500
	})
	n.Close()
	before, _ := n.Stats()
	close(stop)
	wg.Wait()
	if after, _ := n.Stats(); after != before {
		t.Fatalf("delivered grew from %d to %d after Close", before, after)
	}
}
