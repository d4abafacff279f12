package nemesis

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftkv/raftkv/cmd/kvchaos/internal/cluster"
	"github.com/raftkv/raftkv/cmd/kvchaos/internal/proxy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeTarget records what the nemesis does and checks it undoes it.
type fakeTarget struct {
	t      *testing.T
	n      int
	leader uint64

	mu      sync.Mutex // guards the fields below
	dead    map[uint64]bool
	paused  map[uint64]bool
	links   map[cluster.Link]proxy.Mode
	actions []string
	// replacing: nodes Replace took out that IsVoter has not seen back.
	replacing map[uint64]bool
}

func newFake(t *testing.T, n int) *fakeTarget {
	return &fakeTarget{t: t, n: n, leader: 1, dead: map[uint64]bool{}, paused: map[uint64]bool{},
		links: map[cluster.Link]proxy.Mode{}}
}

func (f *fakeTarget) IDs() []uint64 {
	var ids []uint64
	for i := range f.n {
		ids = append(ids, uint64(i))
	}
	return ids
}

func (f *fakeTarget) Leader(context.Context) (uint64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.leader, !f.dead[f.leader] && !f.paused[f.leader]
}

func (f *fakeTarget) act(format string, fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
	f.actions = append(f.actions, format)
}

func (f *fakeTarget) Kill(id uint64) {
	f.act("kill", func() { f.dead[id] = true })
}

func (f *fakeTarget) Restart(id uint64) error {
	f.act("restart", func() {
		if !f.dead[id] {
			f.t.Errorf("restart of running node %d", id)
		}
		delete(f.dead, id)
	})
	return nil
}

func (f *fakeTarget) Pause(id uint64) { f.act("pause", func() { f.paused[id] = true }) }

func (f *fakeTarget) Resume(id uint64) {
	f.act("resume", func() {
		if !f.paused[id] {
			f.t.Errorf("resume of running node %d", id)
		}
		delete(f.paused, id)
	})
}

func (f *fakeTarget) SetLink(l cluster.Link, m proxy.Mode) {
	f.act("link "+m.String(), func() {
		if l.From == l.To || int(l.From) >= f.n || int(l.To) >= f.n {
			f.t.Errorf("bad link %v", l)
		}
		f.links[l] = m
	})
}

func (f *fakeTarget) HealLinks() { f.act("heal", func() { clear(f.links) }) }

// Replace takes the node out; it counts as down until IsVoter sees it.
func (f *fakeTarget) Replace(_ context.Context, id uint64) error {
	f.act("replace", func() {
		if f.replacing == nil {
			f.replacing = map[uint64]bool{}
		}
		f.replacing[id] = true
	})
	return nil
}

func (f *fakeTarget) IsVoter(_ context.Context, id uint64) bool {
	f.act("voter?", func() { delete(f.replacing, id) })
	return true
}

// healthy reports whether every fault was undone.
func (f *fakeTarget) healthy() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.dead) == 0 && len(f.paused) == 0 && len(f.links) == 0 && len(f.replacing) == 0
}

func runFor(t *testing.T, target Target, faults []Fault, seed uint64, d time.Duration) []Event {
	t.Helper()
	n := New(target, Options{Faults: faults, Seed: seed, QuietMin: 0, QuietMax: time.Millisecond,
		HoldMin: 0, HoldMax: time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	n.Run(ctx)
	return n.Events()
}

func TestParseFaults(t *testing.T) {
	tests := []struct {
		in      string
		want    []Fault
		wantErr string
	}{
		{"all", All, ""},
		{"none", nil, ""},
		{"", nil, ""},
		{"kill", []Fault{Kill}, ""},
		{" pause , partition,pause ", []Fault{Pause, Partition}, ""},
		{"crash-all,kill", []Fault{CrashAll, Kill}, ""},
		{"kill,explode", nil, `unknown fault "explode"`},
		{"kill,", nil, `unknown fault ""`},
		{"ALL", nil, `unknown fault "ALL"`},
	}
	for _, tt := range tests {
		got, err := ParseFaults(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseFaults(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseFaults(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestEveryFaultIsHealed(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5} {
		f := newFake(t, n)
		events := runFor(t, f, All, 7, 300*time.Millisecond)
		if len(events) < 20 {
			t.Fatalf("%d nodes: only %d faults injected", n, len(events))
		}
		if !f.healthy() {
			t.Fatalf("%d nodes: faults left in force: dead %v paused %v links %v", n, f.dead, f.paused, f.links)
		}
		counts := Counts(events)
		for _, kind := range []string{"kill leader", "kill random", "pause leader", "pause random", "crash-all", "replace leader", "replace random"} {
			if counts[kind] == 0 {
				t.Errorf("%d nodes: no %q in %v", n, kind, counts)
			}
		}
		if n >= 3 {
			for _, kind := range []string{"partition majority/minority", "partition leader isolated", "partition one-way", "partition bridge"} {
				if counts[kind] == 0 {
					t.Errorf("%d nodes: no %q in %v", n, kind, counts)
				}
			}
		}
		if n == 1 && counts["partition one-way"]+counts["partition bridge"] > 0 {
			t.Errorf("partitioned a single node: %v", counts)
		}
		for _, e := range events {
			if e.End < e.Start || e.Description == "" {
				t.Errorf("bad event %+v", e)
			}
		}
	}
}

func TestPartitionShapes(t *testing.T) {
	f := newFake(t, 5)
	n := New(f, Options{Faults: []Fault{Partition}, Seed: 3})
	for range 200 {
		kind, desc, heal := n.partition(context.Background())
		f.mu.Lock()
		cut := len(f.links)
		symmetric := true
		for l := range f.links {
			if _, ok := f.links[cluster.Link{From: l.To, To: l.From}]; !ok {
				symmetric = false
			}
		}
		f.mu.Unlock()
		switch kind {
		case "partition majority/minority":
			// 1 or 2 nodes cut from the rest, both ways.
			if (cut != 2*1*4 && cut != 2*2*3) || !symmetric {
				t.Fatalf("%s: %d links cut, symmetric %v", desc, cut, symmetric)
			}
		case "partition leader isolated":
			if cut != 8 || !symmetric || !strings.Contains(desc, "{1} (leader)") {
				t.Fatalf("%s: %d links cut", desc, cut)
			}
		case "partition bridge":
			// {a,b} | {c,d}, the fifth node sees both.
			if cut != 8 || !symmetric || !strings.Contains(desc, "sees both") {
				t.Fatalf("%s: %d links cut", desc, cut)
			}
		case "partition one-way":
			if symmetric || (cut != 4 && cut != 1) || !strings.Contains(desc, "↛") {
				t.Fatalf("%s: %d links cut, symmetric %v", desc, cut, symmetric)
			}
		default:
			t.Fatalf("unexpected kind %q", kind)
		}
		if !strings.Contains(desc, "drop") && !strings.Contains(desc, "blackhole") {
			t.Fatalf("description %q names no mode", desc)
		}
		heal()
		if !f.healthy() {
			t.Fatalf("%s not healed", desc)
		}
	}
}

// The schedule is a function of the seed (given the same cluster answers).
func TestSeedReplays(t *testing.T) {
	schedule := func(seed uint64) []string {
		f := newFake(t, 3)
		n := New(f, Options{Faults: All, Seed: seed})
		var out []string
		for range 50 {
			fault := n.opts.Faults[n.rng.IntN(len(n.opts.Faults))]
			_, desc, heal := n.inject(context.Background(), fault)
			out = append(out, desc)
			heal()
		}
		return out
	}
	a, b, c := schedule(42), schedule(42), schedule(43)
	if !slices.Equal(a, b) {
		t.Fatalf("same seed, different schedules:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds, same schedule")
	}
}

func TestNoFaultsWaits(t *testing.T) {
	f := newFake(t, 3)
	if events := runFor(t, f, nil, 1, 20*time.Millisecond); len(events) != 0 {
		t.Fatalf("events without faults: %v", events)
	}
	if len(f.actions) != 0 {
		t.Fatalf("actions without faults: %v", f.actions)
	}
}
