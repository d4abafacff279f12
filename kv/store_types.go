package kv

import "errors"

// ErrNotFound is returned by Get when the key is absent.
var ErrNotFound = errors.New("kv: key not found")

// Item is one key and its value, as returned by List.
type Item struct {
	Key   []byte
	Value []byte
}
