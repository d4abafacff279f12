package kv

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/raftkv/raftkv/raft/wire"
)

func grantEntry(index uint64, ttl time.Duration) wire.Entry {
	return cmdEntry(index, Command{Op: OpLeaseGrant, TTL: ttl})
}

func revokeEntry(index, id uint64) wire.Entry {
	return cmdEntry(index, Command{Op: OpLeaseRevoke, Lease: id})
}

func setWithLease(index uint64, key, value string, lease uint64) wire.Entry {
	return cmdEntry(index, Command{Op: OpSet, Key: []byte(key), Value: []byte(value), Lease: lease})
}

func wantKeys(t *testing.T, s *Store, id uint64, want ...string) {
	t.Helper()
	info, ok := s.Lease(id)
	if !ok {
		t.Fatalf("lease %d does not exist", id)
	}
	var got []string
	for _, k := range info.Keys {
		got = append(got, string(k))
	}
	if len(got) != len(want) {
		t.Fatalf("lease %d keys %q, want %q", id, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("lease %d keys %q, want %q", id, got, want)
		}
	}
}

func absent(t *testing.T, s *Store, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, err := s.Get([]byte(k)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s still there (%v)", k, err)
		}
	}
}

func TestLeases(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	// The lease id is the granting entry's index.
	c := Command{Op: OpLeaseGrant, TTL: 30 * time.Second, Nonce: 5}
	s.Expect(5)
	mustApply(t, s, cmdEntry(1, c))
	if o, ok := s.Outcome(5); !ok || !o.Applied || o.Lease != 1 {
		t.Fatalf("grant outcome %+v, %v; want lease 1", o, ok)
	}
	if ls := s.Leases(); len(ls) != 1 || ls[1] != 30*time.Second {
		t.Fatalf("Leases() = %v", ls)
	}
	mustApply(t, s, setWithLease(2, "a", "1", 1), setWithLease(3, "b", "2", 1), setWithLease(4, "c", "3", 1))
	wantKeys(t, s, 1, "a", "b", "c")
	wantMeta(t, s, "a", Meta{CreateRevision: 2, ModRevision: 2, Version: 1, Lease: 1})
	// Rewritten without the lease, deleted, or rewritten by a transaction:
	// detached, so the revoke leaves them alone.
	mustApply(t, s, set(5, "a", "mine"), del(6, "b"),
		cmdEntry(7, txnCmd(Txn{Success: []TxnOp{{Op: OpSet, Key: []byte("d"), Value: []byte("x")}}})),
		setWithLease(8, "d", "4", 1),
		cmdEntry(9, txnCmd(Txn{Success: []TxnOp{{Op: OpSet, Key: []byte("d"), Value: []byte("y")}}})),
		setWithLease(10, "e", "5", 1))
	wantKeys(t, s, 1, "c", "e")
	// Survives a restart.
	s = reopen(t, s, s.opts)
	wantKeys(t, s, 1, "c", "e")
	// The revoke deletes what is still attached, and makes delete events.
	s.Expect(11)
	mustApply(t, s, cmdEntry(11, Command{Op: OpLeaseRevoke, Lease: 1, Nonce: 11}))
	if o, ok := s.Outcome(11); !ok || !o.Applied {
		t.Fatalf("revoke outcome %+v, %v", o, ok)
	}
	absent(t, s, "c", "e", "b")
	wantValue(t, s, "a", "mine")
	wantValue(t, s, "d", "y")
	if _, ok := s.Lease(1); ok {
		t.Fatal("the lease survived its revoke")
	}
	evs, _, _, err := s.Changes(10, all, 10)
	if err != nil || eventsString(evs) != "11:del:c=(0,11,0) 11:del:e=(0,11,0)" {
		t.Fatalf("revoke events %s, %v", eventsString(evs), err)
	}
	// Nothing of the lease is left on disk.
	s = reopen(t, s, s.opts)
	if len(s.Leases()) != 0 {
		t.Fatalf("leases after reopen: %v", s.Leases())
	}
}

func TestLeaseMissingAndRevokeUnknown(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	c := Command{Op: OpSet, Key: []byte("k"), Value: []byte("v"), Lease: 9, Nonce: 1}
	s.Expect(1)
	mustApply(t, s, cmdEntry(1, c))
	if o, ok := s.Outcome(1); !ok || o.Applied || !o.LeaseMissing {
		t.Fatalf("put with a missing lease: %+v, %v", o, ok)
	}
	absent(t, s, "k")
	s.Expect(2)
	mustApply(t, s, cmdEntry(2, Command{Op: OpLeaseRevoke, Lease: 9, Nonce: 2}))
	if o, ok := s.Outcome(2); !ok || o.Applied {
		t.Fatalf("revoke of an unknown lease: %+v, %v", o, ok)
	}
	// A lease granted and revoked in one batch, with a key between.
	mustApply(t, s, grantEntry(3, time.Minute), setWithLease(4, "k", "v", 3), revokeEntry(5, 3))
	absent(t, s, "k")
	if s.AppliedIndex() != 5 {
		t.Fatalf("applied %d", s.AppliedIndex())
	}
}

// Leases travel in snapshots: a restored store has them, keys included.
func TestLeaseSnapshot(t *testing.T) {
	src := openStore(t, testOptions(t.TempDir()))
	mustApply(t, src, grantEntry(1, time.Minute), setWithLease(2, "k", "v", 1))
	var img bytes.Buffer
	index, term, err := src.SnapshotTo(&img)
	if err != nil {
		t.Fatal(err)
	}
	dst := openStore(t, testOptions(t.TempDir()))
	if err := dst.Restore(&img, index, term); err != nil {
		t.Fatal(err)
	}
	wantKeys(t, dst, 1, "k")
	mustApply(t, dst, revokeEntry(3, 1))
	absent(t, dst, "k")
}

// A failed commit takes the lease table back to what badger holds.
func TestLeaseTableRollsBack(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	mustApply(t, s, grantEntry(1, time.Minute))
	s.commitHook = func(uint64) error { return errors.New("disk full") }
	if err := s.Apply([]wire.Entry{setWithLease(2, "k", "v", 1), grantEntry(3, time.Hour)}); err == nil {
		t.Fatal("Apply succeeded through a failing commit")
	}
	wantKeys(t, s, 1)
	if _, ok := s.Lease(3); ok {
		t.Fatal("a grant that was not committed is in the table")
	}
	s.commitHook = nil
	mustApply(t, s, setWithLease(2, "k", "v", 1))
	wantKeys(t, s, 1, "k")
}
