package kv

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// A transaction is one log entry: compares, then the success or the
// failure branch, applied atomically, every write at the entry's index.
// Its encoding is command version 4:
//
//	[4] uvarint nonce, uvarint client length, client, [uvarint seq],
//	uvarint compares, each: target byte, op byte, uvarint key length, key,
//	  uvarint operand (a number, or the length of the bytes that follow)
//	uvarint success ops, each: op byte, uvarint key length, key,
//	  [uvarint value length, value] (put only)
//	uvarint failure ops, the same
const commandTxn = 4

// MaxTxnOps bounds a transaction's compares and operations together.
const MaxTxnOps = 128

// MaxTxnBytes bounds the keys and values a transaction writes, together.
// All of them must fit in one badger transaction, whose limit depends on
// the memtable size, at least 1 MiB, which allows about 157 KB; a
// transaction over this is refused by every replica alike (decode fails),
// rather than stopping each one in Apply.
const MaxTxnBytes = 128 << 10

// WriteBytes is what t's puts and deletes add to a badger transaction.
func (t *Txn) WriteBytes() int {
	n := 0
	for _, branch := range [][]TxnOp{t.Success, t.Failure} {
		branchBytes := 0
		for _, op := range branch {
			if op.Op != OpGet {
				branchBytes += len(op.Key) + len(op.Value) + 64 // revision header and index entries
			}
		}
		n = max(n, branchBytes) // only one branch runs
	}
	return n
}

// CompareTarget is what a compare looks at.
type CompareTarget uint8

const (
	TargetValue CompareTarget = iota + 1
	TargetVersion
	TargetModRevision
	TargetCreateRevision
)

// CompareOp is how it compares.
type CompareOp uint8

const (
	CompareEqual CompareOp = iota + 1
	CompareNotEqual
	CompareLess
	CompareGreater
)

// Compare is one condition of a transaction. Value is the operand of
// TargetValue, Number that of the others. On an absent key a value
// compare is false whatever its op, and the revisions and version are 0.
type Compare struct {
	Key    []byte
	Target CompareTarget
	Op     CompareOp
	Value  []byte
	Number uint64
}

// TxnOp is one operation of a branch.
type TxnOp struct {
	Op    Op // OpSet, OpDel or OpGet
	Key   []byte
	Value []byte
}

// OpGet reads a key inside a transaction, seeing the branch's earlier
// writes.
const OpGet Op = 3

// Txn is a decoded transaction.
type Txn struct {
	Compares []Compare
	Success  []TxnOp
	Failure  []TxnOp
}

// TxnResult is what applying a transaction did.
type TxnResult struct {
	Succeeded bool
	Results   []OpResult // one per operation of the branch taken
}

// OpResult is one operation's result. For a get, Found and Item; for a
// delete, Found says whether the key existed.
type OpResult struct {
	Op    Op
	Found bool
	Item  Item
}

func (t *Txn) ops() int { return len(t.Compares) + len(t.Success) + len(t.Failure) }

func (c Command) encodeTxn() []byte {
	b := []byte{commandTxn}
	b = binary.AppendUvarint(b, c.Nonce)
	b = binary.AppendUvarint(b, uint64(len(c.Client)))
	if c.Client != "" {
		b = append(b, c.Client...)
		b = binary.AppendUvarint(b, c.Seq)
	}
	b = binary.AppendUvarint(b, uint64(len(c.Txn.Compares)))
	for _, cmp := range c.Txn.Compares {
		b = append(b, byte(cmp.Target), byte(cmp.Op))
		b = appendBytes(b, cmp.Key)
		if cmp.Target == TargetValue {
			b = appendBytes(b, cmp.Value)
		} else {
			b = binary.AppendUvarint(b, cmp.Number)
		}
	}
	for _, branch := range [][]TxnOp{c.Txn.Success, c.Txn.Failure} {
		b = binary.AppendUvarint(b, uint64(len(branch)))
		for _, op := range branch {
			b = append(b, byte(op.Op))
			b = appendBytes(b, op.Key)
			if op.Op == OpSet {
				b = appendBytes(b, op.Value)
			}
		}
	}
	return b
}

func appendBytes(b, p []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(p))), p...)
}

// cutBytes reads a uvarint length and that many bytes.
func cutBytes(b []byte, what string) ([]byte, []byte, error) {
	n, rest, err := uvarint(b, what+" length")
	if err != nil {
		return nil, nil, err
	}
	if n > uint64(len(rest)) {
		return nil, nil, fmt.Errorf("%w: %s length %d with %d bytes left", ErrBadCommand, what, n, len(rest))
	}
	return rest[:n:n], rest[n:], nil
}

func decodeTxn(b []byte) (Command, error) {
	c := Command{Op: OpTxn, Txn: &Txn{}}
	var err error
	if c.Nonce, b, err = uvarint(b[1:], "nonce"); err != nil {
		return Command{}, err
	}
	if c.Client, c.Seq, b, err = decodeRequestID(b, true); err != nil {
		return Command{}, err
	}
	var n uint64
	if n, b, err = uvarint(b, "compare count"); err != nil {
		return Command{}, err
	}
	if n > MaxTxnOps {
		return Command{}, fmt.Errorf("%w: %d compares", ErrBadCommand, n)
	}
	for range n {
		var cmp Compare
		if cmp, b, err = decodeCompare(b); err != nil {
			return Command{}, err
		}
		c.Txn.Compares = append(c.Txn.Compares, cmp)
	}
	for _, branch := range []*[]TxnOp{&c.Txn.Success, &c.Txn.Failure} {
		if *branch, b, err = decodeBranch(b); err != nil {
			return Command{}, err
		}
	}
	if len(b) != 0 {
		return Command{}, fmt.Errorf("%w: %d bytes after the transaction", ErrBadCommand, len(b))
	}
	if c.Txn.ops() > MaxTxnOps {
		return Command{}, fmt.Errorf("%w: %d operations, more than %d", ErrBadCommand, c.Txn.ops(), MaxTxnOps)
	}
	if n := c.Txn.WriteBytes(); n > MaxTxnBytes {
		return Command{}, fmt.Errorf("%w: a transaction writing %d bytes, more than %d", ErrBadCommand, n, MaxTxnBytes)
	}
	return c, nil
}

func decodeCompare(b []byte) (Compare, []byte, error) {
	if len(b) < 2 {
		return Compare{}, nil, fmt.Errorf("%w: truncated compare", ErrBadCommand)
	}
	cmp := Compare{Target: CompareTarget(b[0]), Op: CompareOp(b[1])}
	if cmp.Target < TargetValue || cmp.Target > TargetCreateRevision || cmp.Op < CompareEqual || cmp.Op > CompareGreater {
		return Compare{}, nil, fmt.Errorf("%w: compare target %d op %d", ErrBadCommand, b[0], b[1])
	}
	var err error
	if cmp.Key, b, err = cutKey(b[2:]); err != nil {
		return Compare{}, nil, err
	}
	if cmp.Target == TargetValue {
		cmp.Value, b, err = cutBytes(b, "compare value")
	} else {
		cmp.Number, b, err = uvarint(b, "compare operand")
	}
	return cmp, b, err
}

func decodeBranch(b []byte) ([]TxnOp, []byte, error) {
	n, b, err := uvarint(b, "operation count")
	if err != nil {
		return nil, nil, err
	}
	if n > MaxTxnOps {
		return nil, nil, fmt.Errorf("%w: %d operations", ErrBadCommand, n)
	}
	var ops []TxnOp
	for range n {
		if len(b) == 0 {
			return nil, nil, fmt.Errorf("%w: truncated operation", ErrBadCommand)
		}
		op := TxnOp{Op: Op(b[0])}
		if op.Op != OpSet && op.Op != OpDel && op.Op != OpGet {
			return nil, nil, fmt.Errorf("%w: unknown transaction op %d", ErrBadCommand, b[0])
		}
		if op.Key, b, err = cutKey(b[1:]); err != nil {
			return nil, nil, err
		}
		if op.Op == OpSet {
			if op.Value, b, err = cutBytes(b, "value"); err != nil {
				return nil, nil, err
			}
		}
		ops = append(ops, op)
	}
	return ops, b, nil
}

func cutKey(b []byte) ([]byte, []byte, error) {
	k, rest, err := cutBytes(b, "key")
	if err == nil && len(k) == 0 {
		err = fmt.Errorf("%w: empty key", ErrBadCommand)
	}
	return k, rest, err
}

// holds evaluates one compare against a key's state.
func (cmp Compare) holds(st keyState, value []byte) bool {
	var c int
	switch cmp.Target {
	case TargetValue:
		if !st.exists {
			return false
		}
		c = bytes.Compare(value, cmp.Value)
	default:
		var have uint64
		switch cmp.Target {
		case TargetVersion:
			have = st.meta.Version
		case TargetModRevision:
			have = st.meta.ModRevision
		case TargetCreateRevision:
			have = st.meta.CreateRevision
		}
		c = compareUint(have, cmp.Number)
	}
	switch cmp.Op {
	case CompareEqual:
		return c == 0
	case CompareNotEqual:
		return c != 0
	case CompareLess:
		return c < 0
	default:
		return c > 0
	}
}

func compareUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
