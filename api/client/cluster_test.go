package client

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func u64(v uint64) *uint64 { return &v }
func str(s string) *string { return &s }

func TestLeaderOf(t *testing.T) {
	down := errors.New("connection refused")
	node := func(ep, state string, id, term uint64, leader *uint64, leaderHTTP *string) NodeStatus {
		return NodeStatus{Endpoint: ep, Status: Status{ID: id, State: state, Term: term, Leader: leader, LeaderHTTP: leaderHTTP}}
	}
	tests := []struct {
		name    string
		nodes   []NodeStatus
		want    LeaderInfo
		wantErr error
	}{
		{"leader answers for itself",
			[]NodeStatus{
				node("http://a:1", "follower", 0, 3, u64(1), str("b:1")),
				node("http://b:1", "leader", 1, 3, u64(1), str("b:1")),
			},
			LeaderInfo{ID: 1, Term: 3, Endpoint: "http://b:1"}, nil},
		{"leader asked under another name keeps that name",
			[]NodeStatus{
				node("http://localhost:1", "leader", 1, 3, u64(1), str("127.0.0.1:1")),
				node("http://a:1", "follower", 0, 3, u64(1), str("127.0.0.1:1")),
			},
			LeaderInfo{ID: 1, Term: 3, Endpoint: "http://localhost:1"}, nil},
		{"leader missing from the list, named by a follower",
			[]NodeStatus{
				node("http://a:1", "follower", 0, 5, u64(2), str("c:1")),
				{Endpoint: "http://b:1", Err: down},
			},
			LeaderInfo{ID: 2, Term: 5, Endpoint: "http://c:1"}, nil},
		{"deposed leader loses to the higher term",
			[]NodeStatus{
				node("http://a:1", "leader", 0, 4, u64(0), str("a:1")),
				node("http://b:1", "follower", 1, 6, u64(2), str("c:1")),
			},
			LeaderInfo{ID: 2, Term: 6, Endpoint: "http://c:1"}, nil},
		{"two self-declared leaders: the higher term",
			[]NodeStatus{
				node("http://a:1", "leader", 0, 7, u64(0), str("a:1")),
				node("http://b:1", "leader", 1, 4, u64(1), str("b:1")),
			},
			LeaderInfo{ID: 0, Term: 7, Endpoint: "http://a:1"}, nil},
		{"a follower reached over https names an https leader",
			[]NodeStatus{node("https://a:1", "follower", 0, 5, u64(2), str("c:1"))},
			LeaderInfo{ID: 2, Term: 5, Endpoint: "https://c:1"}, nil},
		{"unusable leader address is ignored",
			[]NodeStatus{node("http://a:1", "follower", 0, 2, u64(1), str("ftp://x:1"))},
			LeaderInfo{}, ErrNoLeader},
		{"election under way",
			[]NodeStatus{
				node("http://a:1", "candidate", 0, 9, nil, nil),
				node("http://b:1", "follower", 1, 9, nil, nil),
			},
			LeaderInfo{}, ErrNoLeader},
		{"nobody answers",
			[]NodeStatus{{Endpoint: "http://a:1", Err: down}, {Endpoint: "http://b:1", Err: down}},
			LeaderInfo{}, ErrUnavailable},
		{"no endpoints", nil, LeaderInfo{}, ErrNoLeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := leaderOf(tt.nodes)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("leaderOf = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestStatusAllAndLeader(t *testing.T) {
	fake := newFakeKV() // says it is leader 2 in term 9
	srv := newServer(t, fake)
	dead := deadAddr(t)
	c := newClient(t, 2*time.Second, dead, srv.URL)

	nodes := c.StatusAll(context.Background())
	if len(nodes) != 2 {
		t.Fatalf("%d answers, want 2", len(nodes))
	}
	if nodes[0].Endpoint != "http://"+dead || nodes[0].Err == nil {
		t.Errorf("dead endpoint: %+v", nodes[0])
	}
	if nodes[1].Endpoint != srv.URL || nodes[1].Err != nil || nodes[1].Status.ID != 2 {
		t.Errorf("live endpoint: %+v", nodes[1])
	}

	li, err := c.Leader(context.Background())
	if err != nil || li != (LeaderInfo{ID: 2, Term: 9, Endpoint: srv.URL}) {
		t.Fatalf("Leader = %+v, %v", li, err)
	}

	_, err = newClient(t, time.Second, dead).Leader(context.Background())
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Leader with every endpoint down: %v, want ErrUnavailable", err)
	}
}

// TestAtHasNoFailover checks that PutAt and GetAt report the named
// endpoint's failure instead of moving on, and do not move Current.
func TestAtHasNoFailover(t *testing.T) {
	var hits atomic.Int64
	unavailable := newServer(t, statusHandler(http.StatusServiceUnavailable, &hits))
	good := newFakeKV()
	goodSrv := newServer(t, good)
	c := newClient(t, 2*time.Second, goodSrv.URL, unavailable.URL)
	ctx := context.Background()

	if _, err := c.PutAt(ctx, unavailable.URL, "k", []byte("v")); err == nil {
		t.Fatal("PutAt a 503 endpoint succeeded")
	} else {
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.Status != 503 || errors.Is(err, ErrUnavailable) {
			t.Errorf("PutAt error %v, want the bare 503", err)
		}
	}
	if good.hits.Load() != 0 {
		t.Error("PutAt went to another endpoint")
	}
	if _, err := c.GetAt(ctx, "http://"+deadAddr(t), "k", ""); err == nil || retryable(err) == false {
		t.Errorf("GetAt a dead endpoint: %v, want a dial error", err)
	}

	idx, err := c.PutAt(ctx, goodSrv.URL, "k", []byte("v"))
	if err != nil || idx != 1 {
		t.Fatalf("PutAt = %d, %v", idx, err)
	}
	v, err := c.GetAt(ctx, goodSrv.URL, "k", "stale")
	if err != nil || string(v) != "v" {
		t.Fatalf("GetAt = %q, %v", v, err)
	}
	if q := good.last.URL.RawQuery; q != "consistency=stale" {
		t.Errorf("GetAt sent query %q", q)
	}
	if _, err := c.GetAt(ctx, goodSrv.URL, "absent", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetAt absent key: %v", err)
	}
	if _, err := c.PutAt(ctx, "ftp://x:1", "k", nil); err == nil {
		t.Error("PutAt accepted a bad endpoint")
	}
	if c.Current() != goodSrv.URL {
		t.Errorf("Current = %s after At calls, want %s", c.Current(), goodSrv.URL)
	}
}

func TestCurrentFollowsFailover(t *testing.T) {
	good := newServer(t, newFakeKV())
	dead := deadAddr(t)
	c := newClient(t, 2*time.Second, dead, good.URL)
	if c.Current() != "http://"+dead {
		t.Fatalf("Current before any call = %s", c.Current())
	}
	if _, err := c.Put(context.Background(), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if c.Current() != good.URL {
		t.Fatalf("Current after failover = %s, want %s", c.Current(), good.URL)
	}
}

func TestConnsPerHost(t *testing.T) {
	for _, tt := range []struct {
		n, want int
	}{{0, 256}, {-3, 256}, {1, 1}, {64, 64}, {1000, 1000}} {
		c, err := New([]string{"a:1", "b:1"}, time.Second, WithConnsPerHost(tt.n))
		if err != nil {
			t.Fatal(err)
		}
		tr := c.http.Transport.(*http.Transport)
		if tr.MaxIdleConnsPerHost != tt.want || tr.MaxIdleConns != 3*tt.want {
			t.Errorf("WithConnsPerHost(%d): per host %d, total %d; want %d, %d",
				tt.n, tr.MaxIdleConnsPerHost, tr.MaxIdleConns, tt.want, 3*tt.want)
		}
		c.Close()
	}
}

func TestNormalizeExported(t *testing.T) {
	if got, err := Normalize("127.0.0.1:8000"); err != nil || got != "http://127.0.0.1:8000" {
		t.Errorf("Normalize = %q, %v", got, err)
	}
	if _, err := Normalize("http://h:1/path"); err == nil {
		t.Error("Normalize accepted a path")
	}
}
