package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/api/client"
)

// maxValueBytes bounds a value read from a file or stdin: the most any
// server accepts (max_value_bytes is at most 64 MiB).
const maxValueBytes = 64 << 20

func getCmd(a *app) *cobra.Command {
	var meta bool
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Print the value of KEY (exit 1 when absent)",
		Long: "Print the value of KEY as raw bytes. A newline is added, when the value does not end with\n" +
			"one, only on a terminal and in the shell (whose output is line by line), so\n" +
			"`kvcli get k > file` copies the value exactly. --meta prints the key's revisions first\n" +
			"(create_revision, mod_revision, version; mod_revision is what put --if-match takes).",
		Args: cobra.ExactArgs(1),
		RunE: withClient(a, func(ctx context.Context, c *client.Client, args []string) error {
			key := args[0]
			if meta {
				return a.getMeta(ctx, c, key)
			}
			v, err := c.Get(ctx, key, a.consistency)
			if errors.Is(err, client.ErrNotFound) {
				return &exitError{code: exitNotFound, err: fmt.Errorf("key %q not found", key)}
			}
			if err != nil {
				return classify(err)
			}
			if a.json() {
				return writeJSON(a.stdout, textOrBase64("key", []byte(key), "value", v))
			}
			if (a.stdoutTTY || a.sess != nil) && !bytes.HasSuffix(v, []byte("\n")) { // see Long
				v = append(v, '\n')
			}
			_, err = a.stdout.Write(v)
			return err
		}),
	}
	cmd.Flags().BoolVar(&meta, "meta", false, "print the key's revisions with its value")
	return cmd
}

func (a *app) getMeta(ctx context.Context, c *client.Client, key string) error {
	it, err := c.GetItem(ctx, key, a.consistency)
	if errors.Is(err, client.ErrNotFound) {
		return &exitError{code: exitNotFound, err: fmt.Errorf("key %q not found", key)}
	}
	if err != nil {
		return classify(err)
	}
	if a.json() {
		return writeJSON(a.stdout, itemJSON(it))
	}
	lease := ""
	if it.Lease != 0 {
		lease = fmt.Sprintf("lease %d\n", it.Lease)
		if it.TTLRemaining >= 0 {
			lease += fmt.Sprintf("ttl_remaining %s\n", it.TTLRemaining.Round(time.Millisecond))
		}
	}
	_, err = fmt.Fprintf(a.stdout, "create_revision %d\nmod_revision %d\nversion %d\n%svalue %s\n",
		it.CreateRevision, it.ModRevision, it.Version, lease, display(it.Value))
	return err
}

func itemJSON(it client.Item) jsonObject {
	o := append(textOrBase64("key", []byte(it.Key), "value", it.Value),
		field{"create_revision", it.CreateRevision}, field{"mod_revision", it.ModRevision}, field{"version", it.Version})
	if it.Lease != 0 {
		o = append(o, field{"lease", it.Lease})
		if it.TTLRemaining >= 0 {
			o = append(o, field{"ttl_remaining_ms", it.TTLRemaining.Milliseconds()})
		}
	}
	return o
}

// condFlags are put's and del's conditions.
type condFlags struct {
	ifMatch uint64
	create  bool
}

func (f *condFlags) add(cmd *cobra.Command, create bool) {
	cmd.Flags().Uint64Var(&f.ifMatch, "if-match", 0, "write only if the key's mod_revision is REV (see get --meta); exit 4 otherwise")
	if create {
		cmd.Flags().BoolVar(&f.create, "create", false, "write only if the key does not exist; exit 4 otherwise")
	}
}

// apply puts the conditions on w, or refuses contradictory flags.
func (f *condFlags) apply(cmd *cobra.Command, w *client.Write) error {
	switch {
	case f.create && cmd.Flags().Changed("if-match"):
		return usageErr(errors.New("--create and --if-match contradict each other: use one"))
	case cmd.Flags().Changed("if-match") && f.ifMatch == 0:
		return usageErr(errors.New("--if-match 0: revisions start at 1; use --create to write only a new key"))
	case f.create:
		w.IfAbsent()
	case f.ifMatch != 0:
		w.IfRevision(f.ifMatch)
	}
	return nil
}

func putCmd(a *app) *cobra.Command {
	var file string
	var cond condFlags
	var leaseID uint64
	var ttl time.Duration
	var cmd *cobra.Command
	cmd = &cobra.Command{
		Use:     "put KEY VALUE | put KEY - | put KEY --file F",
		Aliases: []string{"set"},
		Short:   "Set KEY to VALUE and print the log index of the write",
		Long: "Set KEY to VALUE and print the log index of the write. VALUE \"-\" reads the value from\n" +
			"standard input; --file F reads it from a file. The write may go to any node: followers\n" +
			"forward it to the leader.",
		Args: func(cmd *cobra.Command, args []string) error {
			if file != "" {
				return cobra.ExactArgs(1)(cmd, args)
			}
			return cobra.ExactArgs(2)(cmd, args)
		},
		RunE: withClient(a, func(ctx context.Context, c *client.Client, args []string) error {
			key := args[0]
			value, err := a.readValue(args, file)
			if err != nil {
				return err
			}
			w := c.NewPut(key, value)
			switch {
			case leaseID != 0 && ttl != 0:
				return usageErr(errors.New("--lease and --ttl contradict each other: --ttl gives the key a lease of its own"))
			case leaseID != 0:
				w.WithLease(leaseID)
			case ttl != 0:
				if ttl < 0 || ttl%time.Second != 0 {
					return usageErr(fmt.Errorf("--ttl %s: want whole seconds, such as 30s", ttl))
				}
				w.WithTTL(ttl)
			}
			return a.doWrite(ctx, cmd, w, &cond, key)
		}),
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "read the value from file F")
	cmd.Flags().Uint64Var(&leaseID, "lease", 0, "attach the key to lease ID (see lease grant)")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "give the key a lease of its own: deleted TTL after the write (whole seconds)")
	cond.add(cmd, true)
	return cmd
}

// doWrite sends w with its conditions and prints the index.
func (a *app) doWrite(ctx context.Context, cmd *cobra.Command, w *client.Write, cond *condFlags, key string) error {
	defer w.Close()
	if err := cond.apply(cmd, w); err != nil {
		return err
	}
	idx, err := w.Do(ctx)
	if err != nil {
		return classify(err)
	}
	if w.Lease() != 0 {
		if a.json() {
			return writeJSON(a.stdout, append(textOrBase64("key", []byte(key), "index", idx), field{"lease", w.Lease()}))
		}
		_, err := fmt.Fprintf(a.stdout, "%d (lease %d)\n", idx, w.Lease())
		return err
	}
	return a.printIndex(key, idx)
}

// readValue returns the value given on the command line, from stdin ("-")
// or from --file.
func (a *app) readValue(args []string, file string) ([]byte, error) {
	var (
		r    io.Reader
		name string
	)
	switch {
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return nil, usageErr(fmt.Errorf("--file: %w", err))
		}
		defer f.Close()
		r, name = f, file
	case args[1] == "-":
		if a.sess != nil {
			return nil, usageErr(errors.New(`"-" reads standard input, which the shell is reading commands from; use --file`))
		}
		r, name = a.stdin, "standard input"
	default:
		return []byte(args[1]), nil
	}
	v, err := io.ReadAll(io.LimitReader(r, maxValueBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read the value from %s: %w", name, err)
	}
	if len(v) > maxValueBytes {
		return nil, usageErr(fmt.Errorf("the value in %s is over %d MiB, more than any server accepts", name, maxValueBytes>>20))
	}
	return v, nil
}

func delCmd(a *app) *cobra.Command {
	var cond condFlags
	var cmd *cobra.Command
	cmd = &cobra.Command{
		Use:     "del KEY",
		Aliases: []string{"delete", "rm"},
		Short:   "Delete KEY (absent is fine) and print the log index of the write",
		Args:    cobra.ExactArgs(1),
		RunE: withClient(a, func(ctx context.Context, c *client.Client, args []string) error {
			return a.doWrite(ctx, cmd, c.NewDelete(args[0]), &cond, args[0])
		}),
	}
	cond.add(cmd, false)
	return cmd
}

func (a *app) printIndex(key string, idx uint64) error {
	if a.json() {
		return writeJSON(a.stdout, textOrBase64("key", []byte(key), "index", idx))
	}
	_, err := fmt.Fprintln(a.stdout, idx)
	return err
}

func listCmd(a *app) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:     "list [PREFIX]",
		Aliases: []string{"ls", "scan"},
		Short:   "List keys and values, in key order, optionally only those starting with PREFIX",
		Long: "List keys and values in key order, one per line: the key, a tab, the value (aligned in\n" +
			"columns on a terminal). Keys and values that are empty or hold blanks, quotes or\n" +
			"unprintable bytes are shown Go-quoted.",
		Args: cobra.MaximumNArgs(1),
		RunE: withClient(a, func(ctx context.Context, c *client.Client, args []string) error {
			if limit < 0 {
				return usageErr(fmt.Errorf("--limit %d is negative", limit))
			}
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			items, err := c.List(ctx, prefix, limit, a.consistency)
			if err != nil {
				return classify(err)
			}
			if a.json() {
				out := make([]jsonObject, len(items))
				for i, it := range items {
					out[i] = itemJSON(it)
				}
				return writeJSON(a.stdout, jsonObject{{"items", out}})
			}
			// Tab-separated for scripts (cut -f2); aligned for people.
			var b bytes.Buffer
			var w io.Writer = &b
			tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
			if a.forPeople() {
				w = tw
			}
			for _, it := range items {
				fmt.Fprintf(w, "%s\t%s\n", display([]byte(it.Key)), display(it.Value))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			_, err = a.stdout.Write(b.Bytes())
			return err
		}),
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 0, "at most N items (default: the server's, 100; at most 10000)")
	return cmd
}

func leaderCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "leader",
		Short: "Print the leader's address, id and term",
		Args:  cobra.NoArgs,
		RunE: withClient(a, func(ctx context.Context, c *client.Client, _ []string) error {
			li, err := c.Leader(ctx)
			if errors.Is(err, client.ErrNoLeader) {
				return &exitError{code: exitUnavailable, err: errors.New("no leader known: an election may be under way, or too few nodes are up")}
			}
			if err != nil {
				return classify(err)
			}
			if a.json() {
				return writeJSON(a.stdout, jsonObject{{"id", li.ID}, {"endpoint", li.Endpoint}, {"term", li.Term}})
			}
			_, err = fmt.Fprintf(a.stdout, "%s (node %d, term %d)\n", hostPort(li.Endpoint), li.ID, li.Term)
			return err
		}),
	}
}

// display shows b as is when it reads unambiguously on a line, and
// Go-quoted otherwise (empty, blanks, quotes, control or invalid bytes).
func display(b []byte) string {
	if len(b) == 0 || !utf8.Valid(b) {
		return fmt.Sprintf("%q", b)
	}
	for _, r := range string(b) {
		if r == ' ' || r == '"' || r == '\\' || !isGraphic(r) {
			return fmt.Sprintf("%q", b)
		}
	}
	return string(b)
}
