package nemesis

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/raftkv/raftkv/cmd/kvchaos/internal/cluster"
	"github.com/raftkv/raftkv/cmd/kvchaos/internal/proxy"
)

// Target is what the nemesis acts on; *cluster.Cluster is one.
type Target interface {
	IDs() []uint64
	Leader(ctx context.Context) (uint64, bool)
	Kill(id uint64)
	Restart(id uint64) error
	Pause(id uint64)
	Resume(id uint64)
	SetLink(l cluster.Link, m proxy.Mode)
	HealLinks()
	// Replace removes node id, wipes it and starts it with --join;
	// IsVoter reports whether the cluster has it as a voter.
	Replace(ctx context.Context, id uint64) error
	IsVoter(ctx context.Context, id uint64) bool
}

// Event is one injected fault, from injection to heal, on the history's
// clock.
type Event struct {
	Kind        string // e.g. "kill leader", "partition bridge"
	Description string // e.g. "kill -9 node 2 (leader)"
	Start, End  int64
}

// Options configure the schedule.
type Options struct {
	Faults []Fault
	Seed   uint64
	// Quiet is how long the cluster is left alone between faults; Hold how
	// long a fault lasts. Each is drawn uniformly from [min, max].
	QuietMin, QuietMax time.Duration
	HoldMin, HoldMax   time.Duration
	// Clock stamps events; it is the history recorder's clock.
	Clock  func() int64
	Logger *slog.Logger
}

// Nemesis injects faults until its context ends.
type Nemesis struct {
	t    Target
	opts Options
	rng  *rand.Rand // only Run's goroutine uses it
	log  *slog.Logger

	mu     sync.Mutex // guards events
	events []Event
}

// New returns a nemesis for t; Run starts it.
func New(t Target, opts Options) *Nemesis {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		start := time.Now()
		opts.Clock = func() int64 { return int64(time.Since(start)) }
	}
	return &Nemesis{t: t, opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, 0x6e656d)), log: opts.Logger}
}

// Events returns the faults injected so far.
func (n *Nemesis) Events() []Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.events)
}

// Counts tallies events by kind.
func Counts(events []Event) map[string]int {
	c := map[string]int{}
	for _, e := range events {
		c[e.Kind]++
	}
	return c
}

// Run injects one fault after another until ctx ends. A fault in force
// when ctx ends is healed before Run returns.
func (n *Nemesis) Run(ctx context.Context) {
	if len(n.opts.Faults) == 0 {
		<-ctx.Done()
		return
	}
	for {
		if !n.sleep(ctx, n.opts.QuietMin, n.opts.QuietMax) {
			return
		}
		f := n.opts.Faults[n.rng.IntN(len(n.opts.Faults))]
		kind, desc, heal := n.inject(ctx, f)
		if heal == nil {
			continue // nothing fitting to do (e.g. a partition of one node)
		}
		start := n.opts.Clock()
		n.log.Info("nemesis: fault", "fault", desc)
		n.sleep(ctx, n.opts.HoldMin, n.opts.HoldMax)
		heal()
		ev := Event{Kind: kind, Description: desc, Start: start, End: n.opts.Clock()}
		n.log.Info("nemesis: healed", "fault", desc, "held", time.Duration(ev.End-ev.Start).Round(time.Millisecond))
		n.mu.Lock()
		n.events = append(n.events, ev)
		n.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
	}
}

// sleep waits a random time in [lo, hi]; false if ctx ended first.
func (n *Nemesis) sleep(ctx context.Context, lo, hi time.Duration) bool {
	d := lo
	if hi > lo {
		d += time.Duration(n.rng.Int64N(int64(hi - lo + 1)))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// victim picks the leader half the time (when one is known), else any
// node. The leader is where faults hurt most: it holds the lease, the
// uncommitted tail and the clients' writes. The description says when a
// random pick happens to be the leader.
func (n *Nemesis) victim(ctx context.Context) (uint64, string) {
	ids := n.t.IDs()
	lead, known := n.t.Leader(ctx)
	if n.rng.IntN(2) == 0 && known {
		return lead, "leader"
	}
	id := ids[n.rng.IntN(len(ids))]
	if known && id == lead {
		return id, "random, the leader"
	}
	return id, "random"
}

// inject starts a fault of family f and returns its kind, a description
// and the function that heals it (nil when f cannot apply).
func (n *Nemesis) inject(ctx context.Context, f Fault) (string, string, func()) {
	switch f {
	case Kill:
		id, who := n.victim(ctx)
		n.t.Kill(id)
		return "kill " + kindOf(who), fmt.Sprintf("kill -9 node %d (%s)", id, who), func() { n.restart(id) }
	case Pause:
		id, who := n.victim(ctx)
		n.t.Pause(id)
		return "pause " + kindOf(who), fmt.Sprintf("SIGSTOP node %d (%s)", id, who), func() { n.t.Resume(id) }
	case CrashAll:
		ids := n.t.IDs()
		// Concurrently, so that no node outlives another by more than a
		// moment: the point is that nobody gets to flush anything.
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Go(func() { n.t.Kill(id) })
		}
		wg.Wait()
		return "crash-all", "kill -9 every node", func() {
			for _, id := range ids {
				n.restart(id)
			}
		}
	case Partition:
		return n.partition(ctx)
	case Member:
		id, who := n.victim(ctx)
		if err := n.t.Replace(ctx, id); err != nil {
			n.log.Error("nemesis: replace failed", "node", id, "err", err)
			n.restart(id)
		}
		return "replace " + kindOf(who), fmt.Sprintf("remove node %d (%s), wipe it, add it back with --join", id, who),
			func() { n.waitVoter(id) }
	}
	return "", "", nil
}

// waitVoter waits, boundedly, for a replaced node to be promoted again, so
// that the next fault finds a whole cluster.
func (n *Nemesis) waitVoter(id uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), voterWait)
	defer cancel()
	for !n.t.IsVoter(ctx, id) {
		select {
		case <-ctx.Done():
			n.log.Warn("nemesis: replaced node not a voter yet", "node", id, "waited", voterWait)
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// voterWait bounds waitVoter: catching up plus the leader's promotion
// delay (auto_promote) take a few seconds.
const voterWait = 30 * time.Second

// kindOf is the counting category of a victim description.
func kindOf(who string) string {
	if who == "leader" {
		return who
	}
	return "random"
}

func (n *Nemesis) restart(id uint64) {
	if err := n.t.Restart(id); err != nil {
		n.log.Error("nemesis: restart failed", "node", id, "err", err)
	}
}

// partition cuts links in one of several shapes, dropping or
// black-holing them.
func (n *Nemesis) partition(ctx context.Context) (string, string, func()) {
	ids := n.t.IDs()
	if len(ids) < 2 {
		return "", "", nil
	}
	mode := proxy.Drop
	if n.rng.IntN(2) == 0 {
		mode = proxy.Blackhole
	}
	shapes := []string{"majority/minority", "leader isolated", "one-way"}
	if len(ids) >= 3 {
		shapes = append(shapes, "bridge")
	}
	shape := shapes[n.rng.IntN(len(shapes))]
	var (
		cut  []cluster.Link
		desc string
	)
	switch shape {
	case "majority/minority":
		shuffled := n.shuffled(ids)
		k := 1 + n.rng.IntN(max(1, (len(ids)-1)/2))
		minority, majority := shuffled[:k], shuffled[k:]
		cut = between(minority, majority)
		desc = fmt.Sprintf("%s | %s", group(minority), group(majority))
	case "leader isolated":
		id, who := n.victimLeaderOrRandom(ctx, ids)
		rest := without(ids, id)
		cut = between([]uint64{id}, rest)
		desc = fmt.Sprintf("%s (%s) | %s", group([]uint64{id}), who, group(rest))
	case "one-way":
		cut, desc = n.oneWay(ctx, ids)
	case "bridge":
		shuffled := n.shuffled(ids)
		bridge, rest := shuffled[0], shuffled[1:]
		a, b := rest[:len(rest)/2], rest[len(rest)/2:]
		cut = between(a, b)
		desc = fmt.Sprintf("%s | %s, node %d sees both", group(a), group(b), bridge)
	}
	for _, l := range cut {
		n.t.SetLink(l, mode)
	}
	return "partition " + shape, fmt.Sprintf("partition (%s) %s", mode, desc), n.t.HealLinks
}

// victimLeaderOrRandom is the leader if one is known, else any node.
func (n *Nemesis) victimLeaderOrRandom(ctx context.Context, ids []uint64) (uint64, string) {
	if lead, ok := n.t.Leader(ctx); ok {
		return lead, "leader"
	}
	return ids[n.rng.IntN(len(ids))], "random"
}

// oneWay cuts traffic in one direction only: from one node to all others
// (it hears but is not heard), to one node from all others (it is heard
// but hears nothing), or a single link.
func (n *Nemesis) oneWay(ctx context.Context, ids []uint64) ([]cluster.Link, string) {
	x, who := n.victim(ctx)
	rest := without(ids, x)
	switch n.rng.IntN(3) {
	case 0:
		return between1(x, rest), fmt.Sprintf("node %d (%s) ↛ %s", x, who, group(rest))
	case 1:
		var cut []cluster.Link
		for _, o := range rest {
			cut = append(cut, cluster.Link{From: o, To: x})
		}
		return cut, fmt.Sprintf("%s ↛ node %d (%s)", group(rest), x, who)
	default:
		to := rest[n.rng.IntN(len(rest))]
		return []cluster.Link{{From: x, To: to}}, fmt.Sprintf("node %d (%s) ↛ node %d", x, who, to)
	}
}

func (n *Nemesis) shuffled(ids []uint64) []uint64 {
	s := slices.Clone(ids)
	n.rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s
}

// between is every link from a to b and from b to a.
func between(a, b []uint64) []cluster.Link {
	var cut []cluster.Link
	for _, x := range a {
		for _, y := range b {
			cut = append(cut, cluster.Link{From: x, To: y}, cluster.Link{From: y, To: x})
		}
	}
	return cut
}

// between1 is every link from x to the others.
func between1(x uint64, others []uint64) []cluster.Link {
	var cut []cluster.Link
	for _, o := range others {
		cut = append(cut, cluster.Link{From: x, To: o})
	}
	return cut
}

func without(ids []uint64, x uint64) []uint64 {
	var out []uint64
	for _, id := range ids {
		if id != x {
			out = append(out, id)
		}
	}
	return out
}

func group(ids []uint64) string {
	s := slices.Clone(ids)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	parts := make([]string, len(s))
	for i, id := range s {
		parts[i] = fmt.Sprint(id)
	}
	return "{" + strings.Join(parts, ",") + "}"
}
