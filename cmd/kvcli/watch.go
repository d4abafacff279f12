package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/api/client"
)

const (
	defaultInterval = time.Second
	// minInterval keeps a typo (--interval 1ms) from hammering every node.
	minInterval = 10 * time.Millisecond
	// minRefreshWait is the least a refresh waits for a node before showing
	// it unreachable, however short the interval: a busy node that answers
	// in 150ms should not flicker between up and down.
	minRefreshWait = time.Second
)

// watchOpts are status's --watch flags.
type watchOpts struct {
	on       bool
	interval time.Duration
	count    int // refreshes before exiting; 0 = until Ctrl-C
}

func (w *watchOpts) addFlags(cmd *cobra.Command) {
	w.interval = defaultInterval
	f := cmd.Flags()
	f.BoolVarP(&w.on, "watch", "w", false, "refresh every --interval until Ctrl-C, highlighting changes of leader")
	f.Var(intervalValue{&w.interval}, "interval", "time between refreshes with --watch (1s, 500ms; a bare number is seconds)")
	f.IntVar(&w.count, "count", 0, "with --watch, exit after N refreshes (default: run until Ctrl-C)")
}

func (w *watchOpts) check(cmd *cobra.Command) error {
	f := cmd.Flags()
	if !w.on {
		for _, name := range []string{"interval", "count"} {
			if f.Changed(name) {
				return usageErr(fmt.Errorf("--%s needs --watch", name))
			}
		}
		return nil
	}
	switch {
	case w.interval < minInterval:
		return usageErr(fmt.Errorf("--interval %s: want at least %s", w.interval, minInterval))
	case w.count < 0:
		return usageErr(fmt.Errorf("--count %d is negative", w.count))
	}
	return nil
}

// intervalValue is a duration flag that also takes a bare number of
// seconds, as watch -n does.
type intervalValue struct{ d *time.Duration }

func (v intervalValue) String() string {
	if v.d == nil {
		return ""
	}
	return v.d.String()
}

func (v intervalValue) Set(s string) error {
	if d, err := time.ParseDuration(s); err == nil {
		*v.d = d
		return nil
	}
	secs, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(secs) || math.IsInf(secs, 0) || math.Abs(secs) > math.MaxInt64/float64(time.Second) {
		return errors.New("want a duration such as 1s or 500ms, or a number of seconds")
	}
	*v.d = time.Duration(secs * float64(time.Second))
	return nil
}

func (intervalValue) Type() string { return "duration" }

// watchStatus shows the cluster's status every interval until Ctrl-C (in
// the shell: until the session cancels ctx), which is a normal end (exit
// 0), or until count refreshes. A refresh in which no node answers is
// shown as such, and the watch goes on: that is what there is to see.
func (a *app) watchStatus(ctx context.Context, c *client.Client, o watchOpts) (err error) {
	ctx, stop := a.interruptible(ctx)
	defer stop()
	w := &watcher{out: a.stdout, tty: a.stdoutTTY, json: a.json(), interval: o.interval, termSize: a.termSize}
	if err := w.begin(); err != nil {
		return err
	}
	defer func() {
		if endErr := w.end(ctx.Err() != nil); err == nil {
			err = endErr
		}
	}()
	wait := min(a.timeout, max(o.interval, minRefreshWait))
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for n := 1; ; n++ {
		at := time.Now()
		rctx, cancel := context.WithTimeout(ctx, wait)
		nodes := c.StatusCluster(rctx)
		cancel()
		if ctx.Err() != nil {
			return nil // interrupted mid-refresh: its errors are not the cluster's
		}
		if err := w.show(at, newClusterView(nodes)); err != nil {
			return fmt.Errorf("write status: %w", err)
		}
		if o.count > 0 && n >= o.count {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
