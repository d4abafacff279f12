package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/raft"
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
}

type peerStatus struct {
	ID         uint64 `json:"id"`
	MatchIndex uint64 `json:"match_index"`
}

// stateName folds PreCandidate into "candidate": operators care that an
// election is under way, not which phase of it.
func stateName(r raft.Role) string {
	switch r {
	case raft.PreCandidate, raft.Candidate:
		return "candidate"
	}
	return r.String()
}

func (s *Server) handleStatus(c *gin.Context) {
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
	}
	if st.Leader != raft.None {
		leader := st.Leader
		out.Leader = &leader
		if addr, ok := s.opts.PeerHTTP[leader]; ok {
			out.LeaderHTTP = &addr
		}
	}
	for _, p := range st.Peers {
		out.Peers = append(out.Peers, peerStatus{ID: p.ID, MatchIndex: p.MatchIndex})
	}
	c.JSON(http.StatusOK, out)
}
