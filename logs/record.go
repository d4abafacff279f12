package logs

import (
	"encoding/binary"
	"errors"
	"hash/crc32"

	"github.com/raftkv/raftkv/raft/wire"
)

// Record layout, little-endian:
//
//	0  u32 payload length n
//	4  u32 CRC32C of the payload
//	8  u32 CRC32C of bytes 0..8
//	12 payload: u64 index, u64 term, u8 type, data (n-17 bytes)
//
// The header carries its own checksum so that recovery can trust a length
// before it reads the payload: a record whose valid header points past the
// end of the file was really cut short by a crash, whereas an unchecked
// length could be a flipped bit in the middle of the file that would
// otherwise make every later record look like a torn tail.
const (
	recordHeaderSize = 12
	payloadFixedSize = 8 + 8 + 1
	// maxDataBytes bounds one entry's data. It keeps a damaged but
	// checksum-passing length from asking for absurd buffers, and it is far
	// above anything the API accepts.
	maxDataBytes   = 256 << 20
	maxPayloadSize = payloadFixedSize + maxDataBytes
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Decoding failures. Recovery tells a torn tail from corruption by where
// these occur, so they stay distinct.
var (
	errShortHeader  = errors.New("short record header")
	errBadHeader    = errors.New("bad record header checksum or length")
	errShortPayload = errors.New("short record payload")
	errBadChecksum  = errors.New("bad record payload checksum")
)

// recordSize is the encoded size of e.
func recordSize(e *wire.Entry) int {
	return recordHeaderSize + payloadFixedSize + len(e.Data)
}

// appendRecord appends the encoding of e to buf. It writes in place so that
// a batch costs no allocation beyond growing buf.
func appendRecord(buf []byte, e *wire.Entry) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, recordHeaderSize)...)
	buf = binary.LittleEndian.AppendUint64(buf, e.Index)
	buf = binary.LittleEndian.AppendUint64(buf, e.Term)
	buf = append(buf, byte(e.Type))
	buf = append(buf, e.Data...)
	hdr := buf[start : start+recordHeaderSize]
	payload := buf[start+recordHeaderSize:]
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[4:8], crc32.Checksum(payload, castagnoli))
	binary.LittleEndian.PutUint32(hdr[8:12], crc32.Checksum(hdr[0:8], castagnoli))
	return buf
}

// decodeHeader validates the header at the start of b and returns the
// payload length and checksum.
func decodeHeader(b []byte) (n int, sum uint32, err error) {
	if len(b) < recordHeaderSize {
		return 0, 0, errShortHeader
	}
	if crc32.Checksum(b[0:8], castagnoli) != binary.LittleEndian.Uint32(b[8:12]) {
		return 0, 0, errBadHeader
	}
	length := binary.LittleEndian.Uint32(b[0:4])
	if length < payloadFixedSize || length > maxPayloadSize {
		return 0, 0, errBadHeader
	}
	return int(length), binary.LittleEndian.Uint32(b[4:8]), nil
}

// decodeRecord decodes the record at the start of b and returns it with
// its encoded size. e.Data aliases b (capacity clipped so that appending to
// it cannot overwrite the next record).
func decodeRecord(b []byte) (e wire.Entry, size int, err error) {
	n, sum, err := decodeHeader(b)
	if err != nil {
		return wire.Entry{}, 0, err
	}
	size = recordHeaderSize + n
	if len(b) < size {
		return wire.Entry{}, 0, errShortPayload
	}
	payload := b[recordHeaderSize:size]
	if crc32.Checksum(payload, castagnoli) != sum {
		return wire.Entry{}, 0, errBadChecksum
	}
	e.Index = binary.LittleEndian.Uint64(payload[0:8])
	e.Term = binary.LittleEndian.Uint64(payload[8:16])
	e.Type = wire.EntryType(payload[16])
	if n > payloadFixedSize {
		e.Data = payload[payloadFixedSize:n:n]
	}
	return e, size, nil
}
