package quorum

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestIndex(t *testing.T) {
	tests := []struct {
		name   string
		voters []uint64
		acked  map[uint64]uint64
		want   uint64
	}{
		{"no voters", nil, nil, 0},
		{"one voter", []uint64{7}, map[uint64]uint64{7: 9}, 9},
		{"three, middle wins", []uint64{1, 2, 3}, map[uint64]uint64{1: 5, 2: 9, 3: 7}, 7},
		{"three, one silent", []uint64{1, 2, 3}, map[uint64]uint64{1: 5, 2: 9}, 5},
		{"four needs three", []uint64{1, 2, 3, 4}, map[uint64]uint64{1: 10, 2: 10, 3: 4, 4: 3}, 4},
		{"five", []uint64{1, 2, 3, 4, 5}, map[uint64]uint64{1: 1, 2: 2, 3: 3, 4: 4, 5: 5}, 3},
		{"unsorted with duplicates counts each once", []uint64{3, 1, 3, 2}, map[uint64]uint64{1: 5, 2: 9, 3: 7}, 7},
		{"non-voters ignored", []uint64{1, 2, 3}, map[uint64]uint64{1: 1, 2: 1, 3: 1, 4: 100, 5: 100}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Index(tt.voters, func(id uint64) uint64 { return tt.acked[id] })
			if got != tt.want {
				t.Fatalf("Index = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestIndexIsMajorityBound checks the defining property on random inputs:
// at least a majority reached the answer, and no higher value has one.
func TestIndexIsMajorityBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		n := 1 + rng.IntN(9)
		voters := make([]uint64, n)
		acked := map[uint64]uint64{}
		for i := range voters {
			voters[i] = uint64(i)
			acked[uint64(i)] = uint64(rng.IntN(20))
		}
		got := Index(voters, func(id uint64) uint64 { return acked[id] })
		atLeast := func(v uint64) int {
			c := 0
			for _, a := range acked {
				if a >= v {
					c++
				}
			}
			return c
		}
		if atLeast(got) < Majority(n) || atLeast(got+1) >= Majority(n) {
			t.Fatalf("n=%d acked=%v: Index=%d is not the majority bound", n, acked, got)
		}
	}
}

func TestActive(t *testing.T) {
	voters := []uint64{1, 2, 3, 4, 5}
	for k := 0; k <= 5; k++ {
		got := Active(voters, func(id uint64) bool { return id <= uint64(k) })
		if want := k >= 3; got != want {
			t.Errorf("%d of 5 active: Active = %v, want %v", k, got, want)
		}
	}
	if Active(nil, func(uint64) bool { return true }) {
		t.Error("no voters: Active must be false")
	}
}

func TestVote(t *testing.T) {
	tests := []struct {
		name   string
		voters []uint64
		votes  map[uint64]bool
		want   VoteResult
	}{
		{"no voters loses", nil, map[uint64]bool{1: true}, Lost},
		{"single self vote wins", []uint64{1}, map[uint64]bool{1: true}, Won},
		{"three: one grant pending", []uint64{1, 2, 3}, map[uint64]bool{1: true}, Pending},
		{"three: two grants win", []uint64{1, 2, 3}, map[uint64]bool{1: true, 3: true}, Won},
		{"three: two rejects lose", []uint64{1, 2, 3}, map[uint64]bool{1: true, 2: false, 3: false}, Lost},
		{"four: two rejects already lose", []uint64{1, 2, 3, 4}, map[uint64]bool{1: true, 2: false, 3: false}, Lost},
		{"four: two grants pending", []uint64{1, 2, 3, 4}, map[uint64]bool{1: true, 2: true, 3: false}, Pending},
		{"learner grants do not count", []uint64{1, 2, 3}, map[uint64]bool{1: true, 9: true, 10: true}, Pending},
		{"learner rejects do not count", []uint64{1, 2, 3}, map[uint64]bool{1: true, 9: false, 10: false}, Pending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Vote(tt.voters, tt.votes); got != tt.want {
				t.Fatalf("Vote = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDedupLeavesInputAlone(t *testing.T) {
	in := []uint64{3, 1, 3}
	_ = Index(in, func(uint64) uint64 { return 1 })
	if !slices.Equal(in, []uint64{3, 1, 3}) {
		t.Fatalf("Index reordered its input: %v", in)
	}
}
