package logs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/raftkv/raftkv/internal/vfs"
	"github.com/raftkv/raftkv/raft/wire"
)

// Hard-state file layout, little-endian:
//
//	0  [7]byte magic "RKVHST\x00"
//	7  u8 format version
//	8  u64 term
//	16 u64 vote
//	24 u32 CRC32C of bytes 0..24
const (
	hardStateFile    = "hardstate"
	hardStateMagic   = "RKVHST\x00"
	hardStateVersion = 1
	hardStateSize    = 28
)

func encodeHardState(hs wire.HardState) []byte {
	b := make([]byte, hardStateSize)
	copy(b, hardStateMagic)
	b[7] = hardStateVersion
	binary.LittleEndian.PutUint64(b[8:16], hs.Term)
	binary.LittleEndian.PutUint64(b[16:24], hs.Vote)
	binary.LittleEndian.PutUint32(b[24:28], crc32.Checksum(b[:24], castagnoli))
	return b
}

// decodeHardState never guesses: anything but a well-formed file is
// corruption, because a wrong term or vote could elect two leaders.
func decodeHardState(path string, b []byte) (wire.HardState, error) {
	switch {
	case len(b) != hardStateSize:
		return wire.HardState{}, corruptf(path, 0, "hard state is %d bytes, want %d", len(b), hardStateSize)
	case string(b[:7]) != hardStateMagic:
		return wire.HardState{}, corruptf(path, 0, "bad hard state magic")
	case crc32.Checksum(b[:24], castagnoli) != binary.LittleEndian.Uint32(b[24:28]):
		return wire.HardState{}, corruptf(path, 24, "bad hard state checksum")
	case b[7] != hardStateVersion:
		return wire.HardState{}, corruptf(path, 7, "unsupported hard state format version %d", b[7])
	}
	return wire.HardState{
		Term: binary.LittleEndian.Uint64(b[8:16]),
		Vote: binary.LittleEndian.Uint64(b[16:24]),
	}, nil
}

// readHardState returns the stored hard state; a missing file is the zero
// HardState (a node that never voted).
func readHardState(fsys vfs.FS, dir string) (wire.HardState, error) {
	path := filepath.Join(dir, hardStateFile)
	b, err := fsys.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return wire.HardState{}, nil
	}
	if err != nil {
		return wire.HardState{}, fmt.Errorf("logs: read hard state: %w", err)
	}
	return decodeHardState(path, b)
}

// writeHardState replaces the hard-state file atomically: a reader (or a
// restart after a crash) sees either the old file or the new one whole.
func (l *Log) writeHardState(hs wire.HardState) error {
	path := filepath.Join(l.dir, hardStateFile)
	tmp := path + tmpExt
	f, err := l.fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("logs: create hard state %s: %w", tmp, err)
	}
	_, err = f.Write(encodeHardState(hs))
	if err == nil {
		err = l.syncFile(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = l.fs.Remove(tmp)
		return fmt.Errorf("logs: write hard state %s: %w", tmp, err)
	}
	if err := l.fs.Rename(tmp, path); err != nil {
		return fmt.Errorf("logs: replace hard state %s: %w", path, err)
	}
	return l.syncDir()
}
