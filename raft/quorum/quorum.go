// Package quorum decides what a majority of voters agrees on. It is the
// only place in raftkv that counts to a majority: votes, the commit index,
// read-index acknowledgements, check-quorum and the leader lease all ask it,
// over whatever voters the current configuration names. Learners are simply
// not passed in.
package quorum

import "slices"

// VoteResult is the outcome of an election so far.
type VoteResult uint8

const (
	Pending VoteResult = iota // neither side has a majority yet
	Won                       // a majority granted
	Lost                      // a majority refused, or there are no voters
)

func (r VoteResult) String() string {
	switch r {
	case Won:
		return "won"
	case Lost:
		return "lost"
	}
	return "pending"
}

// Majority is the size of the smallest majority of n voters.
func Majority(n int) int { return n/2 + 1 }

// Index returns the highest value that a majority of voters has reached,
// where acked reports each voter's value: the commit index when acked is
// the match index, the confirmed read round when it is the acknowledged
// round. It is 0 when there are no voters. Duplicate ids count once.
func Index(voters []uint64, acked func(id uint64) uint64) uint64 {
	ids := dedup(voters)
	if len(ids) == 0 {
		return 0
	}
	vals := make([]uint64, len(ids))
	for i, id := range ids {
		vals[i] = acked(id)
	}
	slices.Sort(vals)
	// The majority-th largest value is held by at least Majority voters.
	return vals[len(vals)-Majority(len(vals))]
}

// Active reports whether a majority of voters satisfies ok.
func Active(voters []uint64, ok func(id uint64) bool) bool {
	return Index(voters, func(id uint64) uint64 {
		if ok(id) {
			return 1
		}
		return 0
	}) == 1
}

// Vote tallies an election: votes maps a voter to whether it granted.
// Answers from ids that are not voters are ignored, so a learner or a
// removed node can never tip an election.
func Vote(voters []uint64, votes map[uint64]bool) VoteResult {
	ids := dedup(voters)
	if len(ids) == 0 {
		return Lost
	}
	granted, rejected := 0, 0
	for _, id := range ids {
		v, ok := votes[id]
		switch {
		case !ok:
		case v:
			granted++
		default:
			rejected++
		}
	}
	q := Majority(len(ids))
	switch {
	case granted >= q:
		return Won
	case rejected > len(ids)-q:
		// Too few voters remain undecided for the grants to reach q.
		return Lost
	}
	return Pending
}

// dedup returns ids sorted without duplicates; the core keeps its voters
// that way, so the common case costs no allocation.
func dedup(ids []uint64) []uint64 {
	strict := true
	for i := 1; i < len(ids); i++ {
		if ids[i-1] >= ids[i] {
			strict = false
			break
		}
	}
	if strict {
		return ids
	}
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}
