package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "node-3")
	first, created, err := loadIdentity(dir, 3)
	if err != nil || !created || first.NodeID != 3 || first.Incarnation == 0 {
		t.Fatalf("first start: %+v %v %v", first, created, err)
	}
	again, created, err := loadIdentity(dir, 3)
	if err != nil || created || again != first {
		t.Fatalf("restart: %+v %v %v, want %+v", again, created, err, first)
	}
	if _, _, err := loadIdentity(dir, 4); err == nil || !strings.Contains(err.Error(), "belongs to node 3") {
		t.Fatalf("another node's directory: %v", err)
	}
	// A wiped directory is a new incarnation.
	os.RemoveAll(dir)
	wiped, created, err := loadIdentity(dir, 3)
	if err != nil || !created || wiped.Incarnation == first.Incarnation {
		t.Fatalf("after a wipe: %+v %v %v (first %+v)", wiped, created, err, first)
	}
	for _, bad := range []string{"", "{", `{"node_id":3}`, `{"node_id":3,"incarnation":0}`} {
		os.WriteFile(filepath.Join(dir, identityFile), []byte(bad), 0o644)
		if _, _, err := loadIdentity(dir, 3); err == nil || !strings.Contains(err.Error(), "corrupt") {
			t.Errorf("identity %q: %v, want corrupt", bad, err)
		}
	}
}
