package raft

import (
	"errors"
	"testing"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// TestRegister: a forwarded proposal's answer may come before or after
// the follower applied the entry it names; either way the caller learns
// whether that entry is its own.
func TestRegister(t *testing.T) {
	log := map[uint64]uint64{5: 2, 6: 3} // index -> term the log holds
	termAt := func(i uint64) (uint64, bool) { t, ok := log[i]; return t, ok }
	tests := []struct {
		name         string
		index, term  uint64
		want         error
		waitsToApply bool
	}{
		{"applied, same term: ours", 5, 2, nil, false},
		{"applied, other term: overwritten", 6, 2, core.ErrProposalDropped, false},
		{"applied but compacted away: unknown", 3, 1, ErrProposalUnknown, false},
		{"not applied yet: waits", 7, 3, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWaitList()
			w.appliedTo([]wire.Entry{{Index: 6, Term: 3}})
			ch := w.register(tt.index, tt.term, termAt)
			if tt.waitsToApply {
				select {
				case err := <-ch:
					t.Fatalf("answered %v before the entry was applied", err)
				default:
				}
				w.appliedTo([]wire.Entry{{Index: tt.index, Term: tt.term}})
			}
			if err := <-ch; !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	w := newWaitList()
	w.stop()
	if err := <-w.register(1, 1, termAt); !errors.Is(err, ErrStopped) {
		t.Fatalf("after stop: %v", err)
	}
}
