package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/raftkv/raftkv/raft/wire"
)

// An EntryConfChange entry carries a whole Membership (JSON), the one that
// holds from that entry on. A node uses the latest one in its log, whether
// committed or not (Ongaro's thesis §4.1): the leader adopts a change the
// moment it appends it, which is what makes one change at a time safe
// without joint consensus, since any majority of the old voters and any of
// the new overlap when they differ by a single voter.

// Member is one node of the cluster as the log records it.
type Member struct {
	ID       wire.NodeID `json:"id"`
	RaftAddr string      `json:"raft_addr,omitempty"`
	HTTPAddr string      `json:"http_addr,omitempty"`
	Learner  bool        `json:"learner,omitempty"`
	// Incarnation names one life of the node's data directory (random,
	// made when it was created); 0 for bootstrap members, whose data
	// predates the record. A node wiped and added back under its old id is
	// a new incarnation, so it never acts on a configuration that named
	// the old one, which may have voted in terms it knows nothing of.
	Incarnation uint64 `json:"incarnation,omitempty"`
}

// Role names the member's part in the cluster for operators.
func (m Member) Role() string {
	if m.Learner {
		return "learner"
	}
	return "voter"
}

// Membership is the cluster's configuration: its members sorted by id.
type Membership struct {
	Members []Member `json:"members"`
	// ClusterID names the cluster (0 until the first change is made: the
	// leader that makes it picks one). Transports drop frames that name
	// another cluster, so two clusters sharing addresses never mix.
	ClusterID uint64 `json:"cluster_id,omitempty"`
}

// NewMembership builds a membership of voters with no addresses, the way a
// test or a bootstrap from ids alone needs it.
func NewMembership(voters ...wire.NodeID) Membership {
	var m Membership
	for _, id := range voters {
		m.Members = append(m.Members, Member{ID: id})
	}
	m.sort()
	return m
}

func (m *Membership) sort() {
	slices.SortFunc(m.Members, func(a, b Member) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
}

// Clone returns a copy that shares nothing with m.
func (m Membership) Clone() Membership {
	return Membership{Members: slices.Clone(m.Members), ClusterID: m.ClusterID}
}

// Get returns the member with id.
func (m Membership) Get(id wire.NodeID) (Member, bool) {
	for _, mb := range m.Members {
		if mb.ID == id {
			return mb, true
		}
	}
	return Member{}, false
}

// Contains reports whether id is a member, voter or learner.
func (m Membership) Contains(id wire.NodeID) bool { _, ok := m.Get(id); return ok }

// IsVoter reports whether id is a voting member.
func (m Membership) IsVoter(id wire.NodeID) bool { mb, ok := m.Get(id); return ok && !mb.Learner }

// IDs returns every member's id, sorted.
func (m Membership) IDs() []wire.NodeID {
	ids := make([]wire.NodeID, len(m.Members))
	for i, mb := range m.Members {
		ids[i] = mb.ID
	}
	return ids
}

// Voters returns the voting members' ids, sorted.
func (m Membership) Voters() []wire.NodeID {
	var ids []wire.NodeID
	for _, mb := range m.Members {
		if !mb.Learner {
			ids = append(ids, mb.ID)
		}
	}
	return ids
}

// Equal reports whether m and o name the same members in the same roles
// at the same addresses.
func (m Membership) Equal(o Membership) bool {
	return m.ClusterID == o.ClusterID && slices.Equal(m.Members, o.Members)
}

// EncodeMembership is the payload of an EntryConfChange and of a
// snapshot's membership record.
func EncodeMembership(m Membership) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("raft: encode membership: %v", err)) // plain structs cannot fail
	}
	return b
}

// DecodeMembership parses what EncodeMembership produced and checks it.
func DecodeMembership(b []byte) (Membership, error) {
	var m Membership
	if err := json.Unmarshal(b, &m); err != nil {
		return Membership{}, fmt.Errorf("raft: decode membership: %w", err)
	}
	m.sort()
	for i := 1; i < len(m.Members); i++ {
		if m.Members[i].ID == m.Members[i-1].ID {
			return Membership{}, fmt.Errorf("raft: decode membership: node %d listed twice", m.Members[i].ID)
		}
	}
	return m, nil
}

// ConfChangeType is the kind of one membership change.
type ConfChangeType uint8

const (
	ConfAddLearner ConfChangeType = iota + 1 // add a node that receives the log but does not vote
	ConfPromote                              // make a caught-up learner a voter
	ConfRemove                               // take a member out (the leader too)
	// ConfRecordIncarnation records the incarnation of a member that has
	// none (a bootstrap member, named in config.json before its data
	// directory existed), so that a wiped copy of it is told apart.
	ConfRecordIncarnation
)

func (t ConfChangeType) String() string {
	switch t {
	case ConfAddLearner:
		return "add-learner"
	case ConfPromote:
		return "promote"
	case ConfRemove:
		return "remove"
	case ConfRecordIncarnation:
		return "record-incarnation"
	}
	return "unknown"
}

// ConfChange asks for one membership change. Member.ID names the node;
// the addresses matter only to ConfAddLearner.
type ConfChange struct {
	Type   ConfChangeType
	Member Member
}

// Why a membership change was refused. The HTTP layer maps them to status
// codes, so each names one reason.
var (
	ErrConfChangeInFlight = errors.New("raft: another membership change is not yet committed")
	// ErrConfChangeTooEarly: a new leader takes no change before an entry
	// of its own term committed, or a change could be lost in a way that
	// lets two leaders be elected (the 2015 single-server-change bug).
	ErrConfChangeTooEarly = errors.New("raft: the leader has not yet committed an entry of its term; retry shortly")
	ErrMemberExists       = errors.New("raft: member already exists")
	ErrNoSuchMember       = errors.New("raft: no such member")
	ErrLastVoter          = errors.New("raft: cannot remove the last voter")
	ErrNotLearner         = errors.New("raft: member is already a voter")
	ErrLearnerBehind      = errors.New("raft: learner is not caught up")
	ErrBadMember          = errors.New("raft: bad member")
	// ErrIncarnationRecorded: the member already has that incarnation (a
	// retried ConfRecordIncarnation).
	ErrIncarnationRecorded = errors.New("raft: incarnation already recorded")
)

// LearnerBehindError says how far a learner lags, so the operator can wait.
type LearnerBehindError struct {
	ID           wire.NodeID
	Match, Last  uint64
	RecentlySeen bool
}

func (e *LearnerBehindError) Error() string {
	if !e.RecentlySeen {
		return fmt.Sprintf("raft: learner %d has not been heard from recently (it has %d of %d entries)", e.ID, e.Match, e.Last)
	}
	return fmt.Sprintf("raft: learner %d is %d entries behind (it has %d of %d)", e.ID, e.Last-e.Match, e.Match, e.Last)
}

func (e *LearnerBehindError) Unwrap() error { return ErrLearnerBehind }

// CheckMember validates a new member's fields: addresses must be given and
// well formed (raft as tcp://host:port, http as host:port), id not None.
func CheckMember(mb Member) error {
	if mb.ID == wire.None {
		return fmt.Errorf("%w: id %d is reserved", ErrBadMember, mb.ID)
	}
	raft, ok := strings.CutPrefix(mb.RaftAddr, "tcp://")
	if !ok {
		return fmt.Errorf("%w: raft_addr %q must look like tcp://host:port", ErrBadMember, mb.RaftAddr)
	}
	for _, a := range []struct{ name, v string }{{"raft_addr", raft}, {"http_addr", mb.HTTPAddr}} {
		if _, port, err := net.SplitHostPort(a.v); err != nil || port == "" {
			return fmt.Errorf("%w: %s %q must be host:port", ErrBadMember, a.name, a.v)
		}
	}
	return nil
}

// apply returns the membership after cc, or why cc cannot be applied.
// Lag checks are the core's: they need the leader's progress.
func (m Membership) apply(cc ConfChange) (Membership, error) {
	out := m.Clone()
	cur, exists := m.Get(cc.Member.ID)
	switch cc.Type {
	case ConfAddLearner:
		if exists {
			return m, fmt.Errorf("%w: node %d", ErrMemberExists, cc.Member.ID)
		}
		if err := CheckMember(cc.Member); err != nil {
			return m, err
		}
		for _, o := range m.Members {
			if o.RaftAddr == cc.Member.RaftAddr || o.HTTPAddr == cc.Member.HTTPAddr {
				return m, fmt.Errorf("%w: node %d already uses that address", ErrMemberExists, o.ID)
			}
		}
		nm := cc.Member
		nm.Learner = true
		out.Members = append(out.Members, nm)
		out.sort()
	case ConfPromote:
		if !exists {
			return m, fmt.Errorf("%w: node %d", ErrNoSuchMember, cc.Member.ID)
		}
		if !cur.Learner {
			return m, fmt.Errorf("%w: node %d", ErrNotLearner, cc.Member.ID)
		}
		for i := range out.Members {
			if out.Members[i].ID == cur.ID {
				out.Members[i].Learner = false
			}
		}
	case ConfRemove:
		if !exists {
			return m, fmt.Errorf("%w: node %d", ErrNoSuchMember, cc.Member.ID)
		}
		if !cur.Learner && len(m.Voters()) == 1 {
			return m, ErrLastVoter
		}
		out.Members = slices.DeleteFunc(out.Members, func(o Member) bool { return o.ID == cur.ID })
	case ConfRecordIncarnation:
		switch {
		case !exists:
			return m, fmt.Errorf("%w: node %d", ErrNoSuchMember, cc.Member.ID)
		case cc.Member.Incarnation == 0:
			return m, fmt.Errorf("%w: incarnation 0 is \"unknown\"", ErrBadMember)
		case cur.Incarnation == cc.Member.Incarnation:
			return m, fmt.Errorf("%w: node %d already has incarnation %d", ErrIncarnationRecorded, cur.ID, cur.Incarnation)
		case cur.Incarnation != 0:
			return m, fmt.Errorf("%w: node %d is recorded with incarnation %d, not %d: its data directory was replaced",
				ErrMemberExists, cur.ID, cur.Incarnation, cc.Member.Incarnation)
		}
		for i := range out.Members {
			if out.Members[i].ID == cur.ID {
				out.Members[i].Incarnation = cc.Member.Incarnation
			}
		}
	default:
		return m, fmt.Errorf("%w: unknown change type %d", ErrBadMember, cc.Type)
	}
	return out, nil
}
