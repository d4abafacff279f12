// Package kv is the replicated state machine: SET and DEL commands applied
// to badger, exactly once and in log order.
package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The first byte of every encoded command is its format version, so the
// format can change without misreading old log entries. Version 2 adds a
// request id for exactly-once writes.
const (
	commandV1 = 1
	commandV2 = 2
)

// MaxClientIDBytes bounds the client part of a request id.
const MaxClientIDBytes = 128

// Op is the kind of a command.
type Op uint8

const (
	OpSet Op = 1
	OpDel Op = 2
)

// Command is a decoded state machine command. Client and Seq identify the
// request when the client sent a Request-Id; Client is empty otherwise.
type Command struct {
	Op     Op
	Key    []byte
	Value  []byte
	Client string
	Seq    uint64
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

// Encode encodes c: version 1 without a request id, version 2 with one.
func (c Command) Encode() []byte {
	b := make([]byte, 0, 3+3*binary.MaxVarintLen64+len(c.Client)+len(c.Key)+len(c.Value))
	if c.Client == "" {
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
	if b[0] != commandV1 && b[0] != commandV2 {
		return Command{}, fmt.Errorf("%w: unknown version %d", ErrBadCommand, b[0])
	}
	c := Command{Op: Op(b[1])}
	if c.Op != OpSet && c.Op != OpDel {
		return Command{}, fmt.Errorf("%w: unknown op %d", ErrBadCommand, b[1])
	}
	rest := b[2:]
	if b[0] == commandV2 {
		clen, r, err := uvarint(rest, "client id length")
		if err != nil {
			return Command{}, err
		}
		if clen == 0 || clen > MaxClientIDBytes || clen > uint64(len(r)) {
			return Command{}, fmt.Errorf("%w: client id length %d with %d bytes left", ErrBadCommand, clen, len(r))
		}
		c.Client = string(r[:clen])
		if c.Seq, rest, err = uvarint(r[clen:], "request sequence"); err != nil {
			return Command{}, err
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
