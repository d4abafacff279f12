package logs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// Snapshot file layout, little-endian:
//
//	header:
//	  0   [7]byte magic "RKVSNP\x00"
//	  7   u8 format version
//	  8   u64 index of the last entry the snapshot covers
//	  16  u64 term of that entry
//	  24  u32 number of peers k
//	  28  k × u64 peer IDs
//	  28+8k u32 CRC32C of the header bytes before it
//	body: the state machine image, opaque here
//	trailer (12 bytes):
//	  u64 body length
//	  u32 CRC32C of every byte of the file before this field
//
// The body length lives in the trailer, not the header, because a local
// snapshot is streamed into the file before its size is known; the header
// is final from the first byte, so one running checksum covers the whole
// file and nothing is ever rewritten in place. The header has a checksum
// of its own so that Latest can trust index, term and peers without reading
// a body that may be gigabytes long.
const (
	snapMagic       = "RKVSNP\x00"
	snapVersion     = 1
	snapFixedHeader = 28 // up to and including the peer count
	snapTrailerSize = 12
	snapExt         = ".snap"
	snapTmpExt      = ".snap.tmp"
	// maxSnapPeers bounds the peer list so that a damaged count cannot make
	// a reader allocate or wait for absurd amounts; real clusters have a
	// handful of members.
	maxSnapPeers = 1024
)

// SnapshotMeta describes a snapshot: the last log entry it covers and the
// cluster membership at that point.
type SnapshotMeta struct {
	Index, Term uint64
	Peers       []uint64
}

// errShortSnapHeader means the bytes end inside the header.
var errShortSnapHeader = errors.New("truncated snapshot header")

func snapHeaderSize(peers int) int { return snapFixedHeader + 8*peers + 4 }

func encodeSnapHeader(meta SnapshotMeta) []byte {
	b := make([]byte, 0, snapHeaderSize(len(meta.Peers)))
	b = append(b, snapMagic...)
	b = append(b, snapVersion)
	b = binary.LittleEndian.AppendUint64(b, meta.Index)
	b = binary.LittleEndian.AppendUint64(b, meta.Term)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(meta.Peers)))
	for _, p := range meta.Peers {
		b = binary.LittleEndian.AppendUint64(b, p)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// parseSnapHeader decodes the header at the start of b and returns it with
// its length. It returns errShortSnapHeader when b ends inside a header
// that is otherwise plausible so far, and a descriptive error for
// anything that is not a valid header.
func parseSnapHeader(b []byte) (SnapshotMeta, int, error) {
	if len(b) < len(snapMagic) {
		return SnapshotMeta{}, 0, errShortSnapHeader
	}
	if string(b[:len(snapMagic)]) != snapMagic {
		return SnapshotMeta{}, 0, errors.New("bad snapshot magic (not a raftkv snapshot file)")
	}
	if len(b) < snapFixedHeader {
		return SnapshotMeta{}, 0, errShortSnapHeader
	}
	n := binary.LittleEndian.Uint32(b[24:28])
	if n > maxSnapPeers {
		// Either damage or a file from elsewhere; the checksum cannot be
		// located reliably, so say what is visibly wrong.
		return SnapshotMeta{}, 0, fmt.Errorf("snapshot header claims %d peers (limit %d): damaged header", n, maxSnapPeers)
	}
	size := snapHeaderSize(int(n))
	if len(b) < size {
		return SnapshotMeta{}, 0, errShortSnapHeader
	}
	if crc32.Checksum(b[:size-4], castagnoli) != binary.LittleEndian.Uint32(b[size-4:size]) {
		return SnapshotMeta{}, 0, errors.New("bad snapshot header checksum")
	}
	if b[7] != snapVersion {
		return SnapshotMeta{}, 0, fmt.Errorf("unsupported snapshot format version %d (this build reads %d)", b[7], snapVersion)
	}
	meta := SnapshotMeta{
		Index: binary.LittleEndian.Uint64(b[8:16]),
		Term:  binary.LittleEndian.Uint64(b[16:24]),
	}
	if meta.Index == 0 {
		return SnapshotMeta{}, 0, errors.New("snapshot header says index 0; indexes start at 1")
	}
	if n > 0 {
		meta.Peers = make([]uint64, n)
		for i := range meta.Peers {
			meta.Peers[i] = binary.LittleEndian.Uint64(b[snapFixedHeader+8*i:])
		}
	}
	return meta, size, nil
}

// checkTrailer compares the trailer with what the file actually holds:
// size is the file size, hdrLen the header length, sum the CRC32C of every
// byte before the trailer's checksum field. The reason is empty when the
// file checks out.
func checkTrailer(trailer []byte, size int64, hdrLen int, sum uint32) (reason string, off int64) {
	body := size - int64(hdrLen) - snapTrailerSize
	if body < 0 {
		return fmt.Sprintf("truncated: %d bytes cannot hold a %d-byte header and the trailer", size, hdrLen), size
	}
	if want := binary.LittleEndian.Uint64(trailer[0:8]); want != uint64(body) {
		return fmt.Sprintf("truncated or damaged: trailer says the body is %d bytes, the file holds %d", want, body), size - snapTrailerSize
	}
	if got := binary.LittleEndian.Uint32(trailer[8:12]); got != sum {
		return fmt.Sprintf("bad snapshot checksum: trailer has %08x, contents give %08x", got, sum), size - 4
	}
	return "", 0
}

// snapName is the file name of a snapshot: index then term, zero-padded so
// that names sort like the numbers.
func snapName(index, term uint64) string {
	return fmt.Sprintf("%020d-%020d%s", index, term, snapExt)
}

func parseSnapName(name string) (index, term uint64, ok bool) {
	base, ok := strings.CutSuffix(name, snapExt)
	if !ok || len(base) != 41 || base[20] != '-' {
		return 0, 0, false
	}
	index, err1 := strconv.ParseUint(base[:20], 10, 64)
	term, err2 := strconv.ParseUint(base[21:], 10, 64)
	if err1 != nil || err2 != nil || index == 0 {
		return 0, 0, false
	}
	return index, term, true
}
