package core_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// Trace tests: each file under testdata/trace is a script of commands
// ("> cmd args") run against real cores on an in-memory network, each
// followed by what it printed (every message delivered, states asked for).
// The test fails when the cores now print anything else; after a change
// that is meant to alter a trace, rewrite the files with
//
//	go test ./raft/core -run TestTraces -update
//
// and read the diff: the files are the review of the protocol's behaviour
// in the cases that are easy to get wrong.
var updateTraces = flag.Bool("update", false, "rewrite raft/core/testdata/trace/*.txt with what the cores print now")

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
// rounds, in a fixed order, and drops what crosses a cut link. It drives
// the cores as package raft's driver does, through their exported methods
// alone (hence package core_test), so that a trace shows what a user of
// the core can make happen and nothing a test could only force.
type trace struct {
	t        *testing.T
	cores    []*core.Core
	ticked   []int               // Tick calls on each core since it started: the driver's clock
	queue    []wire.Message      // sent and not yet delivered
	side     map[wire.NodeID]int // which side of a cut each node is on (0 unless cut off)
	sides    int                 // sides handed out so far
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
	if id >= uint64(len(tr.cores)) {
		tr.fail("no node %d", id)
	}
	return wire.NodeID(id)
}

// run executes one command and returns what it printed; the commands
// themselves are in trace_cmds_test.go.
func (tr *trace) run(args []string) []string {
	if len(args) == 0 {
		return tr.fail("empty command")
	}
	cmd, args := args[0], args[1:]
	if cmd != "nodes" && tr.cores == nil {
		return tr.fail("%s before nodes", cmd)
	}
	h, ok := traceCmds[cmd]
	if !ok {
		return tr.fail("unknown command %q", cmd)
	}
	if h.maxArgs >= 0 && len(args) > h.maxArgs {
		return tr.fail("%s takes at most %d arguments: %q", cmd, h.maxArgs, args)
	}
	return h.run(tr, args)
}
