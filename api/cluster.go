package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// transferRequest is the body of POST /v1/cluster/transfer-leader; To
// absent means "the most up-to-date follower".
type transferRequest struct {
	To *uint64 `json:"to"`
}

type transferBody struct {
	Leader uint64 `json:"leader"`
}

// handleTransfer hands leadership to another node. Any node accepts it; a
// follower forwards it to the leader, like a write.
func (s *Server) handleTransfer(c *gin.Context) {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, 4096))
	if err != nil {
		abortError(c, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	var req transferRequest
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			abortError(c, http.StatusBadRequest, `body: want {"to": <node id>} or nothing: `+err.Error())
			return
		}
	}
	to := wire.None
	if req.To != nil {
		m := s.cons.Status().Membership
		if !m.Contains(*req.To) {
			abortError(c, http.StatusBadRequest, fmt.Sprintf("node %d is not a member of the cluster", *req.To))
			return
		}
		if !m.IsVoter(*req.To) {
			abortError(c, http.StatusBadRequest, fmt.Sprintf("node %d is a learner: it cannot lead", *req.To))
			return
		}
		to = *req.To
	}
	if to == s.opts.NodeID {
		st := s.cons.Status()
		if st.Role == core.Leader {
			c.JSON(http.StatusOK, transferBody{Leader: s.opts.NodeID})
			return
		}
	}
	leader, err := s.cons.TransferLeadership(c.Request.Context(), to)
	if err == nil {
		c.JSON(http.StatusOK, transferBody{Leader: leader})
		return
	}
	if l, ok := notLeader(err); ok {
		s.forward(c, l, body)
		return
	}
	if errors.Is(err, raft.ErrTransferFailed) {
		abortUnavailable(c, err.Error())
		return
	}
	s.abortConsensusError(c, "leadership transfer", err)
}
