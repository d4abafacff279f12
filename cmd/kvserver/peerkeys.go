package main

import (
	"log/slog"
	"os"

	"github.com/raftkv/raftkv/config"
	"github.com/raftkv/raftkv/raft/transport"
)

// peerKeys loads the keys that seal this node's Raft traffic (none without
// peer_key_file). A bad key file is the user's to fix (exit code 2).
func peerKeys(cfg *config.Config, logger *slog.Logger) ([]transport.PeerKey, error) {
	raw, err := cfg.PeerKeys()
	if err != nil {
		return nil, usageError{err}
	}
	if raw == nil {
		return nil, nil
	}
	keys := make([]transport.PeerKey, len(raw))
	for i, k := range raw {
		keys[i] = k
	}
	// Readable by others is a warning, not a refusal: the operator may
	// have reasons (a group the service runs in), but should know.
	if fi, err := os.Stat(cfg.PeerKeyPath()); err == nil && fi.Mode().Perm()&0o077 != 0 {
		logger.Warn("peer key file is readable by other users; chmod 600 it", "file", cfg.PeerKeyPath(), "mode", fi.Mode().Perm())
	}
	return keys, nil
}
