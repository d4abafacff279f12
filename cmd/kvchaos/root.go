package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/cmd/kvchaos/internal/nemesis"
)

// Exit codes.
const (
	exitOK           = 0
	exitFailed       = 1 // a linearizability violation, a node that died by itself, or unreadable final state
	exitUsage        = 2
	exitInconclusive = 3 // the checker timed out: nothing was proven
	exitHarness      = 4 // the harness itself could not run (build, ports, start)
)

// codeError carries an exit code out of cobra.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

type options struct {
	nodes        int
	clients      int
	keys         int
	duration     time.Duration
	faults       []nemesis.Fault
	faultsFlag   string
	seed         uint64
	out          string
	kvserver     string
	lease        bool
	lessees      int
	leaseTTL     time.Duration
	writeRetries int
	rate         float64
	opTimeout    time.Duration
	checkTimeout time.Duration
	keep         bool
	logLevel     slog.Level
	logFlag      string
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	cmd := &cobra.Command{
		Use:   "kvchaos",
		Short: "Fault-inject a real raftkv cluster and check its history for linearizability",
		Long: `kvchaos builds kvserver, starts a cluster of real processes on loopback with a TCP proxy
on every directed link between nodes, runs concurrent clients (put, get, get ?consistency=lease,
delete on a few keys), and meanwhile kills, pauses and partitions nodes. Afterwards it heals
everything, reads the final state from every node and checks the whole history with porcupine.

Exit codes: 0 linearizable, 1 violation or node failure, 2 usage, 3 checker timed out, 4 harness error.`,
		Example: `  go run ./cmd/kvchaos --duration 60s
  go run ./cmd/kvchaos --duration 5m --faults partition,pause --seed 42 --out /tmp/chaos`,
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		PreRunE: func(*cobra.Command, []string) error { // the root command only, not check
			return o.validate()
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return chaos(cmd.Context(), o, stdout, stderr)
		},
	}
	cmd.AddCommand(newCheckCmd(stdout))
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	f := cmd.Flags()
	f.IntVar(&o.nodes, "nodes", 3, "cluster size")
	f.IntVar(&o.clients, "clients", 10, "concurrent clients")
	f.IntVar(&o.keys, "keys", 5, "size of the key space (small, so operations collide)")
	f.DurationVar(&o.duration, "duration", 60*time.Second, "how long clients and faults run")
	f.StringVar(&o.faultsFlag, "faults", "all", "comma list of kill, pause, partition, crash-all, member; or all, none")
	f.Uint64Var(&o.seed, "seed", 0, "seed of the fault schedule and the clients (0: pick one and print it)")
	f.StringVar(&o.out, "out", "", "run directory, kept (default: a temp dir, removed after a clean run)")
	f.StringVar(&o.kvserver, "kvserver", "", "prebuilt kvserver binary (default: go build one)")
	f.BoolVar(&o.lease, "lease-reads", true, "send half the reads with ?consistency=lease")
	f.IntVar(&o.lessees, "lessees", 2, "more clients that grant leases, keep them alive a while, let them go, and check expiry")
	f.DurationVar(&o.leaseTTL, "lease-ttl", 3*time.Second, "TTL of the lessees' leases (whole seconds, at least the cluster's minimum)")
	f.IntVar(&o.writeRetries, "write-retries", 2, "resend a write of unknown outcome this often, with the same Request-Id")
	f.Float64Var(&o.rate, "rate", 300, "total operations per second over all clients (0: unlimited)")
	f.DurationVar(&o.opTimeout, "op-timeout", 3*time.Second, "timeout of one request")
	f.DurationVar(&o.checkTimeout, "check-timeout", 60*time.Second, "give up checking after this long (result: unknown)")
	f.BoolVar(&o.keep, "keep", false, "keep the run directory even after a clean run")
	f.StringVar(&o.logFlag, "log-level", "info", "debug, info, warn or error")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code := exitUsage
	var ce *codeError
	if errors.As(err, &ce) {
		code = ce.code
	}
	fmt.Fprintf(stderr, "kvchaos: %v\n", err)
	return code
}

func (o *options) validate() error {
	var err error
	switch {
	case o.nodes < 1 || o.nodes > 15:
		return fmt.Errorf("--nodes %d: want 1 to 15", o.nodes)
	case o.clients < 1:
		return fmt.Errorf("--clients %d: want at least 1", o.clients)
	case o.keys < 1:
		return fmt.Errorf("--keys %d: want at least 1", o.keys)
	case o.duration <= 0:
		return fmt.Errorf("--duration %s: want more than 0", o.duration)
	case o.lessees < 0:
		return fmt.Errorf("--lessees %d: want 0 or more", o.lessees)
	case o.leaseTTL < time.Second || o.leaseTTL%time.Second != 0:
		return fmt.Errorf("--lease-ttl %s: want whole seconds, at least 1s", o.leaseTTL)
	case o.writeRetries < 0:
		return fmt.Errorf("--write-retries %d: want 0 or more", o.writeRetries)
	case o.rate < 0:
		return fmt.Errorf("--rate %g: want 0 or more", o.rate)
	case o.opTimeout <= 0 || o.checkTimeout <= 0:
		return errors.New("--op-timeout and --check-timeout must be more than 0")
	}
	if o.faults, err = nemesis.ParseFaults(o.faultsFlag); err != nil {
		return fmt.Errorf("--faults: %w", err)
	}
	if err := o.logLevel.UnmarshalText([]byte(o.logFlag)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	return nil
}
