package kv

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

func all([]byte) bool { return true }

func eventsString(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		kind := "put"
		if e.Type == EventDel {
			kind = "del"
		}
		fmt.Fprintf(&b, "%d:%s:%s=%s(%d,%d,%d) ", e.Revision, kind, e.Item.Key, e.Item.Value,
			e.Item.CreateRevision, e.Item.ModRevision, e.Item.Version)
	}
	return strings.TrimSpace(b.String())
}

func TestHistory(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	_, upTo, notify, err := s.Changes(0, all, 100)
	if err != nil || upTo != 0 {
		t.Fatalf("empty history: %d, %v", upTo, err)
	}
	mustApply(t, s, set(1, "a", "1"), set(2, "b", "2"), del(3, "a"), del(4, "missing"),
		cmdEntry(5, txnCmd(Txn{Success: []TxnOp{{Op: OpSet, Key: []byte("c"), Value: []byte("3")}, {Op: OpDel, Key: []byte("b")}, {Op: OpGet, Key: []byte("c")}}})),
		noop(6),
		cmdEntry(7, Command{Op: OpSet, Key: []byte("a"), Value: []byte("x"), Cond: CondModRevision, CondRevision: 99}))
	select {
	case <-notify:
	default:
		t.Fatal("Apply did not wake the waiting watchers")
	}
	evs, upTo, _, err := s.Changes(0, all, 100)
	if err != nil || upTo != 7 {
		t.Fatalf("Changes = %d, %v", upTo, err)
	}
	want := "1:put:a=1(1,1,1) 2:put:b=2(2,2,1) 3:del:a=(0,3,0) 5:put:c=3(5,5,1) 5:del:b=(0,5,0)"
	if got := eventsString(evs); got != want {
		t.Fatalf("events\n %s\nwant\n %s", got, want)
	}
	// After a revision; a prefix; a limit that never splits a revision.
	evs, _, _, _ = s.Changes(3, all, 100)
	if got := eventsString(evs); got != "5:put:c=3(5,5,1) 5:del:b=(0,5,0)" {
		t.Errorf("after 3: %s", got)
	}
	evs, _, _, _ = s.Changes(0, func(k []byte) bool { return bytes.HasPrefix(k, []byte("b")) }, 100)
	if got := eventsString(evs); got != "2:put:b=2(2,2,1) 5:del:b=(0,5,0)" {
		t.Errorf("prefix b: %s", got)
	}
	evs, upTo, _, _ = s.Changes(3, all, 1)
	if len(evs) != 2 || upTo != 7 {
		t.Errorf("limit 1 from a transaction's revision: %d events up to %d; want its 2, complete to 7", len(evs), upTo)
	}
	evs, upTo, _, _ = s.Changes(0, all, 1)
	if len(evs) != 1 || upTo != 1 {
		t.Errorf("limit 1: %d events up to %d; want 1 up to 1", len(evs), upTo)
	}
	if _, upTo, _, _ = s.Changes(7, all, 10); upTo != 7 {
		t.Errorf("caught up: up to %d", upTo)
	}
}

func TestHistoryCompaction(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	s.history.maxEvents = 3
	mustApply(t, s, set(1, "a", "1"),
		cmdEntry(2, txnCmd(Txn{Success: []TxnOp{{Op: OpSet, Key: []byte("b"), Value: nil}, {Op: OpSet, Key: []byte("c"), Value: nil}}})),
		set(3, "d", "4"), set(4, "e", "5"))
	// Four events fit in three only by dropping revisions 1 and 2 whole.
	_, _, _, err := s.Changes(0, all, 10)
	var ce *CompactedError
	if !errors.As(err, &ce) || ce.CompactRevision != 2 || !IsCompacted(err) {
		t.Fatalf("Changes(0) = %v; want compacted at 2", err)
	}
	evs, _, _, err := s.Changes(2, all, 10)
	if err != nil || eventsString(evs) != "3:put:d=4(3,3,1) 4:put:e=5(4,4,1)" {
		t.Fatalf("Changes(2) = %s, %v", eventsString(evs), err)
	}
	// A byte bound as well.
	s.history.maxEvents, s.history.maxBytes = 100, 200
	mustApply(t, s, set(5, "big", strings.Repeat("v", 300)))
	if _, _, _, err := s.Changes(4, all, 10); !IsCompacted(err) {
		t.Fatalf("a value over the byte bound stayed: %v", err)
	}
	// After a restart the history starts at the applied index.
	s = reopen(t, s, s.opts)
	if _, _, _, err := s.Changes(4, all, 10); !IsCompacted(err) {
		t.Fatalf("history survived a restart: %v", err)
	}
	if _, upTo, _, err := s.Changes(5, all, 10); err != nil || upTo != 5 {
		t.Fatalf("Changes(5) after restart = %d, %v", upTo, err)
	}
}

// Watchers read the history while Apply publishes and trims it; the race
// detector checks that the lock-free scan never meets a write.
func TestHistoryConcurrentReaders(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	s.history.maxEvents = 50
	done := make(chan struct{})
	var seen []uint64
	go func() {
		defer close(done)
		var after uint64
		for after < 400 {
			evs, upTo, more, err := s.Changes(after, all, 10)
			if IsCompacted(err) {
				after = s.HistoryRevision() // fell behind: start again from now
				continue
			}
			if err != nil {
				t.Error(err)
				return
			}
			for _, e := range evs {
				if e.Revision <= after {
					t.Errorf("revision %d after %d", e.Revision, after)
				}
				seen = append(seen, e.Revision)
			}
			after = upTo
			if len(evs) == 0 && after < 400 {
				<-more
			}
		}
	}()
	for i := uint64(1); i <= 400; i++ {
		mustApply(t, s, set(i, fmt.Sprint("k", i%7), "v"))
	}
	<-done
	if len(seen) == 0 {
		t.Fatal("the reader saw nothing")
	}
}

// TestChangesByteBudget: one call returns about MaxChangesBytes of keys
// and values however many events that is, and never less than one
// revision, so a value larger than the budget still goes through.
func TestChangesByteBudget(t *testing.T) {
	s := openStore(t, testOptions(t.TempDir()))
	big := strings.Repeat("v", MaxChangesBytes/4)
	huge := strings.Repeat("h", MaxChangesBytes+1)
	var ents []wire.Entry
	for i := uint64(1); i <= 8; i++ {
		ents = append(ents, set(i, fmt.Sprintf("k%d", i), big))
	}
	ents = append(ents, set(9, "huge", huge))
	mustApply(t, s, ents...)
	evs, upTo, _, err := s.Changes(0, all, 1000)
	if err != nil || len(evs) != 4 || upTo != 4 {
		t.Fatalf("from 0: %d events up to %d, %v; want 4 (1 MiB of values) up to 4", len(evs), upTo, err)
	}
	evs, upTo, _, _ = s.Changes(4, all, 1000)
	if len(evs) != 4 || upTo != 8 {
		t.Fatalf("from 4: %d events up to %d; want 4 up to 8", len(evs), upTo)
	}
	evs, upTo, _, _ = s.Changes(8, all, 1000)
	if len(evs) != 1 || upTo != 9 || len(evs[0].Item.Value) != len(huge) {
		t.Fatalf("from 8: %d events up to %d; want the one huge value", len(evs), upTo)
	}
}
