package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
)

// WireVersion is the first byte of every frame. Bump it whenever the layout
// below changes: a node then rejects frames from peers it cannot understand
// instead of misreading them.
const WireVersion = 2

// ErrMalformedFrame wraps every reason DecodeBatch refuses a frame.
var ErrMalformedFrame = errors.New("raft: malformed message frame")

// Frame layout (all integers are canonical uvarints unless noted):
//
//	frame   = version:byte count msg*count
//	msg     = type:byte flags:byte from to term logTerm index commit rejectHint context
//	          tick offset size lead len data:byte*len nEntries entry*nEntries
//	entry   = index term type:byte len data:byte*len
//
// flags bit 0 is Reject; the other bits must be zero. Uvarints must be
// minimal so that every accepted frame has exactly one encoding; the fuzz
// test relies on that to check encode(decode(b)) == b.
const (
	wireFlagReject = 1 << 0

	// BatchHeaderMaxSize is the most bytes a frame adds on top of
	// EncodedMessageSize of each of its messages.
	BatchHeaderMaxSize = 1 + binary.MaxVarintLen64

	// The smallest encodings, used to bound counts read from a frame by
	// the bytes left, before anything is allocated for them.
	wireMinMsgSize   = 2 + wireMsgUvarints + 1 + 1 // type, flags, one-byte uvarints, data length, nEntries
	wireMinEntrySize = 1 + 1 + 1 + 1

	wireMsgUvarints = 12 // From .. Lead
)

// EncodedMessageSize is the exact number of bytes m occupies in a frame.
// Transports use it to cap a batch before encoding it.
func EncodedMessageSize(m *Message) int {
	n := 2 + wireUvarintLen(m.From) + wireUvarintLen(m.To) + wireUvarintLen(m.Term) + wireUvarintLen(m.LogTerm) +
		wireUvarintLen(m.Index) + wireUvarintLen(m.Commit) + wireUvarintLen(m.RejectHint) + wireUvarintLen(m.Context) +
		wireUvarintLen(m.Tick) + wireUvarintLen(m.Offset) + wireUvarintLen(m.Size) + wireUvarintLen(m.Lead) +
		wireUvarintLen(uint64(len(m.Data))) + len(m.Data) + wireUvarintLen(uint64(len(m.Entries)))
	for i := range m.Entries {
		e := &m.Entries[i]
		n += wireUvarintLen(e.Index) + wireUvarintLen(e.Term) + 1 + wireUvarintLen(uint64(len(e.Data))) + len(e.Data)
	}
	return n
}

// EncodeBatch appends one frame carrying msgs to dst and returns the
// extended slice. It does not validate msgs: a message with an invalid Type
// makes the receiver reject the whole frame, so callers filter those first.
func EncodeBatch(dst []byte, msgs []Message) []byte {
	size := 1 + wireUvarintLen(uint64(len(msgs)))
	for i := range msgs {
		size += EncodedMessageSize(&msgs[i])
	}
	dst = slices.Grow(dst, size)

	dst = append(dst, WireVersion)
	dst = binary.AppendUvarint(dst, uint64(len(msgs)))
	for i := range msgs {
		m := &msgs[i]
		var flags byte
		if m.Reject {
			flags |= wireFlagReject
		}
		dst = append(dst, byte(m.Type), flags)
		dst = binary.AppendUvarint(dst, m.From)
		dst = binary.AppendUvarint(dst, m.To)
		dst = binary.AppendUvarint(dst, m.Term)
		dst = binary.AppendUvarint(dst, m.LogTerm)
		dst = binary.AppendUvarint(dst, m.Index)
		dst = binary.AppendUvarint(dst, m.Commit)
		dst = binary.AppendUvarint(dst, m.RejectHint)
		dst = binary.AppendUvarint(dst, m.Context)
		dst = binary.AppendUvarint(dst, m.Tick)
		dst = binary.AppendUvarint(dst, m.Offset)
		dst = binary.AppendUvarint(dst, m.Size)
		dst = binary.AppendUvarint(dst, m.Lead)
		dst = binary.AppendUvarint(dst, uint64(len(m.Data)))
		dst = append(dst, m.Data...)
		dst = binary.AppendUvarint(dst, uint64(len(m.Entries)))
		for j := range m.Entries {
			e := &m.Entries[j]
			dst = binary.AppendUvarint(dst, e.Index)
			dst = binary.AppendUvarint(dst, e.Term)
			dst = append(dst, byte(e.Type))
			dst = binary.AppendUvarint(dst, uint64(len(e.Data)))
			dst = append(dst, e.Data...)
		}
	}
	return dst
}

// DecodeBatch parses a frame built by EncodeBatch. It never trusts the frame:
// any defect (version, truncation, trailing bytes, unknown message type,
// counts or lengths larger than what is left) is an error wrapping
// ErrMalformedFrame.
//
// The frame is walked twice: the first pass validates and counts, the second
// fills exactly three allocations (messages, entries, data), so decoding
// costs the same few allocations however many messages a frame carries and
// never allocates more than the frame justifies. Data (of messages and
// entries) does not
// alias frame; all Data of one frame shares one allocation (so one entry
// kept alive keeps the frame's data alive). Entry types are not checked:
// the log treats them as opaque and the core decides what it understands.
func DecodeBatch(frame []byte) ([]Message, error) {
	nMsgs, nEntries, nData, err := scanBatch(frame)
	if err != nil {
		return nil, err
	}
	if nMsgs == 0 {
		return nil, nil
	}
	msgs := make([]Message, nMsgs)
	var ents []Entry
	if nEntries > 0 {
		ents = make([]Entry, nEntries)
	}
	var data []byte
	if nData > 0 {
		data = make([]byte, nData)
	}

	// The scan proved every read below is in bounds and well formed.
	r := wireReader{b: frame, off: 1}
	r.uvarint() // message count
	for i := range msgs {
		m := &msgs[i]
		m.Type = MessageType(r.byte())
		m.Reject = r.byte()&wireFlagReject != 0
		m.From = r.uvarint()
		m.To = r.uvarint()
		m.Term = r.uvarint()
		m.LogTerm = r.uvarint()
		m.Index = r.uvarint()
		m.Commit = r.uvarint()
		m.RejectHint = r.uvarint()
		m.Context = r.uvarint()
		m.Tick = r.uvarint()
		m.Offset = r.uvarint()
		m.Size = r.uvarint()
		m.Lead = r.uvarint()
		m.Data, data = r.bytes(data)
		n := int(r.uvarint())
		if n == 0 {
			continue
		}
		// Cap each message's slice so appending to one cannot overwrite
		// the next message's entries.
		m.Entries = ents[:n:n]
		ents = ents[n:]
		for j := range m.Entries {
			e := &m.Entries[j]
			e.Index = r.uvarint()
			e.Term = r.uvarint()
			e.Type = EntryType(r.byte())
			e.Data, data = r.bytes(data)
		}
	}
	return msgs, nil
}

// scanBatch validates frame and returns how many messages, entries and data
// bytes it holds.
func scanBatch(frame []byte) (nMsgs, nEntries, nData int, err error) {
	if len(frame) == 0 {
		return 0, 0, 0, fmt.Errorf("%w: empty frame", ErrMalformedFrame)
	}
	if frame[0] != WireVersion {
		return 0, 0, 0, fmt.Errorf("%w: wire version %d, want %d", ErrMalformedFrame, frame[0], WireVersion)
	}
	r := wireReader{b: frame, off: 1}
	count, err := r.count("message count", wireMinMsgSize)
	if err != nil {
		return 0, 0, 0, err
	}
	for i := 0; i < count; i++ {
		if r.remaining() < wireMinMsgSize {
			return 0, 0, 0, fmt.Errorf("%w: message %d truncated", ErrMalformedFrame, i)
		}
		if t := MessageType(r.byte()); !t.Valid() {
			return 0, 0, 0, fmt.Errorf("%w: message %d has unknown type %d", ErrMalformedFrame, i, uint8(t))
		}
		if f := r.byte(); f&^wireFlagReject != 0 {
			return 0, 0, 0, fmt.Errorf("%w: message %d has unknown flags %#x", ErrMalformedFrame, i, f)
		}
		for range wireMsgUvarints {
			if _, err := r.checkedUvarint(); err != nil {
				return 0, 0, 0, fmt.Errorf("message %d: %w", i, err)
			}
		}
		l, err := r.count("data length", 1)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("message %d: %w", i, err)
		}
		r.off += l
		nData += l
		n, err := r.count("entry count", wireMinEntrySize)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("message %d: %w", i, err)
		}
		for j := 0; j < n; j++ {
			if r.remaining() < wireMinEntrySize {
				return 0, 0, 0, fmt.Errorf("%w: message %d entry %d truncated", ErrMalformedFrame, i, j)
			}
			if _, err := r.checkedUvarint(); err != nil { // Index
				return 0, 0, 0, fmt.Errorf("message %d entry %d: %w", i, j, err)
			}
			if _, err := r.checkedUvarint(); err != nil { // Term
				return 0, 0, 0, fmt.Errorf("message %d entry %d: %w", i, j, err)
			}
			if r.remaining() < 1 {
				return 0, 0, 0, fmt.Errorf("%w: message %d entry %d truncated", ErrMalformedFrame, i, j)
			}
			r.byte() // Type
			l, err := r.count("data length", 1)
			if err != nil {
				return 0, 0, 0, fmt.Errorf("message %d entry %d: %w", i, j, err)
			}
			r.off += l
			nData += l
		}
		nEntries += n
	}
	if r.remaining() != 0 {
		return 0, 0, 0, fmt.Errorf("%w: %d trailing bytes", ErrMalformedFrame, r.remaining())
	}
	return count, nEntries, nData, nil
}

// wireReader walks a frame. Its unchecked methods are only used after
// scanBatch has validated the same bytes.
type wireReader struct {
	b   []byte
	off int
}

func (r *wireReader) remaining() int { return len(r.b) - r.off }

// bytes reads a length-prefixed byte string into the front of data (nil
// when empty) and returns it with the rest of data.
func (r *wireReader) bytes(data []byte) (out, rest []byte) {
	l := int(r.uvarint())
	if l == 0 {
		return nil, data
	}
	out = data[:l:l]
	copy(out, r.b[r.off:r.off+l])
	r.off += l
	return out, data[l:]
}

func (r *wireReader) byte() byte {
	c := r.b[r.off]
	r.off++
	return c
}

func (r *wireReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b[r.off:])
	r.off += n
	return v
}

func (r *wireReader) checkedUvarint() (uint64, error) {
	v, n := binary.Uvarint(r.b[r.off:])
	switch {
	case n == 0:
		return 0, fmt.Errorf("%w: truncated varint at offset %d", ErrMalformedFrame, r.off)
	case n < 0:
		return 0, fmt.Errorf("%w: varint overflows 64 bits at offset %d", ErrMalformedFrame, r.off)
	case n != wireUvarintLen(v):
		return 0, fmt.Errorf("%w: non-minimal varint at offset %d", ErrMalformedFrame, r.off)
	}
	r.off += n
	return v, nil
}

// count reads a length or count and rejects it unless the bytes left could
// hold that many items of at least unit bytes each, so a forged count can
// never make the decoder allocate more than the frame's own size justifies.
func (r *wireReader) count(what string, unit int) (int, error) {
	start := r.off
	v, err := r.checkedUvarint()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if v > uint64(r.remaining()/unit) {
		return 0, fmt.Errorf("%w: %s %d at offset %d exceeds the %d bytes left", ErrMalformedFrame, what, v, start, r.remaining())
	}
	return int(v), nil
}

func wireUvarintLen(v uint64) int {
	// 7 payload bits per byte; zero still takes one byte.
	return (bits.Len64(v|1) + 6) / 7
}
