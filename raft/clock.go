package raft

import "time"

// clock is the time the driver reads: when the core is due its ticks
// (tickUpTo), and when forwarded proposals expire. The wall clock in
// production; a test injects one it moves by hand (NodeConfig.clock).
// Metrics durations and event timestamps stay on the wall clock.
type clock interface {
	Now() time.Time
	// Ticker returns a channel that wakes the driver about every d, and
	// a function that stops it. A wake-up only prompts the driver to
	// look at Now: tickUpTo counts ticks from Now, not from wake-ups.
	Ticker(d time.Duration) (<-chan time.Time, func())
}

// wallClock is the clock of time.Now and time.Ticker (monotonic).
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) Ticker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}
