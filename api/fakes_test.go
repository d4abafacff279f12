package api

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// fakeStore is an in-memory Store.
type fakeStore struct {
	mu   sync.Mutex // guards data and the hooks
	data map[string][]byte
	// listLimit records the limit of the last List call.
	listLimit int
	// panicOnGet makes Get panic, standing in for a bug.
	panicOnGet bool
	// sessions holds the latest applied request id of each client.
	sessions map[string][2]uint64 // client -> {seq, index}
}

func (s *fakeStore) RequestResult(client string, seq uint64) (kv.RequestOutcome, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ss, ok := s.sessions[client]; ok && ss[0] == seq {
		return kv.RequestOutcome{Index: ss[1]}, true
	}
	return kv.RequestOutcome{}, false // the fake remembers only the latest request
}

// The fake applies no conditions (conditional writes are tested against
// the real store, in conditional_test.go), so it has no outcomes.
func (s *fakeStore) Expect(uint64)                     {}
func (s *fakeStore) Forget(uint64)                     {}
func (s *fakeStore) Outcome(uint64) (kv.Outcome, bool) { return kv.Outcome{}, false }

// Nor leases (lease_test.go uses the real store).
func (s *fakeStore) Leases() map[uint64]time.Duration  { return nil }
func (s *fakeStore) Lease(uint64) (kv.LeaseInfo, bool) { return kv.LeaseInfo{}, false }

// Nor a history: watches are tested against the real store (watch_test.go).
func (s *fakeStore) HistoryRevision() uint64 { return 0 }
func (s *fakeStore) Changes(after uint64, _ func([]byte) bool, _ int) ([]kv.Event, uint64, <-chan struct{}, error) {
	return nil, after, nil, nil
}

// admit records a request id and reports whether it is new.
func (s *fakeStore) admit(client string, seq, index uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions == nil {
		s.sessions = map[string][2]uint64{}
	}
	if ss, ok := s.sessions[client]; ok && seq <= ss[0] {
		return false
	}
	s.sessions[client] = [2]uint64{seq, index}
	return true
}

func newFakeStore() *fakeStore { return &fakeStore{data: map[string][]byte{}} }

func (s *fakeStore) GetItem(key []byte) (kv.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.panicOnGet {
		panic("fakeStore: deliberate panic")
	}
	v, ok := s.data[string(key)]
	if !ok {
		return kv.Item{}, kv.ErrNotFound
	}
	return kv.Item{Key: key, Value: bytes.Clone(v)}, nil
}

func (s *fakeStore) List(prefix []byte, limit int) ([]kv.Item, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listLimit = limit
	var keys []string
	for k := range s.data {
		if strings.HasPrefix(k, string(prefix)) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if len(keys) > limit {
		keys = keys[:limit]
	}
	items := make([]kv.Item, 0, len(keys))
	for _, k := range keys {
		items = append(items, kv.Item{Key: []byte(k), Value: bytes.Clone(s.data[k])})
	}
	return items, nil
}

func (s *fakeStore) set(k string, v []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.data[k] = v
}

func (s *fakeStore) get(k string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[k]
	return v, ok
}

// fakeNode is a Consensus that applies proposals straight to its store when
// it is the leader.
type fakeNode struct {
	mu     sync.Mutex // guards every field below
	id     uint64
	leader uint64 // wire.None when unknown
	role   core.Role
	term   uint64 // 0 reads as 3
	store  *fakeStore
	index  uint64
	// proposeErr and readErr, when set, are returned instead of doing the work.
	proposeErr error
	readErr    error
	// block makes Propose and ReadIndex wait for their context to end.
	block     bool
	proposals [][]byte
	reads     int
	peers     []core.PeerStatus
	// leaseReads counts LeaseRead calls; transferErr fails transfers.
	leaseReads  int
	transferErr error
	snapErr     error // fails SnapshotNow
	// subs are the open event subscriptions; emit feeds them.
	subs map[int]chan raft.Event
	next int
	// members is the membership Status reports (see withMembers);
	// ChangeMembership edits it unless confErr is set.
	members   core.Membership
	confIndex uint64
	confErr   error
	changes   []core.ConfChange
}

// withMembers makes http (id -> "host:port") the voters of n's membership.
func (n *fakeNode) withMembers(http map[uint64]string) *fakeNode {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.members = core.Membership{}
	for id, addr := range http {
		n.members.Members = append(n.members.Members, core.Member{ID: id, RaftAddr: fmt.Sprintf("tcp://127.0.0.1:%d", 7000+id), HTTPAddr: addr})
	}
	slices.SortFunc(n.members.Members, func(a, b core.Member) int { return cmp.Compare(a.ID, b.ID) })
	return n
}

func (n *fakeNode) ChangeMembership(ctx context.Context, cc core.ConfChange) (core.Membership, uint64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.changes = append(n.changes, cc)
	if n.leader != n.id {
		return core.Membership{}, 0, &core.NotLeaderError{Leader: n.leader}
	}
	if n.confErr != nil {
		return core.Membership{}, 0, n.confErr
	}
	m := n.members.Clone()
	i := slices.IndexFunc(m.Members, func(mb core.Member) bool { return mb.ID == cc.Member.ID })
	switch {
	case cc.Type == core.ConfAddLearner && i < 0:
		mb := cc.Member
		mb.Learner = true
		m.Members = append(m.Members, mb)
		slices.SortFunc(m.Members, func(a, b core.Member) int { return cmp.Compare(a.ID, b.ID) })
	case cc.Type == core.ConfAddLearner:
		return core.Membership{}, 0, fmt.Errorf("add member: %w", core.ErrMemberExists)
	case i < 0:
		return core.Membership{}, 0, fmt.Errorf("%v member %d: %w", cc.Type, cc.Member.ID, core.ErrNoSuchMember)
	case cc.Type == core.ConfPromote:
		m.Members[i].Learner = false
	case cc.Type == core.ConfRemove:
		m.Members = slices.Delete(m.Members, i, i+1)
	case cc.Type == core.ConfRecordIncarnation && m.Members[i].Incarnation == cc.Member.Incarnation:
		return core.Membership{}, 0, fmt.Errorf("record: %w", core.ErrIncarnationRecorded)
	case cc.Type == core.ConfRecordIncarnation:
		m.Members[i].Incarnation = cc.Member.Incarnation
	}
	n.index++
	n.members, n.confIndex = m, n.index
	return m.Clone(), n.index, nil
}

func newLeader(store *fakeStore) *fakeNode {
	return &fakeNode{id: 0, leader: 0, role: core.Leader, store: store}
}

func (n *fakeNode) Propose(ctx context.Context, data []byte) (uint64, error) {
	n.mu.Lock()
	if n.block {
		n.mu.Unlock()
		<-ctx.Done()
		return 0, ctx.Err()
	}
	defer n.mu.Unlock()
	n.proposals = append(n.proposals, bytes.Clone(data))
	if n.proposeErr != nil {
		return 0, n.proposeErr
	}
	if n.leader != n.id {
		return 0, &core.NotLeaderError{Leader: n.leader}
	}
	cmd, err := kv.DecodeCommand(data)
	if err != nil {
		return 0, err
	}
	n.index++
	if cmd.Client != "" && !n.store.admit(cmd.Client, cmd.Seq, n.index) {
		return n.index, nil
	}
	switch cmd.Op {
	case kv.OpSet:
		n.store.set(string(cmd.Key), bytes.Clone(cmd.Value))
	case kv.OpDel:
		n.store.mu.Lock()
		delete(n.store.data, string(cmd.Key))
		n.store.mu.Unlock()
	}
	return n.index, nil
}

func (n *fakeNode) ReadIndex(ctx context.Context) error {
	n.mu.Lock()
	if n.block {
		n.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	defer n.mu.Unlock()
	n.reads++
	return n.readErr
}

func (n *fakeNode) LeaseRead(ctx context.Context) error {
	n.mu.Lock()
	n.leaseReads++
	n.mu.Unlock()
	return n.ReadIndex(ctx)
}

func (n *fakeNode) TransferLeadership(ctx context.Context, to uint64) (uint64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.leader != n.id {
		return 0, &core.NotLeaderError{Leader: n.leader}
	}
	if n.transferErr != nil {
		return 0, n.transferErr
	}
	if to == wire.None {
		to = n.id + 1
	}
	n.leader, n.role = to, core.Follower
	return to, nil
}

func (n *fakeNode) SnapshotNow(ctx context.Context) (core.SnapshotInfo, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.snapErr != nil {
		return core.SnapshotInfo{}, n.snapErr
	}
	return core.SnapshotInfo{Index: n.index, Term: 3}, nil
}

func (n *fakeNode) Status() core.Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	return core.Status{
		ID: n.id, Role: n.role, Term: cmp.Or(n.term, 3), Leader: n.leader,
		CommitIndex: n.index, AppliedIndex: n.index, LastLogIndex: n.index + 1,
		FirstIndex: 1, Snapshot: core.SnapshotInfo{Index: n.index / 2, Term: 2}, LogBytes: 4096,
		Peers: n.peers, Membership: n.members.Clone(), ConfigIndex: n.confIndex,
	}
}

func (n *fakeNode) Subscribe(buf int) (<-chan raft.Event, func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.subs == nil {
		n.subs = map[int]chan raft.Event{}
	}
	id := n.next
	n.next++
	ch := make(chan raft.Event, buf)
	n.subs[id] = ch
	return ch, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		delete(n.subs, id)
	}
}

// emit publishes e to every subscriber, as the Raft driver does (dropping
// it for a full channel).
func (n *fakeNode) emit(e raft.Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, ch := range n.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// subscribers is how many subscriptions are open.
func (n *fakeNode) subscribers() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.subs)
}

// setRole changes the node's role and leader, as an election would.
func (n *fakeNode) readCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reads
}

func (n *fakeNode) proposalCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.proposals)
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newTestServer builds a Server over node and store and closes it at cleanup.
func newTestServer(t testing.TB, opts Options, node Consensus, store Store) *Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	s := New(opts, node, store)
	t.Cleanup(s.Close)
	return s
}

// request is one in-process request against a handler.
type request struct {
	method, target string
	body           io.Reader
	header         map[string]string
}

func serve(t *testing.T, h http.Handler, r request) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(r.method, r.target, r.body)
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// errorMessage decodes a JSON error answer, failing the test when the body is
// not one.
func errorMessage(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("error answer has Content-Type %q, want JSON; body %q", ct, rec.Body.String())
	}
	var e struct {
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == nil || *e.Error == "" {
		t.Fatalf("error body %q is not {\"error\": \"...\"} (%v)", rec.Body.String(), err)
	}
	return *e.Error
}

func decodeIndex(t *testing.T, body []byte) uint64 {
	t.Helper()
	var b struct {
		Index *uint64 `json:"index"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Index == nil {
		t.Fatalf("body %q is not {\"index\": N} (%v)", body, err)
	}
	return *b.Index
}
