package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
)

const backupPath = "/v1/admin/backup"

type snapshotBody struct {
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
}

// handleSnapshot takes a snapshot of this node now and compacts its log.
func (s *Server) handleSnapshot(c *gin.Context) {
	snap, err := s.cons.SnapshotNow(c.Request.Context())
	if err != nil {
		s.abortAdminError(c, "snapshot", err)
		return
	}
	c.JSON(http.StatusOK, snapshotBody{Index: snap.Index, Term: snap.Term})
}

// handleBackup streams a fresh snapshot file from the leader: a follower
// forwards the request, so a backup always holds every acknowledged write.
func (s *Server) handleBackup(c *gin.Context) {
	if st := s.cons.Status(); st.Role != core.Leader {
		s.forward(c, st.Leader, nil)
		return
	}
	if s.opts.Snapshots == nil {
		abortError(c, http.StatusNotImplemented, "backups are not enabled on this node")
		return
	}
	snap, err := s.cons.SnapshotNow(c.Request.Context())
	if err != nil {
		s.abortAdminError(c, "backup", err)
		return
	}
	r, size, err := s.opts.Snapshots.OpenRaw(snap.Index)
	if err != nil {
		s.abortAdminError(c, "backup", fmt.Errorf("open snapshot %d: %w", snap.Index, err))
		return
	}
	defer r.Close()
	h := c.Writer.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("X-Raftkv-Snapshot-Index", strconv.FormatUint(snap.Index, 10))
	h.Set("X-Raftkv-Snapshot-Term", strconv.FormatUint(snap.Term, 10))
	c.Status(http.StatusOK)
	if _, err := io.Copy(c.Writer, r); err != nil {
		// The status is out: the client sees a short file, which the
		// snapshot's own checksum and length make it refuse.
		s.log.Warn("backup stream cut", "index", snap.Index, "err", err)
	}
}

func (s *Server) abortAdminError(c *gin.Context, what string, err error) {
	var notLeader *core.NotLeaderError
	switch {
	case errors.As(err, &notLeader), errors.Is(err, raft.ErrStopped):
		s.abortConsensusError(c, what, err)
	case errors.Is(err, c.Request.Context().Err()) && c.Request.Context().Err() != nil:
		s.abortConsensusError(c, what, err)
	default:
		s.log.Error(what+" failed", "err", err)
		abortError(c, http.StatusInternalServerError, what+" failed: "+err.Error())
	}
}
