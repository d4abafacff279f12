// Package nemesis injects faults into a running cluster, one at a time,
// on a schedule drawn from a seeded random generator: crashes, pauses,
// partitions of many shapes, and a crash of every node at once.
package nemesis

import (
	"fmt"
	"slices"
	"strings"
)

// Fault is a family of faults that can be switched on.
type Fault string

const (
	Kill      Fault = "kill"      // kill -9 of the leader or a random node, restarted later
	Pause     Fault = "pause"     // SIGSTOP of the leader or a random node, SIGCONT later
	Partition Fault = "partition" // network partitions through the link proxies
	CrashAll  Fault = "crash-all" // kill -9 of every node at once, all restarted later
	// Member replaces a node as an operator would: remove it, wipe it,
	// and add it back with --join (a learner, promoted once caught up).
	Member Fault = "member"
)

// All is every fault, in a fixed order.
var All = []Fault{Kill, Pause, Partition, CrashAll, Member}

// ParseFaults parses a comma list of faults, "all", or "none".
func ParseFaults(s string) ([]Fault, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "all":
		return slices.Clone(All), nil
	case "none", "":
		return nil, nil
	}
	var out []Fault
	for _, part := range strings.Split(s, ",") {
		f := Fault(strings.TrimSpace(part))
		if !slices.Contains(All, f) {
			return nil, fmt.Errorf("unknown fault %q (want a comma list of kill, pause, partition, crash-all, member; or all, none)", part)
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}
