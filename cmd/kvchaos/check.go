package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/cmd/kvchaos/internal/history"
	"github.com/raftkv/raftkv/cmd/kvchaos/internal/nemesis"
)

// newCheckCmd re-checks a history a run saved, e.g. after changing the
// checker, or to pin a violation down again.
func newCheckCmd(stdout io.Writer) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "check RUN_DIR/history.jsonl",
		Short: "Check a saved history again and explain any violation",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			ops, err := readJSONLines[history.Op](args[0])
			if err != nil {
				return &codeError{exitHarness, err}
			}
			// The faults of the run, when saved next to the history.
			var notes []history.Annotation
			if events, err := readJSONLines[nemesis.Event](filepath.Join(filepath.Dir(args[0]), "faults.jsonl")); err == nil {
				notes = annotations(events, nil, time.Time{})
			}
			res := history.Check(ops, timeout)
			fmt.Fprintf(stdout, "%s: %s (%d operations checked in %s)\n", args[0], res.Verdict, res.Checked,
				res.Duration.Round(time.Millisecond))
			if res.Verdict == history.Linearizable {
				return nil
			}
			if res.Verdict == history.NotLinearizable {
				html := filepath.Join(filepath.Dir(args[0]), "violation.html")
				if err := res.Visualize(html, notes); err == nil {
					fmt.Fprintf(stdout, "visualization: %s\n", html)
				}
			}
			for _, f := range history.Explain(ops, min(timeout, explainStep)) {
				fmt.Fprintln(stdout)
				f.Print(stdout, notes)
			}
			if res.Verdict == history.Inconclusive {
				return &codeError{exitInconclusive, errors.New("the checker timed out")}
			}
			return &codeError{exitFailed, errors.New("the history is NOT linearizable")}
		},
	}
	cmd.Flags().DurationVar(&timeout, "check-timeout", 60*time.Second, "give up checking after this long")
	return cmd
}

// readJSONLines reads what writeJSONLines wrote.
func readJSONLines[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	var items []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var it T
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		items = append(items, it)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return items, nil
}
