package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/raftkv/raftkv/cmd/kvchaos/internal/history"
	"github.com/raftkv/raftkv/cmd/kvchaos/internal/nemesis"
)

func printSummary(w io.Writer, r *report) {
	o := r.opts
	fmt.Fprintf(w, "\n=== kvchaos summary (seed %d) ===\n", o.seed)
	fmt.Fprintf(w, "cluster     %d nodes, %d clients, %d keys, %s of faults (%s), %s in all\n",
		o.nodes, o.clients, o.keys, o.duration, faultList(o.faults), r.elapsed.Round(time.Second))

	counts := history.Count(r.ops)
	fmt.Fprintf(w, "operations  %d: %d ok, %d unknown outcome, %d failed (no effect)\n", len(r.ops),
		counts.Total(history.OK), counts.Total(history.Unknown), counts.Total(history.Failed))
	for _, k := range []history.Kind{history.Get, history.Put, history.Delete, history.Cas} {
		c := counts[k]
		line := fmt.Sprintf("  %-7s %6d ok %6d unknown %6d failed", k, c[history.OK], c[history.Unknown], c[history.Failed])
		if k == history.Get {
			line += "   " + readKinds(r.ops)
		}
		fmt.Fprintln(w, line)
	}
	if retried := retriedWrites(r.ops); retried > 0 {
		fmt.Fprintf(w, "  %d writes were resent with their Request-Id\n", retried)
	}
	if r.leaseMissing {
		fmt.Fprintln(w, "  lease reads: the server refused ?consistency=lease (400); those reads went linearizable")
	}

	printLeases(w, r)
	fmt.Fprintf(w, "faults      %d injected\n", len(r.events))
	fc := nemesis.Counts(r.events)
	kinds := make([]string, 0, len(fc))
	for k := range fc {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "  %-28s %d\n", k, fc[k])
	}

	if len(r.exits) == 0 {
		fmt.Fprintln(w, "nodes       no node died by itself")
	}
	for _, x := range r.exits {
		fmt.Fprintf(w, "nodes       node %d EXITED by itself: %s (log: logs/node-%d.log)\n", x.Node, x.Err, x.Node)
	}
	if r.finalErr != nil {
		fmt.Fprintf(w, "final state FAILED: %v\n", r.finalErr)
	} else {
		fmt.Fprintln(w, "final state healed, leader elected, every key read from every node")
	}

	res := r.result
	fmt.Fprintf(w, "check       %s (%d operations checked in %s)\n", res.Verdict, res.Checked, res.Duration.Round(time.Millisecond))
	if r.htmlPath != "" {
		fmt.Fprintf(w, "            visualization: %s\n", r.htmlPath)
	}
	for _, f := range r.findings {
		fmt.Fprintln(w)
		f.Print(w, r.notes)
	}
	fmt.Fprintf(w, "seed        %d (replay the fault schedule with --seed %d)\n", o.seed, o.seed)
}

// readKinds counts checked reads by consistency level.
func readKinds(ops []history.Op) string {
	byLevel := map[string]int{}
	for _, op := range ops {
		if op.Kind == history.Get && op.Outcome == history.OK {
			byLevel[op.Consistency]++
		}
	}
	levels := make([]string, 0, len(byLevel))
	for l := range byLevel {
		levels = append(levels, l)
	}
	slices.Sort(levels)
	parts := make([]string, len(levels))
	for i, l := range levels {
		parts[i] = fmt.Sprintf("%s %d", l, byLevel[l])
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func retriedWrites(ops []history.Op) int {
	n := 0
	for _, op := range ops {
		if op.Kind != history.Get && op.Attempts > 1 {
			n++
		}
	}
	return n
}

func printLeases(w io.Writer, r *report) {
	l := r.leases
	switch {
	case r.opts.lessees == 0:
		return
	case r.leasesOff:
		fmt.Fprintln(w, "leases      the server refused the lessees' grants (400); leases not checked")
		return
	}
	verdict := "none gone before its TTL, every abandoned one expired"
	if len(l.Violations) > 0 {
		verdict = fmt.Sprintf("%d VIOLATION(S)", len(l.Violations))
	}
	fmt.Fprintf(w, "leases      %d granted (%d with a key, checked), %d keepalives acknowledged, %d seen expiring: %s\n",
		l.Leases, l.Checked, l.KeepAlives, l.Expired, verdict)
	for _, v := range l.Violations {
		fmt.Fprintf(w, "  %s\n", v)
	}
}
