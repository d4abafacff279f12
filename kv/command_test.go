package kv

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCommandRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		enc  []byte
		want Command
	}{
		{"set", EncodeSet([]byte("color"), []byte("blue")), Command{Op: OpSet, Key: []byte("color"), Value: []byte("blue")}},
		{"set empty value", EncodeSet([]byte("k"), nil), Command{Op: OpSet, Key: []byte("k"), Value: nil}},
		{"set binary", EncodeSet([]byte{0, 0xff}, []byte{0, 1, 2}), Command{Op: OpSet, Key: []byte{0, 0xff}, Value: []byte{0, 1, 2}}},
		{"set 200-byte key (2-byte varint)", EncodeSet(bytes.Repeat([]byte("k"), 200), []byte("v")),
			Command{Op: OpSet, Key: bytes.Repeat([]byte("k"), 200), Value: []byte("v")}},
		{"set 1 MiB value", EncodeSet([]byte("big"), bytes.Repeat([]byte("v"), 1<<20)),
			Command{Op: OpSet, Key: []byte("big"), Value: bytes.Repeat([]byte("v"), 1<<20)}},
		{"del", EncodeDel([]byte("color")), Command{Op: OpDel, Key: []byte("color"), Value: nil}},
		{"set if-match", Command{Op: OpSet, Key: []byte("k"), Value: []byte("v"), Cond: CondModRevision, CondRevision: 300, Nonce: 7}.Encode(),
			Command{Op: OpSet, Key: []byte("k"), Value: []byte("v"), Cond: CondModRevision, CondRevision: 300, Nonce: 7}},
		{"set create-only with request id", Command{Op: OpSet, Key: []byte("k"), Cond: CondAbsent, Nonce: 1 << 60, Client: "cli", Seq: 9}.Encode(),
			Command{Op: OpSet, Key: []byte("k"), Cond: CondAbsent, Nonce: 1 << 60, Client: "cli", Seq: 9}},
		{"del if-exists", Command{Op: OpDel, Key: []byte("k"), Cond: CondExists, Nonce: 2}.Encode(),
			Command{Op: OpDel, Key: []byte("k"), Cond: CondExists, Nonce: 2}},
		{"set with a lease", Command{Op: OpSet, Key: []byte("k"), Value: []byte("v"), Lease: 42}.Encode(),
			Command{Op: OpSet, Key: []byte("k"), Value: []byte("v"), Lease: 42}},
		{"lease grant", Command{Op: OpLeaseGrant, Nonce: 3, TTL: 30 * time.Second}.Encode(), Command{Op: OpLeaseGrant, Nonce: 3, TTL: 30 * time.Second}},
		{"lease revoke", Command{Op: OpLeaseRevoke, Lease: 17}.Encode(), Command{Op: OpLeaseRevoke, Lease: 17}},
		{"request id only stays version 2", Command{Op: OpSet, Key: []byte("k"), Client: "c", Seq: 1}.Encode(),
			Command{Op: OpSet, Key: []byte("k"), Client: "c", Seq: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeCommand(tt.enc)
			if err != nil {
				t.Fatalf("DecodeCommand: %v", err)
			}
			if got.Op != tt.want.Op || !bytes.Equal(got.Key, tt.want.Key) || !bytes.Equal(got.Value, tt.want.Value) ||
				got.Cond != tt.want.Cond || got.CondRevision != tt.want.CondRevision || got.Nonce != tt.want.Nonce ||
				got.Client != tt.want.Client || got.Seq != tt.want.Seq || got.Lease != tt.want.Lease || got.TTL != tt.want.TTL {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// The decoded key must not share capacity with the value: appending to it
// would otherwise overwrite the value in place.
func TestDecodeKeyDoesNotAliasValue(t *testing.T) {
	c, err := DecodeCommand(EncodeSet([]byte("ab"), []byte("cd")))
	if err != nil {
		t.Fatal(err)
	}
	_ = append(c.Key, 'X')
	if string(c.Value) != "cd" {
		t.Fatalf("value changed to %q after appending to key", c.Value)
	}
}

func TestDecodeCommandMalformed(t *testing.T) {
	valid := EncodeSet([]byte("key"), []byte("value"))
	tests := []struct {
		name string
		in   []byte
		want string // substring of the error
	}{
		{"nil", nil, "too short"},
		{"one byte", []byte{1}, "too short"},
		{"version 0", []byte{0, 1, 1, 'k'}, "unknown version 0"},
		{"version 6", []byte{6, 1, 1, 'k'}, "unknown version 6"},
		{"v3 without condition, nonce or lease", []byte{3, 1, 0, 0, 0, 0, 1, 'k'}, "without a condition, a nonce or a lease"},
		{"v3 lease on a delete", []byte{3, 2, 0, 0, 5, 0, 1, 'k'}, "a lease on a 2"},
		{"lease: unknown op", []byte{5, 9, 0, 1}, "unknown lease op 9"},
		{"lease: revoke of 0", []byte{5, 6, 0, 0}, "revoke of lease 0"},
		{"lease: zero TTL", []byte{5, 5, 0, 0}, "TTL of 0 ms"},
		{"lease: trailing bytes", []byte{5, 5, 0, 1, 0}, "after a lease command"},
		{"v3 unknown condition", []byte{3, 1, 9, 0, 0, 1, 'k'}, "unknown condition 9"},
		{"v3 condition on revision 0", []byte{3, 1, 1, 0, 0, 0, 1, 'k'}, "revision 0"},
		{"v3 no condition byte", []byte{3, 1}, "no condition"},
		{"v3 truncated nonce", []byte{3, 1, 3, 0x80}, "bad nonce"},
		{"v3 client id too long", append([]byte{3, 1, 3, 7, 0, 129, 1}, bytes.Repeat([]byte("c"), 129)...), "client id length 129"},
		{"op 0", []byte{1, 0, 1, 'k'}, "unknown op 0"},
		{"op 3", []byte{1, 3, 1, 'k'}, "unknown op 3"},
		{"no key length", []byte{1, 1}, "bad key length"},
		{"truncated varint", []byte{1, 1, 0x80}, "bad key length"},
		{"overflowing varint", append([]byte{1, 1}, bytes.Repeat([]byte{0xff}, 11)...), "bad key length"},
		{"padded varint", []byte{1, 1, 0x81, 0x00, 'k'}, "non-minimal"},
		{"zero key length", []byte{1, 1, 0}, "key length 0"},
		{"key longer than data", []byte{1, 1, 5, 'a', 'b'}, "key length 5 with 2 bytes left"},
		{"truncated set", valid[:4], "key length 3"},
		{"huge key length", []byte{1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 'k'}, "with 1 bytes left"},
		{"del with trailing bytes", append(EncodeDel([]byte("k")), 'x'), "DEL with 1 trailing bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeCommand(tt.in)
			if err == nil {
				t.Fatalf("DecodeCommand(%x) = %+v, want error", tt.in, c)
			}
			if !errors.Is(err, ErrBadCommand) {
				t.Errorf("error %v does not wrap ErrBadCommand", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// FuzzDecodeCommand checks that decoding never panics, that whatever
// decodes re-encodes to exactly the same bytes (one encoding per command),
// and that the result never reaches outside the input.
func FuzzDecodeCommand(f *testing.F) {
	f.Add(EncodeSet([]byte("color"), []byte("blue")))
	f.Add(EncodeSet(bytes.Repeat([]byte("k"), 300), nil))
	f.Add(EncodeDel([]byte("color")))
	f.Add([]byte{1, 1, 0x81, 0x00, 'k'})
	f.Add([]byte{})
	f.Add([]byte{1, 2, 0})
	f.Add(Command{Op: OpSet, Key: []byte("k"), Value: []byte("v"), Cond: CondModRevision, CondRevision: 300, Nonce: 7, Client: "c", Seq: 2}.Encode())
	f.Add(Command{Op: OpDel, Key: []byte("k"), Cond: CondAbsent}.Encode())
	f.Add(Command{Op: OpSet, Key: []byte("k"), Lease: 9, Client: "c", Seq: 1}.Encode())
	f.Add(Command{Op: OpLeaseGrant, Nonce: 1, TTL: time.Second}.Encode())
	f.Add(Command{Op: OpLeaseRevoke, Lease: 3}.Encode())
	f.Add(Command{Op: OpTxn, Nonce: 3, Client: "c", Seq: 1, Txn: &Txn{
		Compares: []Compare{{Key: []byte("k"), Target: TargetValue, Op: CompareEqual, Value: []byte("v")}, {Key: []byte("j"), Target: TargetVersion, Op: CompareLess, Number: 2}},
		Success:  []TxnOp{{Op: OpSet, Key: []byte("k"), Value: []byte("w")}, {Op: OpGet, Key: []byte("j")}},
		Failure:  []TxnOp{{Op: OpDel, Key: []byte("k")}}}}.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("error %v does not wrap ErrBadCommand", err)
			}
			return
		}
		keyless := c.Op == OpTxn || c.Op == OpLeaseGrant || c.Op == OpLeaseRevoke
		if len(c.Key) == 0 && !keyless {
			t.Fatal("decoded an empty key")
		}
		if c.Op != OpSet && c.Op != OpDel && !keyless {
			t.Fatalf("decoded unknown op %d", c.Op)
		}
		if c.Op == OpDel && len(c.Value) != 0 {
			t.Fatalf("DEL decoded with a %d-byte value", len(c.Value))
		}
		if re := c.Encode(); !bytes.Equal(re, b) {
			t.Fatalf("re-encoding %x gave %x", b, c.Encode())
		}
	})
}
