package kv

import (
	"fmt"
	"strconv"
	"strings"
)

// describeMax is how many bytes of a key or value the trail shows; the
// trail is for people, and a 1 MiB value would drown it.
const describeMax = 64

// Describe renders a command for the trail of committed entries:
// `SET color blue`, `DEL color`. Keys and values that are not plain
// printable words are Go-quoted so a line splits unambiguously on spaces.
func (s *Store) Describe(data []byte) string {
	return describe(data)
}

func describe(data []byte) string {
	cmd, err := DecodeCommand(data)
	if err != nil {
		return fmt.Sprintf("INVALID %d bytes", len(data))
	}
	var b strings.Builder
	switch cmd.Op {
	case OpSet:
		b.WriteString("SET ")
		writeField(&b, cmd.Key)
		b.WriteByte(' ')
		writeField(&b, cmd.Value)
	case OpDel:
		b.WriteString("DEL ")
		writeField(&b, cmd.Key)
	}
	return b.String()
}

// writeField writes p as is when it is a non-empty run of printable ASCII
// without spaces that cannot be mistaken for a quoted string; otherwise
// quoted, and cut to describeMax bytes with the remainder counted.
func writeField(b *strings.Builder, p []byte) {
	if len(p) > describeMax {
		b.WriteString(strconv.Quote(string(p[:describeMax])))
		fmt.Fprintf(b, "...(+%d bytes)", len(p)-describeMax)
		return
	}
	if isBareWord(p) {
		b.Write(p)
		return
	}
	b.WriteString(strconv.Quote(string(p)))
}

func isBareWord(p []byte) bool {
	if len(p) == 0 || p[0] == '"' {
		return false
	}
	for _, c := range p {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}
