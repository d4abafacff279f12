package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/api/client"
)

func leaseCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lease grant|keepalive|revoke|show",
		Short: "Leases: keys attached to one are deleted when it expires or is revoked",
		Long: "A lease lives for its TTL after its last keepalive; when it expires (the leader proposes that)\n" +
			"or is revoked, the keys attached to it (put --lease ID) are deleted, unless rewritten since.\n" +
			"A leader change restarts the countdown, so a TTL is a lower bound.",
	}
	grant := &cobra.Command{
		Use: "grant TTL", Short: "Create a lease (TTL in whole seconds: 30s, 2m) and print its id",
		Args: cobra.ExactArgs(1),
		RunE: withClient(a, func(ctx context.Context, c *client.Client, args []string) error {
			ttl, err := time.ParseDuration(args[0])
			if err != nil || ttl <= 0 || ttl%time.Second != 0 {
				return usageErr(fmt.Errorf("TTL %q: want whole seconds, such as 30s", args[0]))
			}
			id, err := c.GrantLease(ctx, ttl)
			if err != nil {
				return classify(err)
			}
			if a.json() {
				return writeJSON(a.stdout, jsonObject{{"id", id}, {"ttl_s", int64(ttl / time.Second)}})
			}
			_, err = fmt.Fprintln(a.stdout, id)
			return err
		}),
	}
	var once bool
	keepalive := &cobra.Command{
		Use: "keepalive ID [--once]", Short: "Keep the lease alive until Ctrl-C (a third of its TTL apart); --once: one keepalive",
		Args: cobra.ExactArgs(1),
		RunE: withClient(a, func(ctx context.Context, c *client.Client, args []string) error {
			id, err := leaseArg(args[0])
			if err != nil {
				return err
			}
			if once {
				return leaseResult(c.KeepAlive(ctx, id))
			}
			ctx, stop := a.interruptible(ctx)
			defer stop()
			err = a.keepAliveLoop(ctx, c, id)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return leaseResult(err)
		}),
	}
	keepalive.Flags().BoolVar(&once, "once", false, "one keepalive, then exit")
	revoke := &cobra.Command{
		Use: "revoke ID", Short: "End the lease now, deleting its keys",
		Args: cobra.ExactArgs(1),
		RunE: withClient(a, func(ctx context.Context, c *client.Client, args []string) error {
			id, err := leaseArg(args[0])
			if err != nil {
				return err
			}
			return leaseResult(c.RevokeLease(ctx, id))
		}),
	}
	show := &cobra.Command{
		Use: "show ID", Short: "Print the lease's TTL, the time it has left and its keys",
		Args: cobra.ExactArgs(1),
		RunE: withClient(a, func(ctx context.Context, c *client.Client, args []string) error {
			id, err := leaseArg(args[0])
			if err != nil {
				return err
			}
			info, err := c.Lease(ctx, id)
			if err != nil {
				return leaseResult(err)
			}
			if a.json() {
				return writeJSON(a.stdout, jsonObject{{"id", info.ID}, {"ttl_s", int64(info.TTL / time.Second)},
					{"remaining_ms", info.Remaining.Milliseconds()}, {"keys", info.Keys}})
			}
			_, err = fmt.Fprintf(a.stdout, "lease %d: ttl %s, %s left, %d keys\n", info.ID, info.TTL, info.Remaining.Round(time.Millisecond), len(info.Keys))
			for _, k := range info.Keys {
				if err == nil {
					_, err = fmt.Fprintln(a.stdout, "  "+display([]byte(k)))
				}
			}
			return err
		}),
	}
	cmd.AddCommand(grant, keepalive, revoke, show)
	return cmd
}

func leaseArg(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, usageErr(fmt.Errorf("lease id %q: want a number from lease grant", s))
	}
	return id, nil
}

// leaseResult gives a lease call's error its exit code (1 for a lease
// that does not exist).
func leaseResult(err error) error {
	if errors.Is(err, client.ErrLeaseNotFound) {
		return &exitError{code: exitNotFound, err: err}
	}
	if err != nil {
		return classify(err)
	}
	return nil
}

// keepAliveLoop keeps lease id alive until ctx ends or the lease is gone.
func (a *app) keepAliveLoop(ctx context.Context, c *client.Client, id uint64) error {
	info, err := c.Lease(ctx, id)
	if err != nil {
		return err
	}
	t := time.NewTicker(max(info.TTL/3, 100*time.Millisecond))
	defer t.Stop()
	for {
		if err := c.KeepAlive(ctx, id); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
