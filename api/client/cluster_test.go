package client

import (
	"errors"
	"net/http"
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
