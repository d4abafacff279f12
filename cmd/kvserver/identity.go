package main

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// identityFile names, in a node's data directory, which node the directory
// belongs to and which life of it this is. The incarnation is random and
// made with the directory, so a wiped node that comes back under its old
// id is a different incarnation, which the membership in the log tells
// apart from the one that may already have voted.
const identityFile = "identity.json"

type identity struct {
	NodeID      uint64 `json:"node_id"`
	Incarnation uint64 `json:"incarnation"`
	// Member is set once the log's membership named this node: from then
	// on, a membership without it means it was removed (before, a joining
	// node is simply not added yet).
	Member bool `json:"member,omitempty"`
	// ClusterID is the cluster's id (hex) once the log named it.
	ClusterID string `json:"cluster_id,omitempty"`
}

// loadIdentity reads dir's identity, or makes one when the directory has
// none (created is true then). A directory that belongs to another node is
// an error: two nodes must never share one.
func loadIdentity(dir string, id uint64) (ident identity, created bool, err error) {
	path := filepath.Join(dir, identityFile)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		ident, err = newIdentity(dir, id)
		return ident, err == nil, err
	case err != nil:
		return identity{}, false, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &ident); err != nil || ident.Incarnation == 0 {
		return identity{}, false, fmt.Errorf("%s is corrupt (%q): move the data directory away if it is not needed", path, b)
	}
	if ident.NodeID != id {
		return identity{}, false, fmt.Errorf("%s belongs to node %d, not node %d: check --node-id and data_dir", dir, ident.NodeID, id)
	}
	return ident, false, nil
}

// newIdentity makes and writes a fresh identity.
func newIdentity(dir string, id uint64) (identity, error) {
	var b [8]byte
	ident := identity{NodeID: id}
	for ident.Incarnation == 0 {
		if _, err := rand.Read(b[:]); err != nil {
			return identity{}, fmt.Errorf("make incarnation: %w", err)
		}
		ident.Incarnation = binary.LittleEndian.Uint64(b[:])
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return identity{}, fmt.Errorf("create data directory: %w", err)
	}
	return ident, writeIdentity(dir, ident)
}

// writeIdentity replaces dir's identity durably (temp file, fsync, rename,
// fsync of the directory).
func writeIdentity(dir string, ident identity) error {
	data, _ := json.Marshal(ident)
	path := filepath.Join(dir, identityFile)
	tmp, err := os.CreateTemp(dir, identityFile+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
