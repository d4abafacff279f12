package logs

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/raftkv/raftkv/internal/vfs"
)

// Segment header, little-endian:
//
//	0  [7]byte magic "RKVWAL\x00"
//	7  u8 format version
//	8  u64 index of the first entry the segment holds (also its file name)
//	16 u32 CRC32C of bytes 0..16
//
// A segment only ever gets its final name after its header is durable (see
// createSegment), so a missing or damaged header is corruption, never a
// torn write.
const (
	segmentMagic      = "RKVWAL\x00"
	segmentVersion    = 1
	segmentHeaderSize = 20
	segmentExt        = ".wal"
	tmpExt            = ".tmp"
)

// segment is the in-memory index of one segment file.
type segment struct {
	first   uint64  // index of its first entry (and its name)
	offsets []int64 // offsets[i] is where the record of entry first+i starts
	size    int64   // bytes of valid data, header included
}

// count is the number of entries the segment holds.
func (s *segment) count() uint64 { return uint64(len(s.offsets)) }

// last is the index of its last entry; first-1 when it holds none.
func (s *segment) last() uint64 { return s.first + s.count() - 1 }

// end is the byte offset just past the record of entry first+i.
func (s *segment) end(i int) int64 {
	if i+1 < len(s.offsets) {
		return s.offsets[i+1]
	}
	return s.size
}

func segmentName(first uint64) string {
	return fmt.Sprintf("%020d%s", first, segmentExt)
}

// parseSegmentName returns the first index encoded in a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, segmentExt)
	if !ok || len(base) != 20 {
		return 0, false
	}
	first, err := strconv.ParseUint(base, 10, 64)
	if err != nil {
		return 0, false
	}
	return first, true
}

func encodeSegmentHeader(first uint64) []byte {
	b := make([]byte, segmentHeaderSize)
	copy(b, segmentMagic)
	b[7] = segmentVersion
	binary.LittleEndian.PutUint64(b[8:16], first)
	binary.LittleEndian.PutUint32(b[16:20], crc32.Checksum(b[:16], castagnoli))
	return b
}

// checkSegmentHeader verifies the header of a segment expected to start at
// index first. The returned reason is empty when the header is good.
func checkSegmentHeader(b []byte, first uint64) string {
	switch {
	case len(b) < segmentHeaderSize:
		return fmt.Sprintf("segment header is %d bytes, want %d", len(b), segmentHeaderSize)
	case string(b[:7]) != segmentMagic:
		return "bad segment magic (not a raftkv log segment)"
	case crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:20]):
		return "bad segment header checksum"
	case b[7] != segmentVersion:
		return fmt.Sprintf("unsupported segment format version %d (this build reads %d)", b[7], segmentVersion)
	}
	if got := binary.LittleEndian.Uint64(b[8:16]); got != first {
		return fmt.Sprintf("segment header says first index %d, file name says %d", got, first)
	}
	return ""
}

// listSegments returns the first indexes of the segment files in dir, in
// ascending order.
func listSegments(fsys vfs.FS, dir string) ([]uint64, error) {
	des, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("logs: list log dir %s: %w", dir, err)
	}
	var firsts []uint64
	for _, de := range des {
		if first, ok := parseSegmentName(de.Name()); ok && de.Type().IsRegular() {
			firsts = append(firsts, first)
		}
	}
	sort.Slice(firsts, func(i, j int) bool { return firsts[i] < firsts[j] })
	return firsts, nil
}

// removeTempFiles deletes what an interrupted createSegment or hard-state
// write left behind; such files never held acknowledged data.
func removeTempFiles(fsys vfs.FS, dir string) (removed bool, err error) {
	des, err := fsys.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("logs: list log dir %s: %w", dir, err)
	}
	for _, de := range des {
		base, ok := strings.CutSuffix(de.Name(), tmpExt)
		if !ok || !de.Type().IsRegular() {
			continue
		}
		if _, isSeg := parseSegmentName(base); !isSeg && base != hardStateFile {
			continue // not ours
		}
		if err := fsys.Remove(filepath.Join(dir, de.Name())); err != nil {
			return removed, fmt.Errorf("logs: remove leftover temp file: %w", err)
		}
		removed = true
	}
	return removed, nil
}

// createSegment creates the segment file for entries from first on and
// returns it open for writing. The header is written and synced under a
// temporary name and only then renamed into place, so a crash can never
// leave a segment whose header is torn: recovery may then treat any bad
// header as corruption rather than guess.
func (l *Log) createSegment(first uint64) (vfs.File, error) {
	path := filepath.Join(l.dir, segmentName(first))
	tmp := path + tmpExt
	f, err := l.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("logs: create segment %s: %w", tmp, err)
	}
	fail := func(err error) (vfs.File, error) {
		_ = f.Close()
		_ = l.fs.Remove(tmp)
		return nil, err
	}
	if _, err := f.Write(encodeSegmentHeader(first)); err != nil {
		return fail(fmt.Errorf("logs: write segment header %s: %w", tmp, err))
	}
	if !l.opts.NoSync {
		// Synced with the header below. Without it the log still works,
		// only each fsync costs a little more.
		if err := f.Preallocate(l.opts.SegmentBytes); err != nil {
			l.logger.Debug("segment not preallocated", "file", tmp, "err", err)
		}
	}
	if err := l.syncFile(f); err != nil {
		return fail(fmt.Errorf("logs: sync segment %s: %w", tmp, err))
	}
	if err := l.fs.Rename(tmp, path); err != nil {
		return fail(fmt.Errorf("logs: rename segment into place %s: %w", path, err))
	}
	_ = f.Close() // synced above; reopened below so errors name the real file
	if err := l.syncDir(); err != nil {
		return nil, err
	}
	f, err = l.fs.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("logs: open new segment %s: %w", path, err)
	}
	return f, nil
}
