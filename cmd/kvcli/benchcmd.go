package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/cmd/kvcli/internal/bench"
)

func benchCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench write|read|mixed",
		Short: "Measure throughput and latency with concurrent clients",
		Long: "Run a closed-loop benchmark: --clients clients, each sending its next request as soon as\n" +
			"the previous answer has been read, over keep-alive connections. Latency is measured per\n" +
			"request, from just before it is sent to after the answer's body is read, and kept in an\n" +
			"HDR histogram; failed requests are counted by kind, not timed. Requests go to the leader\n" +
			"(found through /v1/status) unless --spread sends them round-robin to every endpoint.\n" +
			"Progress goes to stderr once a second: one line rewritten in place on a terminal, one line\n" +
			"per second otherwise. Ctrl-C stops the run and prints what was measured.\n\n" +
			"The report ends with what the leader counted meanwhile (from its /metrics, read before and\n" +
			"after the run): fsyncs, their mean time, entries per fsync, per AppendEntries message and per\n" +
			"apply, proposals per batch.\n\n" +
			"--protocol etcd-v2 drives etcd's v2 keys API instead (etcd 3.4 with --enable-v2), with the\n" +
			"same clients and values: PUT /v2/keys/KEY (form value=...), GET /v2/keys/KEY?quorum=true\n" +
			"(--consistency stale: without quorum), the leader found through /v2/stats/self.",
		Args: cobra.NoArgs, // so that an unknown mode is an error, not this help
		RunE: func(*cobra.Command, []string) error {
			return usageErr(errors.New("bench: name a mode: write, read or mixed"))
		},
	}
	for _, mode := range []bench.Mode{bench.Write, bench.Read, bench.Mixed} {
		cmd.AddCommand(benchModeCmd(a, mode))
	}
	return cmd
}

func benchModeCmd(a *app, mode bench.Mode) *cobra.Command {
	cfg := bench.Defaults(mode)
	var jsonFile string
	short := map[bench.Mode]string{
		bench.Write: "PUT values of --value-size bytes",
		bench.Read:  "GET keys (written once first, not measured); --consistency applies",
		bench.Mixed: "GET with probability --read-ratio, else PUT",
	}[mode]
	cmd := &cobra.Command{
		Use:   string(mode),
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("duration") && cmd.Flags().Changed("requests") {
				return usageErr(errors.New("give --duration or --requests, not both"))
			}
			c, release, err := a.client(cmd)
			if err != nil {
				return err
			}
			cfg.Endpoints, cfg.TLS = c.Endpoints(), c.TLSConfig()
			release()
			cfg.Timeout, cfg.Token = a.timeout, a.token
			cfg.Consistency = a.consistency
			cfg.Progress, cfg.ProgressInPlace = a.stderr, a.stderrTTY
			if err := cfg.Validate(); err != nil {
				return usageErr(err)
			}
			ctx, stop := a.interruptible(cmd.Context())
			defer stop()
			return a.runBench(ctx, cfg, jsonFile)
		},
	}
	f := cmd.Flags()
	f.IntVarP(&cfg.Clients, "clients", "c", cfg.Clients, "concurrent clients, each with one request in flight")
	f.DurationVarP(&cfg.Duration, "duration", "d", cfg.Duration, "how long to run")
	f.Int64VarP(&cfg.Requests, "requests", "n", 0, "stop after N requests instead (failed ones count)")
	f.IntVar(&cfg.ValueSize, "value-size", cfg.ValueSize, "bytes per value written")
	f.IntVar(&cfg.Keys, "keys", cfg.Keys, "size of the key space")
	f.StringVar(&cfg.KeyOrder, "key-order", cfg.KeyOrder, "sequential (shared counter, wrapping) or random (uniform)")
	f.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed for --key-order random and the read/write choice of mixed")
	f.StringVar(&cfg.KeyPrefix, "key-prefix", cfg.KeyPrefix, "prefix of the keys written and read")
	f.BoolVar(&cfg.Spread, "spread", false, "send requests round-robin to every endpoint instead of the leader")
	f.StringVar(&jsonFile, "json", "", "also write the result as JSON to `FILE`")
	f.StringVar(&cfg.Protocol, "protocol", cfg.Protocol, "API to drive: raftkv, or etcd-v2 (etcd's v2 keys API, to compare with the same load)")
	if mode == bench.Mixed {
		f.Float64Var(&cfg.ReadRatio, "read-ratio", cfg.ReadRatio, "share of reads, 0..1")
	}
	return cmd
}

// runBench runs the benchmark and reports it. A run in which every request
// failed still prints (and writes) its figures, then fails loudly.
func (a *app) runBench(ctx context.Context, cfg bench.Config, jsonFile string) error {
	res, err := bench.Run(ctx, cfg)
	if res == nil {
		switch {
		case err == nil:
			return errors.New("bench: no result") // cannot happen: Run returns one or the other
		case errors.Is(err, bench.ErrConfig):
			return usageErr(err)
		case ctx.Err() != nil:
			return &exitError{code: exitInterrupted, err: errors.New("bench interrupted before it started measuring")}
		case errors.Is(err, client.ErrUnavailable), errors.Is(err, client.ErrNoLeader):
			return &exitError{code: exitUnavailable, err: fmt.Errorf("bench: %w", err)}
		}
		return &exitError{code: exitNotFound, err: fmt.Errorf("bench: %w", err)}
	}
	js, jerr := res.JSON()
	if jerr != nil {
		return jerr
	}
	if jsonFile != "" {
		if werr := os.WriteFile(jsonFile, js, 0o644); werr != nil {
			return &exitError{code: exitUsage, err: fmt.Errorf("--json: %w", werr)}
		}
	}
	if a.json() {
		_, werr := a.stdout.Write(js)
		if werr != nil {
			return werr
		}
	} else if werr := res.WriteText(a.stdout); werr != nil {
		return werr
	}
	switch {
	case errors.Is(err, bench.ErrAllFailed):
		code := exitNotFound
		if allUnavailable(res.ErrorsByKind) {
			code = exitUnavailable
		}
		return &exitError{code: code, err: fmt.Errorf("BENCHMARK FAILED: %w; the figures above measure nothing", err)}
	case err != nil:
		return fmt.Errorf("bench: %w", err)
	case res.Interrupted:
		return &exitError{code: exitInterrupted, err: errors.New("bench interrupted; the figures above cover the part that ran")}
	case res.Errors > 0:
		fmt.Fprintf(a.stderr, "kvcli: warning: %d of %d requests failed (%s)\n", res.Errors, res.Errors+res.Ops, res.ErrorSummary())
	}
	return nil
}

// allUnavailable reports whether every failure says the cluster could not
// serve, rather than that it answered something unexpected.
func allUnavailable(kinds map[string]int64) bool {
	for k := range kinds {
		switch k {
		case bench.KindRefused, bench.KindDial, bench.KindTimeout, bench.KindConnection, "http 503", "http 504":
		default:
			return false
		}
	}
	return true
}
