package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/api/client"
)

// Exit codes.
const (
	exitOK          = 0
	exitNotFound    = 1 // also any failure that fits no other code
	exitUsage       = 2 // bad command line, bad config.json, or input the server rejected (400, 413)
	exitUnavailable = 3 // no node could serve: refused, 503, timed out
)

// exitError carries the exit code of a failure found while running a
// command. Errors without one come from cobra's own parsing: usage errors.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErr(err error) error { return &exitError{code: exitUsage, err: err} }

// run executes kvcli with args and returns the process exit code. Every
// failure is reported as one line on stderr.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	code := exitUsage
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if code == exitUsage {
		msg += " (see kvcli --help)"
	}
	fmt.Fprintln(stderr, "kvcli: "+msg)
	return code
}

// globals are the persistent flags.
type globals struct {
	endpoints string
	timeout   time.Duration
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "kvcli",
		Short: "Client for a raftkv cluster",
		Long: "kvcli reads and writes a raftkv cluster over its HTTP API.\n\n" +
			"Exit codes: 0 ok, 1 key not found (or other failure), 2 usage, 3 cluster unavailable.",
		SilenceErrors: true, // run prints the one line
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	root.PersistentFlags().StringVar(&g.endpoints, "endpoints", "",
		"comma-separated node addresses (default: the http_addr of each node in ./config.json, else "+fallbackEndpoint+")")
	root.PersistentFlags().DurationVar(&g.timeout, "timeout", 5*time.Second, "time limit for each request, failover included")

	root.AddCommand(
		&cobra.Command{
			Use:   "get KEY",
			Short: "Print the value of KEY (raw bytes, no newline added)",
			Args:  cobra.ExactArgs(1),
			RunE: withClient(g, func(ctx context.Context, c *client.Client, args []string) error {
				v, err := c.Get(ctx, args[0], "")
				if errors.Is(err, client.ErrNotFound) {
					return &exitError{code: exitNotFound, err: fmt.Errorf("key %q not found", args[0])}
				}
				if err != nil {
					return classify(err)
				}
				_, err = stdout.Write(v)
				return err
			}),
		},
		&cobra.Command{
			Use:     "put KEY VALUE",
			Aliases: []string{"set"},
			Short:   "Set KEY to VALUE and print the log index of the write",
			Args:    cobra.ExactArgs(2),
			RunE: withClient(g, func(ctx context.Context, c *client.Client, args []string) error {
				idx, err := c.Put(ctx, args[0], []byte(args[1]))
				if err != nil {
					return classify(err)
				}
				_, err = fmt.Fprintln(stdout, idx)
				return err
			}),
		},
		&cobra.Command{
			Use:     "del KEY",
			Aliases: []string{"delete", "rm"},
			Short:   "Delete KEY (absent is fine) and print the log index of the write",
			Args:    cobra.ExactArgs(1),
			RunE: withClient(g, func(ctx context.Context, c *client.Client, args []string) error {
				idx, err := c.Delete(ctx, args[0])
				if err != nil {
					return classify(err)
				}
				_, err = fmt.Fprintln(stdout, idx)
				return err
			}),
		},
		&cobra.Command{
			Use:   "status",
			Short: "Show each node's Raft state",
			Args:  cobra.NoArgs,
			RunE: withClient(g, func(ctx context.Context, c *client.Client, _ []string) error {
				return printStatus(ctx, c, stdout)
			}),
		},
	)
	// Wrong argument counts are usage errors like bad flags.
	for _, cmd := range root.Commands() {
		if args := cmd.Args; args != nil {
			cmd.Args = func(cmd *cobra.Command, a []string) error {
				if err := args(cmd, a); err != nil {
					return usageErr(fmt.Errorf("%s: %w", cmd.Name(), err))
				}
				return nil
			}
		}
	}
	return root
}

// withClient builds the client from the global flags, runs fn, and releases
// the client's connections.
func withClient(g *globals, fn func(context.Context, *client.Client, []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if g.timeout <= 0 {
			return usageErr(fmt.Errorf("--timeout must be positive, got %s", g.timeout))
		}
		endpoints, err := resolveEndpoints(g.endpoints, configPath)
		if err != nil {
			return usageErr(err)
		}
		c, err := client.New(endpoints, g.timeout)
		if err != nil {
			return usageErr(err)
		}
		defer c.Close()
		return fn(cmd.Context(), c, args)
	}
}

// classify gives a client error its exit code.
func classify(err error) error {
	code := exitNotFound
	var apiErr *client.APIError
	var netErr net.Error
	switch {
	case errors.Is(err, client.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr):
		code = exitUnavailable
	case errors.As(err, &apiErr):
		switch apiErr.Status {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			code = exitUsage
		case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			code = exitUnavailable
		}
	}
	return &exitError{code: code, err: err}
}

// printStatus asks every endpoint at once (a dead one costs the timeout,
// once) and prints a table in endpoint order.
func printStatus(ctx context.Context, c *client.Client, out io.Writer) error {
	endpoints := c.Endpoints()
	type result struct {
		st  client.Status
		err error
	}
	results := make([]result, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Go(func() {
			st, err := c.Status(ctx, ep)
			results[i] = result{st, err}
		})
	}
	wg.Wait()

	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tSTATE\tTERM\tLEADER\tCOMMIT\tAPPLIED")
	var lastErr error
	answered := 0
	for i, r := range results {
		if r.err != nil {
			lastErr = r.err
			fmt.Fprintf(tw, "-\t%s\tunreachable\t-\t-\t-\t-\n", endpoints[i])
			continue
		}
		answered++
		leader := "-"
		if r.st.Leader != nil {
			leader = strconv.FormatUint(*r.st.Leader, 10)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%d\t%d\n",
			r.st.ID, endpoints[i], r.st.State, r.st.Term, leader, r.st.CommitIndex, r.st.AppliedIndex)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if answered == 0 {
		return &exitError{code: exitUnavailable, err: fmt.Errorf("no endpoint answered: %w", lastErr)}
	}
	return nil
}
