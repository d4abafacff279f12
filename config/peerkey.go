package config

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// PeerKeySize is the length of a peer key: 32 random bytes, written as 64
// hex digits (openssl rand -hex 32).
const PeerKeySize = 32

// MaxPeerKeys is how many keys a peer key file may hold: the one the node
// seals with, then one more it also accepts, for a rolling rotation.
const MaxPeerKeys = 2

const (
	maxPeerKeyFileBytes = 4 << 10
	peerKeyHint         = "make one with: openssl rand -hex 32"
)

// PeerKeys reads peer_key_file: nil when the config names none. Errors are
// one line naming the config and the key file, never the key.
func (c *Config) PeerKeys() ([][PeerKeySize]byte, error) {
	if c.PeerKeyFile == "" {
		return nil, nil
	}
	keys, err := ReadPeerKeys(c.PeerKeyPath())
	if err != nil {
		return nil, fmt.Errorf("%s: peer_key_file %q: %w", c.sourceName(), c.PeerKeyPath(), err)
	}
	return keys, nil
}

// PeerKeyPath is peer_key_file's path, a relative one taken from the
// config file's directory, like every file the config names.
func (c *Config) PeerKeyPath() string { return c.relative(c.PeerKeyFile) }

// ReadPeerKeys reads a peer key file: one key per line as 64 hex digits,
// the first the one to seal with; blank lines and lines starting with #
// are ignored.
func ReadPeerKeys(path string) ([][PeerKeySize]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read it: %w", unwrapPathError(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPeerKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read it: %w", unwrapPathError(err))
	}
	if len(data) > maxPeerKeyFileBytes {
		return nil, fmt.Errorf("is larger than %d bytes; it holds one or two hex keys", maxPeerKeyFileBytes)
	}
	return parsePeerKeys(data)
}

func parsePeerKeys(data []byte) ([][PeerKeySize]byte, error) {
	var keys [][PeerKeySize]byte
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, err := parsePeerKey(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		for j, prev := range keys {
			if prev == k {
				return nil, fmt.Errorf("line %d repeats key %d", i+1, j+1)
			}
		}
		keys = append(keys, k)
	}
	switch {
	case len(keys) == 0:
		return nil, fmt.Errorf("holds no key (%s)", peerKeyHint)
	case len(keys) > MaxPeerKeys:
		return nil, fmt.Errorf("holds %d keys; at most %d: the key to seal with, then one more to accept during a rotation",
			len(keys), MaxPeerKeys)
	}
	return keys, nil
}

func parsePeerKey(line []byte) ([PeerKeySize]byte, error) {
	var k [PeerKeySize]byte
	if len(line) != 2*PeerKeySize {
		return k, fmt.Errorf("a key is %d hex digits (%d bytes), not %d characters (%s)",
			2*PeerKeySize, PeerKeySize, len(line), peerKeyHint)
	}
	if _, err := hex.Decode(k[:], line); err != nil {
		// hex's error quotes the offending byte, which is part of a key.
		return k, fmt.Errorf("a key is %d hex digits (0-9, a-f) and this line has other characters (%s)",
			2*PeerKeySize, peerKeyHint)
	}
	return k, nil
}
