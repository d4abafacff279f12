package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"math"
	"math/rand"
	"reflect"
	"runtime"
	"testing"
)

// codecSamples covers the shapes the codec must carry exactly.
func codecSamples() map[string][]Message {
	return map[string][]Message{
		"empty":     nil,
		"heartbeat": {{Type: MsgHeartbeat, From: 1, To: 2, Term: 7, Commit: 42, Context: 9, Tick: 311}},
		"chunk":     {{Type: MsgSnapChunk, From: 1, To: 2, Term: 7, Index: 90, LogTerm: 6, Offset: 1 << 20, Size: 3 << 20, Data: bytes.Repeat([]byte{7}, 500)}},
		"propresp":  {{Type: MsgPropResp, From: 2, To: 0, Term: 7, Context: 4, Reject: true, Lead: None}},
		"app": {{Type: MsgApp, From: 0, To: 3, Term: 5, LogTerm: 4, Index: 100, Commit: 99, Entries: []Entry{
			{Index: 101, Term: 5, Type: EntryNormal, Data: []byte("put k v")},
			{Index: 102, Term: 5, Type: EntryNoop},
			{Index: 103, Term: 5, Type: EntryType(200), Data: bytes.Repeat([]byte{0xab}, 300)},
		}}},
		"reject": {{Type: MsgAppResp, From: 2, To: 1, Term: 3, Index: 10, Reject: true, RejectHint: 8, LogTerm: 2}},
		"extremes": {{
			Type: MsgTimeoutNow, From: None, To: None, Term: math.MaxUint64, LogTerm: math.MaxUint64,
			Index: math.MaxUint64, Commit: math.MaxUint64, RejectHint: math.MaxUint64, Context: math.MaxUint64,
			Tick: math.MaxUint64, Offset: math.MaxUint64, Size: math.MaxUint64, Lead: None, Data: []byte{0},
			Entries: []Entry{{Index: math.MaxUint64, Term: math.MaxUint64, Type: math.MaxUint8, Data: []byte{0}}},
		}},
		"mixed": {
			{Type: MsgVote, From: 1, To: 2, Term: 9, LogTerm: 8, Index: 77},
			{Type: MsgApp, From: 1, To: 2, Entries: []Entry{{Index: 1, Term: 1, Data: []byte("a")}}},
			{Type: MsgReadIndexResp, From: 1, To: 2, Index: 5, Context: 123456789},
			{Type: MsgApp, From: 1, To: 2, Entries: []Entry{{Index: 2, Term: 1, Data: []byte("bb")}, {Index: 3, Term: 1}}},
		},
	}
}

// codecNormalize maps empty Entries and Data to nil, which the wire does not distinguish.
func codecNormalize(msgs []Message) []Message {
	if len(msgs) == 0 {
		return nil
	}
	out := make([]Message, len(msgs))
	for i, m := range msgs {
		if len(m.Data) == 0 {
			m.Data = nil
		}
		if len(m.Entries) == 0 {
			m.Entries = nil
		} else {
			ents := make([]Entry, len(m.Entries))
			for j, e := range m.Entries {
				if len(e.Data) == 0 {
					e.Data = nil
				}
				ents[j] = e
			}
			m.Entries = ents
		}
		out[i] = m
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	for name, msgs := range codecSamples() {
		t.Run(name, func(t *testing.T) {
			frame := EncodeBatch(nil, msgs)
			got, err := DecodeBatch(frame)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if want := codecNormalize(msgs); !reflect.DeepEqual(codecNormalize(got), want) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
			}
			size := 1 + wireUvarintLen(uint64(len(msgs)))
			for i := range msgs {
				size += EncodedMessageSize(&msgs[i])
			}
			if size != len(frame) {
				t.Fatalf("EncodedMessageSize sums to %d, frame is %d bytes", size, len(frame))
			}
		})
	}
}

func TestEncodeAppendsToDst(t *testing.T) {
	prefix := []byte("prefix")
	msgs := codecSamples()["mixed"]
	out := EncodeBatch(append([]byte(nil), prefix...), msgs)
	if !bytes.HasPrefix(out, prefix) {
		t.Fatalf("prefix clobbered: %q", out[:len(prefix)])
	}
	if !bytes.Equal(out[len(prefix):], EncodeBatch(nil, msgs)) {
		t.Fatal("appended frame differs from a fresh one")
	}
}

func TestDecodeDoesNotAliasFrame(t *testing.T) {
	msgs := codecSamples()["mixed"]
	frame := EncodeBatch(nil, msgs)
	got, err := DecodeBatch(frame)
	if err != nil {
		t.Fatal(err)
	}
	for i := range frame {
		frame[i] = 0xee
	}
	if want := codecNormalize(msgs); !reflect.DeepEqual(codecNormalize(got), want) {
		t.Fatalf("decoded messages changed with the frame:\n got %+v\nwant %+v", got, want)
	}
	// Appending to one message's entries or data must not reach the next.
	got[1].Entries = append(got[1].Entries, Entry{Index: 99})
	got[1].Entries[0].Data = append(got[1].Entries[0].Data, 'X')
	if got[3].Entries[0].Index != 2 || string(got[3].Entries[0].Data) != "bb" {
		t.Fatalf("append leaked into the next message: %+v", got[3].Entries[0])
	}
}

// wireHdr, wireMsgHead and wireCat build frames by hand so that
// rejection tests can corrupt exactly one field.
func wireHdr(count uint64) []byte {
	return binary.AppendUvarint([]byte{WireVersion}, count)
}

func wireMsgHead(typ MessageType, flags byte, nEntries uint64) []byte {
	b := []byte{byte(typ), flags, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0} // 12 uvarints, no data
	return binary.AppendUvarint(b, nEntries)
}

func wireCat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestDecodeRejects(t *testing.T) {
	good := EncodeBatch(nil, codecSamples()["app"])
	tests := []struct {
		name  string
		frame []byte
	}{
		{"empty frame", nil},
		{"version zero", append([]byte{0}, good[1:]...)},
		{"future version", append([]byte{WireVersion + 1}, good[1:]...)},
		{"trailing byte", append(append([]byte(nil), good...), 0)},
		{"type zero", wireCat(wireHdr(1), wireMsgHead(0, 0, 0))},
		{"type past the end", wireCat(wireHdr(1), wireMsgHead(MsgTypeEnd, 0, 0))},
		{"type 255", wireCat(wireHdr(1), wireMsgHead(255, 0, 0))},
		{"unknown flag", wireCat(wireHdr(1), wireMsgHead(MsgApp, 2, 0))},
		{"non-minimal varint", wireCat(wireHdr(1), []byte{byte(MsgApp), 0, 0x80, 0x00, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0})},
		{"varint overflow", wireCat(wireHdr(1), []byte{byte(MsgApp), 0}, bytes.Repeat([]byte{0xff}, 10), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0})},
		{"absurd message count", wireCat(wireHdr(1<<60), wireMsgHead(MsgApp, 0, 0))},
		{"message count one too many", wireCat(wireHdr(2), wireMsgHead(MsgApp, 0, 0))},
		{"absurd entry count", wireCat(wireHdr(1), wireMsgHead(MsgApp, 0, math.MaxUint64), []byte{1, 1, 0, 0})},
		{"absurd data length", wireCat(wireHdr(1), wireMsgHead(MsgApp, 0, 1), []byte{1, 1, 0}, binary.AppendUvarint(nil, 1<<40), []byte("abc"))},
		{"data length one past the end", wireCat(wireHdr(1), wireMsgHead(MsgApp, 0, 1), []byte{1, 1, 0, 4}, []byte("abc"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := DecodeBatch(tt.frame)
			if !errors.Is(err, ErrMalformedFrame) {
				t.Fatalf("got %v, %+v; want ErrMalformedFrame", err, msgs)
			}
			if msgs != nil {
				t.Fatalf("messages returned with an error: %+v", msgs)
			}
		})
	}
}

// Every proper prefix of a valid frame is a truncation and must be refused.
func TestDecodeRejectsEveryTruncation(t *testing.T) {
	for name, msgs := range codecSamples() {
		frame := EncodeBatch(nil, msgs)
		for n := 0; n < len(frame); n++ {
			if _, err := DecodeBatch(frame[:n]); !errors.Is(err, ErrMalformedFrame) {
				t.Fatalf("%s: prefix of %d/%d bytes: got %v, want ErrMalformedFrame", name, n, len(frame), err)
			}
		}
	}
}

// Forged counts and lengths must be refused before anything is allocated
// for them.
func TestDecodeForgedLengthsDoNotAllocate(t *testing.T) {
	frames := [][]byte{
		wireCat(wireHdr(math.MaxUint64>>1), bytes.Repeat([]byte{1}, 64)),
		wireCat(wireHdr(1), wireMsgHead(MsgApp, 0, math.MaxUint32), bytes.Repeat([]byte{1}, 64)),
		wireCat(wireHdr(1), wireMsgHead(MsgApp, 0, 1), []byte{1, 1, 0}, binary.AppendUvarint(nil, 1<<34), bytes.Repeat([]byte{1}, 64)),
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < 100; i++ {
		for _, f := range frames {
			if _, err := DecodeBatch(f); err == nil {
				t.Fatal("forged frame accepted")
			}
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("decoding forged frames allocated %d bytes", grew)
	}
}

func TestDecodeAllocations(t *testing.T) {
	frame := EncodeBatch(nil, codecSamples()["mixed"])
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := DecodeBatch(frame); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 3 {
		t.Fatalf("DecodeBatch made %v allocations per frame, want at most 3", allocs)
	}
}

// codecGenBatch builds a pseudo-random batch from seed, so the fuzzer explores
// encodings too, not only byte soup.
func codecGenBatch(seed int64) []Message {
	rng := rand.New(rand.NewSource(seed))
	u := func() uint64 {
		switch rng.Intn(4) {
		case 0:
			return 0
		case 1:
			return uint64(rng.Intn(300))
		case 2:
			return math.MaxUint64 - uint64(rng.Intn(3))
		}
		return rng.Uint64() >> rng.Intn(64)
	}
	msgs := make([]Message, rng.Intn(6))
	for i := range msgs {
		m := Message{
			Type: MessageType(1 + rng.Intn(int(MsgTypeEnd)-1)),
			From: u(), To: u(), Term: u(), LogTerm: u(), Index: u(), Commit: u(),
			Reject: rng.Intn(2) == 0, RejectHint: u(), Context: u(),
			Tick: u(), Offset: u(), Size: u(), Lead: u(),
		}
		if n := rng.Intn(40); n > 0 && rng.Intn(3) == 0 {
			m.Data = make([]byte, n)
			rng.Read(m.Data)
		}
		for range rng.Intn(5) {
			e := Entry{Index: u(), Term: u(), Type: EntryType(rng.Intn(256))}
			if n := rng.Intn(40); n > 0 {
				e.Data = make([]byte, n)
				rng.Read(e.Data)
			}
			m.Entries = append(m.Entries, e)
		}
		msgs[i] = m
	}
	return msgs
}

func FuzzDecodeBatch(f *testing.F) {
	for _, msgs := range codecSamples() {
		f.Add(EncodeBatch(nil, msgs))
	}
	f.Add([]byte{})
	f.Add([]byte{WireVersion})
	f.Add(wireCat(wireHdr(1<<60), wireMsgHead(MsgApp, 0, 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Arbitrary bytes: never panic; anything accepted re-encodes to
		// the same bytes, since the encoding is canonical.
		msgs, err := DecodeBatch(data)
		if err != nil {
			if !errors.Is(err, ErrMalformedFrame) {
				t.Fatalf("error does not wrap ErrMalformedFrame: %v", err)
			}
		} else if re := EncodeBatch(nil, msgs); !bytes.Equal(re, data) {
			t.Fatalf("accepted frame re-encodes differently:\n in %x\nout %x", data, re)
		}

		// A batch generated from the input: decode(encode(x)) == x.
		h := fnv.New64a()
		h.Write(data)
		want := codecGenBatch(int64(h.Sum64()))
		got, err := DecodeBatch(EncodeBatch(nil, want))
		if err != nil {
			t.Fatalf("generated batch rejected: %v", err)
		}
		if !reflect.DeepEqual(codecNormalize(got), codecNormalize(want)) {
			t.Fatalf("generated batch round trip:\n got %+v\nwant %+v", got, want)
		}
	})
}

func BenchmarkEncodeDecode(b *testing.B) {
	ents := make([]Entry, 64)
	for i := range ents {
		ents[i] = Entry{Index: uint64(1000 + i), Term: 7, Data: bytes.Repeat([]byte{byte(i)}, 256)}
	}
	msgs := []Message{{Type: MsgApp, From: 1, To: 2, Term: 7, LogTerm: 7, Index: 999, Commit: 990, Entries: ents}}
	buf := EncodeBatch(nil, msgs)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = EncodeBatch(buf[:0], msgs)
		if _, err := DecodeBatch(buf); err != nil {
			b.Fatal(err)
		}
	}
}
