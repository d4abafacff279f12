package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chzyer/readline"

	"github.com/raftkv/raftkv/api/client"
)

// historyName is the shell's history file, in the user's home directory.
const historyName = ".kvcli_history"

// session is the state the shell keeps between lines.
type session struct {
	endpoints   []string // as resolved at start, for `use` and completion
	timeout     time.Duration
	opts        []client.Option // how the client reaches the nodes (HTTPS, the token)
	interactive bool
	// cur is the client commands use; `use` replaces it. Completion reads
	// it from readline's goroutine, hence the atomic.
	cur atomic.Pointer[client.Client]

	mu     sync.Mutex         // guards cancel
	cancel context.CancelFunc // cancels the running command; nil between commands
}

func (s *session) client() *client.Client { return s.cur.Load() }

// use makes endpoint the one commands try first, with the others (those
// given at start) behind it for failover.
func (s *session) use(endpoint string) error {
	// The current client knows whether host:port means https.
	norm := client.Normalize
	if c := s.client(); c != nil {
		norm = c.Normalize
	}
	ep, err := norm(endpoint)
	if err != nil {
		return err
	}
	eps := []string{ep}
	for _, e := range s.endpoints {
		if n, err := norm(e); err == nil && n != ep {
			eps = append(eps, n)
		}
	}
	c, err := client.New(eps, s.timeout, s.opts...)
	if err != nil {
		return err
	}
	if old := s.cur.Swap(c); old != nil {
		old.Close()
	}
	return nil
}

// runShell reads commands from stdin until exit, Ctrl-D or the end of the
// input: with a line editor on a terminal, line by line otherwise.
// The global flags were checked by the root command's PersistentPreRunE.
func runShell(ctx context.Context, a *app) error {
	eps, opts, err := a.resolve()
	if err != nil {
		return err
	}
	c, err := client.New(eps, a.timeout, opts...)
	if err != nil {
		return usageErr(err)
	}
	s := &session{endpoints: c.Endpoints(), timeout: a.timeout, opts: opts, interactive: a.stdinTTY}
	s.cur.Store(c)
	defer func() { s.client().Close() }()

	// From here on Ctrl-C never ends the shell itself: it cancels the
	// command that runs (and, reading a script, the script).
	ctx, cancelAll := context.WithCancel(ctx)
	defer cancelAll()
	stopSignals := s.forwardInterrupts(a.signals, cancelAll)
	defer stopSignals()

	if s.interactive {
		return s.interactiveLoop(ctx, a)
	}
	return s.scriptLoop(ctx, a)
}

// forwardInterrupts cancels the running command on each Ctrl-C; reading a
// script it also cancels the rest of the script through cancelAll.
func (s *session) forwardInterrupts(sigs signaler, cancelAll context.CancelFunc) (stop func()) {
	if sigs == nil {
		return func() {}
	}
	ch := make(chan os.Signal, 1)
	sigs.Notify(ch)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-ch:
				s.mu.Lock()
				if s.cancel != nil {
					s.cancel()
				}
				s.mu.Unlock()
				if !s.interactive {
					cancelAll()
				}
			case <-done:
				return
			}
		}
	})
	return func() {
		sigs.Stop(ch)
		close(done)
		wg.Wait()
	}
}

// scriptLoop runs the lines of a non-terminal stdin, without prompts. It
// returns the exit code of the last failed line, so a script can tell.
func (s *session) scriptLoop(ctx context.Context, a *app) error {
	br := bufio.NewReader(a.stdin)
	code := exitOK
	for lineNo := 1; ; lineNo++ {
		line, readErr := br.ReadString('\n')
		if readErr != nil && readErr != io.EOF {
			return fmt.Errorf("read commands: %w", readErr)
		}
		if line != "" {
			c, quit := s.handle(ctx, a, line, fmt.Sprintf("kvcli: line %d: ", lineNo))
			if c != exitOK {
				code = c
			}
			if quit || ctx.Err() != nil {
				break
			}
		}
		if readErr == io.EOF {
			break
		}
	}
	if ctx.Err() != nil {
		code = exitInterrupted
	}
	if code == exitOK {
		return nil
	}
	return &exitError{code: code} // each failure was reported on its line
}

// interactiveLoop is the shell on a terminal.
func (s *session) interactiveLoop(ctx context.Context, a *app) error {
	cfg := &readline.Config{
		Prompt:            s.prompt(ctx),
		HistoryFile:       historyPath(),
		HistoryLimit:      1000,
		HistorySearchFold: true,
		AutoComplete:      &completer{s: s, root: newRootCmd(&app{env: a.env, sess: s})},
		InterruptPrompt:   "^C",
		EOFPrompt:         "exit",
		Stdout:            a.stdout,
		Stderr:            a.stderr,
	}
	// The real stdin is left to readline, which wraps it so that Close can
	// interrupt a pending read.
	if a.stdin != os.Stdin {
		rc, ok := a.stdin.(io.ReadCloser)
		if !ok {
			rc = io.NopCloser(a.stdin)
		}
		cfg.Stdin = rc
	}
	if a.editorHook != nil {
		a.editorHook(cfg)
	}
	rl, err := readline.NewEx(cfg)
	if err != nil {
		return fmt.Errorf("start the line editor: %w", err)
	}
	defer rl.Close()
	fmt.Fprintf(a.stdout, "raftkv shell, %d endpoints. help lists the commands; Tab completes; Ctrl-D leaves.\n", len(s.endpoints))
	for {
		line, err := rl.Readline()
		switch {
		case errors.Is(err, readline.ErrInterrupt):
			continue // Ctrl-C drops the line being typed
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("read a command: %w", err)
		}
		if _, quit := s.handle(ctx, a, line, "error: "); quit {
			return nil
		}
		rl.SetPrompt(s.prompt(ctx))
	}
}

// historyPath is ~/.kvcli_history, created private (values typed in the
// shell may be secrets) when absent; "" disables history.
func historyPath() string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	p := filepath.Join(home, historyName)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return "" // read-only home: a shell without history beats no shell
	}
	f.Close()
	return p
}

// prompt shows the node commands go to first and its role, asked anew:
// a status request costs a millisecond on a LAN.
func (s *session) prompt(ctx context.Context) string {
	c := s.client()
	ep := c.Current()
	ctx, cancel := context.WithTimeout(ctx, min(s.timeout, 500*time.Millisecond))
	defer cancel()
	role := "unreachable"
	if st, err := c.Status(ctx, ep); err == nil {
		role = st.State
	}
	return fmt.Sprintf("raftkv %s (%s)> ", hostPort(ep), role)
}

// handle runs one line. It returns the line's exit code and whether the
// shell should stop. prefix starts each error line.
func (s *session) handle(ctx context.Context, a *app, line, prefix string) (int, bool) {
	line = strings.TrimRight(line, "\r\n")
	if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
		return exitOK, false
	}
	report := func(code int, msg string) int {
		if msg != "" {
			fmt.Fprintln(a.stderr, prefix+msg)
		}
		return code
	}
	args, err := splitArgs(line)
	if err != nil {
		return report(exitUsage, err.Error()), false
	}
	if len(args) > 0 && args[0] == "kvcli" { // pasted from a one-shot command line
		args = args[1:]
	}
	if len(args) == 0 {
		return exitOK, false
	}
	switch args[0] {
	case "exit", "quit":
		return exitOK, true
	case "help", "?":
		if len(args) == 1 {
			s.help(a)
			return exitOK, false
		}
		args = append(args[1:], "--help")
	case "use":
		if len(args) != 2 {
			return report(exitUsage, "usage: use ENDPOINT (for example use 127.0.0.1:8001)"), false
		}
		if err := s.use(args[1]); err != nil {
			return report(exitUsage, err.Error()), false
		}
		return exitOK, false
	}

	cmdCtx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.cancel = nil
		s.mu.Unlock()
		cancel()
	}()
	root := newRootCmd(&app{env: a.env, sess: s})
	root.SetArgs(args)
	return report(describe(root.ExecuteContext(cmdCtx))), false
}
