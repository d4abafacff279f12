package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/chzyer/readline"
	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/internal/tlsconf"
)

// Exit codes.
const (
	exitOK          = 0
	exitNotFound    = 1 // also any failure that fits no other code
	exitUsage       = 2 // bad command line, bad config.json, or input the server rejected (400, 413)
	exitUnavailable = 3 // no node could serve: refused, 503, timed out
	exitCondition   = 4 // a conditional write's condition did not hold (412): nothing was written
	exitDenied      = 5 // the cluster refused the token: none or a bad one (401), or too few rights (403)
	// exitInterrupted is what a shell reports for a process killed by
	// Ctrl-C; kvcli returns it when Ctrl-C cut a command short.
	exitInterrupted = 130
)

// exitError carries the exit code of a failure found while running a
// command. Errors without one come from cobra's own parsing: usage errors.
// A nil err means the failure was already reported.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func usageErr(err error) error { return &exitError{code: exitUsage, err: err} }

// signaler is where Ctrl-C comes from: the process's SIGINT, or a test.
type signaler interface {
	Notify(c chan<- os.Signal)
	Stop(c chan<- os.Signal)
}

// env is the outside world of one kvcli invocation.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// The TTY flags shape output for people: a newline after a raw value,
	// the shell's line editor, a progress line rewritten in place.
	stdinTTY, stdoutTTY, stderrTTY bool
	signals                        signaler
	// termSize gives the terminal's columns and rows, when stdout is
	// one (0, 0 when unknown); nil in tests.
	termSize func() (width, height int)
	// editorHook, when set, adjusts the line editor's configuration: tests
	// drive the interactive shell through a pipe posing as a terminal.
	editorHook func(*readline.Config)
	// getenv reads the environment (RAFTKV_TOKEN); nil reads nothing.
	getenv func(string) string
}

// tokenEnv names the environment variable kvcli takes its token from:
// better than --token, which other users can see in the process list.
const tokenEnv = "RAFTKV_TOKEN"

// app is one command line being run: the environment, the global flags,
// and, inside the shell, the shell's session.
type app struct {
	*env
	endpoints   string
	timeout     time.Duration
	output      string        // "text" or "json"
	consistency string        // "", "linearizable", "stale" or "lease"
	tls         tlsconf.Files // --cacert, --cert, --key
	token       string        // --token, else $RAFTKV_TOKEN; "" sends none
	sess        *session
}

// run executes kvcli with args and returns the process exit code. Every
// failure is reported as one line on stderr.
func run(ctx context.Context, args []string, e *env) int {
	a := &app{env: e}
	root := newRootCmd(a)
	root.SetArgs(args)
	code, msg := describe(root.ExecuteContext(ctx))
	if msg != "" {
		fmt.Fprintln(e.stderr, "kvcli: "+msg)
	}
	return code
}

// describe turns a command's error into its exit code and one line of
// message ("" when there is nothing to say).
func describe(err error) (int, string) {
	if err == nil {
		return exitOK, ""
	}
	code := exitUsage
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err == nil {
			return code, ""
		}
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if code == exitUsage {
		msg += " (see --help)"
	}
	return code, msg
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "kvcli [command]",
		Short: "Client for a raftkv cluster",
		Long: "kvcli reads and writes a raftkv cluster over its HTTP API. Without a command it opens an\n" +
			"interactive shell (or, with commands piped in, runs them one line at a time).\n\n" +
			"Exit codes: 0 ok, 1 key not found (or other failure), 2 usage, 3 cluster unavailable,\n" +
			"4 condition failed, 5 token refused (401, 403), 130 interrupted.",
		Args:          cobra.NoArgs,
		SilenceErrors: true, // run prints the one line
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.sess != nil {
				return usageErr(errors.New("type a command (help lists them)"))
			}
			return runShell(cmd.Context(), a)
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return a.checkGlobals(cmd) },
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	pf := root.PersistentFlags()
	pf.StringVar(&a.endpoints, "endpoints", "",
		"comma-separated node addresses (default: the http_addr of each node in ./config.json, else "+fallbackEndpoint+")")
	pf.DurationVar(&a.timeout, "timeout", 5*time.Second, "time limit for each request, failover included")
	pf.StringVarP(&a.output, "output", "o", "text", "output format: text or json")
	pf.StringVar(&a.tls.CAFile, "cacert", "", "verify the nodes' HTTPS certificates with the CAs in this PEM `file` (default: config.json's tls.ca_file, else the system's)")
	pf.StringVar(&a.tls.CertFile, "cert", "", "client certificate `file` (PEM) for nodes that require one (mutual TLS); with --key")
	pf.StringVar(&a.tls.KeyFile, "key", "", "the client certificate's key `file` (PEM)")
	pf.StringVar(&a.token, "token", "", "API token, for a cluster that asks for one (default $"+tokenEnv+", which, unlike the flag, other users cannot see)")
	pf.StringVar(&a.consistency, "consistency", "", "reads: linearizable (the server's default), stale (local state, may lag) or lease (leader lease, no round trip)")

	root.AddCommand(getCmd(a), putCmd(a), delCmd(a), txnCmd(a), watchKeyCmd(a), leaseCmd(a), lockCmd(a), listCmd(a), statusCmd(a), leaderCmd(a), benchCmd(a),
		backupCmd(a), snapshotCmd(a), transferCmd(a), memberCmd(a))
	// Wrong argument counts are usage errors like bad flags.
	var wrap func(*cobra.Command)
	wrap = func(cmd *cobra.Command) {
		if args := cmd.Args; args != nil {
			cmd.Args = func(cmd *cobra.Command, a []string) error {
				if err := args(cmd, a); err != nil {
					if !cmd.HasParent() {
						return usageErr(err)
					}
					return usageErr(fmt.Errorf("%s: %w", strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" "), err))
				}
				return nil
			}
		}
		for _, sub := range cmd.Commands() {
			wrap(sub)
		}
	}
	wrap(root)
	return root
}

// checkGlobals validates the global flags, before any command runs, and
// takes the token from the environment unless --token gave one.
func (a *app) checkGlobals(cmd *cobra.Command) error {
	if !cmd.Flags().Changed("token") && a.getenv != nil {
		a.token = a.getenv(tokenEnv)
	}
	a.token = strings.TrimSpace(a.token)
	switch {
	case a.timeout <= 0:
		return usageErr(fmt.Errorf("--timeout must be positive, got %s", a.timeout))
	case a.output != "text" && a.output != "json":
		return usageErr(fmt.Errorf("-o %q: want text or json", a.output))
	case a.consistency != "" && a.consistency != "linearizable" && a.consistency != "stale" && a.consistency != "lease":
		return usageErr(fmt.Errorf("--consistency %q: want linearizable, stale or lease", a.consistency))
	case (a.tls.CertFile == "") != (a.tls.KeyFile == ""):
		return usageErr(errors.New("--cert and --key go together"))
	}
	return nil
}

func (a *app) json() bool { return a.output == "json" }

// forPeople reports whether output goes to a person rather than a program.
func (a *app) forPeople() bool { return a.stdoutTTY || a.sess != nil && a.sess.interactive }

// resolve returns the endpoints the flags (or config.json) name, and the
// client options that reach them (HTTPS, the token).
func (a *app) resolve() ([]string, []client.Option, error) {
	t, err := resolveTarget(a.endpoints, a.tls, configPath)
	if err != nil {
		return nil, nil, usageErr(err)
	}
	opts := a.tokenOptions()
	if t.tls == nil {
		return t.endpoints, opts, nil
	}
	cfg, err := tlsconf.ClientConfig(*t.tls)
	if err != nil {
		return nil, nil, usageErr(err)
	}
	return t.endpoints, append(opts, client.WithTLS(cfg)), nil
}

// client returns the client for a command and a function to release it.
// Inside the shell it is the session's, unless this line overrides the
// connection flags.
func (a *app) client(cmd *cobra.Command) (*client.Client, func(), error) {
	if a.sess != nil && !connectionFlagChanged(cmd) {
		return a.sess.client(), func() {}, nil
	}
	eps, opts, err := a.resolve()
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(eps, a.timeout, opts...)
	if err != nil {
		return nil, nil, usageErr(err)
	}
	return c, c.Close, nil
}

// connectionFlagChanged reports whether this line sets a flag that shapes
// the client, so the shell's own will not do.
func connectionFlagChanged(cmd *cobra.Command) bool {
	for _, name := range []string{"endpoints", "timeout", "cacert", "cert", "key", "token"} {
		if cmd.Flags().Changed(name) {
			return true
		}
	}
	return false
}

// tokenOptions send the token, when there is one.
func (a *app) tokenOptions() []client.Option {
	if a.token == "" {
		return nil
	}
	return []client.Option{client.WithToken(a.token)}
}

// withClient adapts fn into a cobra RunE with a client from a.client.
func withClient(a *app, fn func(context.Context, *client.Client, []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, release, err := a.client(cmd)
		if err != nil {
			return err
		}
		defer release()
		return fn(cmd.Context(), c, args)
	}
}

// classify gives a client error its exit code.
func classify(err error) error {
	code := exitNotFound
	var apiErr *client.APIError
	var netErr net.Error
	var condErr *client.ConditionError
	switch {
	case errors.Is(err, context.Canceled):
		return &exitError{code: exitInterrupted, err: errors.New("interrupted")}
	case errors.As(err, &condErr):
		code = exitCondition
	case tlsHint(err) != "":
		// Retrying or waiting will not help: the flags must change.
		return &exitError{code: exitUsage, err: fmt.Errorf("%w (%s)", err, tlsHint(err))}
	case errors.Is(err, client.ErrUnavailable), errors.Is(err, client.ErrNoLeader),
		errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr):
		code = exitUnavailable
	case errors.As(err, &apiErr):
		switch apiErr.Status {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			code = exitUsage
		case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			code = exitUnavailable
		case http.StatusUnauthorized:
			code = exitDenied
			err = fmt.Errorf("%w (the token goes in --token or $%s)", err, tokenEnv)
		case http.StatusForbidden:
			code = exitDenied
		}
	}
	return &exitError{code: code, err: err}
}

// interruptible returns a context that Ctrl-C cancels, for commands that
// stop cleanly (the benchmark prints what it measured). Inside the shell
// the session already does this for every command.
func (a *app) interruptible(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	if a.sess != nil || a.signals == nil {
		return ctx, cancel
	}
	sig := make(chan os.Signal, 1)
	a.signals.Notify(sig)
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-sig:
			cancel()
		case <-ctx.Done():
		}
	})
	return ctx, func() {
		a.signals.Stop(sig)
		cancel()
		wg.Wait()
	}
}
