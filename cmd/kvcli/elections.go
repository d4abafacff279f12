package main

import (
	"fmt"
	"time"

	"github.com/raftkv/raftkv/api/client"
)

// leaderSeen is who leads, and in which term, as one refresh of the
// cluster's status shows it.
type leaderSeen struct {
	known    bool
	id       uint64 // 0 unless known
	term     uint64 // the leader's term; with no leader, the highest term any node is in
	endpoint string // where the leader answers; "" when no answering node gave its address
}

// observeLeader reads the leader out of a refresh, as client.Leader does:
// the claim with the highest term wins, so a deposed leader cut off from
// the others loses to what the majority knows, and at equal terms a node
// speaking for itself beats a follower naming it. Unlike client.Leader it
// keeps a leader a follower names without an address, since the point
// here is who leads, not where to send requests. ok is false when no node
// answered: such a refresh says nothing about the leader.
func observeLeader(v *clusterView) (seen leaderSeen, ok bool) {
	if v.answered == 0 {
		return leaderSeen{}, false
	}
	var (
		bestSelf bool // seen is a node speaking for itself
		maxTerm  uint64
	)
	for i := range v.nodes {
		n := &v.nodes[i]
		if n.Err != nil {
			continue
		}
		st := n.Status
		maxTerm = max(maxTerm, st.Term)
		var claim leaderSeen
		self := st.State == "leader"
		switch {
		case self:
			claim = leaderSeen{known: true, id: st.ID, term: st.Term, endpoint: n.Endpoint}
		case st.Leader != nil:
			claim = leaderSeen{known: true, id: *st.Leader, term: st.Term}
			if st.LeaderHTTP != nil {
				if ep, err := client.Normalize(*st.LeaderHTTP); err == nil {
					claim.endpoint = ep
				}
			}
		default:
			continue
		}
		if !seen.known || claim.term > seen.term || claim.term == seen.term && self && !bestSelf {
			seen, bestSelf = claim, self
		}
	}
	if !seen.known {
		seen.term = maxTerm
	}
	return seen, true
}

func (s leaderSeen) name() string {
	if !s.known {
		return "none"
	}
	return fmt.Sprintf("node %d", s.id)
}

// leaderChange is a change of leader or term between two refreshes.
type leaderChange struct {
	at       time.Time // when the refresh that saw it started
	from, to leaderSeen
}

// compareLeaders returns the change from prev to cur, if any.
func compareLeaders(prev, cur leaderSeen, at time.Time) (leaderChange, bool) {
	if prev.known == cur.known && prev.id == cur.id && prev.term == cur.term {
		return leaderChange{}, false
	}
	return leaderChange{at: at, from: prev, to: cur}, true
}

// text says what changed in one line, e.g.
// "leader changed: node 1 -> node 2 (term 3 -> 4)".
func (c leaderChange) text() string {
	terms := fmt.Sprintf("term %d -> %d", c.from.term, c.to.term)
	if c.from.term == c.to.term {
		terms = fmt.Sprintf("term %d", c.to.term)
	}
	switch {
	case c.from.known != c.to.known || c.from.id != c.to.id:
		return fmt.Sprintf("leader changed: %s -> %s (%s)", c.from.name(), c.to.name(), terms)
	case c.to.known:
		// Re-elected, or a change of leader and back between two refreshes.
		return fmt.Sprintf("term changed: node %d leads again (%s)", c.to.id, terms)
	default:
		return fmt.Sprintf("term changed: still no leader (%s)", terms)
	}
}

// json describes the change for -o json.
func (c leaderChange) json() jsonObject {
	id := func(s leaderSeen) any {
		if !s.known {
			return nil
		}
		return s.id
	}
	return jsonObject{{"from", id(c.from)}, {"to", id(c.to)}, {"from_term", c.from.term}, {"to_term", c.to.term},
		{"text", c.text()}}
}
