// Package kv is the replicated state machine: SET and DEL commands applied
// to badger, exactly once and in log order.
package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// The first byte of every encoded command is its format version, so the
// format can change without misreading old log entries. Version 2 adds a
// request id for exactly-once writes; version 3 a condition and a nonce
// (conditional writes). Encode writes the oldest version that can carry
// the command, so nodes of an older release keep reading plain writes;
// a conditional write needs every node upgraded (an old node would skip
// it as undecodable).
const (
	commandV1 = 1
	commandV2 = 2
	commandV3 = 3
)

// MaxClientIDBytes bounds the client part of a request id.
const MaxClientIDBytes = 128

// Op is the kind of a command.
type Op uint8

const (
	OpSet Op = 1
	OpDel Op = 2
	// OpTxn is a transaction (Command.Txn); see txn.go. Op 3 is OpGet,
	// which exists only inside one.
	OpTxn Op = 4
	// OpLeaseGrant and OpLeaseRevoke manage leases; see lease.go.
	OpLeaseGrant  Op = 5
	OpLeaseRevoke Op = 6
)

// Command is a decoded state machine command. Client and Seq identify the
// request when the client sent a Request-Id; Client is empty otherwise.
type Command struct {
	Op     Op
	Key    []byte
	Value  []byte
	Client string
	Seq    uint64
	// Cond, when set, makes the write apply only if it holds when the
	// entry is applied (CondRevision is its revision for
	// CondModRevision). Nonce names the proposal so that the node that
	// proposed it can learn the outcome (Store.Expect); it is part of the
	// entry, so it means nothing to the state machine's decision.
	Cond         Cond
	CondRevision uint64
	Nonce        uint64
	// Lease attaches the key to a lease (OpSet), or names the lease of
	// an OpLeaseRevoke; TTL is an OpLeaseGrant's time to live (see
	// lease.go).
	Lease uint64
	TTL   time.Duration
	// Txn is the transaction of an OpTxn command (Key and Value unused).
	Txn *Txn
}

// ErrBadCommand is wrapped by DecodeCommand's errors.
var ErrBadCommand = errors.New("kv: malformed command")

// EncodeSet encodes SET key value.
func EncodeSet(key, value []byte) []byte {
	return Command{Op: OpSet, Key: key, Value: value}.Encode()
}

// EncodeDel encodes DEL key.
func EncodeDel(key []byte) []byte {
	return Command{Op: OpDel, Key: key}.Encode()
}

// Encode encodes c: version 1 without a request id, version 2 with one,
// version 3 when it has a condition or a nonce.
func (c Command) Encode() []byte {
	if c.Op == OpTxn {
		return c.encodeTxn()
	}
	b := make([]byte, 0, 3+5*binary.MaxVarintLen64+len(c.Client)+len(c.Key)+len(c.Value))
	if c.Op == OpLeaseGrant || c.Op == OpLeaseRevoke {
		return c.encodeLease()
	}
	if c.Cond != CondNone || c.Nonce != 0 || c.Lease != 0 {
		b = append(b, commandV3, byte(c.Op), byte(c.Cond))
		if c.Cond == CondModRevision {
			b = binary.AppendUvarint(b, c.CondRevision)
		}
		b = binary.AppendUvarint(b, c.Nonce)
		b = binary.AppendUvarint(b, c.Lease)
		b = binary.AppendUvarint(b, uint64(len(c.Client)))
		if c.Client != "" {
			b = append(b, c.Client...)
			b = binary.AppendUvarint(b, c.Seq)
		}
	} else if c.Client == "" {
		b = append(b, commandV1, byte(c.Op))
	} else {
		b = append(b, commandV2, byte(c.Op))
		b = binary.AppendUvarint(b, uint64(len(c.Client)))
		b = append(b, c.Client...)
		b = binary.AppendUvarint(b, c.Seq)
	}
	b = binary.AppendUvarint(b, uint64(len(c.Key)))
	b = append(b, c.Key...)
	return append(b, c.Value...)
}

// uvarint reads a minimal uvarint from b. A padded (non-minimal) varint is
// refused so that each command has exactly one encoding.
func uvarint(b []byte, what string) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: bad %s", ErrBadCommand, what)
	}
	if n > 1 && b[n-1] == 0 {
		return 0, nil, fmt.Errorf("%w: non-minimal %s", ErrBadCommand, what)
	}
	return v, b[n:], nil
}

// DecodeCommand parses an encoded command. Key and Value alias b.
func DecodeCommand(b []byte) (Command, error) {
	if len(b) < 2 {
		return Command{}, fmt.Errorf("%w: %d bytes is too short", ErrBadCommand, len(b))
	}
	switch b[0] {
	case commandTxn:
		return decodeTxn(b)
	case commandLease:
		return decodeLease(b)
	}
	if b[0] < commandV1 || b[0] > commandV3 {
		return Command{}, fmt.Errorf("%w: unknown version %d", ErrBadCommand, b[0])
	}
	c := Command{Op: Op(b[1])}
	if c.Op != OpSet && c.Op != OpDel {
		return Command{}, fmt.Errorf("%w: unknown op %d", ErrBadCommand, b[1])
	}
	rest := b[2:]
	var err error
	switch b[0] {
	case commandV2:
		if c.Client, c.Seq, rest, err = decodeRequestID(rest, false); err != nil {
			return Command{}, err
		}
	case commandV3:
		if rest, err = c.decodeCond(rest); err != nil {
			return Command{}, err
		}
		if c.Nonce, rest, err = uvarint(rest, "nonce"); err != nil {
			return Command{}, err
		}
		if c.Lease, rest, err = uvarint(rest, "lease"); err != nil {
			return Command{}, err
		}
		if c.Client, c.Seq, rest, err = decodeRequestID(rest, true); err != nil {
			return Command{}, err
		}
		if c.Cond == CondNone && c.Nonce == 0 && c.Lease == 0 {
			return Command{}, fmt.Errorf("%w: version 3 without a condition, a nonce or a lease", ErrBadCommand)
		}
		if c.Lease != 0 && c.Op != OpSet {
			return Command{}, fmt.Errorf("%w: a lease on a %d", ErrBadCommand, c.Op)
		}
	}
	klen, rest, err := uvarint(rest, "key length")
	if err != nil {
		return Command{}, err
	}
	if klen == 0 || klen > uint64(len(rest)) {
		return Command{}, fmt.Errorf("%w: key length %d with %d bytes left", ErrBadCommand, klen, len(rest))
	}
	c.Key, c.Value = rest[:klen:klen], rest[klen:]
	if c.Op == OpDel && len(c.Value) != 0 {
		return Command{}, fmt.Errorf("%w: DEL with %d trailing bytes", ErrBadCommand, len(c.Value))
	}
	return c, nil
}

// decodeCond reads a version 3 condition.
func (c *Command) decodeCond(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: no condition", ErrBadCommand)
	}
	c.Cond, b = Cond(b[0]), b[1:]
	switch c.Cond {
	case CondNone, CondExists, CondAbsent:
		return b, nil
	case CondModRevision:
		var err error
		if c.CondRevision, b, err = uvarint(b, "condition revision"); err != nil {
			return nil, err
		}
		if c.CondRevision == 0 {
			return nil, fmt.Errorf("%w: condition on revision 0", ErrBadCommand)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%w: unknown condition %d", ErrBadCommand, c.Cond)
}

// decodeRequestID reads a client id and sequence number; with optional, a
// zero length means none.
func decodeRequestID(b []byte, optional bool) (string, uint64, []byte, error) {
	clen, r, err := uvarint(b, "client id length")
	if err != nil {
		return "", 0, nil, err
	}
	if clen == 0 && optional {
		return "", 0, r, nil
	}
	if clen == 0 || clen > MaxClientIDBytes || clen > uint64(len(r)) {
		return "", 0, nil, fmt.Errorf("%w: client id length %d with %d bytes left", ErrBadCommand, clen, len(r))
	}
	client := string(r[:clen])
	seq, rest, err := uvarint(r[clen:], "request sequence")
	if err != nil {
		return "", 0, nil, err
	}
	return client, seq, rest, nil
}
