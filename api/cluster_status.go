package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// peerStatusTimeout bounds each peer's answer in a cluster status: a
// dashboard refreshes twice a second and must show a dead node as down
// well within one.
const peerStatusTimeout = 400 * time.Millisecond

// clusterStatusBody is the JSON of GET /v1/status?all=1 and of the
// dashboard's status events.
type clusterStatusBody struct {
	Nodes []clusterNode `json:"nodes"`
}

// clusterNode is one node as this node sees it: its own status when it
// answered, else only its id, address and the error.
type clusterNode struct {
	ID uint64 `json:"id"`
	// The node's /v1/status fields; nil (and left out) when it is down.
	// Its own "id" is shadowed by the one above, which always shows.
	*statusBody
	HTTPAddr string `json:"http_addr"`
	Role     string `json:"role"` // voter, learner, or removed (this node, no longer a member)
	Up       bool   `json:"up"`
	Error    string `json:"error,omitempty"`
	// WriteLatency is sent to dashboards only (status?detail=1).
	WriteLatency *latencyWindow `json:"write_latency,omitempty"`

	events []raftEvent // the node's recent Raft events, for the hub's timeline
}

// detailBody is GET /v1/status?detail=1: the status plus what a peer's
// dashboard needs of this node. Plain /v1/status stays as it was.
type detailBody struct {
	statusBody
	Events       []raftEvent    `json:"events"`
	WriteLatency *latencyWindow `json:"write_latency"`
}

// handleClusterStatus answers GET /v1/status?all=1.
func (s *Server) handleClusterStatus(c *gin.Context) {
	c.JSON(http.StatusOK, s.clusterStatus(c.Request.Context(), false))
}

// clusterStatus asks every peer for its status, in parallel, and returns
// every node's in id order. detail adds what the dashboard needs.
func (s *Server) clusterStatus(ctx context.Context, detail bool) clusterStatusBody {
	m := s.cons.Status().Membership
	ids := m.IDs()
	if !m.Contains(s.opts.NodeID) {
		// Not (or no longer) a member, but still serving: show it too.
		ids = append(ids, s.opts.NodeID)
		slices.Sort(ids)
	}
	out := clusterStatusBody{Nodes: make([]clusterNode, len(ids))}
	var wg sync.WaitGroup
	for i, id := range ids {
		mb, ok := m.Get(id)
		addr, role := s.routeHTTP(mb), mb.Role()
		if !ok {
			role = "removed"
		}
		if id == s.opts.NodeID {
			st := s.localStatus()
			n := clusterNode{ID: id, statusBody: &st, HTTPAddr: addr, Role: role, Up: true}
			if detail {
				lat := s.writeLatency.window(time.Now())
				n.WriteLatency = &lat
				// Its events reach the hub straight from the recorder.
			}
			out.Nodes[i] = n
			continue
		}
		wg.Go(func() {
			out.Nodes[i] = s.peerStatus(ctx, id, addr, detail)
			out.Nodes[i].Role = role
		})
	}
	wg.Wait()
	return out
}

// peerStatus fetches one peer's status; a failure is a down node, not an
// error.
func (s *Server) peerStatus(ctx context.Context, id uint64, addr string, detail bool) clusterNode {
	n := clusterNode{ID: id, HTTPAddr: addr}
	body, err := s.fetchStatus(ctx, addr, detail)
	switch {
	case err != nil:
		n.Error = err.Error()
	case body.ID != id:
		n.Error = fmt.Sprintf("%s answered as node %d", addr, body.ID)
	default:
		n.Up, n.statusBody = true, &body.statusBody
		if detail {
			n.WriteLatency, n.events = body.WriteLatency, body.Events
		}
	}
	return n
}

func (s *Server) fetchStatus(ctx context.Context, addr string, detail bool) (*detailBody, error) {
	ctx, cancel := context.WithTimeout(ctx, peerStatusTimeout)
	defer cancel()
	target := s.peerScheme() + "://" + addr + "/v1/status"
	if detail {
		target += "?detail=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, fmt.Errorf("bad address %q: %w", addr, err)
	}
	s.nodeCredentials(req)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, shortNetError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // keep the connection reusable
		return nil, fmt.Errorf("status answered %s", resp.Status)
	}
	var body detailBody
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return nil, fmt.Errorf("decode status: %w", err)
	}
	return &body, nil
}

// shortNetError drops the "Get "http://...": " prefix a dashboard card has
// no room for (the card shows the address already).
func shortNetError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %v", peerStatusTimeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
