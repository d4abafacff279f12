// Package kv is the replicated state machine: SET and DEL commands applied
// to badger, exactly once and in log order.
package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// commandVersion is the first byte of every encoded command, so the format
// can change without misreading old log entries.
const commandVersion = 1

// Op is the kind of a command.
type Op uint8

const (
	OpSet Op = 1
	OpDel Op = 2
)

// Command is a decoded state machine command.
type Command struct {
	Op    Op
	Key   []byte
	Value []byte
}

// ErrBadCommand is wrapped by DecodeCommand's errors.
var ErrBadCommand = errors.New("kv: malformed command")

// EncodeSet encodes SET key value.
func EncodeSet(key, value []byte) []byte {
	return encode(OpSet, key, value)
}

// EncodeDel encodes DEL key.
func EncodeDel(key []byte) []byte {
	return encode(OpDel, key, nil)
}

func encode(op Op, key, value []byte) []byte {
	b := make([]byte, 0, 2+binary.MaxVarintLen64+len(key)+len(value))
	b = append(b, commandVersion, byte(op))
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	return append(b, value...)
}

// DecodeCommand parses an encoded command. Key and Value alias b.
func DecodeCommand(b []byte) (Command, error) {
	if len(b) < 2 {
		return Command{}, fmt.Errorf("%w: %d bytes is too short", ErrBadCommand, len(b))
	}
	if b[0] != commandVersion {
		return Command{}, fmt.Errorf("%w: unknown version %d", ErrBadCommand, b[0])
	}
	op := Op(b[1])
	if op != OpSet && op != OpDel {
		return Command{}, fmt.Errorf("%w: unknown op %d", ErrBadCommand, b[1])
	}
	klen, n := binary.Uvarint(b[2:])
	if n <= 0 {
		return Command{}, fmt.Errorf("%w: bad key length", ErrBadCommand)
	}
	// A zero final byte means a padded (non-minimal) varint. Refusing it
	// keeps one encoding per command, so equal commands are equal bytes.
	if n > 1 && b[1+n] == 0 {
		return Command{}, fmt.Errorf("%w: non-minimal key length", ErrBadCommand)
	}
	rest := b[2+n:]
	if klen == 0 || klen > uint64(len(rest)) {
		return Command{}, fmt.Errorf("%w: key length %d with %d bytes left", ErrBadCommand, klen, len(rest))
	}
	c := Command{Op: op, Key: rest[:klen:klen], Value: rest[klen:]}
	if op == OpDel && len(c.Value) != 0 {
		return Command{}, fmt.Errorf("%w: DEL with %d trailing bytes", ErrBadCommand, len(c.Value))
	}
	return c, nil
}
