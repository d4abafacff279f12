package api

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// TestWithClient runs the real client against the real handler over HTTP, so
// the two agree on paths, escaping and JSON shapes, forwarding included.
func TestWithClient(t *testing.T) {
	leaderStore := newFakeStore()
	leaderNode := newLeader(leaderStore)
	leader := httptest.NewServer(newTestServer(t, Options{NodeID: 0}, leaderNode, leaderStore).Handler())
	t.Cleanup(leader.Close)

	followerNode := (&fakeNode{id: 1, leader: 0, role: core.Follower, store: leaderStore}).withMembers(map[uint64]string{0: leader.Listener.Addr().String()})
	follower := httptest.NewServer(newTestServer(t, Options{NodeID: 1}, followerNode, leaderStore).Handler())
	t.Cleanup(follower.Close)

	c, err := client.New([]string{follower.URL}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx := context.Background()

	keys := []string{"a/b", "a+b", " lead space", "100%", "\xff\x00bin", "?#&=", "/"}
	for i, k := range keys {
		idx, err := c.Put(ctx, k, []byte("v"+k))
		if err != nil || idx != uint64(i+1) {
			t.Fatalf("Put(%q) via follower = %d, %v", k, idx, err)
		}
		if _, ok := leaderStore.get(k); !ok {
			t.Fatalf("Put(%q) stored under another key: %v", k, leaderStore.data)
		}
		for _, consistency := range []string{"", "stale", "linearizable"} {
			v, err := c.Get(ctx, k, consistency)
			if err != nil || string(v) != "v"+k {
				t.Fatalf("Get(%q, %q) = %q, %v", k, consistency, v, err)
			}
		}
	}
	items, err := c.List(ctx, "", 0, "stale")
	if err != nil || len(items) != len(keys) {
		t.Fatalf("List = %d items, %v", len(items), err)
	}
	for _, it := range items {
		if string(it.Value) != "v"+it.Key {
			t.Errorf("List item %q = %q", it.Key, it.Value)
		}
	}
	if _, err := c.Delete(ctx, "a/b"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "a/b", ""); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	var apiErr *client.APIError
	if _, err := c.Get(ctx, "", ""); !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Errorf("empty key: %v", err)
	}

	st, err := c.Status(ctx, follower.URL)
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != 1 || st.State != "follower" || st.Leader == nil || *st.Leader != 0 || st.LeaderHTTP == nil ||
		*st.LeaderHTTP != leader.Listener.Addr().String() || st.Peers == nil {
		t.Errorf("Status = %+v", st)
	}

	// Membership through the follower, forwarded to the leader.
	leaderNode.withMembers(map[uint64]string{0: leader.Listener.Addr().String(), 1: "127.0.0.1:1"})
	nm := client.NewMember{ID: 2, RaftAddr: "tcp://127.0.0.1:7002", HTTPAddr: "127.0.0.1:8002", Incarnation: 5}
	if m, err := c.AddMember(ctx, nm); err != nil || len(m.Members) != 3 || m.Members[2].Role != "learner" || m.ConfigIndex == 0 {
		t.Fatalf("AddMember = %+v, %v", m, err)
	}
	if _, err := c.AddMember(ctx, nm); !errors.As(err, &apiErr) || apiErr.Status != 409 {
		t.Errorf("AddMember twice: %v", err)
	}
	if m, err := c.PromoteMember(ctx, 2); err != nil || m.Members[2].Role != "voter" {
		t.Fatalf("PromoteMember = %+v, %v", m, err)
	}
	if m, err := c.Members(ctx, false); err != nil || len(m.Members) != 3 {
		t.Fatalf("Members = %+v, %v", m, err)
	}
	if m, err := c.RemoveMember(ctx, 2); err != nil || len(m.Members) != 2 {
		t.Fatalf("RemoveMember = %+v, %v", m, err)
	}
	if _, err := c.RemoveMember(ctx, 2); !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Errorf("RemoveMember of a non-member: %v", err)
	}

	// No leader anywhere: the client reports the cluster unavailable.
	followerNode.mu.Lock()
	followerNode.leader = wire.None
	followerNode.mu.Unlock()
	if _, err := c.Put(ctx, "k", nil); !errors.Is(err, client.ErrUnavailable) {
		t.Errorf("Put with no leader: %v", err)
	}
}
