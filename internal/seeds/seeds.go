// Package seeds gives seeded tests one -seed flag, so that a failure
// printed by any of them (core, simulation) replays the same way:
// go test ./raft/... -run TestName -seed 17.
package seeds

import "flag"

var only = flag.Uint64("seed", 0, "replay only this seed (e.g. -run TestSimRandomFaults -seed 17)")

// List returns the seeds a test runs: the -seed flag when given (to
// replay a failure), else 1..n.
func List(n int) []uint64 {
	if *only != 0 {
		return []uint64{*only}
	}
	s := make([]uint64, n)
	for i := range s {
		s[i] = uint64(i + 1)
	}
	return s
}
