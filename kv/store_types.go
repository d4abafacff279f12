package kv

import "errors"

// ErrNotFound is returned by Get when the key is absent.
var ErrNotFound = errors.New("kv: key not found")

// Item is one key, its value and its revisions, as Get and List return them.
type Item struct {
	Key   []byte
	Value []byte
	Meta
}
