package main

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/api/client"
)

func memberCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "member list|add|promote|remove",
		Short: "List the cluster's members, or add, promote or remove one",
		Long: "Change the cluster's membership while it runs, one change at a time (each waits until it is\n" +
			"committed). A node is added as a learner: it receives the log but does not vote until it is\n" +
			"promoted, which the leader does by itself once it has caught up (auto_promote in config.json),\n" +
			"or `member promote` does by hand. `kvserver --join` adds a new node for you.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageErr(fmt.Errorf("member: want list, add, promote or remove"))
		},
	}
	var stale bool
	list := &cobra.Command{
		Use:   "list [--stale]",
		Short: "The members with their role (voter or learner) and addresses",
		Args:  cobra.NoArgs,
		RunE: withClient(a, func(ctx context.Context, c *client.Client, _ []string) error {
			m, err := c.Members(ctx, stale)
			if err != nil {
				return classify(err)
			}
			return a.printMembers(m, "")
		}),
	}
	list.Flags().BoolVar(&stale, "stale", false, "ask the first node that answers for its own view, not the leader's")
	add := &cobra.Command{
		Use:   "add ID RAFT_ADDR HTTP_ADDR",
		Short: "Add node ID as a learner (e.g. member add 3 tcp://10.0.0.4:7000 10.0.0.4:8000)",
		Args:  cobra.ExactArgs(3),
		RunE: withClient(a, func(ctx context.Context, c *client.Client, args []string) error {
			id, err := memberArg("member add", args[0])
			if err != nil {
				return err
			}
			m, err := c.AddMember(ctx, client.NewMember{ID: id, RaftAddr: args[1], HTTPAddr: args[2]})
			if err != nil {
				return classify(err)
			}
			return a.printMembers(m, fmt.Sprintf("node %d added as a learner; start it with --node-id %d", id, id))
		}),
	}
	promote := &cobra.Command{
		Use:   "promote ID",
		Short: "Make learner ID a voter (refused while it is still catching up)",
		Args:  cobra.ExactArgs(1),
		RunE: withClient(a, func(ctx context.Context, c *client.Client, args []string) error {
			id, err := memberArg("member promote", args[0])
			if err != nil {
				return err
			}
			m, err := c.PromoteMember(ctx, id)
			if err != nil {
				return classify(err)
			}
			return a.printMembers(m, fmt.Sprintf("node %d is a voter", id))
		}),
	}
	remove := &cobra.Command{
		Use:   "remove ID",
		Short: "Take node ID out of the cluster (the leader too: it hands over first)",
		Args:  cobra.ExactArgs(1),
		RunE: withClient(a, func(ctx context.Context, c *client.Client, args []string) error {
			id, err := memberArg("member remove", args[0])
			if err != nil {
				return err
			}
			m, err := c.RemoveMember(ctx, id)
			if err != nil {
				return classify(err)
			}
			return a.printMembers(m, fmt.Sprintf("node %d removed", id))
		}),
	}
	cmd.AddCommand(list, add, promote, remove)
	return cmd
}

func memberArg(what, s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == client.AnyNode {
		return 0, usageErr(fmt.Errorf("%s: %q is not a node id", what, s))
	}
	return id, nil
}

// printMembers prints the membership as a table (after done, a line saying
// what changed) or, with -o json, as the server sent it.
func (a *app) printMembers(m client.Members, done string) error {
	if a.json() {
		return writeJSON(a.stdout, m)
	}
	if done != "" {
		fmt.Fprintln(a.stdout, done)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tRAFT\tHTTP")
	for _, mb := range m.Members {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", mb.ID, mb.Role, mb.RaftAddr, mb.HTTPAddr)
	}
	fmt.Fprintf(tw, "(config index %d)\n", m.ConfigIndex)
	return tw.Flush()
}
