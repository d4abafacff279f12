package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Member is one node of the cluster's membership.
type Member struct {
	ID          uint64 `json:"id"`
	RaftAddr    string `json:"raft_addr"`
	HTTPAddr    string `json:"http_addr"`
	Role        string `json:"role"`                  // "voter" or "learner"
	Incarnation uint64 `json:"incarnation,omitempty"` // of its data directory, once recorded
}

// Members is the membership and the log index of the entry that set it.
type Members struct {
	ClusterID   string   `json:"cluster_id,omitempty"` // hex, once the first change named the cluster
	ConfigIndex uint64   `json:"config_index"`
	Members     []Member `json:"members"`
}

// NewMember names a node to add; Incarnation is the joining node's data
// directory's (0 when an operator adds it by hand).
type NewMember struct {
	ID          uint64 `json:"id"`
	RaftAddr    string `json:"raft_addr"`
	HTTPAddr    string `json:"http_addr"`
	Incarnation uint64 `json:"incarnation,omitempty"`
}

// Members returns the leader's membership (stale: this node's own view).
func (c *Client) Members(ctx context.Context, stale bool) (Members, error) {
	path := "/v1/cluster/members"
	if stale {
		path += "?stale=1"
	}
	out, err := c.do(ctx, http.MethodGet, path, nil, nil, true)
	if err != nil {
		return Members{}, err
	}
	return decodeMembers(out)
}

// AddMember adds a node as a learner and returns the membership once the
// change is committed. A 409 (*APIError) means the id or an address is in
// use, or another change is in flight.
func (c *Client) AddMember(ctx context.Context, m NewMember) (Members, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return Members{}, err
	}
	// Not repeatable: a retry after a lost answer would find the member
	// already there (409), which says more than a silent second success.
	return c.change(ctx, http.MethodPost, "/v1/cluster/members", body)
}

// PromoteMember makes a caught-up learner a voter. While it lags the
// answer is a 409 whose message says by how much.
func (c *Client) PromoteMember(ctx context.Context, id uint64) (Members, error) {
	return c.change(ctx, http.MethodPost, "/v1/cluster/members/"+strconv.FormatUint(id, 10)+"/promote", nil)
}

// RemoveMember takes a node out of the cluster (404 if it is not in it).
func (c *Client) RemoveMember(ctx context.Context, id uint64) (Members, error) {
	return c.change(ctx, http.MethodDelete, "/v1/cluster/members/"+strconv.FormatUint(id, 10), nil)
}

func (c *Client) change(ctx context.Context, method, path string, body []byte) (Members, error) {
	out, err := c.do(ctx, method, path, body, nil, false)
	if err != nil {
		return Members{}, err
	}
	return decodeMembers(out)
}

func decodeMembers(out []byte) (Members, error) {
	var m Members
	if err := json.Unmarshal(out, &m); err != nil || m.Members == nil {
		return Members{}, fmt.Errorf("client: member answer %q is not a member list", truncate(out))
	}
	return m, nil
}

// RecordIncarnation records the incarnation of member id's data directory
// when the membership has none (kvserver does this for bootstrap members).
// Recording the same one again succeeds.
func (c *Client) RecordIncarnation(ctx context.Context, id, incarnation uint64) error {
	body := []byte(`{"incarnation":` + strconv.FormatUint(incarnation, 10) + `}`)
	_, err := c.change(ctx, http.MethodPost, "/v1/cluster/members/"+strconv.FormatUint(id, 10)+"/incarnation", body)
	return err
}
