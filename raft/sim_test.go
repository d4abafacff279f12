package raft

import (
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/internal/vfs/faultfs"
	"github.com/raftkv/raftkv/internal/vfs/memfs"
	"github.com/raftkv/raftkv/logs"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

var (
	seedsFlag = flag.Int("seeds", 0, "number of seeds TestSimRandomFaults runs (0: 200, or 30 with -short)")
)

// simSegmentBytes is small so that a run rolls segments and compaction
// drops whole ones, as in production but within a few hundred entries.
const simSegmentBytes = 1024

var simQuiet = slog.New(slog.DiscardHandler)

// simNode is one core plus its disk. The log and hard state are the real
// WAL (package logs) on a memfs of the node's own, written through a
// faultfs so that a crash loses what the WAL left unsynced; a restart
// starts from what the WAL then recovers.
type simNode struct {
	core *core.Core
	mem  *memfs.FS   // the disk; it survives crashes, a wipe replaces it
	dir  string      // the log's directory: on mem, and on the host for its lock file
	disk *faultfs.FS // mem as the current run writes it; a crash ends it
	log  *logs.Log   // open on disk while the node is up
	// hard is the hard state the WAL last acknowledged, which replies are
	// checked against; a restart replaces it by what the WAL recovered.
	hard wire.HardState
	// acked is what the WAL held when the node crashed, for the restart
	// to check the recovery against; nil when the node crashed on a
	// failed write.
	acked      *simRecovery
	failed     bool              // a write failed in this run, so the WAL may hold any prefix of it
	armed      bool              // a disk fault was armed in this run (it may not have fired)
	snap       core.SnapshotInfo // the latest durable snapshot
	applied    []wire.Entry      // what the state machine applied, in order; it survives crashes
	readStates []core.ReadState
	up         bool
	joined     bool   // started empty, to join: no bootstrap membership
	incarn     uint64 // its data's incarnation; a wipe makes a new one
	checked    uint64 // the log is verified against the commit record up to here
}

// simRecovery is a log's content: its hard state and entries.
type simRecovery struct {
	hard wire.HardState
	ents []wire.Entry
}

// lastStored is the index of the last entry in the WAL (the snapshot's
// when the log is empty).
func (n *simNode) lastStored() uint64 {
	if last := n.log.LastIndex(); last > 0 {
		return last
	}
	return n.snap.Index
}

// storedHas reports whether the node's WAL holds entry e.
func (n *simNode) storedHas(e wire.Entry) bool {
	if e.Index < n.log.FirstIndex() || e.Index > n.log.LastIndex() {
		return false
	}
	got, err := n.log.Entries(e.Index, e.Index+1)
	return err == nil && got[0].Term == e.Term
}

// simMsg is a message on the simulated wire.
type simMsg struct {
	wire.Message
	at int // first step at which it may be delivered
}

// simCluster runs cores deterministically: every random choice (message
// order, drops, delays, crashes) comes from one seeded generator, so a
// failing seed replays exactly. Invariants are checked after every Ready
// and every step; a violation fails the test with the seed.
type simCluster struct {
	t        testing.TB
	seed     uint64
	rng      *rand.Rand
	nodes    []*simNode // indexed by NodeID
	ids      []wire.NodeID
	wipes    int // members wiped while still members (membership simulation)
	inflight []simMsg
	dir      string                  // on the host, below which each node's log takes its lock
	disks    int                     // disks made so far, to name their directories
	cut      map[[2]wire.NodeID]bool // directed links that drop everything
	disc     map[wire.NodeID]bool    // nodes cut off from everyone
	// Network faults. dropRate, dupRate and delayRate are per message;
	// a delayed message arrives 2..maxDelay steps late; reorder shuffles
	// what arrives in one step.
	dropRate  float64
	dupRate   float64
	delayRate float64
	maxDelay  int
	reorder   bool
	// filter, when set, sees every message about to be delivered; it may
	// edit it, and returns false to drop it.
	filter func(m *wire.Message) bool
	// midReadyCrash is the chance that a node crashes while handling a
	// Ready: after sending the messages that may go out before the fsync,
	// before anything of that Ready is durable. afterSaveCrash is the
	// chance that it crashes after the Save, before the messages that
	// wait for it (votes, acknowledgements) went out and before the
	// committed entries reached the state machine.
	midReadyCrash   float64
	afterSaveCrash  float64
	midReadyCrashes [2]int // crashes so far at sentEarly and at persisted

	cfg        func(id wire.NodeID) core.Config
	leaders    map[uint64]wire.NodeID // term -> leader, for election safety
	commits    []wire.Entry           // commits[i-1] is the committed entry at index i
	commitTerm []uint64               // lowest term in which a node was seen with that index committed
	steps      int
	msgCount   int
	msgTypes   [wire.MsgTypeEnd]int
	reads      map[uint64]*simRead // ReadIndex calls by context
	readSeq    uint64
	leaseReads int // lease reads served
	// snapshotsInstalled counts installs through MsgSnap.
	snapshotsInstalled int
	// diskFaults counts the injected disk faults that fired (armDiskFault).
	diskFaults int
	dupReads   map[uint64]bool // reads whose request or answer the network duplicated
}

// simRead is a ReadIndex call whose answer the harness checks: a
// confirmed read must not miss any entry committed before it was issued.
type simRead struct {
	node     wire.NodeID
	minIndex uint64 // entries known committed anywhere when the read was issued
	answered bool
}

func defaultSimConfig(ids []wire.NodeID, seed uint64) func(wire.NodeID) core.Config {
	return func(id wire.NodeID) core.Config {
		return core.Config{ID: id, Peers: ids, ElectionTickMin: 10, ElectionTickMax: 20, HeartbeatTick: 2,
			PreVote: true, CheckQuorum: true, LeaseTicks: 8, MaxInflight: 8, MaxMsgBytes: 4096, Seed: seed}
	}
}

func newSimCluster(t testing.TB, n int, seed uint64) *simCluster {
	return newSimClusterWith(t, n, seed, nil)
}

// newSimClusterWith lets a test adjust the default configuration.
func newSimClusterWith(t testing.TB, n int, seed uint64, adjust func(*core.Config)) *simCluster {
	ids := make([]wire.NodeID, n)
	for i := range ids {
		ids[i] = wire.NodeID(i)
	}
	s := &simCluster{t: t, seed: seed, rng: rand.New(rand.NewPCG(seed, 0x5eed)), nodes: make([]*simNode, n),
		ids: ids, cut: map[[2]wire.NodeID]bool{}, disc: map[wire.NodeID]bool{}, leaders: map[uint64]wire.NodeID{},
		reads: map[uint64]*simRead{}, dupReads: map[uint64]bool{}, dir: t.TempDir()}
	t.Cleanup(func() {
		for _, n := range s.nodes {
			n.closeLog()
		}
	})
	base := defaultSimConfig(ids, seed)
	s.cfg = func(id wire.NodeID) core.Config {
		c := base(id)
		if adjust != nil {
			adjust(&c)
		}
		if !c.CheckQuorum {
			c.LeaseTicks = 0 // leases rely on check-quorum
		}
		return c
	}
	for _, id := range ids {
		s.nodes[id] = &simNode{}
		s.start(id)
	}
	return s
}

func (s *simCluster) fatalf(format string, args ...any) {
	s.t.Helper()
	s.dump()
	name, _, _ := strings.Cut(s.t.Name(), "/")
	s.t.Fatalf("seed %d, step %d: %s (replay: go test ./raft -run '^%s$' -seed %d)", s.seed, s.steps,
		fmt.Sprintf(format, args...), name, s.seed)
}

// start (re)starts a node from its durable state, as after a crash: the
// WAL recovers its log and hard state from what the crash left on disk.
func (s *simCluster) start(id wire.NodeID) {
	n := s.nodes[id]
	if n.up {
		s.crash(id)
	}
	if n.mem == nil {
		s.disks++
		n.mem, n.dir = memfs.New(), filepath.Join(s.dir, fmt.Sprintf("node%d.%d", id, s.disks))
		if err := os.MkdirAll(n.dir, 0o755); err != nil {
			s.fatalf("node %d: %v", id, err)
		}
	}
	n.disk = faultfs.New(n.mem)
	l, err := logs.Open(n.dir, logs.Options{SegmentBytes: simSegmentBytes, FS: n.disk, Logger: simQuiet})
	if err != nil {
		s.fatalf("node %d: reopen its log after a crash: %v", id, err)
	}
	hs, ents, err := l.Load()
	if err != nil {
		s.fatalf("node %d: load its log after a crash: %v", id, err)
	}
	if w := n.acked; w != nil {
		if err := sameLog(*w, simRecovery{hs, ents}); err != nil {
			s.fatalf("node %d lost what its WAL acknowledged before the crash: %v", id, err)
		}
	}
	n.log, n.hard, n.acked, n.failed, n.armed = l, hs, nil, false, false
	applied := uint64(0)
	if len(n.applied) > 0 {
		applied = n.applied[len(n.applied)-1].Index
	}
	cfg := s.cfg(id)
	if n.joined {
		cfg.Peers, cfg.Bootstrap = nil, core.Membership{}
	}
	cfg.Incarnation = n.incarn
	st := core.InitialState{Hard: hs, Snapshot: n.snap, Entries: ents, Applied: applied}
	if n.snap.Index > 0 {
		conf := s.confAt(n.snap.Index)
		st.SnapshotConf = &conf
	}
	c, err := core.NewCoreFrom(cfg, st)
	if err != nil {
		s.fatalf("start %d: %v", id, err)
	}
	n.core, n.up, n.checked = c, true, 0
}

// sameLog reports how got differs from want.
func sameLog(want, got simRecovery) error {
	if got.hard != want.hard {
		return fmt.Errorf("hard state %+v, want %+v", got.hard, want.hard)
	}
	if len(got.ents) != len(want.ents) {
		return fmt.Errorf("%d entries, want %d", len(got.ents), len(want.ents))
	}
	for i, e := range got.ents {
		if w := want.ents[i]; e.Index != w.Index || e.Term != w.Term || e.Type != w.Type || string(e.Data) != string(w.Data) {
			return fmt.Errorf("entry %d/%d, want %d/%d", e.Index, e.Term, w.Index, w.Term)
		}
	}
	return nil
}

// crash stops a node with its volatile state, and cuts the power to its
// disk: of each file's changes since its last fsync, a seeded random
// prefix survives (with the real WAL fsyncing every Save, there are none
// between Readies).
func (s *simCluster) crash(id wire.NodeID) {
	n := s.nodes[id]
	if !n.up {
		return
	}
	n.up, n.core = false, nil
	if !n.failed {
		hs, ents, err := n.log.Load()
		if err != nil {
			s.fatalf("node %d: read its log before the crash: %v", id, err)
		}
		n.acked = &simRecovery{hs, ents}
	}
	// Crash visits the files in map order: the choice must not depend on
	// it, or a seed would not replay.
	r := s.rng.Uint64()
	keep := func(path string, changes int) int {
		h := fnv.New64a()
		h.Write([]byte(path))
		return int((h.Sum64() ^ r) % uint64(changes+1))
	}
	if err := n.disk.Crash(keep); err != nil {
		s.fatalf("node %d: crash its disk: %v", id, err)
	}
	n.closeLog()
}

// armDiskFault makes one of the next few writes or fsyncs on node id's
// disk fail, or tears a write.
func (s *simCluster) armDiskFault(id wire.NodeID) {
	n := s.nodes[id]
	if !n.up {
		return
	}
	n.armed = true
	at := 1 + s.rng.IntN(3)
	switch s.rng.IntN(3) {
	case 0:
		n.disk.FailNth(faultfs.OpWrite, at, nil)
	case 1:
		n.disk.FailNth(faultfs.OpSync, at, nil)
	default:
		n.disk.TearNth(at, s.rng.IntN(64), nil)
	}
}

// disarmDiskFaults power-cycles every node with a disk fault still armed,
// which brings it back on a healthy disk: once the faults stop, the
// cluster must converge.
func (s *simCluster) disarmDiskFaults() {
	for _, id := range s.ids {
		if n := s.nodes[id]; n.up && n.armed {
			s.start(id)
		}
	}
}

// diskFailed reports whether err is an injected disk fault, and if so
// crashes the node: the driver stops a node whose log fails to write (its
// page cache no longer says what is on disk), and a restart is the way back.
func (s *simCluster) diskFailed(id wire.NodeID, err error) bool {
	if !errors.Is(err, faultfs.ErrInjected) {
		return false
	}
	s.diskFaults++
	s.nodes[id].failed = true
	s.crash(id)
	return true
}

// closeLog lets go of the log's files and directory lock.
func (n *simNode) closeLog() {
	if n.log != nil {
		_ = n.log.Close() // after a crash its files are past saving
		n.log = nil
	}
}

func (s *simCluster) restartAll() {
	for _, id := range s.ids {
		if !s.nodes[id].up {
			s.start(id)
		}
	}
}

// isolate cuts every link to and from id.
func (s *simCluster) isolate(id wire.NodeID) {
	for _, o := range s.ids {
		if o != id {
			s.cut[[2]wire.NodeID{id, o}] = true
			s.cut[[2]wire.NodeID{o, id}] = true
		}
	}
}

// disconnect and connect model the Raft lab's network: a disconnected node
// neither sends nor receives. They are independent of cut links.
func (s *simCluster) disconnect(id wire.NodeID) { s.disc[id] = true }
func (s *simCluster) connect(id wire.NodeID)    { delete(s.disc, id) }

// partition cuts every link between nodes of different groups.
func (s *simCluster) partition(groups ...[]wire.NodeID) {
	s.cut = map[[2]wire.NodeID]bool{}
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					s.cut[[2]wire.NodeID{a, b}] = true
				}
			}
		}
	}
}

func (s *simCluster) heal() {
	s.cut = map[[2]wire.NodeID]bool{}
	s.disc = map[wire.NodeID]bool{}
}

func (s *simCluster) linked(from, to wire.NodeID) bool {
	return !s.cut[[2]wire.NodeID{from, to}] && !s.disc[from] && !s.disc[to]
}

// process drains every node's Ready through processReady, the driver's
// own Ready handling, with simIO as its disk, network and state machine.
func (s *simCluster) process() {
	for _, id := range s.ids {
		n := s.nodes[id]
		if !n.up {
			continue
		}
		for n.up && n.core.HasReady() {
			rd := n.core.Ready()
			s.recordCommits(id, n.core.Inspect())
			if err := processReady(n.core, rd, simIO{s: s, id: id}); err != nil {
				if err != errSimCrash {
					s.fatalf("node %d: handling a Ready: %v", id, err)
				}
				break
			}
		}
		if n.up {
			s.checkNode(id)
		}
	}
}

// errSimCrash is what simIO.reached returns once it crashed the node.
var errSimCrash = errors.New("simulated crash")

// simIO is the simulation's readyIO for node id: its "disk" is the
// simNode's durable fields, its network the cluster's in-flight queue, its
// state machine the applied list. Everything it is handed is checked
// against the cluster's invariants on the way.
type simIO struct {
	s  *simCluster
	id wire.NodeID
}

func (io simIO) send(msgs []wire.Message) {
	for _, m := range msgs {
		io.s.checkDurable(io.id, m)
		io.s.enqueue(m)
	}
}

func (io simIO) sendSnapshot(m wire.Message) bool {
	io.send([]wire.Message{m})
	return true
}

// reached crashes the node at a mid-Ready point when the seed says so:
// at sentEarly with chance midReadyCrash, at persisted with chance
// afterSaveCrash.
func (io simIO) reached(p readyPoint) error {
	rate := io.s.midReadyCrash
	if p == persisted {
		rate = io.s.afterSaveCrash
	}
	if rate > 0 && io.s.rng.Float64() < rate {
		io.s.midReadyCrashes[p]++
		io.s.crash(io.id)
		return errSimCrash
	}
	return nil
}

func (io simIO) resetLog(snap core.SnapshotInfo) error {
	n := io.s.nodes[io.id]
	if err := n.log.Reset(); err != nil {
		if io.s.diskFailed(io.id, err) {
			return errSimCrash
		}
		io.s.fatalf("node %d: reset its log: %v", io.id, err)
	}
	n.snap = snap
	return nil
}

func (io simIO) restore(snap core.SnapshotInfo, _ core.Membership) error {
	io.s.installSnapshot(io.id, snap)
	return nil
}

func (io simIO) save(hs *wire.HardState, ents []wire.Entry) error {
	s, id, n := io.s, io.id, io.s.nodes[io.id]
	if hs != nil {
		if hs.Term < n.hard.Term {
			s.fatalf("node %d persisted term %d after term %d", id, hs.Term, n.hard.Term)
		}
	}
	if len(ents) > 0 {
		first := ents[0].Index
		if first > n.lastStored()+1 || (n.log.LastIndex() > 0 && first < n.log.FirstIndex()) {
			s.fatalf("node %d persisted entries from %d onto a stored log [%d, %d]", id, first, n.log.FirstIndex(), n.lastStored())
		}
	}
	if err := n.log.Save(hs, ents); err != nil {
		if s.diskFailed(id, err) {
			return errSimCrash
		}
		s.fatalf("node %d: save: %v", id, err)
	}
	if hs != nil {
		n.hard = *hs
	}
	return nil
}

func (io simIO) apply(ents []wire.Entry) error {
	n := io.s.nodes[io.id]
	for _, e := range ents {
		io.s.checkApply(io.id, e)
		n.applied = append(n.applied, e)
	}
	return nil
}

func (io simIO) readStates(rss []core.ReadState) {
	for _, rs := range rss {
		io.s.checkRead(io.id, rs)
	}
	n := io.s.nodes[io.id]
	n.readStates = append(n.readStates, rss...)
}

// checkDurable asserts that what a reply promises is on disk before the
// reply leaves: a granted vote, an acknowledged entry, the sender's term.
func (s *simCluster) checkDurable(id wire.NodeID, m wire.Message) {
	n := s.nodes[id]
	if m.SafeBeforePersist() || m.Type == wire.MsgPreVoteResp || m.Type == wire.MsgPreVote {
		return // pre-vote messages carry a term the sender has not entered
	}
	if m.Term > n.hard.Term {
		s.fatalf("node %d sent %v with term %d before persisting it (persisted %d)", id, m.Type, m.Term, n.hard.Term)
	}
	switch {
	case m.Type == wire.MsgVoteResp && !m.Reject:
		// A grant for a term the node already left is harmless: the newer
		// persisted term keeps it from voting in the old one again.
		if n.hard.Term == m.Term && n.hard.Vote != m.To {
			s.fatalf("node %d granted a vote to %d in term %d with persisted %+v", id, m.To, m.Term, n.hard)
		}
	case m.Type == wire.MsgVote:
		if n.hard.Term == m.Term && n.hard.Vote != id {
			s.fatalf("node %d asked for votes in term %d without a persisted self-vote (%+v)", id, m.Term, n.hard)
		}
	case m.Type == wire.MsgAppResp && !m.Reject && m.Index > 0 && m.Term == n.hard.Term:
		// Only within the term: an ack to an older leader may be followed,
		// in the same batch, by a newer leader overwriting those entries;
		// the persisted result is what a node that had stored, acked and
		// then been overwritten would hold.
		if n.lastStored() < m.Index {
			s.fatalf("node %d acknowledged index %d with entries persisted up to %d", id, m.Index, n.lastStored())
		}
	}
}

func (s *simCluster) enqueue(m wire.Message) {
	s.msgCount++
	s.msgTypes[m.Type]++
	m.Entries = slices.Clone(m.Entries)
	copies := 1
	if s.dupRate > 0 && s.rng.Float64() < s.dupRate {
		copies = 2
		if m.Type == wire.MsgReadIndex || m.Type == wire.MsgReadIndexResp {
			s.dupReads[m.Context] = true // it may well be answered twice
		}
	}
	for range copies {
		at := s.steps + 1
		if s.maxDelay > 1 && s.rng.Float64() < s.delayRate {
			at += 1 + s.rng.IntN(s.maxDelay-1)
		}
		s.inflight = append(s.inflight, simMsg{Message: m, at: at})
	}
}

// read issues a ReadIndex on node id and returns its context, or 0 when
// the node refused it (no leader known).
func (s *simCluster) read(id wire.NodeID) uint64 {
	s.readSeq++
	ctx := s.readSeq
	if err := s.nodes[id].core.ReadIndex(ctx); err != nil {
		return 0
	}
	s.reads[ctx] = &simRead{node: id, minIndex: uint64(len(s.commits))}
	s.process()
	return ctx
}

// leaseRead serves a lease read on node id when its lease holds, and
// checks that it misses nothing committed anywhere: in the simulation all
// clocks tick together, so a lease shorter than the election timeout must
// never be stale.
func (s *simCluster) leaseRead(id wire.NodeID) {
	if !s.nodes[id].up {
		return
	}
	idx, ok := s.nodes[id].core.LeaseRead()
	if ok && idx < uint64(len(s.commits)) {
		s.fatalf("stale lease read: node %d (term %d) served index %d, but %d was committed",
			id, s.nodes[id].core.Term(), idx, len(s.commits))
	}
	if ok {
		s.leaseReads++
	}
}

// checkRead: each read is answered at most once, on the node that issued
// it, and a confirmed read's index covers every entry that was committed
// when it was issued (else the read could miss an acknowledged write).
func (s *simCluster) checkRead(id wire.NodeID, rs core.ReadState) {
	r, ok := s.reads[rs.Context]
	switch {
	case !ok || r.node != id:
		s.fatalf("node %d got a ReadState for unknown read %d", id, rs.Context)
	case r.answered && !s.dupReads[rs.Context]:
		s.fatalf("node %d got read %d answered twice (now %+v)", id, rs.Context, rs)
	case !rs.Dropped && rs.Index < r.minIndex:
		s.fatalf("stale read: node %d read %d at index %d, but %d was committed when it was issued",
			id, rs.Context, rs.Index, r.minIndex)
	}
	r.answered = true
}

func (s *simCluster) checkApply(id wire.NodeID, e wire.Entry) {
	n := s.nodes[id]
	want := uint64(1)
	if len(n.applied) > 0 {
		want = n.applied[len(n.applied)-1].Index + 1
	}
	if e.Index != want {
		s.fatalf("node %d applied index %d, expected %d", id, e.Index, want)
	}
	if e.Index > uint64(len(s.commits)) {
		s.fatalf("node %d applied index %d before its log showed it committed", id, e.Index)
	}
	// Entries may reach the state machine before the Ready that carries
	// them is saved (durablePrefix), but never ahead of the node's own
	// disk: recovery refuses a state machine beyond the durable log.
	if e.Index > n.snap.Index && !n.storedHas(e) {
		s.fatalf("node %d applied %d/%d, which its disk does not hold (stored up to %d)", id, e.Index, e.Term, n.lastStored())
	}
	if prev := s.commits[e.Index-1]; prev.Term != e.Term || string(prev.Data) != string(e.Data) {
		s.fatalf("state machine safety: node %d applied %d/%d %q, the committed entry is %d/%d %q",
			id, e.Index, e.Term, e.Data, prev.Index, prev.Term, prev.Data)
	}
}

// checkNode checks one node's state against the global record: every
// index it considers committed holds the one committed entry (recording new
// ones), a leader is alone in its term and holds every entry committed
// before its term.
func (s *simCluster) checkNode(id wire.NodeID) {
	c := s.nodes[id].core.Inspect()
	s.recordCommits(id, c)
	if c.Role != core.Leader {
		return
	}
	term := c.Hard.Term
	if ld, ok := s.leaders[term]; ok && ld != id {
		s.fatalf("election safety: nodes %d and %d both lead term %d", ld, id, term)
	}
	s.leaders[term] = id
	// Leader completeness: an entry committed in an earlier term is in the
	// log of every later leader. commitTerm is an upper bound on the term
	// the entry really committed in, so this never fires spuriously.
	// Entries compacted into a snapshot are covered by the state machine,
	// which checkApply verified entry by entry.
	for i := int(c.Log[0].Index); i < len(s.commits); i++ {
		if e, ok := c.Entry(uint64(i + 1)); s.commitTerm[i] < term && (!ok || e.Term != s.commits[i].Term) {
			s.fatalf("leader completeness: leader %d of term %d lacks %d/%d, committed by term %d",
				id, term, i+1, s.commits[i].Term, s.commitTerm[i])
		}
	}
}

// recordCommits checks that every index node id considers committed holds
// the one committed entry, recording those seen committed for the first
// time. l is the node's state now.
func (s *simCluster) recordCommits(id wire.NodeID, l core.Inspection) {
	n := s.nodes[id]
	if l.Applied > l.Committed || l.Committed > l.LastIndex() {
		s.fatalf("node %d: applied %d, committed %d, last %d", id, l.Applied, l.Committed, l.LastIndex())
	}
	// Entries at or below the commit index can only change through
	// memLog.appendEntries, which refuses to; so checking each index once
	// after it commits (and again after a restart) covers them all.
	for i := max(n.checked+1, l.FirstIndex()); i <= l.Committed; i++ {
		e, _ := l.Entry(i)
		if i > uint64(len(s.commits)) {
			s.commits = append(s.commits, e)
			s.commitTerm = append(s.commitTerm, l.Hard.Term)
			continue
		}
		if ce := s.commits[i-1]; ce.Term != e.Term || string(ce.Data) != string(e.Data) {
			s.fatalf("node %d committed %d/%d %q, but %d/%d %q was committed", id, i, e.Term, e.Data, i, ce.Term, ce.Data)
		}
		s.commitTerm[i-1] = min(s.commitTerm[i-1], l.Hard.Term)
	}
	n.checked = max(n.checked, l.Committed)
}

// checkLogMatching: if two logs hold an entry with the same index and
// term, they are identical up to it. Below both commit indexes the logs
// equal the commit record (checkNode), so only the tails are compared.
func (s *simCluster) checkLogMatching() {
	for _, a := range s.ids {
		for _, b := range s.ids {
			na, nb := s.nodes[a], s.nodes[b]
			if a >= b || !na.up || !nb.up {
				continue
			}
			la, lb := na.core, nb.core
			lo := min(la.Committed(), lb.Committed())
			hi := min(la.LastIndex(), lb.LastIndex())
			agreedAt := uint64(0)
			for i := hi; i > lo; i-- {
				ta, oka := la.LogTerm(i)
				tb, okb := lb.LogTerm(i)
				if !oka || !okb {
					continue // compacted away on one side
				}
				if ta == tb && agreedAt == 0 {
					agreedAt = i
				} else if ta != tb && agreedAt != 0 {
					s.fatalf("log matching: nodes %d and %d agree at %d but differ at %d", a, b, agreedAt, i)
				}
			}
		}
	}
}

// deliver hands every message due by now to its destination, in random
// order when reorder is set, dropping what the faults say to.
func (s *simCluster) deliver() {
	var due []simMsg
	kept := s.inflight[:0]
	for _, m := range s.inflight {
		if m.at <= s.steps {
			due = append(due, m)
		} else {
			kept = append(kept, m)
		}
	}
	s.inflight = kept
	if s.reorder {
		s.rng.Shuffle(len(due), func(i, j int) { due[i], due[j] = due[j], due[i] })
	}
	for _, sm := range due {
		m := sm.Message
		if !s.linked(m.From, m.To) || (s.dropRate > 0 && s.rng.Float64() < s.dropRate) ||
			(s.filter != nil && !s.filter(&m)) || int(m.To) >= len(s.nodes) || !s.nodes[m.To].up {
			if m.Type == wire.MsgSnap {
				s.reportSnapshot(m, false) // the streamer notices and says so
			}
			continue
		}
		{
			s.nodes[m.To].core.Step(m)
			if m.Type == wire.MsgSnap {
				s.reportSnapshot(m, true)
			}
		}
	}
}

// reportSnapshot tells a leader how sending a snapshot went, as the
// driver's snapshot streamer does.
func (s *simCluster) reportSnapshot(m wire.Message, ok bool) {
	if from := s.nodes[m.From]; from.up {
		from.core.ReportSnapshot(m.To, ok)
	}
}

// installSnapshot does what the applier does for Ready.Snapshot: the
// state machine becomes the snapshot's image (every committed entry up to
// its index). simIO.resetLog discarded the stored log before.
func (s *simCluster) installSnapshot(id wire.NodeID, snap core.SnapshotInfo) {
	n := s.nodes[id]
	if snap.Index > uint64(len(s.commits)) {
		s.fatalf("node %d installs a snapshot at %d, beyond anything committed (%d)", id, snap.Index, len(s.commits))
	}
	if got := s.commits[snap.Index-1].Term; got != snap.Term {
		s.fatalf("node %d installs snapshot %d/%d, but the committed entry there has term %d", id, snap.Index, snap.Term, got)
	}
	if uint64(len(n.applied)) > snap.Index {
		s.fatalf("node %d installs a snapshot at %d behind what it applied (%d)", id, snap.Index, len(n.applied))
	}
	n.applied = slices.Clone(s.commits[:snap.Index])
	s.snapshotsInstalled++
}

// takeSnapshot snapshots node id at its applied index and compacts its log
// to keep entries behind the snapshot, as the driver does.
func (s *simCluster) takeSnapshot(id wire.NodeID, keep uint64) {
	n := s.nodes[id]
	if !n.up || len(n.applied) == 0 {
		return
	}
	last := n.applied[len(n.applied)-1]
	snap := core.SnapshotInfo{Index: last.Index, Term: last.Term}
	if snap.Index <= n.snap.Index {
		return
	}
	n.snap = snap
	n.core.SetSnapshot(snap)
	if snap.Index <= keep {
		return
	}
	upTo := snap.Index - keep
	if err := n.core.Compact(upTo); err != nil {
		s.fatalf("node %d: %v", id, err)
	}
	// The WAL drops whole segments: often less than the core did.
	if err := n.log.TruncatePrefix(upTo); err != nil && !s.diskFailed(id, err) {
		s.fatalf("node %d: truncate its log: %v", id, err)
	}
}

// step runs one round: deliver what is due, drain, tick every node, drain.
func (s *simCluster) step() {
	s.steps++
	s.deliver()
	s.process()
	for _, id := range s.ids {
		if n := s.nodes[id]; n.up {
			n.core.Tick()
		}
	}
	s.process()
	s.checkLogMatching()
}

func (s *simCluster) run(steps int) {
	for range steps {
		s.step()
	}
}

// runUntil steps until cond holds, failing after maxSteps.
func (s *simCluster) runUntil(maxSteps int, what string, cond func() bool) {
	s.t.Helper()
	for range maxSteps {
		if cond() {
			return
		}
		s.step()
	}
	if !cond() {
		s.fatalf("%s: not reached within %d steps", what, maxSteps)
	}
}

// leader returns the leader with the highest term among live, connected
// nodes.
func (s *simCluster) leader() (wire.NodeID, bool) {
	best, term, ok := wire.None, uint64(0), false
	for _, id := range s.ids {
		n := s.nodes[id]
		if n.up && !s.disc[id] && n.core.Role() == core.Leader && n.core.Term() >= term {
			best, term, ok = id, n.core.Term(), true
		}
	}
	return best, ok
}

func (s *simCluster) waitLeader(maxSteps int) wire.NodeID {
	s.t.Helper()
	for range maxSteps {
		if id, ok := s.leader(); ok {
			return id
		}
		s.step()
	}
	s.fatalf("no leader after %d steps", maxSteps)
	return wire.None
}

// propose proposes on the current leader and returns the index.
func (s *simCluster) propose(data string) (uint64, bool) {
	id, ok := s.leader()
	if !ok {
		return 0, false
	}
	idx, _, err := s.nodes[id].core.Propose([]byte(data))
	if err != nil {
		return 0, false
	}
	s.process()
	return idx, true
}

// nApplied reports how many nodes (live or not) applied idx, and its data.
func (s *simCluster) nApplied(idx uint64) (int, string) {
	count, data := 0, ""
	for _, n := range s.nodes {
		if uint64(len(n.applied)) >= idx {
			count++
			data = string(n.applied[idx-1].Data)
		}
	}
	return count, data
}

// one is the Raft lab's agreement helper: propose cmd on whichever node
// leads, and wait until at least want nodes applied it. It retries when
// leadership changes and the entry is lost.
func (s *simCluster) one(cmd string, want int) uint64 {
	s.t.Helper()
	for range 20 {
		ld, ok := s.leader()
		if !ok {
			s.run(10)
			continue
		}
		idx, _, err := s.nodes[ld].core.Propose([]byte(cmd))
		if err != nil {
			s.run(10)
			continue
		}
		s.process()
		for range 200 {
			if n, data := s.nApplied(idx); n >= want && data == cmd {
				return idx
			} else if n > 0 && data != cmd {
				break // another entry won this index: try again
			}
			s.step()
		}
	}
	s.fatalf("one(%q): never applied on %d nodes", cmd, want)
	return 0
}

// stats summarises a run, for the log of long scenarios.
func (s *simCluster) stats() string {
	return fmt.Sprintf("%d steps, %d terms with a leader, %d entries committed, %d messages",
		s.steps, len(s.leaders), len(s.commits), s.msgCount)
}

func (s *simCluster) dump() {
	s.t.Logf("seed %d step %d: in flight %d, cut %v, disconnected %v", s.seed, s.steps, len(s.inflight), s.cut, s.disc)
	for _, id := range s.ids {
		n := s.nodes[id]
		if !n.up {
			s.t.Logf("node %d down (hard %+v, applied %d)", id, n.hard, len(n.applied))
			continue
		}
		c := n.core.Inspect()
		s.t.Logf("node %d role=%v term=%d vote=%d lead=%d last=%d/%d commit=%d applied=%d stable=%d elapsed=%d/%d",
			id, c.Role, c.Hard.Term, c.Hard.Vote, c.Lead, c.LastIndex(), c.LastTerm(), c.Committed, c.Applied,
			c.Stable, c.ElectionElapsed, c.ElectionTimeout)
		s.t.Logf("   members %v (config index %d)", c.Members.Members, c.ConfIndex)
		if c.Role == core.Leader {
			for _, pid := range c.Members.IDs() {
				pr := c.Progress[pid]
				s.t.Logf("   pr %d match=%d next=%d repl=%v probeSent=%v inflight=%d", pid, pr.Match, pr.Next,
					pr.Replicating, pr.ProbeSent, pr.Inflight)
			}
		}
	}
}
