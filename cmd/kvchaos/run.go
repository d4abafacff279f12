package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/raftkv/raftkv/cmd/kvchaos/internal/cluster"
	"github.com/raftkv/raftkv/cmd/kvchaos/internal/history"
	"github.com/raftkv/raftkv/cmd/kvchaos/internal/nemesis"
	"github.com/raftkv/raftkv/cmd/kvchaos/internal/workload"
)

// Phases' time limits.
const (
	leaderTimeout     = 30 * time.Second // first election, and again after healing
	finalReadsTimeout = 30 * time.Second
	// leaseSlack is how long past its TTL an abandoned lease may take to
	// expire once the cluster is healed: an election, and a lessor tick.
	leaseSlack = 20 * time.Second
	// explainStep bounds each check while a violation is pinned down; the
	// search runs about log2(operations per key) of them.
	explainStep = 20 * time.Second
)

// Nemesis pacing: a few seconds of calm between faults that last a few
// seconds, so a minute sees about ten faults and the cluster recovers in
// between (a fault right after another finds out less).
const (
	quietMin, quietMax = 1 * time.Second, 3 * time.Second
	holdMin, holdMax   = 2 * time.Second, 6 * time.Second
)

// report is everything the summary prints.
type report struct {
	opts         options
	dir          string
	ops          []history.Op
	events       []nemesis.Event
	exits        []cluster.Exit
	finalErr     error
	leaseMissing bool
	leases       workload.LeaseResult
	leasesOff    bool // the server refused grants
	result       history.Result
	htmlPath     string
	findings     []history.Finding
	notes        []history.Annotation
	elapsed      time.Duration
}

// chaos runs one whole experiment and returns nil only when the history
// was proven linearizable and no node failed.
func chaos(ctx context.Context, o options, stdout, stderr io.Writer) error {
	if o.seed == 0 {
		o.seed = rand.Uint64()%1_000_000_000 + 1 // short enough to type back in
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))
	dir, err := runDir(o.out)
	if err != nil {
		return &codeError{exitHarness, err}
	}
	fmt.Fprintf(stdout, "kvchaos: seed %d, %d nodes, %d clients, %d keys, %s, faults %s\nkvchaos: run directory %s\n",
		o.seed, o.nodes, o.clients, o.keys, o.duration, faultList(o.faults), dir)

	rep, err := experiment(ctx, o, dir, logger)
	if err != nil {
		fmt.Fprintf(stdout, "kvchaos: run directory kept: %s\n", dir)
		return &codeError{exitHarness, err}
	}
	code := rep.code()
	printSummary(stdout, rep)
	if code == exitOK && o.out == "" && !o.keep {
		if err := os.RemoveAll(dir); err != nil {
			logger.Warn("remove run directory", "dir", dir, "err", err)
		}
		fmt.Fprintf(stdout, "run directory removed (clean run; --keep keeps it)\n")
	} else {
		fmt.Fprintf(stdout, "run directory kept: %s (node logs in logs/, history in history.jsonl)\n", dir)
	}
	switch code {
	case exitOK:
		return nil
	case exitInconclusive:
		return &codeError{code, errors.New("the checker timed out: the history was NOT proven linearizable")}
	}
	return &codeError{code, errors.New(rep.failure())}
}

func runDir(out string) (string, error) {
	if out == "" {
		dir, err := os.MkdirTemp("", "kvchaos-")
		if err != nil {
			return "", fmt.Errorf("create run directory: %w", err)
		}
		return dir, nil
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("create run directory: %w", err)
	}
	// A reused --out must not mix an old cluster's data into this run.
	if entries, err := os.ReadDir(out); err != nil {
		return "", fmt.Errorf("read run directory: %w", err)
	} else if len(entries) > 0 {
		return "", fmt.Errorf("run directory %s is not empty", out)
	}
	return filepath.Abs(out)
}

// experiment builds, starts, runs, heals and checks. An error means the
// harness could not do its job; findings go into the report.
func experiment(ctx context.Context, o options, dir string, logger *slog.Logger) (*report, error) {
	began := time.Now()
	bin := o.kvserver
	if bin == "" {
		logger.Info("building kvserver")
		var err error
		if bin, err = cluster.BuildServer(ctx, dir); err != nil {
			return nil, err
		}
	}
	cl, err := cluster.Start(cluster.Options{Nodes: o.nodes, Bin: bin, Dir: dir, Logger: logger})
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	lead, err := cl.WaitLeader(ctx, leaderTimeout)
	if err != nil {
		return nil, fmt.Errorf("cluster did not start: %w (node logs in %s)", err, filepath.Join(dir, "logs"))
	}
	logger.Info("cluster up", "leader", lead)

	rec := history.NewRecorder()
	nodes := map[uint64]string{}
	for _, id := range cl.IDs() {
		nodes[id] = cl.HTTPAddr(id)
	}
	wl := workload.New(workload.Options{Clients: o.clients, Keys: o.keys, Nodes: nodes, Lease: o.lease,
		WriteRetries: o.writeRetries, Timeout: o.opTimeout, Rate: o.rate, Seed: o.seed,
		Lessees: o.lessees, LeaseTTL: o.leaseTTL,
		RunID: fmt.Sprintf("chaos%d", o.seed), Logger: logger}, rec)
	defer wl.Close()
	nem := nemesis.New(cl, nemesis.Options{Faults: o.faults, Seed: o.seed, QuietMin: quietMin, QuietMax: quietMax,
		HoldMin: holdMin, HoldMax: holdMax, Clock: rec.Now, Logger: logger})

	nctx, stopNemesis := context.WithCancel(ctx)
	defer stopNemesis()
	stopClients := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { nem.Run(nctx) })
	wg.Go(func() { wl.Run(context.WithoutCancel(ctx), stopClients) })
	timer := time.NewTimer(o.duration)
	select {
	case <-timer.C:
	case <-ctx.Done():
		timer.Stop()
		logger.Warn("interrupted: healing and checking what was recorded")
	}
	stopNemesis()
	close(stopClients)
	wg.Wait()

	// Heal everything and look at what is left. An interrupt must not cut
	// this short: a cluster left half-partitioned proves nothing.
	hctx := context.WithoutCancel(ctx)
	rep := &report{opts: o, dir: dir, events: nem.Events()}
	if err := cl.HealAll(); err != nil {
		rep.finalErr = fmt.Errorf("heal: %w", err)
	} else if _, err := cl.WaitLeader(hctx, leaderTimeout); err != nil {
		rep.finalErr = fmt.Errorf("after healing: %w", err)
	} else if err := wl.FinalReads(hctx, o.clients, finalReadsTimeout); err != nil {
		rep.finalErr = fmt.Errorf("final state unreadable: %w", err)
	}
	if rep.finalErr == nil {
		recs := wl.FinalLeases(hctx, leaseSlack)
		rep.leases = workload.CheckLeases(recs)
		if err := writeJSONLines(filepath.Join(dir, "leases.jsonl"), recs); err != nil {
			logger.Warn("write leases", "err", err)
		}
	}
	rep.leasesOff = wl.LeasesRefused()
	rep.exits = cl.Exits()
	rep.leaseMissing = wl.LeaseMissing()
	rep.ops = rec.Ops()
	if err := writeJSONLines(filepath.Join(dir, "history.jsonl"), rep.ops); err != nil {
		logger.Warn("write history", "err", err)
	}
	if err := writeJSONLines(filepath.Join(dir, "faults.jsonl"), rep.events); err != nil {
		logger.Warn("write faults", "err", err)
	}

	logger.Info("checking the history", "ops", len(rep.ops), "timeout", o.checkTimeout)
	rep.result = history.Check(rep.ops, o.checkTimeout)
	rep.notes = annotations(rep.events, rep.exits, rec.Start())
	if rep.result.Verdict == history.NotLinearizable {
		rep.htmlPath = filepath.Join(dir, "violation.html")
		if err := rep.result.Visualize(rep.htmlPath, rep.notes); err != nil {
			logger.Error("write visualization", "err", err)
			rep.htmlPath = ""
		}
	}
	if rep.result.Verdict != history.Linearizable {
		logger.Info("pinning the violation down")
		rep.findings = history.Explain(rep.ops, min(o.checkTimeout, explainStep))
	}
	rep.elapsed = time.Since(began)
	return rep, nil
}

// annotations put the faults, and nodes that died by themselves, on the
// visualization's timeline.
func annotations(events []nemesis.Event, exits []cluster.Exit, start time.Time) []history.Annotation {
	var out []history.Annotation
	for _, e := range events {
		out = append(out, history.Annotation{Start: e.Start, End: e.End, Tag: "nemesis", Description: e.Description})
	}
	for _, x := range exits {
		at := int64(x.At.Sub(start))
		out = append(out, history.Annotation{Start: at, End: at, Tag: "node exits",
			Description: fmt.Sprintf("node %d exited: %s", x.Node, x.Err)})
	}
	return out
}

// writeJSONLines writes one JSON document per element of items.
func writeJSONLines[T any](path string, items []T) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	enc := json.NewEncoder(f)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

func faultList(fs []nemesis.Fault) string {
	if len(fs) == 0 {
		return "none"
	}
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = string(f)
	}
	return strings.Join(parts, ",")
}

// code is the exit code the report calls for. A violation outranks
// everything; "unknown" never passes.
func (r *report) code() int {
	switch {
	case r.result.Verdict == history.NotLinearizable, len(r.exits) > 0, r.finalErr != nil, len(r.leases.Violations) > 0:
		return exitFailed
	case r.result.Verdict != history.Linearizable:
		return exitInconclusive
	}
	return exitOK
}

func (r *report) failure() string {
	var parts []string
	if r.result.Verdict == history.NotLinearizable {
		p := "the history is NOT linearizable"
		if r.htmlPath != "" {
			p += " (see " + r.htmlPath + ")"
		}
		parts = append(parts, p)
	}
	if len(r.exits) > 0 {
		parts = append(parts, fmt.Sprintf("%d node exit(s) the harness did not cause", len(r.exits)))
	}
	if r.finalErr != nil {
		parts = append(parts, r.finalErr.Error())
	}
	if n := len(r.leases.Violations); n > 0 {
		parts = append(parts, fmt.Sprintf("%d lease violation(s)", n))
	}
	return strings.Join(parts, "; ")
}
