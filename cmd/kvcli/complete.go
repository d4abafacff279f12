package main

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// completer completes the shell's commands, their flags, bench modes,
// endpoints after `use`, and keys (asked of the cluster, stale, so
// completion never waits for a quorum).
type completer struct {
	s    *session
	root *cobra.Command // a command tree to read flags from; never executed
}

// keyCommands take a key (or prefix) as their first argument.
var keyCommands = []string{"get", "put", "set", "del", "delete", "rm", "list", "ls", "scan", "watch"}

// Do implements readline.AutoCompleter: it returns the candidates' missing
// suffixes and the length of the word being completed.
func (c *completer) Do(line []rune, pos int) ([][]rune, int) {
	text := string(line[:pos])
	words := strings.Fields(text)
	if len(words) == 0 || strings.HasSuffix(text, " ") || strings.HasSuffix(text, "\t") {
		words = append(words, "")
	}
	word := words[len(words)-1]
	var cands []string
	switch {
	case len(words) == 1:
		cands = commandNames()
	case strings.HasPrefix(word, "-"):
		cands = c.flags(words[:len(words)-1])
	case len(words) == 2 && slices.Contains(keyCommands, words[0]):
		cands = c.keys(word)
	case len(words) == 2 && words[0] == "use":
		for _, ep := range c.s.endpoints {
			cands = append(cands, hostPort(ep))
		}
	case len(words) == 2 && words[0] == "bench":
		cands = []string{"mixed", "read", "write"}
	case len(words) == 2 && words[0] == "help":
		cands = commandNames()
	}
	var out [][]rune
	for _, cand := range cands {
		if strings.HasPrefix(cand, word) && cand != "" {
			out = append(out, []rune(cand[len(word):]+" "))
		}
	}
	return out, len([]rune(word))
}

// flags lists the flags of the command named by words, globals included.
func (c *completer) flags(words []string) []string {
	cmd, _, err := c.root.Find(words)
	if err != nil || cmd == nil {
		cmd = c.root
	}
	var names []string
	add := func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, "--"+f.Name)
		}
	}
	cmd.LocalFlags().VisitAll(add)
	cmd.InheritedFlags().VisitAll(add)
	slices.Sort(names)
	return slices.Compact(names)
}

// keys returns up to 50 keys starting with prefix that can be typed as one
// bare word; a cluster that does not answer within 300ms offers none.
func (c *completer) keys(prefix string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	items, err := c.s.client().List(ctx, prefix, 50, "stale")
	if err != nil {
		return nil
	}
	var keys []string
	for _, it := range items {
		if display([]byte(it.Key)) == it.Key && !strings.ContainsAny(it.Key, `'#`) {
			keys = append(keys, it.Key)
		}
	}
	return keys
}
