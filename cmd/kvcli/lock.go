package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/api/client"
)

// errLockFreed stops the watch a waiter runs on the holder's lock key.
var errLockFreed = errors.New("lock freed")

func lockCmd(a *app) *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "lock NAME -- COMMAND [ARGS...]",
		Short: "Run COMMAND while holding the lock NAME (a key on a lease: freed when COMMAND ends or kvcli dies)",
		Long: "Take the lock NAME, run COMMAND, release the lock. The lock is the key lock/NAME, created only if\n" +
			"absent and attached to a lease that kvcli keeps alive while COMMAND runs: if kvcli dies, the\n" +
			"lease expires after --ttl and the lock is free again. A second kvcli lock NAME waits (watching\n" +
			"the key) until it is free. If the lease is lost while COMMAND runs, COMMAND is killed and kvcli\n" +
			"exits 1. Otherwise kvcli exits with COMMAND's exit code.",
		Args: cobra.MinimumNArgs(2),
		RunE: withClient(a, func(ctx context.Context, c *client.Client, args []string) error {
			if ttl < 2*time.Second || ttl%time.Second != 0 {
				return usageErr(fmt.Errorf("--ttl %s: want whole seconds, at least 2s", ttl))
			}
			ctx, stop := a.interruptible(ctx)
			defer stop()
			return a.runLocked(ctx, c, "lock/"+args[0], ttl, args[1:])
		}),
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 10*time.Second, "the lock's lease: how long a dead holder keeps it")
	return cmd
}

func (a *app) runLocked(ctx context.Context, c *client.Client, key string, ttl time.Duration, argv []string) error {
	id, err := c.GrantLease(ctx, ttl)
	if err != nil {
		return classify(err)
	}
	// Whatever happens next, the lock goes with the lease.
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.RevokeLease(rctx, id)
	}()
	if err := a.acquire(ctx, c, key, id); err != nil {
		return err
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		if err := a.keepAliveLoop(cctx, c, id); cctx.Err() == nil {
			cancel(fmt.Errorf("lost the lock's lease: %w", err))
		}
	}()
	run := exec.CommandContext(cctx, argv[0], argv[1:]...)
	run.Stdin, run.Stdout, run.Stderr = a.stdin, a.stdout, a.stderr
	err = run.Run()
	if cause := context.Cause(cctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return &exitError{code: exitNotFound, err: cause}
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return &exitError{code: exitErr.ExitCode(), err: fmt.Errorf("%s exited with %d", argv[0], exitErr.ExitCode())}
	}
	if err != nil {
		return &exitError{code: exitNotFound, err: fmt.Errorf("run %s: %w", argv[0], err)}
	}
	return nil
}

// acquire creates key on the lease, waiting (watching the key) while
// someone else holds it.
func (a *app) acquire(ctx context.Context, c *client.Client, key string, lease uint64) error {
	for {
		w := c.NewPut(key, []byte(c.ClientID())).IfAbsent().WithLease(lease)
		_, err := w.Do(ctx)
		w.Close()
		var held *client.ConditionError
		if !errors.As(err, &held) {
			if err != nil {
				return classify(err)
			}
			return nil
		}
		err = c.Watch(ctx, key, false, held.ModRevision+1, func(ev client.WatchEvent) error {
			if ev.Type == "delete" {
				return errLockFreed
			}
			return nil
		})
		var compacted *client.CompactedError
		if err != nil && !errors.Is(err, errLockFreed) && !errors.As(err, &compacted) {
			return classify(err)
		}
	}
}
