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
	case OpSet, OpDel:
		writeOp(&b, cmd.Op, cmd.Key, cmd.Value)
		if cmd.Lease != 0 {
			fmt.Fprintf(&b, " LEASE %d", cmd.Lease)
		}
		switch cmd.Cond {
		case CondModRevision:
			fmt.Fprintf(&b, " IF mod_revision=%d", cmd.CondRevision)
		case CondExists:
			b.WriteString(" IF exists")
		case CondAbsent:
			b.WriteString(" IF absent")
		}
	case OpTxn:
		describeTxn(&b, cmd.Txn)
	case OpLeaseGrant:
		fmt.Fprintf(&b, "LEASE GRANT ttl=%s", cmd.TTL)
	case OpLeaseRevoke:
		fmt.Fprintf(&b, "LEASE REVOKE %d", cmd.Lease)
	}
	return b.String()
}

// writeOp writes `SET key value`, `DEL key` or `GET key`.
func writeOp(b *strings.Builder, op Op, key, value []byte) {
	switch op {
	case OpSet:
		b.WriteString("SET ")
		writeField(b, key)
		b.WriteByte(' ')
		writeField(b, value)
	case OpDel:
		b.WriteString("DEL ")
		writeField(b, key)
	case OpGet:
		b.WriteString("GET ")
		writeField(b, key)
	}
}

var (
	targetNames = map[CompareTarget]string{TargetValue: "value", TargetVersion: "version",
		TargetModRevision: "mod_revision", TargetCreateRevision: "create_revision"}
	compareNames = map[CompareOp]string{CompareEqual: "=", CompareNotEqual: "!=", CompareLess: "<", CompareGreater: ">"}
)

// describeTxn writes `TXN IF k version=0 AND ... THEN SET k v; GET j ELSE -`.
func describeTxn(b *strings.Builder, t *Txn) {
	b.WriteString("TXN")
	for i, c := range t.Compares {
		if i == 0 {
			b.WriteString(" IF ")
		} else {
			b.WriteString(" AND ")
		}
		writeField(b, c.Key)
		fmt.Fprintf(b, " %s%s", targetNames[c.Target], compareNames[c.Op])
		if c.Target == TargetValue {
			writeField(b, c.Value)
		} else {
			b.WriteString(strconv.FormatUint(c.Number, 10))
		}
	}
	for _, branch := range []struct {
		word string
		ops  []TxnOp
	}{{" THEN ", t.Success}, {" ELSE ", t.Failure}} {
		b.WriteString(branch.word)
		if len(branch.ops) == 0 {
			b.WriteByte('-')
		}
		for i, op := range branch.ops {
			if i > 0 {
				b.WriteString("; ")
			}
			writeOp(b, op.Op, op.Key, op.Value)
		}
	}
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
