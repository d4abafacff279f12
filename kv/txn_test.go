package kv

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func txnCmd(t Txn) Command { return Command{Op: OpTxn, Txn: &t} }

func TestTxnRoundTrip(t *testing.T) {
	k := []byte("k")
	for _, c := range []Command{
		txnCmd(Txn{}),
		txnCmd(Txn{Compares: []Compare{{Key: k, Target: TargetValue, Op: CompareEqual, Value: []byte("v")},
			{Key: []byte("j"), Target: TargetVersion, Op: CompareGreater, Number: 3}},
			Success: []TxnOp{{Op: OpSet, Key: k, Value: []byte("w")}, {Op: OpGet, Key: k}},
			Failure: []TxnOp{{Op: OpDel, Key: k}}}),
		{Op: OpTxn, Nonce: 99, Client: "c", Seq: 4, Txn: &Txn{Success: []TxnOp{{Op: OpSet, Key: k, Value: nil}}}},
	} {
		enc := c.Encode()
		got, err := DecodeCommand(enc)
		if err != nil {
			t.Fatalf("decode %+v: %v", c, err)
		}
		if got.Nonce != c.Nonce || got.Client != c.Client || got.Seq != c.Seq || got.Txn.ops() != c.Txn.ops() {
			t.Fatalf("round trip of %+v gave %+v", c, got)
		}
		if !bytes.Equal(got.Encode(), enc) {
			t.Fatalf("re-encoding differs")
		}
	}
}

func TestTxnMalformed(t *testing.T) {
	tooMany := Txn{}
	for range MaxTxnOps + 1 {
		tooMany.Success = append(tooMany.Success, TxnOp{Op: OpGet, Key: []byte("k")})
	}
	valid := txnCmd(Txn{Success: []TxnOp{{Op: OpSet, Key: []byte("k"), Value: []byte("v")}}}).Encode()
	for _, tt := range []struct {
		name string
		in   []byte
		want string
	}{
		{"too many operations", txnCmd(tooMany).Encode(), "operations"},
		{"bad compare target", []byte{4, 0, 0, 1, 9, 1, 1, 'k', 0, 0, 0}, "compare target 9"},
		{"bad op", []byte{4, 0, 0, 0, 1, 7, 1, 'k', 0}, "unknown transaction op 7"},
		{"empty key", []byte{4, 0, 0, 0, 1, 3, 0, 0}, "empty key"},
		{"truncated", valid[:len(valid)-1], "operation count"},
		{"truncated value", valid[:len(valid)-2], "value length"},
		{"trailing bytes", append(append([]byte{}, valid...), 0), "after the transaction"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeCommand(tt.in)
			if !errors.Is(err, ErrBadCommand) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeCommand = %v, want an ErrBadCommand mentioning %q", err, tt.want)
			}
		})
	}
}

func applyTxn(t *testing.T, s *Store, index uint64, c Command) *TxnResult {
	t.Helper()
	c.Nonce = index + 1000
	s.Expect(c.Nonce)
	mustApply(t, s, cmdEntry(index, c))
	o, ok := s.Outcome(c.Nonce)
	if !ok || o.Txn == nil {
		t.Fatalf("txn at %d: no outcome", index)
	}
	if o.Applied != o.Txn.Succeeded {
		t.Fatalf("outcome applied=%v but txn succeeded=%v", o.Applied, o.Txn.Succeeded)
	}
	return o.Txn
}

func TestTxnApply(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	mustApply(t, s, set(1, "a", "1"), set(2, "b", "x"), set(3, "a", "2"))

	// Compares hold: the success branch runs, in order, at one revision.
	res := applyTxn(t, s, 4, txnCmd(Txn{
		Compares: []Compare{
			{Key: []byte("a"), Target: TargetValue, Op: CompareEqual, Value: []byte("2")},
			{Key: []byte("a"), Target: TargetVersion, Op: CompareEqual, Number: 2},
			{Key: []byte("b"), Target: TargetModRevision, Op: CompareLess, Number: 3},
			{Key: []byte("b"), Target: TargetCreateRevision, Op: CompareNotEqual, Number: 9},
			{Key: []byte("none"), Target: TargetVersion, Op: CompareEqual, Number: 0},
		},
		Success: []TxnOp{
			{Op: OpSet, Key: []byte("a"), Value: []byte("3")},
			{Op: OpGet, Key: []byte("a")},
			{Op: OpDel, Key: []byte("b")},
			{Op: OpGet, Key: []byte("b")},
			{Op: OpSet, Key: []byte("c"), Value: []byte("new")},
		},
		Failure: []TxnOp{{Op: OpSet, Key: []byte("failed"), Value: []byte("!")}},
	}))
	want := &TxnResult{Succeeded: true, Results: []OpResult{
		{Op: OpSet, Found: true, Item: Item{Key: []byte("a"), Meta: Meta{CreateRevision: 1, ModRevision: 4, Version: 3}}},
		{Op: OpGet, Found: true, Item: Item{Key: []byte("a"), Value: []byte("3"), Meta: Meta{CreateRevision: 1, ModRevision: 4, Version: 3}}},
		{Op: OpDel, Found: true},
		{Op: OpGet, Found: false},
		{Op: OpSet, Found: false, Item: Item{Key: []byte("c"), Meta: Meta{CreateRevision: 4, ModRevision: 4, Version: 1}}},
	}}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("txn result\n %+v\nwant\n %+v", res, want)
	}
	wantValue(t, s, "a", "3")
	wantMeta(t, s, "c", Meta{CreateRevision: 4, ModRevision: 4, Version: 1})
	if _, err := s.Get([]byte("b")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("b survived the txn: %v", err)
	}
	if _, err := s.Get([]byte("failed")); !errors.Is(err, ErrNotFound) {
		t.Fatal("the failure branch ran too")
	}

	// One compare fails: only the failure branch runs. A value compare on
	// an absent key is false whatever its op.
	for i, cmp := range []Compare{
		{Key: []byte("a"), Target: TargetValue, Op: CompareGreater, Value: []byte("3")},
		{Key: []byte("b"), Target: TargetValue, Op: CompareNotEqual, Value: []byte("x")},
		{Key: []byte("a"), Target: TargetModRevision, Op: CompareGreater, Number: 4},
	} {
		index := uint64(5 + i)
		res := applyTxn(t, s, index, txnCmd(Txn{Compares: []Compare{cmp},
			Success: []TxnOp{{Op: OpSet, Key: []byte("a"), Value: []byte("no")}},
			Failure: []TxnOp{{Op: OpGet, Key: []byte("a")}}}))
		if res.Succeeded || len(res.Results) != 1 || string(res.Results[0].Item.Value) != "3" {
			t.Fatalf("compare %d: %+v; want the failure branch's get of a=3", i, res)
		}
	}
	wantValue(t, s, "a", "3")
	if s.AppliedIndex() != 7 {
		t.Fatalf("applied %d", s.AppliedIndex())
	}
}

// A retried transaction is not applied again; its session says whether
// it succeeded.
func TestTxnRetry(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	c := txnCmd(Txn{Compares: []Compare{{Key: []byte("k"), Target: TargetVersion, Op: CompareEqual, Number: 0}},
		Success: []TxnOp{{Op: OpSet, Key: []byte("k"), Value: []byte("first")}}})
	c.Client, c.Seq = "cli", 1
	applyTxn(t, s, 1, c)
	c.Nonce = 77
	s.Expect(77)
	mustApply(t, s, cmdEntry(2, c))
	if _, ok := s.Outcome(77); ok {
		t.Fatal("the retry was applied again")
	}
	if r, ok := s.RequestResult("cli", 1); !ok || r.Index != 1 || r.CondFailed {
		t.Fatalf("RequestResult = %+v, %v", r, ok)
	}
	wantMeta(t, s, "k", Meta{CreateRevision: 1, ModRevision: 1, Version: 1})
}

// A transaction too big for one badger transaction is refused when it is
// decoded, on every replica alike, instead of stopping each in Apply.
func TestTxnTooBig(t *testing.T) {
	big := bytes.Repeat([]byte("v"), 40<<10)
	var ops []TxnOp
	for i := range 4 {
		ops = append(ops, TxnOp{Op: OpSet, Key: []byte{'k', byte('0' + i)}, Value: big})
	}
	enc := txnCmd(Txn{Success: ops}).Encode()
	if _, err := DecodeCommand(enc); !errors.Is(err, ErrBadCommand) || !strings.Contains(err.Error(), "bytes, more than") {
		t.Fatalf("DecodeCommand = %v, want refused as too big", err)
	}
	s := openStore(t, testOptions(t.TempDir()))
	mustApply(t, s, cmdEntry(1, txnCmd(Txn{Success: ops})))
	if _, err := s.Get([]byte("k0")); !errors.Is(err, ErrNotFound) || s.AppliedIndex() != 1 {
		t.Fatalf("an oversized transaction was applied (%v) or stopped the store (applied %d)", err, s.AppliedIndex())
	}
	// The same writes split over the two branches fit: only one runs.
	ok := txnCmd(Txn{Success: ops[:2], Failure: ops[2:]})
	if _, err := DecodeCommand(ok.Encode()); err != nil {
		t.Fatalf("two 80 KiB branches refused: %v", err)
	}
}
