package logs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
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
//	  28  k × u64 peer IDs (the voters, for tools that read only this)
//	  version 2 only:
//	  28+8k u32 length c of the membership record
//	  32+8k c bytes: the membership at index, as the Raft layer encodes it
//	  then u32 CRC32C of the header bytes before it
//
// Version 1 files (no membership record) are still read; Conf is nil then.
//
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
	snapVersion     = 2  // the version written
	snapVersionV1   = 1  // still read: no membership record
	snapFixedHeader = 28 // up to and including the peer count
	snapTrailerSize = 12
	snapExt         = ".snap"
	snapTmpExt      = ".snap.tmp"
	// maxSnapPeers bounds the peer list so that a damaged count cannot make
	// a reader allocate or wait for absurd amounts; real clusters have a
	// handful of members.
	maxSnapPeers = 1024
	// maxSnapConf bounds the membership record the same way.
	maxSnapConf = 256 << 10
	// maxSnapHeader is the most a reader needs to parse any header.
	maxSnapHeader = snapFixedHeader + 8*maxSnapPeers + 4 + maxSnapConf + 4
)

// SnapshotMeta describes a snapshot: the last log entry it covers and the
// cluster membership at that point. Conf is opaque here (the Raft layer's
// encoding); nil in files written before membership was recorded.
type SnapshotMeta struct {
	Index, Term uint64
	Peers       []uint64
	Conf        []byte
}

// errShortSnapHeader means the bytes end inside the header;
// errSnapHeaderIO that they could not be read (not damage).
var (
	errShortSnapHeader = errors.New("truncated snapshot header")
	errSnapHeaderIO    = errors.New("read snapshot header")
)

// snapHeaderSize is the length of a version 2 header.
func snapHeaderSize(peers, conf int) int { return snapFixedHeader + 8*peers + 4 + conf + 4 }

func encodeSnapHeader(meta SnapshotMeta) []byte {
	b := make([]byte, 0, snapHeaderSize(len(meta.Peers), len(meta.Conf)))
	b = append(b, snapMagic...)
	b = append(b, snapVersion)
	b = binary.LittleEndian.AppendUint64(b, meta.Index)
	b = binary.LittleEndian.AppendUint64(b, meta.Term)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(meta.Peers)))
	for _, p := range meta.Peers {
		b = binary.LittleEndian.AppendUint64(b, p)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(meta.Conf)))
	b = append(b, meta.Conf...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// parseSnapHeader decodes and verifies the header at the start of b and
// returns its length.
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
	version := b[7]
	if version != snapVersion && version != snapVersionV1 {
		return SnapshotMeta{}, 0, fmt.Errorf("unsupported snapshot format version %d (this build reads %d and %d)", version, snapVersionV1, snapVersion)
	}
	size, confAt, err := snapHeaderLayout(b, version)
	if err != nil {
		return SnapshotMeta{}, 0, err
	}
	if crc32.Checksum(b[:size-4], castagnoli) != binary.LittleEndian.Uint32(b[size-4:size]) {
		return SnapshotMeta{}, 0, errors.New("bad snapshot header checksum")
	}
	meta := SnapshotMeta{
		Index: binary.LittleEndian.Uint64(b[8:16]),
		Term:  binary.LittleEndian.Uint64(b[16:24]),
	}
	if meta.Index == 0 {
		return SnapshotMeta{}, 0, errors.New("snapshot header says index 0; indexes start at 1")
	}
	if n := binary.LittleEndian.Uint32(b[24:28]); n > 0 {
		meta.Peers = make([]uint64, n)
		for i := range meta.Peers {
			meta.Peers[i] = binary.LittleEndian.Uint64(b[snapFixedHeader+8*i:])
		}
	}
	if confAt > 0 && confAt < size-4 {
		meta.Conf = append([]byte(nil), b[confAt:size-4]...)
	}
	return meta, size, nil
}

// snapHeaderLayout finds where a header of this version ends and where its
// membership record starts (0: none), refusing counts that cannot be real.
func snapHeaderLayout(b []byte, version byte) (size, confAt int, err error) {
	n := binary.LittleEndian.Uint32(b[24:28])
	if n > maxSnapPeers {
		// Either damage or a file from elsewhere; the checksum cannot be
		// located reliably, so say what is visibly wrong.
		return 0, 0, fmt.Errorf("snapshot header claims %d peers (limit %d): damaged header", n, maxSnapPeers)
	}
	end := snapFixedHeader + 8*int(n)
	if version == snapVersionV1 {
		size = end + 4
	} else {
		if len(b) < end+4 {
			return 0, 0, errShortSnapHeader
		}
		c := binary.LittleEndian.Uint32(b[end : end+4])
		if c > maxSnapConf {
			return 0, 0, fmt.Errorf("snapshot header claims a %d-byte membership record (limit %d): damaged header", c, maxSnapConf)
		}
		confAt, size = end+4, end+4+int(c)+4
	}
	if len(b) < size {
		return 0, 0, errShortSnapHeader
	}
	return size, confAt, nil
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

// parseSnapHeaderAt reads and parses the header of a snapshot of size
// bytes. Most headers are small, so it reads a little first and the
// rest only when the header says it is longer.
func parseSnapHeaderAt(r io.ReaderAt, size int64) (SnapshotMeta, int, error) {
	n := min(size, 4096)
	for {
		buf := make([]byte, n)
		if _, err := r.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
			return SnapshotMeta{}, 0, fmt.Errorf("%w: %w", errSnapHeaderIO, err)
		}
		meta, hdrLen, err := parseSnapHeader(buf)
		if errors.Is(err, errShortSnapHeader) && n < min(size, maxSnapHeader) {
			n = min(size, maxSnapHeader)
			continue
		}
		return meta, hdrLen, err
	}
}
