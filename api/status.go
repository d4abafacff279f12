package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// statusBody is the JSON of GET /v1/status.
type statusBody struct {
	ID    uint64 `json:"id"`
	State string `json:"state"`
	Term  uint64 `json:"term"`
	// Leader and LeaderHTTP are null while no leader is known.
	Leader       *uint64 `json:"leader"`
	LeaderHTTP   *string `json:"leader_http"`
	CommitIndex  uint64  `json:"commit_index"`
	AppliedIndex uint64  `json:"applied_index"`
	LastLogIndex uint64  `json:"last_log_index"`
	// The log on disk: what it still holds and the snapshot behind it.
	FirstLogIndex uint64       `json:"first_log_index"`
	SnapshotIndex uint64       `json:"snapshot_index"`
	SnapshotTerm  uint64       `json:"snapshot_term"`
	LogBytes      int64        `json:"log_bytes"`
	Peers         []peerStatus `json:"peers"`
	// The membership in this node's log (committed or not) and the index
	// of the entry that set it (0: the bootstrap one).
	ConfigIndex uint64       `json:"config_index"`
	Members     []memberBody `json:"members"`
}

type peerStatus struct {
	ID         uint64 `json:"id"`
	MatchIndex uint64 `json:"match_index"`
}

// stateName folds PreCandidate into "candidate": operators care that an
// election is under way, not which phase of it.
func stateName(r core.Role) string {
	switch r {
	case core.PreCandidate, core.Candidate:
		return "candidate"
	}
	return r.String()
}

// handleStatus answers GET /v1/status: this node's status; with ?all=1,
// every node's (see clusterStatus); with ?detail=1, also what a peer's
// dashboard needs (recent Raft events, write latency).
func (s *Server) handleStatus(c *gin.Context) {
	all, ok := boolQuery(c, "all")
	if !ok {
		return
	}
	detail, ok := boolQuery(c, "detail")
	if !ok {
		return
	}
	if all {
		s.handleClusterStatus(c)
		return
	}
	if detail {
		s.events.start(s.cons)
		lat := s.writeLatency.window(time.Now())
		c.JSON(http.StatusOK, detailBody{statusBody: s.localStatus(),
			Events: s.events.recent(peerEvents), WriteLatency: &lat})
		return
	}
	c.JSON(http.StatusOK, s.localStatus())
}

func (s *Server) localStatus() statusBody {
	st := s.cons.Status()
	out := statusBody{
		ID:            st.ID,
		State:         stateName(st.Role),
		Term:          st.Term,
		CommitIndex:   st.CommitIndex,
		AppliedIndex:  st.AppliedIndex,
		LastLogIndex:  st.LastLogIndex,
		FirstLogIndex: st.FirstIndex,
		SnapshotIndex: st.Snapshot.Index,
		SnapshotTerm:  st.Snapshot.Term,
		LogBytes:      st.LogBytes,
		Peers:         make([]peerStatus, 0, len(st.Peers)),
		ConfigIndex:   st.ConfigIndex,
		Members:       newMembersBody(st.Membership, st.ConfigIndex).Members,
	}
	if st.Leader != wire.None {
		leader := st.Leader
		out.Leader = &leader
		if addr, ok := s.memberHTTP(leader); ok {
			out.LeaderHTTP = &addr
		}
	}
	for _, p := range st.Peers {
		out.Peers = append(out.Peers, peerStatus{ID: p.ID, MatchIndex: p.MatchIndex})
	}
	return out
}

// boolQuery parses an optional boolean query parameter (absent: false;
// "1", "true"...: see strconv.ParseBool), or answers 400.
func boolQuery(c *gin.Context, name string) (bool, bool) {
	raw, ok := c.GetQuery(name)
	if !ok {
		return false, true
	}
	if raw == "" {
		return true, true // "?all" alone reads as asking for it
	}
	v, err := strconv.ParseBool(raw)
	if err != nil {
		abortError(c, http.StatusBadRequest, fmt.Sprintf("%s=%q: want 1 or 0", name, raw))
		return false, false
	}
	return v, true
}
