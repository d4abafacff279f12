package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/raftkv/raftkv/config"
	"github.com/raftkv/raftkv/raft/core"
)

// Exit codes.
const (
	exitOK     = 0
	exitFatal  = 1 // the node could not start or stopped on a fatal error
	exitConfig = 2 // bad flags or config
)

// usageError marks errors that are the user's to fix (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

type options struct {
	configPath string
	nodeID     int
	all        bool
	dataDir    string
	logLevel   string
	pprof      bool
	join       string // comma-separated URLs of running nodes
	raftAddr   string // with join
	httpAddr   string // with join
}

func run(args []string, stdout, stderr io.Writer) int {
	var opts options
	cmd := &cobra.Command{
		Use:   "kvserver (--node-id N | --all) [--config config.json]",
		Short: "Run raftkv nodes: one node, or every node of the config on this machine",
		Example: `  kvserver --all                      # the whole local cluster in one process
  kvserver --node-id 0                # one node; start 1 and 2 in other terminals
  kvserver --join http://127.0.0.1:8000 --node-id 3 \
      --raft-addr tcp://127.0.0.1:7003 --http-addr 127.0.0.1:8003   # add a node to a running cluster`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError{fmt.Errorf("unexpected argument %q (flags start with --)", args[0])}
			}
			return nil
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), opts, stderr)
		},
	}
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	f := cmd.Flags()
	f.StringVar(&opts.configPath, "config", "config.json", "path of the cluster config")
	f.IntVar(&opts.nodeID, "node-id", -1, "id of the node to run (also --node_id)")
	f.BoolVar(&opts.all, "all", false, "run every node of the config in this process")
	f.StringVar(&opts.dataDir, "data-dir", "", "override the config's data_dir")
	f.StringVar(&opts.logLevel, "log-level", "info", "debug, info, warn or error")
	f.BoolVar(&opts.pprof, "pprof", false, "serve Go's profiler under /debug/pprof/ on each node's HTTP address")
	f.StringVar(&opts.join, "join", "", "join the running cluster at these comma-separated node URLs (with --node-id, --raft-addr, --http-addr)")
	f.StringVar(&opts.raftAddr, "raft-addr", "", "with --join: this node's raft address, tcp://host:port")
	f.StringVar(&opts.httpAddr, "http-addr", "", "with --join: this node's HTTP address, host:port")
	// The original project's users typed --node_id; accept both spellings.
	f.SetNormalizeFunc(underscoreToDash)
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	restoreCmd := newRestoreCmd(stdout)
	restoreCmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	cmd.AddCommand(restoreCmd)
	cmd.CompletionOptions.DisableDefaultCmd = true

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd.ExecuteContext(ctx)
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue), strings.HasPrefix(err.Error(), "unknown command"):
		fmt.Fprintf(stderr, "kvserver: %v\n", err)
		return exitConfig
	default:
		fmt.Fprintf(stderr, "kvserver: %v\n", err)
		return exitFatal
	}
}

// underscoreToDash lets --node_id mean --node-id: the original project's
// users typed the former.
func underscoreToDash(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	return pflag.NormalizedName(strings.ReplaceAll(name, "_", "-"))
}

func serve(ctx context.Context, opts options, stderr io.Writer) error {
	if opts.all == (opts.nodeID >= 0) {
		return usageError{errors.New("give exactly one of --node-id N or --all")}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(opts.logLevel)); err != nil {
		return usageError{fmt.Errorf("--log-level: %w", err)}
	}
	cfg, err := config.Load(opts.configPath)
	if err != nil {
		return usageError{err}
	}
	if opts.dataDir != "" {
		cfg.DataDir = opts.dataDir
	}
	join, err := opts.joinSpec()
	if err != nil {
		return usageError{err}
	}
	ids := []uint64{}
	if join != nil {
		if err := checkJoinTLS(cfg, uint64(opts.nodeID), join); err != nil {
			return usageError{err}
		}
		ids = append(ids, uint64(opts.nodeID))
	} else if opts.all {
		for _, n := range cfg.Nodes {
			ids = append(ids, n.ID)
		}
	} else {
		if _, err := cfg.Node(uint64(opts.nodeID)); err != nil {
			return usageError{fmt.Errorf("%s: %w", opts.configPath, err)}
		}
		ids = append(ids, uint64(opts.nodeID))
	}
	return runNodes(ctx, cfg, ids, newLogWriter(stderr), level, opts.all, withPprof(opts.pprof), withJoin(join))
}

// joinSpec checks the --join flags; nil without --join.
func (o options) joinSpec() (*joinSpec, error) {
	if o.join == "" {
		if o.raftAddr != "" || o.httpAddr != "" {
			return nil, errors.New("--raft-addr and --http-addr go with --join (other nodes take theirs from the config)")
		}
		return nil, nil
	}
	if o.all || o.nodeID < 0 {
		return nil, errors.New("--join needs --node-id N (and not --all)")
	}
	j := &joinSpec{raftAddr: o.raftAddr, httpAddr: o.httpAddr}
	for _, u := range strings.Split(o.join, ",") {
		if u = strings.TrimSpace(u); u != "" {
			j.urls = append(j.urls, u)
		}
	}
	if len(j.urls) == 0 {
		return nil, fmt.Errorf("--join %q names no node", o.join)
	}
	if err := core.CheckMember(core.Member{ID: uint64(o.nodeID), RaftAddr: j.raftAddr, HTTPAddr: j.httpAddr}); err != nil {
		return nil, fmt.Errorf("--join: %s (give --raft-addr tcp://host:port and --http-addr host:port)",
			strings.TrimPrefix(err.Error(), core.ErrBadMember.Error()+": "))
	}
	return j, nil
}

// notifyReload delivers SIGHUP, which reloads the nodes' certificates,
// when any node serves HTTPS. Without TLS there is nothing to reload and
// SIGHUP keeps its default meaning (the process ends, as when the
// terminal it ran in closes).
func notifyReload(nodes []*node) chan os.Signal {
	hup := make(chan os.Signal, 1)
	for _, n := range nodes {
		if n.tls != nil {
			signal.Notify(hup, syscall.SIGHUP)
			break
		}
	}
	return hup
}

// runNodes starts the nodes and serves until ctx is cancelled or one of
// them fails; then it stops them all.
func runNodes(ctx context.Context, cfg *config.Config, ids []uint64, w *logWriter, level slog.Level, prefixed bool, nopts ...nodeOption) error {
	var nodes []*node
	stopAll := func() error {
		var errs []error
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		var mu sync.Mutex // guards errs
		// Handing leadership over is for a node leaving a cluster that
		// stays up; when every node of the cluster stops, nobody could
		// take it, and the attempt only delays the shutdown.
		handOver := len(nodes) < len(cfg.Nodes)
		for _, n := range nodes {
			n.skipHandOver = !handOver
			wg.Go(func() {
				if err := n.stop(sctx); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("node %d: %w", n.id, err))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	for _, id := range ids {
		prefix := ""
		if prefixed {
			prefix = fmt.Sprintf("[node %d] ", id)
		}
		logger := slog.New(slog.NewTextHandler(w.prefixed(prefix), &slog.HandlerOptions{Level: level}))
		n, err := startNode(cfg, id, logger, nopts...)
		if err != nil {
			stopAll()
			return fmt.Errorf("node %d: %w", id, err)
		}
		nodes = append(nodes, n)
	}
	hupCtx, stopHUP := context.WithCancel(ctx)
	defer stopHUP()
	reloadTokensOnHUP(hupCtx, cfg, apiServers(nodes), nodes[0].logger)
	type ended struct {
		n   *node
		err error // from the membership watcher; nil: Raft failed
	}
	endc := make(chan ended, len(nodes))
	for _, n := range nodes {
		go func() {
			select {
			case <-n.failed():
				endc <- ended{n: n}
			case err := <-n.gone:
				endc <- ended{n: n, err: err}
			case <-ctx.Done():
			}
		}()
	}
	hup := notifyReload(nodes)
	defer signal.Stop(hup)
	var cause error
	for running := len(nodes); cause == nil && ctx.Err() == nil; {
		select {
		case <-ctx.Done():
		case <-hup:
			for _, n := range nodes {
				n.tls.reload(n.logger)
			}
		case e := <-endc:
			if e.err == nil {
				cause = fmt.Errorf("node %d stopped", e.n.id)
				break
			}
			e.n.logger.Error("stopping", "reason", e.err)
			if running--; running == 0 {
				cause = e.err
				break
			}
			// With --all, the others go on without it.
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			e.n.skipHandOver = true
			if err := e.n.stop(sctx); err != nil {
				e.n.logger.Warn("stop", "err", err)
			}
			cancel()
			nodes = slices.DeleteFunc(nodes, func(o *node) bool { return o == e.n })
		}
	}
	err := stopAll()
	if cause != nil {
		return errors.Join(cause, err)
	}
	return err
}
