package logs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/internal/vfs"
	"github.com/raftkv/raftkv/raft/wire"
)

func TestHardStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	checkLoad(t, l, wire.HardState{}, nil) // missing file = zero
	hs := wire.HardState{Term: 7, Vote: 2}
	mustSave(t, l, &hs, nil)
	ents := makeEntries(1, 2, 7)
	hs2 := wire.HardState{Term: 8, Vote: ^uint64(0)}
	mustSave(t, l, &hs2, ents)
	checkLoad(t, l, hs2, ents)
	mustClose(t, l)

	l = openLog(t, dir, 0)
	defer mustClose(t, l)
	checkLoad(t, l, hs2, ents)
}

func TestHardStateWrittenOnlyWhenChanged(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, 0)
	defer mustClose(t, l)
	hs := wire.HardState{Term: 3, Vote: 1}
	mustSave(t, l, &hs, nil)
	path := filepath.Join(dir, hardStateFile)
	// If Save rewrote an unchanged hard state, the file would come back.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	mustSave(t, l, &hs, makeEntries(1, 1, 3))
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unchanged hard state was rewritten (stat: %v)", err)
	}
	hs.Vote = 2
	mustSave(t, l, &hs, nil)
	if got, err := readHardState(vfs.OS, dir); err != nil || got != hs {
		t.Fatalf("hard state on disk = %+v, %v; want %+v", got, err, hs)
	}
}

func TestCorruptHardState(t *testing.T) {
	good := encodeHardState(wire.HardState{Term: 5, Vote: 1})
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "0 bytes"},
		{"truncated", good[:20], "20 bytes"},
		{"too long", append(append([]byte{}, good...), 0), "29 bytes"},
		{"flipped term", flip(good, 9), "checksum"},
		{"flipped checksum", flip(good, 26), "checksum"},
		{"bad magic", flip(good, 0), "magic"},
		{"future version", withVersion(good, 9), "version 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, hardStateFile)
			if err := os.WriteFile(path, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			l, err := Open(dir, Options{NoSync: true, Logger: quietLogger})
			if err == nil {
				_ = l.Close()
				t.Fatal("Open succeeded with a corrupt hard state")
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Open = %v, want ErrCorrupt naming %s and %q", err, path, tt.want)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 0x01
	return c
}

// withVersion sets the version byte and fixes the checksum, so only the
// version is wrong.
func withVersion(b []byte, v byte) []byte {
	c := append([]byte{}, b...)
	c[7] = v
	sum := crcOf(c[:24])
	c[24], c[25], c[26], c[27] = byte(sum), byte(sum>>8), byte(sum>>16), byte(sum>>24)
	return c
}
