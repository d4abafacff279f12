package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// shellCommands are the commands the shell offers, for help and
// completion, in the order help lists them.
var shellCommands = []struct{ name, usage, what string }{
	{"get", "get KEY [--meta]", "print the value of KEY (--meta: with its revisions)"},
	{"put", "put KEY VALUE [--if-match REV | --create]", "set KEY (also: set); --file F reads the value"},
	{"set", "", ""},
	{"del", "del KEY [--if-match REV]", "delete KEY"},
	{"txn", "txn --file F", "run a transaction (POST /v1/txn's JSON)"},
	{"watch", "watch KEY [--prefix] [--rev N]", "print KEY's changes as they happen, until Ctrl-C"},
	{"lease", "lease grant TTL|keepalive ID|revoke ID|show ID", "leases; put --lease ID / --ttl D attach keys"},
	{"lock", "lock NAME -- COMMAND [ARGS]", "run COMMAND while holding a lease-backed lock"},
	{"list", "list [PREFIX] [--limit N]", "keys and values in key order"},
	{"status", "status [-w] [--interval D]", "every node's state, term, indexes, lag, snapshot, log size; -w: redraw until Ctrl-C"},
	{"leader", "leader", "the leader's address, id and term"},
	{"transfer-leader", "transfer-leader [ID]", "hand leadership to node ID (or the most up to date)"},
	{"member", "member list|add|promote|remove ...", "the cluster's members; add ID RAFT HTTP, promote ID, remove ID"},
	{"snapshot", "snapshot [--all]", "snapshot the prompt's node now (--all: every node)"},
	{"backup", "backup FILE [--force]", "save a verified snapshot of the state to FILE"},
	{"bench", "bench write|read|mixed [flags]", "measure throughput and latency"},
	{"use", "use ENDPOINT", "send commands to ENDPOINT first"},
	{"help", "help [COMMAND]", "this list, or a command's flags"},
	{"exit", "exit", "leave (also: quit, Ctrl-D)"},
	{"quit", "", ""},
}

func (s *session) help(a *app) {
	var b strings.Builder
	b.WriteString("Commands (quote values with blanks: put greeting \"hello world\"):\n")
	for _, c := range shellCommands {
		if c.usage != "" {
			fmt.Fprintf(&b, "  %-36s %s\n", c.usage, c.what)
		}
	}
	b.WriteString("Global flags work on any line: -o json, --consistency stale, --timeout 2s, --endpoints ...\n")
	b.WriteString("Ctrl-C cancels the line or the running command; Tab completes commands, flags and keys.\n")
	io.WriteString(a.stdout, b.String())
}

// commandNames lists the shell's commands for completion.
func commandNames() []string {
	names := make([]string, 0, len(shellCommands))
	for _, c := range shellCommands {
		names = append(names, c.name)
	}
	slices.Sort(names)
	return names
}
