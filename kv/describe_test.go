package kv

import (
	"strings"
	"testing"
	"time"
)

func TestDescribe(t *testing.T) {
	long := strings.Repeat("v", 100)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"set", EncodeSet([]byte("color"), []byte("blue")), "SET color blue"},
		{"del", EncodeDel([]byte("color")), "DEL color"},
		{"punctuation stays bare", EncodeSet([]byte("a/b:c"), []byte("{x=1}")), "SET a/b:c {x=1}"},
		{"space in value", EncodeSet([]byte("k"), []byte("two words")), `SET k "two words"`},
		{"space in key", EncodeDel([]byte("a b")), `DEL "a b"`},
		{"empty value", EncodeSet([]byte("k"), nil), `SET k ""`},
		{"leading quote", EncodeSet([]byte(`"k"`), []byte("v")), `SET "\"k\"" v`},
		{"inner quote stays bare", EncodeSet([]byte(`k"`), []byte("v")), `SET k" v`},
		{"newline", EncodeSet([]byte("k"), []byte("a\nb")), `SET k "a\nb"`},
		{"tab", EncodeSet([]byte("k"), []byte("a\tb")), `SET k "a\tb"`},
		{"binary", EncodeSet([]byte{0, 0xff}, []byte{0x7f}), `SET "\x00\xff" "\x7f"`},
		{"utf-8", EncodeSet([]byte("k"), []byte("héllo")), `SET k "héllo"`},
		{"64 bytes stays whole", EncodeSet([]byte("k"), []byte(long[:64])), "SET k " + long[:64]},
		{"65 bytes is cut", EncodeSet([]byte("k"), []byte(long[:65])), `SET k "` + long[:64] + `"...(+1 bytes)`},
		{"100 bytes is cut", EncodeSet([]byte("k"), []byte(long)), `SET k "` + long[:64] + `"...(+36 bytes)`},
		{"long key is cut", EncodeDel([]byte(long)), `DEL "` + long[:64] + `"...(+36 bytes)`},
		{"cut inside a rune", EncodeSet([]byte("k"), []byte(strings.Repeat("a", 63)+"é")),
			`SET k "` + strings.Repeat("a", 63) + `\xc3"...(+1 bytes)`},
		{"if-match", Command{Op: OpSet, Key: []byte("k"), Value: []byte("v"), Cond: CondModRevision, CondRevision: 7, Nonce: 1}.Encode(),
			"SET k v IF mod_revision=7"},
		{"create", Command{Op: OpSet, Key: []byte("k"), Value: []byte("v"), Cond: CondAbsent}.Encode(), "SET k v IF absent"},
		{"delete if exists", Command{Op: OpDel, Key: []byte("k"), Cond: CondExists}.Encode(), "DEL k IF exists"},
		{"txn", Command{Op: OpTxn, Txn: &Txn{
			Compares: []Compare{{Key: []byte("k"), Target: TargetValue, Op: CompareEqual, Value: []byte("a b")},
				{Key: []byte("j"), Target: TargetVersion, Op: CompareGreater, Number: 2}},
			Success: []TxnOp{{Op: OpSet, Key: []byte("k"), Value: []byte("v")}, {Op: OpGet, Key: []byte("j")}}}}.Encode(),
			`TXN IF k value="a b" AND j version>2 THEN SET k v; GET j ELSE -`},
		{"empty txn", Command{Op: OpTxn, Txn: &Txn{Failure: []TxnOp{{Op: OpDel, Key: []byte("k")}}}}.Encode(), "TXN THEN - ELSE DEL k"},
		{"set with a lease", Command{Op: OpSet, Key: []byte("k"), Value: []byte("v"), Lease: 5}.Encode(), "SET k v LEASE 5"},
		{"lease grant", Command{Op: OpLeaseGrant, TTL: 30 * time.Second}.Encode(), "LEASE GRANT ttl=30s"},
		{"lease revoke", Command{Op: OpLeaseRevoke, Lease: 5}.Encode(), "LEASE REVOKE 5"},
		{"nil", nil, "INVALID 0 bytes"},
		{"garbage", []byte{7, 7, 7}, "INVALID 3 bytes"},
		{"del with trailing", append(EncodeDel([]byte("k")), 'x'), "INVALID 5 bytes"},
	}
	var s *Store // Describe needs no open store
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.Describe(tt.data)
			if got != tt.want {
				t.Fatalf("Describe = %s\nwant       %s", got, tt.want)
			}
			if strings.ContainsAny(got, "\n\r") {
				t.Fatalf("Describe output spans lines: %q", got)
			}
		})
	}
}
