package raft

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

// Trace tests: each file under testdata/trace is a script of commands
// ("> cmd args") run against real cores on an in-memory network, each
// followed by what it printed (every message delivered, states asked for).
// The test fails when the cores now print anything else; after a change
// that is meant to alter a trace, rewrite the files with
//
//	go test ./raft -run TestTraces -update
//
// and read the diff: the files are the review of the protocol's behaviour
// in the cases that are easy to get wrong.
var updateTraces = flag.Bool("update", false, "rewrite raft/testdata/trace/*.txt with what the cores print now")

func TestTraces(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "trace", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no trace files: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got := runTrace(t, string(b))
			if got == string(b) {
				return
			}
			if *updateTraces {
				if err := os.WriteFile(f, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			t.Errorf("%s: the cores printed something else; first difference:\n%s\n(-update rewrites the file)", f, firstDiff(string(b), got))
		})
	}
}

// firstDiff shows the first line where want and got differ, with context.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want %q\n  got  %q", i+1, wl, gl)
		}
	}
	return "(none)"
}

// runTrace runs script and returns it with each command's output in place
// of what followed it: comments and blank lines before a command are kept.
func runTrace(t *testing.T, script string) string {
	tr := &trace{t: t}
	var out strings.Builder
	for _, line := range strings.Split(strings.TrimRight(script, "\n"), "\n") {
		cmd, ok := strings.CutPrefix(line, "> ")
		switch {
		case ok:
			out.WriteString(line + "\n")
			for _, l := range tr.run(strings.Fields(cmd)) {
				out.WriteString(l + "\n")
			}
			tr.inOutput = true
		case strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "":
			tr.inOutput = false
			out.WriteString(line + "\n")
		case !tr.inOutput:
			t.Fatalf("trace line %q is neither a command, a comment nor output", line)
		}
	}
	return out.String()
}

// trace is the state of one script: cores on a network that delivers in
// rounds, in a fixed order, and drops what crosses a cut link.
type trace struct {
	t        *testing.T
	net      *testNet
	cut      map[wire.NodeID]bool // isolated nodes
	inOutput bool
}

func (tr *trace) fail(format string, args ...any) []string {
	tr.t.Fatalf("trace: "+format, args...)
	return nil
}

// arg is args[i], failing the script when the command lacks it.
func (tr *trace) arg(args []string, i int) string {
	if i >= len(args) {
		tr.fail("argument %d missing in %q", i+1, args)
	}
	return args[i]
}

// num is args[i] as a number.
func (tr *trace) num(args []string, i int) uint64 { return tr.parse(tr.arg(args, i)) }

func (tr *trace) parse(s string) uint64 {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		tr.fail("%q is not a number", s)
	}
	return v
}

// node is args[i] as a node of the script's cluster.
func (tr *trace) node(args []string, i int) wire.NodeID {
	id := tr.num(args, i)
	if tr.net == nil || id >= uint64(len(tr.net.cores)) {
		tr.fail("no node %d", id)
	}
	return wire.NodeID(id)
}

func (tr *trace) run(args []string) []string {
	if len(args) == 0 {
		return tr.fail("empty command")
	}
	cmd, args := args[0], args[1:]
	if cmd != "nodes" && tr.net == nil {
		return tr.fail("%s before nodes", cmd)
	}
	switch cmd {
	case "nodes": // nodes N [prevote] [checkquorum]
		n := int(tr.num(args, 0))
		if n < 1 {
			return tr.fail("nodes %d", n)
		}
		tr.net = newTestNetN(tr.t, n, func(c *Config) {
			c.PreVote = slices.Contains(args, "prevote")
			c.CheckQuorum = slices.Contains(args, "checkquorum")
		})
		tr.cut = map[wire.NodeID]bool{}
		return nil
	case "restart": // restart ID TERM T1,T2,...: the node comes back with this term and log
		id, term := tr.node(args, 0), tr.num(args, 1)
		var terms []uint64
		for _, s := range strings.Split(tr.arg(args, 2), ",") {
			terms = append(terms, tr.parse(s))
		}
		cfg := tr.net.cores[id].cfg
		tr.net.cores[id] = mustCore(tr.t, cfg, wire.HardState{Term: term}, logOf(terms...), 0)
		return nil
	case "campaign": // campaign ID: its election timeout fires now
		for _, c := range tr.net.cores {
			c.ticks = max(c.ticks, uint64(c.cfg.ElectionTickMin)) // voters' leases long over
		}
		tr.net.cores[tr.node(args, 0)].campaign(false)
		return nil
	case "tick": // tick ID [N]
		n := uint64(1)
		if len(args) > 1 {
			n = tr.num(args, 1)
		}
		c := tr.net.cores[tr.node(args, 0)]
		for range n {
			c.Tick()
		}
		return nil
	case "propose": // propose ID DATA
		idx, term, err := tr.net.cores[tr.node(args, 0)].Propose([]byte(tr.arg(args, 1)))
		if err != nil {
			return []string{"refused: " + err.Error()}
		}
		return []string{fmt.Sprintf("index %d term %d", idx, term)}
	case "transfer": // transfer FROM TO
		if err := tr.net.cores[tr.node(args, 0)].TransferLeader(tr.node(args, 1)); err != nil {
			return []string{"refused: " + err.Error()}
		}
		return nil
	case "isolate": // isolate ID: nothing to or from it arrives
		tr.cut[tr.node(args, 0)] = true
		return nil
	case "heal":
		tr.cut = map[wire.NodeID]bool{}
		return nil
	case "stabilize": // deliver rounds of messages until none is left
		return tr.stabilize()
	case "status":
		var out []string
		for id, c := range tr.net.cores {
			out = append(out, fmt.Sprintf("%d: %v term=%d lead=%s commit=%d log=%v", id, c.role, c.term, leadName(c.lead), c.log.committed, termsOf(c)))
		}
		return out
	}
	return tr.fail("unknown command %q", cmd)
}

func leadName(id wire.NodeID) string {
	if id == wire.None {
		return "none"
	}
	return strconv.FormatUint(uint64(id), 10)
}

// stabilize delivers round after round: every message every core has
// ready, in the order of their senders and then of the cores' own output,
// each printed; one that crosses a cut link is printed as dropped.
func (tr *trace) stabilize() []string {
	var out []string
	for round := 0; ; round++ {
		if round > 1000 {
			return tr.fail("messages still flowing after 1000 rounds")
		}
		tr.net.collect()
		q := tr.net.queue
		tr.net.queue = nil
		if len(q) == 0 {
			return out
		}
		slices.SortStableFunc(q, func(a, b wire.Message) int { return int(a.From) - int(b.From) })
		for _, m := range q {
			if tr.cut[m.From] || tr.cut[m.To] {
				out = append(out, "dropped "+formatMsg(m))
				continue
			}
			out = append(out, formatMsg(m))
			tr.net.cores[m.To].Step(m)
		}
	}
}

// formatMsg prints a message's fields that are set.
func formatMsg(m wire.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d->%d %v term=%d", m.From, m.To, m.Type, m.Term)
	field := func(name string, v uint64) {
		if v != 0 {
			fmt.Fprintf(&b, " %s=%d", name, v)
		}
	}
	field("logterm", m.LogTerm)
	field("index", m.Index)
	field("commit", m.Commit)
	if m.Reject {
		b.WriteString(" reject")
		field("hint", m.RejectHint)
	}
	field("context", m.Context)
	if len(m.Entries) > 0 {
		var ents []string
		for _, e := range m.Entries {
			s := fmt.Sprintf("%d/%d", e.Term, e.Index)
			if len(e.Data) > 0 {
				s += fmt.Sprintf(":%q", e.Data)
			}
			ents = append(ents, s)
		}
		fmt.Fprintf(&b, " entries=[%s]", strings.Join(ents, " "))
	}
	return b.String()
}
