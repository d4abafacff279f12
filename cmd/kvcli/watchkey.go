package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/api/client"
)

func watchKeyCmd(a *app) *cobra.Command {
	var prefix bool
	var rev uint64
	cmd := &cobra.Command{
		Use:   "watch KEY [--prefix] [--rev N]",
		Short: "Print the changes of KEY (or of every key starting with it) as they happen, until Ctrl-C",
		Long: "Print each change of KEY as it is applied, one line each: PUT key value, or DELETE key, with the\n" +
			"revision (-o json: one object per line). --prefix watches every key starting with KEY;\n" +
			"--rev N first replays the changes from revision N. When the node being read from goes down,\n" +
			"the watch moves to another endpoint and resumes after the last change printed: nothing\n" +
			"is missed or printed twice. Exit 1 when the server no longer has the changes asked for\n" +
			"(compacted: read the key, then watch from its mod_revision + 1).",
		Args: cobra.ExactArgs(1),
		RunE: withClient(a, func(ctx context.Context, c *client.Client, args []string) error {
			ctx, stop := a.interruptible(ctx)
			defer stop()
			err := c.Watch(ctx, args[0], prefix, rev, func(ev client.WatchEvent) error { return a.printChange(ev) })
			if errors.Is(err, context.Canceled) {
				return nil // Ctrl-C is how a watch ends
			}
			var ce *client.CompactedError
			if errors.As(err, &ce) {
				return &exitError{code: exitNotFound, err: err}
			}
			if err != nil {
				return classify(err)
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&prefix, "prefix", false, "watch every key starting with KEY")
	cmd.Flags().Uint64Var(&rev, "rev", 0, "replay the changes from revision N first (default: only new ones)")
	return cmd
}

func (a *app) printChange(ev client.WatchEvent) error {
	if ev.Type == "progress" {
		return nil
	}
	if a.json() {
		o := append(jsonObject{{"type", ev.Type}}, itemJSON(ev.Item)...)
		if ev.Type == "delete" {
			o = append(o[:2], o[3:]...) // a delete has no value
		}
		return writeJSON(a.stdout, o)
	}
	var err error
	if ev.Type == "delete" {
		_, err = fmt.Fprintf(a.stdout, "DELETE %s (rev %d)\n", display([]byte(ev.Item.Key)), ev.Revision)
	} else {
		_, err = fmt.Fprintf(a.stdout, "PUT %s %s (rev %d)\n", display([]byte(ev.Item.Key)), display(ev.Item.Value), ev.Revision)
	}
	return err
}
