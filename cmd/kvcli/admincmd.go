package main

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/api/client"
)

func transferCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "transfer-leader [ID]",
		Short: "Hand leadership to node ID, or to the most up-to-date follower, and print the new leader",
		Long: "Ask the leader (through any node) to hand leadership to node ID, or without ID to the\n" +
			"follower whose log is most up to date, and wait until it leads. Useful before taking the\n" +
			"leader down: the cluster changes leader without waiting for an election timeout.",
		Args: cobra.MaximumNArgs(1),
		RunE: withClient(a, func(ctx context.Context, c *client.Client, args []string) error {
			to := client.AnyNode
			if len(args) == 1 {
				id, err := strconv.ParseUint(args[0], 10, 64)
				if err != nil || id == client.AnyNode {
					return usageErr(fmt.Errorf("transfer-leader: %q is not a node id", args[0]))
				}
				to = id
			}
			id, err := c.TransferLeader(ctx, to)
			if err != nil {
				return classify(err)
			}
			// The answer names only the id; the cluster's status says where
			// it is. Best effort: a view that does not show it yet is no
			// reason to fail a transfer that happened.
			var endpoint, term any
			text := fmt.Sprintf("node %d", id)
			if li, err := c.Leader(ctx); err == nil && li.ID == id {
				endpoint, term = li.Endpoint, li.Term
				text = fmt.Sprintf("%s (node %d, term %d)", hostPort(li.Endpoint), id, li.Term)
			}
			if a.json() {
				return writeJSON(a.stdout, jsonObject{{"id", id}, {"endpoint", endpoint}, {"term", term}})
			}
			_, err = fmt.Fprintln(a.stdout, text)
			return err
		}),
	}
}

func snapshotCmd(a *app) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "snapshot [--all]",
		Short: "Make a node snapshot its state now and compact its log; print the snapshot's index and term",
		Long: "Make the first endpoint (in the shell: the node in the prompt) snapshot its state now and\n" +
			"drop the log entries the snapshot covers. Each node snapshots only itself; --all asks every\n" +
			"endpoint, one after the other, so that no two nodes write a snapshot at the same time.",
		Args: cobra.NoArgs,
		RunE: withClient(a, func(ctx context.Context, c *client.Client, _ []string) error {
			if !all {
				ep := c.Current()
				s, err := c.Snapshot(ctx, ep)
				if err != nil {
					return classify(fmt.Errorf("snapshot of %s: %w", hostPort(ep), err))
				}
				if a.json() {
					return writeJSON(a.stdout, jsonObject{{"endpoint", ep}, {"index", s.Index}, {"term", s.Term}})
				}
				_, err = fmt.Fprintf(a.stdout, "snapshot of %s at index %d, term %d\n", hostPort(ep), s.Index, s.Term)
				return err
			}
			return a.snapshotAll(ctx, c)
		}),
	}
	cmd.Flags().BoolVar(&all, "all", false, "snapshot every endpoint, one at a time")
	return cmd
}

// snapshotAll snapshots every endpoint in turn and prints a row for each,
// failures included; it fails, after printing, when any node did.
func (a *app) snapshotAll(ctx context.Context, c *client.Client) error {
	eps := c.Endpoints()
	rows := make([]jsonObject, 0, len(eps))
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tINDEX\tTERM")
	var firstErr error
	failed := 0
	for _, ep := range eps {
		if ctx.Err() != nil {
			break
		}
		s, err := c.Snapshot(ctx, ep)
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", hostPort(ep), err)
			}
			rows = append(rows, jsonObject{{"endpoint", ep}, {"error", err.Error()}})
			fmt.Fprintf(tw, "%s\t-\t-\tfailed: %s\n", hostPort(ep), oneLine(err))
			continue
		}
		rows = append(rows, jsonObject{{"endpoint", ep}, {"index", s.Index}, {"term", s.Term}})
		fmt.Fprintf(tw, "%s\t%d\t%d\n", hostPort(ep), s.Index, s.Term)
	}
	var err error
	if a.json() {
		err = writeJSON(a.stdout, jsonObject{{"nodes", rows}})
	} else {
		err = tw.Flush()
	}
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		return classify(ctx.Err())
	}
	if firstErr != nil {
		ee := classify(firstErr).(*exitError)
		ee.err = fmt.Errorf("snapshot failed on %d of %d nodes, first %w", failed, len(eps), firstErr)
		return ee
	}
	return nil
}

// oneLine squeezes an error onto one line for a table cell.
func oneLine(err error) string {
	_, msg := describe(&exitError{code: exitNotFound, err: err})
	return msg
}
