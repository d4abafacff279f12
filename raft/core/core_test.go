package core

import (
	"errors"
	"slices"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

func TestConfigValidate(t *testing.T) {
	ok := testCfg(0, 3)
	tests := []struct {
		name   string
		adjust func(*Config)
		ok     bool
	}{
		{"valid", func(*Config) {}, true},
		{"not in own peer list", func(c *Config) { c.ID = 7 }, false},
		{"empty peer list: a node that joins", func(c *Config) { c.Peers = nil }, true},
		{"bootstrap as a learner", func(c *Config) {
			c.Peers, c.Bootstrap = nil, Membership{Members: []Member{{ID: 0, Learner: true}, {ID: 1}}}
		}, false},
		{"zero heartbeat", func(c *Config) { c.HeartbeatTick = 0 }, false},
		{"election not above heartbeat", func(c *Config) { c.ElectionTickMin, c.HeartbeatTick = 3, 3 }, false},
		{"max below min", func(c *Config) { c.ElectionTickMax = c.ElectionTickMin - 1 }, false},
		{"max equal min", func(c *Config) { c.ElectionTickMax = c.ElectionTickMin }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			cfg.Peers = slices.Clone(ok.Peers)
			tt.adjust(&cfg)
			_, err := NewCore(cfg, wire.HardState{}, nil, 0)
			if (err == nil) != tt.ok {
				t.Fatalf("NewCore error = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	// Zero limits get defaults rather than stalling replication.
	cfg := testCfg(0, 1)
	cfg.MaxInflight, cfg.MaxMsgBytes, cfg.MaxApplyEntries = 0, 0, 0
	c := mustCore(t, cfg, wire.HardState{}, nil, 0)
	if c.cfg.MaxInflight <= 0 || c.cfg.MaxMsgBytes <= 0 || c.cfg.MaxApplyEntries <= 0 {
		t.Fatalf("defaults not applied: %+v", c.cfg)
	}
}

func TestNewCoreRejectsBadState(t *testing.T) {
	tests := []struct {
		name    string
		ents    []wire.Entry
		applied uint64
	}{
		{"gap in the log", []wire.Entry{{Index: 1, Term: 1}, {Index: 3, Term: 1}}, 0},
		{"out of order", []wire.Entry{{Index: 2, Term: 1}, {Index: 1, Term: 1}}, 0},
		{"applied beyond the log", logOf(1, 1), 3},
		{"applied with no log", nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewCore(testCfg(0, 3), wire.HardState{Term: 1, Vote: wire.None}, tt.ents, tt.applied); err == nil {
				t.Fatal("NewCore accepted an impossible durable state")
			}
		})
	}
}

func TestNewCoreRestoresState(t *testing.T) {
	c := mustCore(t, testCfg(1, 3), wire.HardState{Term: 4, Vote: 2}, logOf(1, 2, 4), 2)
	if c.term != 4 || c.vote != 2 || c.role != Follower || c.lead != wire.None {
		t.Fatalf("restored term %d vote %d role %v lead %d", c.term, c.vote, c.role, c.lead)
	}
	if c.Committed() != 2 || c.LastIndex() != 3 || c.log.applied != 2 {
		t.Fatalf("restored commit %d last %d applied %d", c.Committed(), c.LastIndex(), c.log.applied)
	}
	// Nothing to persist or apply right after a restart.
	if c.HasReady() {
		t.Fatalf("fresh core has work: %+v", c.Ready())
	}
	// A zero hard state means no vote (0 is a node ID).
	c = mustCore(t, testCfg(1, 3), wire.HardState{}, nil, 0)
	if c.vote != wire.None {
		t.Fatalf("fresh core voted for %d", c.vote)
	}
}

func TestVoteGranting(t *testing.T) {
	const voter, cand = wire.NodeID(1), wire.NodeID(0)
	tests := []struct {
		name     string
		hs       wire.HardState
		log      []uint64
		lead     bool             // the voter heard from leader 2 in its term
		req      wire.Message     // From/To filled in
		wantResp wire.MessageType // 0: no answer at all
		grant    bool
		wantHS   *wire.HardState // HardState in the Ready; nil: none
	}{
		{name: "higher term, up to date", hs: wire.HardState{Term: 1, Vote: wire.None}, log: []uint64{1},
			req: wire.Message{Type: wire.MsgVote, Term: 2, Index: 1, LogTerm: 1}, wantResp: wire.MsgVoteResp, grant: true,
			wantHS: &wire.HardState{Term: 2, Vote: cand}},
		{name: "already voted for another in this term", hs: wire.HardState{Term: 2, Vote: 2}, log: []uint64{1},
			req: wire.Message{Type: wire.MsgVote, Term: 2, Index: 1, LogTerm: 1}, wantResp: wire.MsgVoteResp},
		{name: "same candidate asks again", hs: wire.HardState{Term: 2, Vote: cand}, log: []uint64{1},
			req: wire.Message{Type: wire.MsgVote, Term: 2, Index: 1, LogTerm: 1}, wantResp: wire.MsgVoteResp, grant: true},
		{name: "candidate's last term is older", hs: wire.HardState{Term: 2, Vote: wire.None}, log: []uint64{1, 2},
			req: wire.Message{Type: wire.MsgVote, Term: 3, Index: 5, LogTerm: 1}, wantResp: wire.MsgVoteResp,
			wantHS: &wire.HardState{Term: 3, Vote: wire.None}},
		{name: "same last term, shorter log", hs: wire.HardState{Term: 1, Vote: wire.None}, log: []uint64{1, 1, 1},
			req: wire.Message{Type: wire.MsgVote, Term: 2, Index: 2, LogTerm: 1}, wantResp: wire.MsgVoteResp,
			wantHS: &wire.HardState{Term: 2, Vote: wire.None}},
		{name: "same last term, same length", hs: wire.HardState{Term: 1, Vote: wire.None}, log: []uint64{1, 1},
			req: wire.Message{Type: wire.MsgVote, Term: 2, Index: 2, LogTerm: 1}, wantResp: wire.MsgVoteResp, grant: true,
			wantHS: &wire.HardState{Term: 2, Vote: cand}},
		{name: "newer last term beats a longer log", hs: wire.HardState{Term: 2, Vote: wire.None}, log: []uint64{1, 1, 1, 1},
			req: wire.Message{Type: wire.MsgVote, Term: 3, Index: 2, LogTerm: 2}, wantResp: wire.MsgVoteResp, grant: true,
			wantHS: &wire.HardState{Term: 3, Vote: cand}},
		{name: "stale term is ignored", hs: wire.HardState{Term: 3, Vote: wire.None}, log: []uint64{1},
			req: wire.Message{Type: wire.MsgVote, Term: 2, Index: 9, LogTerm: 2}},
		{name: "known leader in this term", hs: wire.HardState{Term: 2, Vote: wire.None}, log: []uint64{1}, lead: true,
			req: wire.Message{Type: wire.MsgVote, Term: 2, Index: 1, LogTerm: 1}, wantResp: wire.MsgVoteResp},
		{name: "pre-vote keeps term and vote", hs: wire.HardState{Term: 1, Vote: 2}, log: []uint64{1},
			req: wire.Message{Type: wire.MsgPreVote, Term: 2, Index: 1, LogTerm: 1}, wantResp: wire.MsgPreVoteResp, grant: true},
		{name: "pre-vote with a stale log", hs: wire.HardState{Term: 2, Vote: wire.None}, log: []uint64{1, 2},
			req: wire.Message{Type: wire.MsgPreVote, Term: 3, Index: 1, LogTerm: 1}, wantResp: wire.MsgPreVoteResp},
		{name: "pre-vote for the current term after voting", hs: wire.HardState{Term: 2, Vote: 2}, log: []uint64{1},
			req: wire.Message{Type: wire.MsgPreVote, Term: 2, Index: 1, LogTerm: 1}, wantResp: wire.MsgPreVoteResp},
		{name: "stale pre-vote is refused with our term", hs: wire.HardState{Term: 3, Vote: wire.None}, log: []uint64{1},
			req: wire.Message{Type: wire.MsgPreVote, Term: 2, Index: 1, LogTerm: 1}, wantResp: wire.MsgPreVoteResp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCore(t, testCfg(voter, 3), tt.hs, logOf(tt.log...), 0)
			if tt.lead {
				c.Step(wire.Message{Type: wire.MsgHeartbeat, From: 2, To: voter, Term: tt.hs.Term})
			}
			flush(c)
			req := tt.req
			req.From, req.To = cand, voter
			c.Step(req)
			rd := flush(c)
			resps := msgsOf(rd.Messages, tt.wantResp)
			if tt.wantResp == 0 {
				if len(rd.Messages) != 0 {
					t.Fatalf("answered a stale request: %+v", rd.Messages)
				}
			} else if len(resps) != 1 || len(rd.Messages) != 1 {
				t.Fatalf("want one %v, got %+v", tt.wantResp, rd.Messages)
			} else {
				r := resps[0]
				if r.Reject == tt.grant || r.To != cand {
					t.Fatalf("got %+v, want grant=%v to %d", r, tt.grant, cand)
				}
				// A grant carries the term it was asked about (for a pre-vote,
				// one the voter is not in); a rejection carries the voter's.
				wantTerm := c.term
				if tt.grant {
					wantTerm = req.Term
				}
				if r.Term != wantTerm {
					t.Fatalf("response term %d, want %d", r.Term, wantTerm)
				}
				if r.SafeBeforePersist() {
					t.Fatalf("%v may be sent before the vote is durable", r.Type)
				}
			}
			switch {
			case tt.wantHS == nil && rd.HardState != nil:
				t.Fatalf("unexpected HardState %+v", *rd.HardState)
			case tt.wantHS != nil && (rd.HardState == nil || *rd.HardState != *tt.wantHS):
				t.Fatalf("HardState %+v, want %+v", rd.HardState, *tt.wantHS)
			}
		})
	}
}

// A vote is cast once per term, and the promise survives a restart from
// the persisted hard state.
func TestVoteOncePerTermSurvivesRestart(t *testing.T) {
	c := mustCore(t, testCfg(1, 3), wire.HardState{Term: 1, Vote: wire.None}, logOf(1), 0)
	ask := func(c *Core, from wire.NodeID) bool {
		c.Step(wire.Message{Type: wire.MsgVote, From: from, To: 1, Term: 2, Index: 1, LogTerm: 1})
		rd := flush(c)
		rs := msgsOf(rd.Messages, wire.MsgVoteResp)
		if len(rs) != 1 {
			t.Fatalf("want one vote response, got %+v", rd.Messages)
		}
		return !rs[0].Reject
	}
	c.Step(wire.Message{Type: wire.MsgVote, From: 0, To: 1, Term: 2, Index: 1, LogTerm: 1})
	rd := flush(c)
	if rd.HardState == nil || *rd.HardState != (wire.HardState{Term: 2, Vote: 0}) {
		t.Fatalf("vote not in the Ready's HardState: %+v", rd.HardState)
	}
	if ask(c, 2) {
		t.Fatal("voted twice in term 2")
	}
	restarted := mustCore(t, testCfg(1, 3), *rd.HardState, logOf(1), 0)
	if ask(restarted, 2) {
		t.Fatal("voted twice in term 2 after a restart")
	}
	if !ask(restarted, 0) {
		t.Fatal("refused to repeat its vote to the same candidate")
	}
}

// A candidate asks for votes only with its self-vote and new term in the
// same Ready, and the requests must wait for it to be durable.
func TestCampaignPersistsSelfVote(t *testing.T) {
	c := mustCore(t, testCfg(0, 3), wire.HardState{Term: 3, Vote: 1}, logOf(1, 3), 0)
	flush(c)
	for c.role == Follower {
		c.Tick()
	}
	rd := flush(c)
	if c.role != Candidate || c.term != 4 {
		t.Fatalf("role %v term %d after the election timeout", c.role, c.term)
	}
	if rd.HardState == nil || *rd.HardState != (wire.HardState{Term: 4, Vote: 0}) {
		t.Fatalf("HardState %+v, want term 4 vote 0", rd.HardState)
	}
	votes := msgsOf(rd.Messages, wire.MsgVote)
	if len(votes) != 2 {
		t.Fatalf("want 2 vote requests, got %+v", rd.Messages)
	}
	for _, m := range votes {
		if m.Term != 4 || m.Index != 2 || m.LogTerm != 3 || m.Context != 0 || m.SafeBeforePersist() {
			t.Fatalf("bad vote request %+v", m)
		}
	}
}

func TestElectionOutcome(t *testing.T) {
	tests := []struct {
		name    string
		n       int
		grants  []wire.NodeID
		rejects []wire.NodeID
		want    Role
	}{
		{"majority of 3", 3, []wire.NodeID{1}, nil, Leader},
		{"split in 3 stays candidate", 3, nil, []wire.NodeID{1}, Candidate},
		{"majority rejects in 3", 3, nil, []wire.NodeID{1, 2}, Follower},
		{"two of 5 is not enough", 5, []wire.NodeID{1}, []wire.NodeID{2}, Candidate},
		{"majority of 5", 5, []wire.NodeID{1, 4}, []wire.NodeID{2}, Leader},
		{"majority rejects in 5", 5, []wire.NodeID{1}, []wire.NodeID{2, 3, 4}, Follower},
		{"duplicate grant counts once", 5, []wire.NodeID{1, 1}, nil, Candidate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCore(t, testCfg(0, tt.n), wire.HardState{}, nil, 0)
			c.campaign(false)
			for _, id := range tt.grants {
				c.Step(wire.Message{Type: wire.MsgVoteResp, From: id, To: 0, Term: 1})
			}
			for _, id := range tt.rejects {
				c.Step(wire.Message{Type: wire.MsgVoteResp, From: id, To: 0, Term: 1, Reject: true})
			}
			if c.role != tt.want || c.term != 1 {
				t.Fatalf("role %v term %d, want %v in term 1", c.role, c.term, tt.want)
			}
		})
	}
}

func TestCandidateStepsDown(t *testing.T) {
	tests := []struct {
		name     string
		preVote  bool
		msg      wire.Message // From 1, To 0
		wantRole Role
		wantTerm uint64
		wantLead wire.NodeID
		wantResp wire.MessageType
	}{
		{name: "append of its term", msg: wire.Message{Type: wire.MsgApp, Term: 2},
			wantRole: Follower, wantTerm: 2, wantLead: 1, wantResp: wire.MsgAppResp},
		{name: "heartbeat of its term", msg: wire.Message{Type: wire.MsgHeartbeat, Term: 2},
			wantRole: Follower, wantTerm: 2, wantLead: 1, wantResp: wire.MsgHeartbeatResp},
		{name: "append of a higher term", msg: wire.Message{Type: wire.MsgApp, Term: 5},
			wantRole: Follower, wantTerm: 5, wantLead: 1, wantResp: wire.MsgAppResp},
		{name: "rejection with a higher term", msg: wire.Message{Type: wire.MsgVoteResp, Term: 5, Reject: true},
			wantRole: Follower, wantTerm: 5, wantLead: wire.None},
		{name: "vote request of a higher term", msg: wire.Message{Type: wire.MsgVote, Term: 3},
			wantRole: Follower, wantTerm: 3, wantLead: wire.None, wantResp: wire.MsgVoteResp},
		{name: "stale append is answered, not obeyed", msg: wire.Message{Type: wire.MsgApp, Term: 1},
			wantRole: Candidate, wantTerm: 2, wantLead: wire.None, wantResp: wire.MsgAppResp},
		{name: "pre-candidate: append of its term", preVote: true, msg: wire.Message{Type: wire.MsgApp, Term: 1},
			wantRole: Follower, wantTerm: 1, wantLead: 1, wantResp: wire.MsgAppResp},
		{name: "pre-candidate: heartbeat of a higher term", preVote: true, msg: wire.Message{Type: wire.MsgHeartbeat, Term: 4},
			wantRole: Follower, wantTerm: 4, wantLead: 1, wantResp: wire.MsgHeartbeatResp},
		{name: "pre-candidate: pre-vote rejection with a higher term", preVote: true,
			msg:      wire.Message{Type: wire.MsgPreVoteResp, Term: 3, Reject: true},
			wantRole: Follower, wantTerm: 3, wantLead: wire.None},
		{name: "pre-candidate: stale vote answer ignored", preVote: true, msg: wire.Message{Type: wire.MsgVoteResp, Term: 1},
			wantRole: PreCandidate, wantTerm: 1, wantLead: wire.None},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testCfg(0, 3)
			cfg.PreVote = tt.preVote
			c := mustCore(t, cfg, wire.HardState{Term: 1, Vote: wire.None}, logOf(1), 1)
			c.campaign(false)
			flush(c)
			m := tt.msg
			m.From, m.To = 1, 0
			m.Index, m.LogTerm = 1, 1 // a log as up to date as ours
			c.Step(m)
			rd := flush(c)
			if c.role != tt.wantRole || c.term != tt.wantTerm || c.lead != tt.wantLead {
				t.Fatalf("role %v term %d lead %d, want %v %d %d", c.role, c.term, c.lead, tt.wantRole, tt.wantTerm, tt.wantLead)
			}
			if tt.wantResp != 0 {
				rs := msgsOf(rd.Messages, tt.wantResp)
				if len(rs) != 1 || rs[0].To != 1 || rs[0].Term != c.term {
					t.Fatalf("want one %v to 1 in term %d, got %+v", tt.wantResp, c.term, rd.Messages)
				}
			}
		})
	}
}

// A node that moved to a newer term answers a stale leader's append with
// that term, and the stale leader steps down on hearing it.
func TestStaleLeaderLearnsNewerTerm(t *testing.T) {
	for _, typ := range []wire.MessageType{wire.MsgApp, wire.MsgHeartbeat} {
		t.Run(typ.String(), func(t *testing.T) {
			f := mustCore(t, testCfg(1, 3), wire.HardState{Term: 5, Vote: 2}, logOf(1, 5), 0)
			f.Step(wire.Message{Type: typ, From: 0, To: 1, Term: 3, Index: 1, LogTerm: 1, Commit: 1,
				Entries: []wire.Entry{{Index: 2, Term: 3}}})
			rd := flush(f)
			if len(rd.Messages) != 1 || rd.Messages[0].Type != wire.MsgAppResp || rd.Messages[0].Term != 5 || rd.Messages[0].To != 0 {
				t.Fatalf("want one MsgAppResp in term 5, got %+v", rd.Messages)
			}
			if f.term != 5 || f.lead != wire.None || f.Committed() != 0 || !slices.Equal(termsOf(f), []uint64{1, 5}) {
				t.Fatalf("stale %v changed the follower: term %d lead %d commit %d log %v", typ, f.term, f.lead, f.Committed(), termsOf(f))
			}
			ld := mustCore(t, testCfg(0, 3), wire.HardState{Term: 2, Vote: 0}, logOf(1), 1)
			makeLeader(ld) // term 3
			flush(ld)
			ld.Step(rd.Messages[0])
			if ld.role != Follower || ld.term != 5 || ld.lead != wire.None {
				t.Fatalf("stale leader: role %v term %d lead %d", ld.role, ld.term, ld.lead)
			}
		})
	}
}

func TestAppendConsistencyCheck(t *testing.T) {
	ents := func(idx uint64, terms ...uint64) []wire.Entry {
		out := make([]wire.Entry, len(terms))
		for i, t := range terms {
			out[i] = wire.Entry{Index: idx + uint64(i), Term: t}
		}
		return out
	}
	tests := []struct {
		name       string
		log        []uint64
		committed  uint64
		prev, pt   uint64
		ents       []wire.Entry
		commit     uint64
		reject     bool
		respIndex  uint64
		hint       uint64
		wantLog    []uint64
		wantCommit uint64
	}{
		{name: "append to an empty log", prev: 0, pt: 0, ents: ents(1, 1), commit: 1,
			respIndex: 1, wantLog: []uint64{1}, wantCommit: 1},
		{name: "prev beyond the last entry", log: []uint64{1, 1}, prev: 5, pt: 3,
			reject: true, respIndex: 5, hint: 2, wantLog: []uint64{1, 1}},
		{name: "prev term older than ours", log: []uint64{1, 3, 3}, prev: 3, pt: 2,
			reject: true, respIndex: 3, hint: 1, wantLog: []uint64{1, 3, 3}},
		{name: "prev term newer than ours", log: []uint64{1, 2, 2}, prev: 3, pt: 3,
			reject: true, respIndex: 3, hint: 3, wantLog: []uint64{1, 2, 2}},
		{name: "conflicting suffix is truncated", log: []uint64{1, 1, 2, 2}, prev: 2, pt: 1, ents: ents(3, 3),
			respIndex: 3, wantLog: []uint64{1, 1, 3}},
		{name: "conflict inside the batch", log: []uint64{1, 1, 2, 2}, prev: 1, pt: 1, ents: ents(2, 1, 2, 3, 3),
			respIndex: 5, wantLog: []uint64{1, 1, 2, 3, 3}},
		{name: "entries already present do not truncate", log: []uint64{1, 1, 1, 1}, prev: 1, pt: 1, ents: ents(2, 1),
			respIndex: 2, wantLog: []uint64{1, 1, 1, 1}},
		{name: "commit stops at the last new entry", log: []uint64{1, 1, 2, 2}, prev: 1, pt: 1, ents: ents(2, 1), commit: 4,
			respIndex: 2, wantLog: []uint64{1, 1, 2, 2}, wantCommit: 2},
		{name: "empty append commits up to prev", log: []uint64{1, 1, 1}, prev: 2, pt: 1, commit: 3,
			respIndex: 2, wantLog: []uint64{1, 1, 1}, wantCommit: 2},
		{name: "prev below the commit index", log: []uint64{1, 1, 1}, committed: 3, prev: 1, pt: 1, ents: ents(2, 1),
			respIndex: 3, wantLog: []uint64{1, 1, 1}, wantCommit: 3},
		{name: "commit never moves back", log: []uint64{1, 1, 1}, committed: 2, prev: 3, pt: 1, commit: 1,
			respIndex: 3, wantLog: []uint64{1, 1, 1}, wantCommit: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCore(t, testCfg(1, 3), wire.HardState{Term: 3, Vote: wire.None}, logOf(tt.log...), tt.committed)
			c.Step(wire.Message{Type: wire.MsgApp, From: 0, To: 1, Term: 3, Index: tt.prev, LogTerm: tt.pt,
				Entries: tt.ents, Commit: tt.commit})
			rd := flush(c)
			if len(rd.Messages) != 1 {
				t.Fatalf("want one response, got %+v", rd.Messages)
			}
			r := rd.Messages[0]
			if r.Type != wire.MsgAppResp || r.Reject != tt.reject || r.Index != tt.respIndex || r.Term != 3 {
				t.Fatalf("response %+v, want reject=%v index=%d", r, tt.reject, tt.respIndex)
			}
			if tt.reject {
				if r.RejectHint != tt.hint {
					t.Fatalf("hint %d, want %d", r.RejectHint, tt.hint)
				}
				if ht, _ := c.log.term(r.RejectHint); r.LogTerm != ht || ht > tt.pt {
					t.Fatalf("hint term %d: our term there is %d, the probe's %d", r.LogTerm, ht, tt.pt)
				}
			}
			if got := termsOf(c); !slices.Equal(got, tt.wantLog) {
				t.Fatalf("log %v, want %v", got, tt.wantLog)
			}
			if c.Committed() != tt.wantCommit {
				t.Fatalf("committed %d, want %d", c.Committed(), tt.wantCommit)
			}
			if c.lead != 0 {
				t.Fatalf("lead %d, want 0", c.lead)
			}
		})
	}
}

// The leader finds where a follower's log diverges in one round trip even
// when a whole term of entries conflicts, instead of one probe per entry.
func TestFastBackup(t *testing.T) {
	seq := func(parts ...[2]uint64) []uint64 { // {term, count} pairs
		var ts []uint64
		for _, p := range parts {
			for range p[1] {
				ts = append(ts, p[0])
			}
		}
		return ts
	}
	tests := []struct {
		name         string
		leader       []uint64
		follower     []uint64
		wantRejects  int
		wantProbeMsg int // MsgApps sent before the follower matched
	}{
		{"follower has a long stale term", seq([2]uint64{1, 1}, [2]uint64{3, 50}), seq([2]uint64{1, 1}, [2]uint64{2, 100}), 1, 2},
		{"follower is far behind", seq([2]uint64{1, 100}), seq([2]uint64{1, 10}), 1, 2},
		{"follower has a long newer term", seq([2]uint64{1, 2}, [2]uint64{2, 50}), seq([2]uint64{1, 2}, [2]uint64{3, 100}), 1, 2},
		{"divergence inside a shared term", seq([2]uint64{1, 1}, [2]uint64{2, 10}, [2]uint64{4, 40}),
			seq([2]uint64{1, 1}, [2]uint64{2, 30}, [2]uint64{3, 30}), 1, 2},
		{"logs already match", seq([2]uint64{1, 20}), seq([2]uint64{1, 20}), 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lt := slices.Max(tt.leader)
			ld := mustCore(t, testCfg(0, 2), wire.HardState{Term: max(lt, slices.Max(tt.follower))}, logOf(tt.leader...), 1)
			fl := mustCore(t, testCfg(1, 2), wire.HardState{Term: slices.Max(tt.follower)}, logOf(tt.follower...), 1)
			net := newTestNet(t, ld, fl)
			makeLeader(ld)
			matched := false
			probes := 0
			net.drop = func(m *wire.Message) bool {
				if m.Type == wire.MsgApp && !matched {
					probes++
				}
				if m.Type == wire.MsgAppResp && !m.Reject {
					matched = true
				}
				return false
			}
			net.settle()
			rejects := net.count(func(m wire.Message) bool { return m.Type == wire.MsgAppResp && m.Reject })
			if rejects != tt.wantRejects || probes != tt.wantProbeMsg {
				t.Fatalf("%d rejections and %d probes, want %d and %d", rejects, probes, tt.wantRejects, tt.wantProbeMsg)
			}
			if !slices.Equal(termsOf(ld), termsOf(fl)) {
				t.Fatalf("logs differ after backup:\nleader   %v\nfollower %v", termsOf(ld), termsOf(fl))
			}
			if ld.Committed() != ld.LastIndex() || fl.Committed() != ld.LastIndex() {
				t.Fatalf("commit: leader %d follower %d, want %d", ld.Committed(), fl.Committed(), ld.LastIndex())
			}
		})
	}
}

// Figure 8 of the Raft paper: an entry of an old term stored on a majority
// is not committed by counting replicas; it commits only once an entry of
// the leader's own term does, and until then a later leader may overwrite it.
func TestFigure8CommitRule(t *testing.T) {
	// S1..S5 are nodes 0..4. State (b) of the figure: S1 led term 2 and
	// stored index 2 on S2; S5 led term 3 and stored index 2 on itself only.
	build := func() *testNet {
		cfg := func(id wire.NodeID) Config {
			c := testCfg(id, 5)
			c.MaxMsgBytes = 1 // one entry per MsgApp
			return c
		}
		return newTestNet(t,
			mustCore(t, cfg(0), wire.HardState{Term: 3, Vote: wire.None}, logOf(1, 2), 1),
			mustCore(t, cfg(1), wire.HardState{Term: 3, Vote: wire.None}, logOf(1, 2), 1),
			mustCore(t, cfg(2), wire.HardState{Term: 3, Vote: 4}, logOf(1), 1),
			mustCore(t, cfg(3), wire.HardState{Term: 3, Vote: 4}, logOf(1), 1),
			mustCore(t, cfg(4), wire.HardState{Term: 3, Vote: 4}, logOf(1, 3), 1),
		)
	}
	// (c): S5 is down; S1 wins term 4 and appends its no-op (3/4). Index 2
	// reaches the others, the no-op does not.
	net := build()
	s1 := net.cores[0]
	net.cores[4] = nil
	withholdNoop := func(m *wire.Message) bool {
		if m.Type == wire.MsgApp {
			m.Entries = slices.DeleteFunc(slices.Clone(m.Entries), func(e wire.Entry) bool { return e.Index >= 3 })
		}
		return false
	}
	net.drop = withholdNoop
	net.elect(0)
	if s1.term != 4 || !slices.Equal(termsOf(s1), []uint64{1, 2, 4}) {
		t.Fatalf("S1: term %d log %v", s1.term, termsOf(s1))
	}
	for _, id := range []wire.NodeID{1, 2} {
		if got := termsOf(net.cores[id]); !slices.Equal(got, []uint64{1, 2}) {
			t.Fatalf("S%d log %v, want [1 2]", id+1, got)
		}
		if s1.prs[id].match != 2 {
			t.Fatalf("leader's match for S%d is %d, want 2", id+1, s1.prs[id].match)
		}
	}
	if s1.Committed() != 1 {
		t.Fatalf("index 2 (term 2) on a majority was committed by counting: commit %d", s1.Committed())
	}
	// (d): S1 crashes; S5 can still win with S2, S3 and S4 and overwrite
	// index 2 everywhere. Committing it at (c) would have lost it.
	d := net
	d.cores[0] = nil
	d.cores[4] = mustCore(t, testCfg(4, 5), wire.HardState{Term: 4, Vote: wire.None}, logOf(1, 3), 1)
	d.drop = nil
	d.elect(4)
	for _, id := range []wire.NodeID{1, 2, 3, 4} {
		if tm, _ := d.cores[id].log.term(2); tm != 3 {
			t.Fatalf("S%d index 2 has term %d after S5 led, want 3", id+1, tm)
		}
	}

	// (e): S1 gets its no-op onto S2 or S3 before failing: both 2 and 3
	// commit, and S5 can no longer win.
	net = build()
	s1 = net.cores[0]
	net.cores[4] = nil
	net.drop = withholdNoop
	net.elect(0)
	net.drop = nil
	s1.Tick() // heartbeat: S2 and S3 answer, the leader sends the no-op
	net.settle()
	if s1.Committed() != 3 {
		t.Fatalf("commit %d after the term-4 entry reached a majority, want 3", s1.Committed())
	}
	s5 := mustCore(t, testCfg(4, 5), wire.HardState{Term: 4, Vote: wire.None}, logOf(1, 3), 1)
	net.cores[0], net.cores[4] = nil, s5
	s5.campaign(false)
	net.settle()
	if s5.role == Leader {
		t.Fatal("S5 won an election against voters holding committed entry 3")
	}
}

func TestLeaderAppendsNoopOnElection(t *testing.T) {
	net := newTestNetN(t, 3, nil)
	net.elect(1)
	ld := net.cores[1]
	last := ld.log.ents[len(ld.log.ents)-1]
	if last.Index != 1 || last.Term != ld.term || last.Type != wire.EntryNoop || len(last.Data) != 0 {
		t.Fatalf("leader's last entry %+v, want the no-op 1/%d", last, ld.term)
	}
	for id, c := range net.cores {
		if c.Committed() != 1 {
			t.Fatalf("node %d committed %d, want the no-op", id, c.Committed())
		}
		if got := net.committed[wire.NodeID(id)]; len(got) != 1 || got[0].Type != wire.EntryNoop {
			t.Fatalf("node %d applied %+v, want the no-op", id, got)
		}
	}
}

// A heartbeat tells a follower to commit only what it is known to match:
// its log beyond that may hold entries the leader will overwrite.
func TestHeartbeatCommitBoundedByMatch(t *testing.T) {
	net := newTestNetN(t, 3, nil)
	net.elect(0)
	ld := net.cores[0]
	net.drop = func(m *wire.Message) bool { return m.To == 2 || m.From == 2 }
	for _, d := range []string{"a", "b", "c"} {
		if _, _, err := ld.Propose([]byte(d)); err != nil {
			t.Fatal(err)
		}
	}
	net.settle()
	if ld.Committed() != 4 || ld.prs[2].match != 1 {
		t.Fatalf("leader commit %d, match of 2 = %d", ld.Committed(), ld.prs[2].match)
	}
	ld.Tick()
	hbs := msgsOf(flush(ld).Messages, wire.MsgHeartbeat)
	if len(hbs) != 2 {
		t.Fatalf("want 2 heartbeats, got %+v", hbs)
	}
	for _, m := range hbs {
		want := map[wire.NodeID]uint64{1: 4, 2: 1}[m.To]
		if m.Commit != want {
			t.Fatalf("heartbeat to %d carries commit %d, want %d", m.To, m.Commit, want)
		}
	}
	// Follower side: a heartbeat commits up to its Commit, capped by the log.
	f := mustCore(t, testCfg(1, 3), wire.HardState{Term: 2}, logOf(1, 1, 2), 0)
	f.Step(wire.Message{Type: wire.MsgHeartbeat, From: 0, To: 1, Term: 2, Commit: 2})
	if f.Committed() != 2 {
		t.Fatalf("follower committed %d, want 2", f.Committed())
	}
	f.Step(wire.Message{Type: wire.MsgHeartbeat, From: 0, To: 1, Term: 2, Commit: 1})
	if f.Committed() != 2 {
		t.Fatalf("commit moved back to %d", f.Committed())
	}
}

func TestStepIgnoresInvalidMessages(t *testing.T) {
	valid := wire.Message{Type: wire.MsgApp, From: 0, To: 1, Term: 5, Index: 0, LogTerm: 0, Commit: 1,
		Entries: []wire.Entry{{Index: 1, Term: 5}}}
	tests := []struct {
		name string
		edit func(*wire.Message)
	}{
		{"sender None", func(m *wire.Message) { m.From = wire.None }},
		{"addressed to another node", func(m *wire.Message) { m.To = 2 }},
		{"from itself", func(m *wire.Message) { m.From = 1 }},
		{"type zero", func(m *wire.Message) { m.Type = 0 }},
		{"type past the last", func(m *wire.Message) { m.Type = wire.MsgTypeEnd }},
		{"type 255", func(m *wire.Message) { m.Type = 255 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCore(t, testCfg(1, 3), wire.HardState{Term: 1, Vote: wire.None}, nil, 0)
			m := valid
			tt.edit(&m)
			c.Step(m)
			if c.HasReady() || c.term != 1 || c.lead != wire.None || c.LastIndex() != 0 {
				t.Fatalf("invalid message had an effect: term %d lead %d last %d ready %+v", c.term, c.lead, c.LastIndex(), c.Ready())
			}
		})
	}
	// The unmodified message does have an effect, so the cases above test
	// the filter and not a message the core would ignore anyway.
	c := mustCore(t, testCfg(1, 3), wire.HardState{Term: 1, Vote: wire.None}, nil, 0)
	c.Step(valid)
	if c.term != 5 || c.LastIndex() != 1 {
		t.Fatalf("valid message ignored: term %d last %d", c.term, c.LastIndex())
	}
}

func TestSingleNodeCluster(t *testing.T) {
	for _, preVote := range []bool{false, true} {
		cfg := testCfg(0, 1)
		cfg.PreVote, cfg.CheckQuorum = preVote, preVote
		c := mustCore(t, cfg, wire.HardState{}, nil, 0)
		var applied []wire.Entry
		for range cfg.ElectionTickMax {
			c.Tick()
			applied = append(applied, flush(c).CommittedEntries...)
		}
		for c.HasReady() {
			applied = append(applied, flush(c).CommittedEntries...)
		}
		if c.role != Leader || c.term != 1 {
			t.Fatalf("preVote=%v: role %v term %d after an election timeout", preVote, c.role, c.term)
		}
		idx, term, err := c.Propose([]byte("x"), []byte("y"))
		if err != nil || idx != 2 || term != 1 {
			t.Fatalf("Propose = %d, %d, %v", idx, term, err)
		}
		rd := c.Ready()
		if len(rd.Entries) != 2 || len(rd.CommittedEntries) != 0 {
			t.Fatalf("before its own write is durable: entries %d committed %d", len(rd.Entries), len(rd.CommittedEntries))
		}
		c.Advance(rd)
		for c.HasReady() {
			applied = append(applied, flush(c).CommittedEntries...)
		}
		if len(applied) != 3 || string(applied[1].Data) != "x" || string(applied[2].Data) != "y" {
			t.Fatalf("applied %+v, want noop, x, y", applied)
		}
		// Checks on a single node stay quiet: it is its own quorum.
		for range 5 * cfg.ElectionTickMax {
			c.Tick()
			if rd := flush(c); len(rd.Messages) != 0 {
				t.Fatalf("single node sent %+v", rd.Messages)
			}
		}
		if c.role != Leader || c.term != 1 {
			t.Fatalf("single node lost leadership: %v term %d", c.role, c.term)
		}
	}
}

func TestProposeErrors(t *testing.T) {
	f := mustCore(t, testCfg(1, 3), wire.HardState{Term: 1}, nil, 0)
	var nl *NotLeaderError
	if _, _, err := f.Propose([]byte("x")); !errors.As(err, &nl) || nl.Leader != wire.None {
		t.Fatalf("follower without a leader: %v", err)
	}
	f.Step(wire.Message{Type: wire.MsgHeartbeat, From: 2, To: 1, Term: 1})
	if _, _, err := f.Propose([]byte("x")); !errors.As(err, &nl) || nl.Leader != 2 {
		t.Fatalf("follower of 2: %v", err)
	}
	if f.LastIndex() != 0 {
		t.Fatalf("a refused proposal reached the log")
	}
	ld := mustCore(t, testCfg(0, 3), wire.HardState{Term: 1}, nil, 0)
	makeLeader(ld)
	last := ld.LastIndex()
	if _, _, err := ld.Propose(); err == nil {
		t.Fatal("empty proposal accepted")
	}
	if ld.LastIndex() != last {
		t.Fatal("empty proposal changed the log")
	}
	idx, term, err := ld.Propose([]byte("a"), nil, []byte("c"))
	if err != nil || idx != last+1 || term != ld.term || ld.LastIndex() != last+3 {
		t.Fatalf("Propose = %d, %d, %v; last %d", idx, term, err, ld.LastIndex())
	}
}
