package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// memberBody is one member in GET /v1/cluster/members.
type memberBody struct {
	ID       uint64 `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr"`
	Role     string `json:"role"` // "voter" or "learner"
	// Incarnation names the life of the node's data directory the log
	// records (absent until known); kvserver compares it with its own.
	Incarnation uint64 `json:"incarnation,omitempty"`
}

// MembersBody is the answer of every /v1/cluster/members route: the
// membership (the latest in the leader's log) and its entry's index.
type membersBody struct {
	ClusterID   string       `json:"cluster_id,omitempty"` // hex; absent until the first change names the cluster
	ConfigIndex uint64       `json:"config_index"`
	Members     []memberBody `json:"members"`
}

func newMembersBody(m core.Membership, index uint64) membersBody {
	out := membersBody{ConfigIndex: index, Members: make([]memberBody, 0, len(m.Members))}
	if m.ClusterID != 0 {
		out.ClusterID = strconv.FormatUint(m.ClusterID, 16)
	}
	for _, mb := range m.Members {
		out.Members = append(out.Members, memberBody{ID: mb.ID, RaftAddr: mb.RaftAddr, HTTPAddr: mb.HTTPAddr, Role: mb.Role(), Incarnation: mb.Incarnation})
	}
	return out
}

// addMemberRequest is the body of POST /v1/cluster/members. Pointers tell
// a missing field from a zero one (node 0 is a valid id).
type addMemberRequest struct {
	ID       *uint64 `json:"id"`
	RaftAddr string  `json:"raft_addr"`
	HTTPAddr string  `json:"http_addr"`
	// Incarnation is sent by `kvserver --join`: the new data directory's,
	// so that the member the log records is that life of the node.
	Incarnation uint64 `json:"incarnation"`
}

// learnerBehindBody is the 409 of a promotion that came too early.
type learnerBehindBody struct {
	Error        string `json:"error"`
	MatchIndex   uint64 `json:"match_index"`
	LastIndex    uint64 `json:"last_index"`
	Behind       uint64 `json:"behind"`
	RecentlySeen bool   `json:"recently_seen"`
}

// handleMembers answers GET /v1/cluster/members from the leader (a
// follower forwards it), or from this node with ?stale=1.
func (s *Server) handleMembers(c *gin.Context) {
	stale, ok := boolQuery(c, "stale")
	if !ok {
		return
	}
	st := s.cons.Status()
	if !stale && st.Role != core.Leader {
		s.forward(c, st.Leader, nil)
		return
	}
	c.JSON(http.StatusOK, newMembersBody(st.Membership, st.ConfigIndex))
}

func (s *Server) handleAddMember(c *gin.Context) {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, 64<<10))
	if err != nil {
		abortError(c, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	var req addMemberRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		abortError(c, http.StatusBadRequest, `body: want {"id": N, "raft_addr": "tcp://host:port", "http_addr": "host:port"}: `+err.Error())
		return
	}
	if req.ID == nil {
		abortError(c, http.StatusBadRequest, `body: "id" is missing`)
		return
	}
	mb := core.Member{ID: *req.ID, RaftAddr: req.RaftAddr, HTTPAddr: req.HTTPAddr, Incarnation: req.Incarnation}
	if err := core.CheckMember(mb); err != nil {
		abortError(c, http.StatusBadRequest, err.Error())
		return
	}
	s.changeMembership(c, core.ConfChange{Type: core.ConfAddLearner, Member: mb}, body, http.StatusCreated)
}

func (s *Server) handlePromoteMember(c *gin.Context) {
	id, ok := memberID(c)
	if !ok {
		return
	}
	s.changeMembership(c, core.ConfChange{Type: core.ConfPromote, Member: core.Member{ID: id}}, nil, http.StatusOK)
}

func (s *Server) handleRemoveMember(c *gin.Context) {
	id, ok := memberID(c)
	if !ok {
		return
	}
	s.changeMembership(c, core.ConfChange{Type: core.ConfRemove, Member: core.Member{ID: id}}, nil, http.StatusOK)
}

// handleRecordIncarnation answers POST /v1/cluster/members/<id>/incarnation
// {"incarnation": N}: kvserver calls it once for a bootstrap member, whose
// incarnation config.json could not know, so that a wiped copy of that
// node is recognised as another node. A retry is a 200; another
// incarnation already recorded is a 409.
func (s *Server) handleRecordIncarnation(c *gin.Context) {
	id, ok := memberID(c)
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, 4096))
	if err != nil {
		abortError(c, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	var req struct {
		Incarnation uint64 `json:"incarnation"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Incarnation == 0 {
		abortError(c, http.StatusBadRequest, `body: want {"incarnation": N} with N > 0`)
		return
	}
	cc := core.ConfChange{Type: core.ConfRecordIncarnation, Member: core.Member{ID: id, Incarnation: req.Incarnation}}
	s.changeMembership(c, cc, body, http.StatusOK)
}

func memberID(c *gin.Context) (uint64, bool) {
	raw := c.Param("id")
	id, err := strconv.ParseUint(raw, 10, 64)
	if err != nil || id == wire.None {
		abortError(c, http.StatusBadRequest, fmt.Sprintf("member id %q: want a node id", raw))
		return 0, false
	}
	return id, true
}

// changeMembership proposes cc here when this node leads, or forwards the
// request (body as read) to the leader, and answers ok with the membership
// once the change is committed.
func (s *Server) changeMembership(c *gin.Context, cc core.ConfChange, body []byte, ok int) {
	m, index, err := s.cons.ChangeMembership(c.Request.Context(), cc)
	if err == nil {
		s.log.Info("membership changed", "change", cc.Type.String(), "member", cc.Member.ID, "config_index", index)
		c.JSON(ok, newMembersBody(m, index))
		return
	}
	if l, isNotLeader := notLeader(err); isNotLeader {
		s.forward(c, l, body)
		return
	}
	if errors.Is(err, core.ErrIncarnationRecorded) {
		st := s.cons.Status()
		c.JSON(ok, newMembersBody(st.Membership, st.ConfigIndex))
		return
	}
	var behind *core.LearnerBehindError
	switch {
	case errors.As(err, &behind):
		c.AbortWithStatusJSON(http.StatusConflict, learnerBehindBody{Error: err.Error(),
			MatchIndex: behind.Match, LastIndex: behind.Last, Behind: behind.Last - min(behind.Match, behind.Last),
			RecentlySeen: behind.RecentlySeen})
	case errors.Is(err, core.ErrBadMember):
		abortError(c, http.StatusBadRequest, err.Error())
	case errors.Is(err, core.ErrNoSuchMember):
		abortError(c, http.StatusNotFound, err.Error())
	case errors.Is(err, core.ErrMemberExists), errors.Is(err, core.ErrConfChangeInFlight),
		errors.Is(err, core.ErrLastVoter), errors.Is(err, core.ErrNotLearner):
		abortError(c, http.StatusConflict, err.Error())
	case errors.Is(err, core.ErrConfChangeTooEarly):
		abortUnavailable(c, err.Error())
	default:
		s.abortConsensusError(c, "membership change", err)
	}
}

// memberHTTP is where this node reaches member id's HTTP API: the address
// the membership records, unless a route overrides it.
func (s *Server) memberHTTP(id uint64) (string, bool) {
	mb, ok := s.cons.Status().Membership.Get(id)
	if !ok {
		return "", false
	}
	return s.routeHTTP(mb), true
}

func (s *Server) routeHTTP(mb core.Member) string {
	if r, ok := s.opts.HTTPRoutes[mb.ID]; ok {
		return r
	}
	return mb.HTTPAddr
}
