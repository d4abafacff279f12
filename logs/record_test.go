package logs

import (
	"bytes"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

func TestRecordRoundTrip(t *testing.T) {
	tests := []wire.Entry{
		{Index: 1, Term: 1},
		{Index: 1<<64 - 1, Term: 1<<64 - 1, Type: 255, Data: []byte("x")},
		{Index: 42, Term: 3, Type: 1, Data: bytes.Repeat([]byte{0, '\n', 0xff}, 1000)},
	}
	var buf []byte
	for i := range tests {
		buf = appendRecord(buf, &tests[i])
	}
	for i, want := range tests {
		got, n, err := decodeRecord(buf)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if n != recordSize(&want) {
			t.Errorf("record %d: size %d, want %d", i, n, recordSize(&want))
		}
		if err := equalEntries([]wire.Entry{got}, []wire.Entry{want}); err != nil {
			t.Errorf("record %d: %v", i, err)
		}
		buf = buf[n:]
	}
	if len(buf) != 0 {
		t.Fatalf("%d bytes left over", len(buf))
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	good := appendRecord(nil, &wire.Entry{Index: 9, Term: 2, Data: []byte("hello")})
	// A header whose checksum is right but whose length is impossible.
	shortLen := append([]byte{}, good...)
	shortLen[0], shortLen[1], shortLen[2], shortLen[3] = 3, 0, 0, 0
	sum := crcOf(shortLen[:8])
	shortLen[8], shortLen[9], shortLen[10], shortLen[11] = byte(sum), byte(sum>>8), byte(sum>>16), byte(sum>>24)

	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, errShortHeader},
		{"short header", good[:recordHeaderSize-1], errShortHeader},
		{"header checksum", flip(good, 2), errBadHeader},
		{"header crc field", flip(good, 9), errBadHeader},
		{"length below minimum", shortLen, errBadHeader},
		{"short payload", good[:len(good)-1], errShortPayload},
		{"header only", good[:recordHeaderSize], errShortPayload},
		{"payload checksum", flip(good, len(good)-1), errBadChecksum},
		{"payload crc field (covered by the header crc)", flip(good, 5), errBadHeader},
	}
	for _, tt := range tests {
		if _, _, err := decodeRecord(tt.b); !errors.Is(err, tt.want) {
			t.Errorf("%s: decode = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte{}, uint64(1), uint64(1), uint8(0), []byte("SET a b"))
	f.Add(appendRecord(nil, &wire.Entry{Index: 3, Term: 2, Data: []byte("x")}), uint64(0), uint64(0), uint8(1), []byte{})
	f.Add(make([]byte, 64), uint64(1<<63), uint64(7), uint8(255), bytes.Repeat([]byte{0xff}, 300))
	f.Fuzz(func(t *testing.T, raw []byte, index, term uint64, typ uint8, data []byte) {
		// Arbitrary bytes: no panic, and whatever decodes re-encodes to
		// exactly the bytes it came from.
		if e, n, err := decodeRecord(raw); err == nil {
			if n <= 0 || n > len(raw) {
				t.Fatalf("decoded size %d out of [1, %d]", n, len(raw))
			}
			if again := appendRecord(nil, &e); !bytes.Equal(again, raw[:n]) {
				t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, raw[:n])
			}
		}
		// Encode then decode round-trips, also with trailing bytes.
		want := wire.Entry{Index: index, Term: term, Type: wire.EntryType(typ), Data: data}
		enc := appendRecord(nil, &want)
		enc = append(enc, raw...)
		got, n, err := decodeRecord(enc)
		if err != nil {
			t.Fatalf("decode of fresh encoding: %v", err)
		}
		if n != recordSize(&want) {
			t.Fatalf("size %d, want %d", n, recordSize(&want))
		}
		if err := equalEntries([]wire.Entry{got}, []wire.Entry{want}); err != nil {
			t.Fatal(err)
		}
	})
}
