// Command kvcli is the command-line client of a raftkv cluster: one-shot
// commands, an interactive shell, and a benchmark.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/chzyer/readline"
)

func main() {
	e := &env{
		stdin:     os.Stdin,
		stdout:    os.Stdout,
		stderr:    os.Stderr,
		stdinTTY:  readline.IsTerminal(int(os.Stdin.Fd())),
		stdoutTTY: readline.IsTerminal(int(os.Stdout.Fd())),
		stderrTTY: readline.IsTerminal(int(os.Stderr.Fd())),
		signals:   osSignals{},
		getenv:    os.Getenv,
		termSize: func() (int, int) {
			w, h, err := readline.GetSize(int(os.Stdout.Fd()))
			if err != nil {
				return 0, 0
			}
			return w, h
		},
	}
	os.Exit(run(context.Background(), os.Args[1:], e))
}

// osSignals delivers Ctrl-C (SIGINT) to whoever subscribed. Commands that
// do not subscribe keep the default: Ctrl-C ends the process.
type osSignals struct{}

func (osSignals) Notify(c chan<- os.Signal) { signal.Notify(c, os.Interrupt) }
func (osSignals) Stop(c chan<- os.Signal)   { signal.Stop(c) }
