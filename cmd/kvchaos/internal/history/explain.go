package history

import (
	"fmt"
	"io"
	"sort"
	"time"
)

// Finding pins a violation down to one operation: on Key, the history as
// it stood when Culprit completed is not linearizable, while it was just
// before. Usually the culprit is a read that returned what no
// linearization allows.
type Finding struct {
	Key     string
	Culprit Op
	// Proven is false when the checker only ran out of time from the
	// culprit on (while everything before checked fast): the typical sign
	// of a violation among many concurrent operations, but not a proof.
	Proven bool
	// Before are the last operations on Key that completed before the
	// culprit began; Overlapping those that ran while it did.
	Before, Overlapping []Op
	// Pending counts earlier writes of unknown outcome: each may take
	// effect at any time, so the checker weighs them all.
	Pending int
}

// How many operations around the culprit to show: the last completed
// before it, and the first concurrent with it.
const (
	contextOps    = 8
	concurrentOps = 16
)

// Explain finds, for each key whose history is not proven linearizable,
// the operation at which it stops being so, checking each candidate
// prefix for at most step. A key whose check times out is searched too,
// with a timeout counting as failure; its finding is then not Proven.
func Explain(ops []Op, step time.Duration) []Finding {
	byKey := map[string][]Op{}
	for _, op := range ops {
		byKey[op.Key] = append(byKey[op.Key], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []Finding
	for _, k := range keys {
		if f, ok := explainKey(k, byKey[k], step); ok {
			out = append(out, f)
		}
	}
	return out
}

func explainKey(key string, ops []Op, step time.Duration) (Finding, bool) {
	if Check(ops, step).Verdict == Linearizable {
		return Finding{}, false
	}
	// Completion times are the points at which the history can first be
	// seen to fail. The history observed at time t is linearizable for
	// every t up to some first failing one: find that by bisection.
	var ends []int64
	for _, op := range ops {
		if op.Outcome == OK {
			ends = append(ends, op.Return)
		}
	}
	sort.Slice(ends, func(i, j int) bool { return ends[i] < ends[j] })
	verdicts := map[int]Verdict{}
	i := sort.Search(len(ends), func(i int) bool {
		verdicts[i] = Check(observedAt(ops, ends[i]), step).Verdict
		return verdicts[i] != Linearizable
	})
	if i == len(ends) {
		return Finding{}, false // only the full history fails (e.g. unknown writes): nothing to pin
	}
	t := ends[i]
	f := Finding{Key: key, Proven: verdicts[i] == NotLinearizable}
	sorted := append([]Op(nil), ops...)
	sort.SliceStable(sorted, func(a, b int) bool { return sorted[a].Return < sorted[b].Return })
	for _, op := range sorted {
		if op.Outcome == OK && op.Return == t {
			f.Culprit = op
			break
		}
	}
	for _, op := range sorted {
		switch {
		case op.Outcome == Failed || op == f.Culprit:
		case op.Return < f.Culprit.Call && op.Outcome == OK:
			f.Before = append(f.Before, op)
		case op.Call <= f.Culprit.Return && op.Return >= f.Culprit.Call:
			f.Overlapping = append(f.Overlapping, op)
		case op.Outcome == Unknown && op.Call < f.Culprit.Call:
			f.Pending++
		}
	}
	if len(f.Before) > contextOps {
		f.Before = f.Before[len(f.Before)-contextOps:]
	}
	return f, true
}

// observedAt is the history as a client could have known it at time t:
// operations invoked by then; reads not complete by then are left out
// (a read changes nothing) and writes not complete by then are unknown.
// Every such prefix of a linearizable history is linearizable.
func observedAt(ops []Op, t int64) []Op {
	var out []Op
	for _, op := range ops {
		if op.Call > t {
			continue
		}
		if op.Return > t && op.Outcome == OK {
			if op.Kind == Get {
				continue
			}
			op.Outcome = Unknown
		}
		out = append(out, op)
	}
	return out
}

// Print writes the finding as a few readable lines; notes (faults) that
// overlap the culprit are listed with it.
func (f Finding) Print(w io.Writer, notes []Annotation) {
	if f.Proven {
		fmt.Fprintf(w, "key %s stops being linearizable at:\n  %s\n", f.Key, describe(f.Culprit))
	} else {
		fmt.Fprintf(w, "key %s: the history up to just before this operation checks fast, with it the checker "+
			"times out (likely a violation, NOT proven):\n  %s\n", f.Key, describe(f.Culprit))
	}
	for _, n := range notes {
		if n.Start <= f.Culprit.Return && n.End >= f.Culprit.Call {
			fmt.Fprintf(w, "  during fault: %s (%s to %s)\n", n.Description, secs(n.Start), secs(n.End))
		}
	}
	fmt.Fprintf(w, "last operations on %s completed before it began:\n", f.Key)
	for _, op := range f.Before {
		fmt.Fprintf(w, "  %s\n", describe(op))
	}
	fmt.Fprintf(w, "operations on %s concurrent with it:\n", f.Key)
	for i, op := range f.Overlapping {
		if i == concurrentOps {
			fmt.Fprintf(w, "  ... and %d more (see the visualization)\n", len(f.Overlapping)-i)
			break
		}
		fmt.Fprintf(w, "  %s\n", describe(op))
	}
	if f.Pending > 0 {
		fmt.Fprintf(w, "and %d earlier writes on %s of unknown outcome, which may take effect at any time\n", f.Pending, f.Key)
	}
}

func describe(op Op) string {
	what := ""
	switch op.Kind {
	case Put:
		what = fmt.Sprintf("put %s", op.Value)
	case Delete:
		what = "delete"
	case Cas:
		expect := op.Expect
		if op.ExpectAbsent {
			expect = "absent"
		}
		what = fmt.Sprintf("cas %s -> %s, succeeded %v", expect, op.Value, op.Succeeded)
	default:
		what = "get -> absent"
		if op.Found {
			what = "get -> " + op.Value
		}
		what += " (" + op.Consistency + ")"
	}
	s := fmt.Sprintf("[%s .. %s] client %d via node %d: %s", secs(op.Call), secs(op.Return), op.Client, op.Node, what)
	if op.Outcome != OK {
		s += ", outcome " + op.Outcome.String() + ": " + op.Err
	}
	if op.Attempts > 1 {
		s += fmt.Sprintf(", %d attempts", op.Attempts)
	}
	return s
}

// secs renders a history time as seconds since the start of the run.
func secs(t int64) string { return fmt.Sprintf("%.3fs", float64(t)/1e9) }
