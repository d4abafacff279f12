package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
)

// errorBody is the JSON shape of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

func abortError(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, errorBody{Error: msg})
}

// abortUnavailable answers 503 with Retry-After: the request was not applied
// and the client may retry it, here or elsewhere, in a second.
func abortUnavailable(c *gin.Context, msg string) {
	c.Header("Retry-After", "1")
	abortError(c, http.StatusServiceUnavailable, msg)
}

// abortConsensusError maps an error from Propose or ReadIndex (other than
// *core.NotLeaderError on a write, which is forwarded) to a status.
// what names the operation for the message ("write", "read").
func (s *Server) abortConsensusError(c *gin.Context, what string, err error) {
	var notLeader *core.NotLeaderError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		msg := what + " did not complete within " + s.opts.RequestTimeout.String()
		if what == "write" {
			// Not a "no": the entry may still commit later.
			msg += " (it may still be applied)"
		}
		abortError(c, http.StatusGatewayTimeout, msg)
	case errors.Is(err, core.ErrNoLeader), errors.As(err, &notLeader):
		abortUnavailable(c, "no leader: "+err.Error())
	case errors.Is(err, raft.ErrProposalUnknown):
		abortError(c, http.StatusGatewayTimeout, what+" outcome unknown: "+err.Error()+" (it may have been applied)")
	case errors.Is(err, core.ErrProposalDropped):
		abortUnavailable(c, err.Error())
	case errors.Is(err, raft.ErrStopped):
		abortUnavailable(c, "node is shutting down")
	case errors.Is(err, context.Canceled):
		// The client went away (or the server is closing); nobody reads this.
		abortUnavailable(c, "request canceled")
	default:
		s.log.Error("consensus failed", "op", what, "err", err)
		abortError(c, http.StatusInternalServerError, what+" failed: "+err.Error())
	}
}
