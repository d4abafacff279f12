package kv

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// A store image is what Snapshot writes and Restore reads: every badger
// key of the store (user data, applied index and term, format, session
// table) with its current value, in key order. Layout, little-endian:
//
//	header (28 bytes):
//	  [7]byte magic "RKVIMG\x00", u8 version, u64 applied index,
//	  u64 applied term, u32 CRC32C of the 24 bytes before it
//	frames, each:
//	  u32 payload length n, u32 CRC32C of the payload,
//	  u32 CRC32C of the 8 bytes before it, payload
//	payload: u8 kind, then
//	  kind 'D': pairs, each uvarint key length, key, uvarint value
//	            length, value
//	  kind 'E': u64 number of pairs in the image; the last frame
//
// The image checks itself, whatever carries it: the frame header has its
// own checksum so a damaged length is caught before it sizes a buffer,
// each payload is checked before any pair in it is used, and the end frame
// (count included) must be there, followed by nothing, so a truncated
// stream can never pass for a smaller store.
const (
	imageMagic      = "RKVIMG\x00"
	imageVersion    = 1
	imageHeaderSize = 28
	frameHeaderSize = 12
	frameData       = 'D'
	frameEnd        = 'E'
	// frameTarget is the payload size at which the writer cuts a frame;
	// one pair larger than that gets a frame of its own.
	frameTarget = 1 << 20
	// maxFramePayload bounds what a reader will allocate for one frame: the
	// largest pair (a 64 KB key and a value up to the log's 256 MiB entry
	// limit) with room to spare.
	maxFramePayload = 300 << 20
)

// ErrBadImage is wrapped by Restore's errors about a damaged, truncated or
// foreign image.
var ErrBadImage = errors.New("kv: bad store image")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func badImagef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadImage, fmt.Sprintf(format, args...))
}

// imageWriter encodes an image onto w.
type imageWriter struct {
	w     *bufio.Writer
	buf   []byte // payload of the frame being built, kind byte included
	pairs uint64
}

func newImageWriter(w io.Writer, index, term uint64) (*imageWriter, error) {
	iw := &imageWriter{w: bufio.NewWriterSize(w, 256<<10), buf: make([]byte, 1, frameTarget+4096)}
	iw.buf[0] = frameData
	hdr := make([]byte, 0, imageHeaderSize)
	hdr = append(hdr, imageMagic...)
	hdr = append(hdr, imageVersion)
	hdr = binary.LittleEndian.AppendUint64(hdr, index)
	hdr = binary.LittleEndian.AppendUint64(hdr, term)
	hdr = binary.LittleEndian.AppendUint32(hdr, crc32.Checksum(hdr, castagnoli))
	if _, err := iw.w.Write(hdr); err != nil {
		return nil, fmt.Errorf("kv: write image header: %w", err)
	}
	return iw, nil
}

func (iw *imageWriter) add(key, value []byte) error {
	iw.buf = binary.AppendUvarint(iw.buf, uint64(len(key)))
	iw.buf = append(iw.buf, key...)
	iw.buf = binary.AppendUvarint(iw.buf, uint64(len(value)))
	iw.buf = append(iw.buf, value...)
	iw.pairs++
	if len(iw.buf) >= frameTarget {
		return iw.flushData()
	}
	return nil
}

func (iw *imageWriter) flushData() error {
	if len(iw.buf) > 1 {
		if err := iw.frame(iw.buf); err != nil {
			return err
		}
	}
	// Keep the buffer unless one huge pair blew it up.
	if cap(iw.buf) > 4*frameTarget {
		iw.buf = make([]byte, 1, frameTarget+4096)
	}
	iw.buf = iw.buf[:1]
	iw.buf[0] = frameData
	return nil
}

func (iw *imageWriter) frame(payload []byte) error {
	var hdr [frameHeaderSize]byte
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[4:8], crc32.Checksum(payload, castagnoli))
	binary.LittleEndian.PutUint32(hdr[8:12], crc32.Checksum(hdr[:8], castagnoli))
	if _, err := iw.w.Write(hdr[:]); err != nil {
		return fmt.Errorf("kv: write image: %w", err)
	}
	if _, err := iw.w.Write(payload); err != nil {
		return fmt.Errorf("kv: write image: %w", err)
	}
	return nil
}

// finish writes the pending pairs and the end frame, and flushes.
func (iw *imageWriter) finish() error {
	if err := iw.flushData(); err != nil {
		return err
	}
	end := binary.LittleEndian.AppendUint64([]byte{frameEnd}, iw.pairs)
	if err := iw.frame(end); err != nil {
		return err
	}
	if err := iw.w.Flush(); err != nil {
		return fmt.Errorf("kv: write image: %w", err)
	}
	return nil
}

// imageReader decodes an image, checking everything as it goes.
type imageReader struct {
	r       *bufio.Reader
	index   uint64
	term    uint64
	pairs   uint64
	lastKey []byte
	offset  int64 // of the next frame, for error messages
}

func newImageReader(r io.Reader) (*imageReader, error) {
	ir := &imageReader{r: bufio.NewReaderSize(r, 256<<10)}
	hdr := make([]byte, imageHeaderSize)
	if err := ir.readFull(hdr, "header"); err != nil {
		return nil, err
	}
	switch {
	case string(hdr[:7]) != imageMagic:
		return nil, badImagef("bad magic (not a raftkv store image)")
	case crc32.Checksum(hdr[:24], castagnoli) != binary.LittleEndian.Uint32(hdr[24:28]):
		return nil, badImagef("bad header checksum")
	case hdr[7] != imageVersion:
		return nil, badImagef("unsupported image version %d (this build reads %d)", hdr[7], imageVersion)
	}
	ir.index = binary.LittleEndian.Uint64(hdr[8:16])
	ir.term = binary.LittleEndian.Uint64(hdr[16:24])
	ir.offset = imageHeaderSize
	return ir, nil
}

func (ir *imageReader) readFull(b []byte, what string) error {
	if _, err := io.ReadFull(ir.r, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return badImagef("truncated: the stream ends inside the %s at byte offset %d", what, ir.offset)
		}
		// The carrier's own verdict (a snapshot file's checksum, say) is
		// kept as is so callers can tell what failed.
		return fmt.Errorf("kv: read image %s at byte offset %d: %w", what, ir.offset, err)
	}
	return nil
}

// each calls fn for every pair, in key order, then checks the end frame
// and that nothing follows it. The key and value slices are fresh for
// every frame and not reused, so fn may keep them.
func (ir *imageReader) each(fn func(key, value []byte) error) error {
	for {
		payload, err := ir.nextFrame()
		if err != nil {
			return err
		}
		switch payload[0] {
		case frameEnd:
			return ir.end(payload[1:])
		case frameData:
			if err := ir.pairsOf(payload[1:], fn); err != nil {
				return err
			}
		default:
			return badImagef("unknown frame kind %q at byte offset %d", payload[0], ir.offset)
		}
	}
}

func (ir *imageReader) nextFrame() ([]byte, error) {
	var hdr [frameHeaderSize]byte
	if err := ir.readFull(hdr[:], "frame header"); err != nil {
		return nil, err
	}
	if crc32.Checksum(hdr[:8], castagnoli) != binary.LittleEndian.Uint32(hdr[8:12]) {
		return nil, badImagef("bad frame header checksum at byte offset %d", ir.offset)
	}
	n := binary.LittleEndian.Uint32(hdr[0:4])
	if n == 0 || n > maxFramePayload {
		return nil, badImagef("frame of %d bytes at byte offset %d", n, ir.offset)
	}
	payload := make([]byte, n)
	if err := ir.readFull(payload, "frame payload"); err != nil {
		return nil, err
	}
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(hdr[4:8]) {
		return nil, badImagef("bad frame checksum at byte offset %d", ir.offset)
	}
	ir.offset += frameHeaderSize + int64(n)
	return payload, nil
}

func (ir *imageReader) pairsOf(p []byte, fn func(key, value []byte) error) error {
	for len(p) > 0 {
		key, rest, ok := cutField(p)
		if !ok {
			return badImagef("malformed key in the frame ending at byte offset %d", ir.offset)
		}
		value, rest, ok := cutField(rest)
		if !ok {
			return badImagef("malformed value in the frame ending at byte offset %d", ir.offset)
		}
		p = rest
		if len(key) == 0 || (key[0] != userPrefix && key[0] != metaPrefix) {
			return badImagef("key %q outside the store's namespaces", key)
		}
		// Strict order also rules out duplicates.
		if ir.pairs > 0 && bytes.Compare(key, ir.lastKey) <= 0 {
			return badImagef("key %q out of order after %q", key, ir.lastKey)
		}
		ir.lastKey = key
		ir.pairs++
		if err := fn(key, value); err != nil {
			return err
		}
	}
	return nil
}

// cutField splits a uvarint-length-prefixed field off the front of p. The
// returned field is capped so appending to it cannot clobber what follows.
func cutField(p []byte) (field, rest []byte, ok bool) {
	n, k := binary.Uvarint(p)
	if k <= 0 || n > uint64(len(p)-k) {
		return nil, nil, false
	}
	end := k + int(n)
	return p[k:end:end], p[end:], true
}

func (ir *imageReader) end(p []byte) error {
	if len(p) != 8 {
		return badImagef("end frame of %d bytes, want 8", len(p)+1)
	}
	if want := binary.LittleEndian.Uint64(p); want != ir.pairs {
		return badImagef("end frame counts %d pairs, the image held %d", want, ir.pairs)
	}
	// The carrier may still have something to say at its end (a snapshot
	// file verifies its checksum there), so read to EOF.
	var one [1]byte
	n, err := io.ReadFull(ir.r, one[:])
	switch {
	case n > 0:
		return badImagef("data after the end frame at byte offset %d", ir.offset)
	case errors.Is(err, io.EOF):
		return nil
	default:
		return fmt.Errorf("kv: read image end: %w", err)
	}
}
