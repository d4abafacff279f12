package core_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// The commands of a trace script. Each takes the arguments after the
// command's name and returns the lines it prints; a missing or malformed
// argument fails the script (see arg, num and node), and so do more
// arguments than the command takes (-1: any number).
var traceCmds = map[string]struct {
	run     func(tr *trace, args []string) []string
	maxArgs int
}{
	"nodes":      {(*trace).cmdNodes, -1},
	"restart":    {(*trace).cmdRestart, 4},
	"campaign":   {(*trace).cmdCampaign, 1},
	"tick":       {(*trace).cmdTick, 2},
	"propose":    {(*trace).cmdPropose, 2},
	"transfer":   {(*trace).cmdTransfer, 2},
	"isolate":    {(*trace).cmdIsolate, 1},
	"partition":  {(*trace).cmdPartition, -1},
	"heal":       {(*trace).cmdHeal, 0},
	"round":      {(*trace).cmdRound, 1},
	"stabilize":  {(*trace).cmdStabilize, 0},
	"status":     {(*trace).cmdStatus, 0},
	"confchange": {(*trace).cmdConfChange, 3},
	"members":    {(*trace).cmdMembers, 0},
}

// nodes N [voters=V] [prevote] [checkquorum] [msgbytes=B]: a fresh
// cluster of N voters, or of V voters and N-V empty nodes waiting to be
// added (as a node started to join does); msgbytes=1 makes each append
// carry one entry.
func (tr *trace) cmdNodes(args []string) []string {
	n := int(tr.num(args, 0))
	if n < 1 {
		return tr.fail("nodes %d", n)
	}
	var preVote, checkQuorum bool
	msgBytes, voters := 0, n
	for _, opt := range args[1:] {
		name, v, hasValue := strings.Cut(opt, "=")
		switch {
		case opt == "prevote":
			preVote = true
		case opt == "checkquorum":
			checkQuorum = true
		case hasValue && name == "msgbytes":
			msgBytes = int(tr.parse(v))
		case hasValue && name == "voters":
			voters = int(tr.parse(v))
			if voters < 1 || voters > n {
				return tr.fail("nodes %d voters=%d", n, voters)
			}
		default:
			return tr.fail("nodes: unknown option %q", opt)
		}
	}
	peers := make([]wire.NodeID, voters)
	for i := range peers {
		peers[i] = wire.NodeID(i)
	}
	tr.cores, tr.ticked, tr.queue = make([]*core.Core, n), make([]int, n), nil
	for i := range tr.cores {
		// The election timeouts are random but drawn from Seed, so a
		// script replays: each node ticked alone times out after the
		// same number of ticks every run.
		cfg := core.Config{ID: wire.NodeID(i), Peers: peers, ElectionTickMin: 10, ElectionTickMax: 20, HeartbeatTick: 1,
			MaxInflight: 16, MaxMsgBytes: 1 << 20, Seed: 1, PreVote: preVote, CheckQuorum: checkQuorum}
		if msgBytes > 0 {
			cfg.MaxMsgBytes = msgBytes
		}
		if i >= voters {
			cfg.Peers, cfg.Incarnation = nil, joinerIncarnation(cfg.ID)
		}
		tr.start(cfg, wire.HardState{}, nil)
	}
	tr.side, tr.sides = map[wire.NodeID]int{}, 0
	return nil
}

// start (re)starts node cfg.ID from this hard state and log.
func (tr *trace) start(cfg core.Config, hs wire.HardState, ents []wire.Entry) {
	c, err := core.NewCore(cfg, hs, ents, 0)
	if err != nil {
		tr.fail("node %d: %v", cfg.ID, err)
	}
	tr.cores[cfg.ID], tr.ticked[cfg.ID] = c, 0
}

// tick ticks node id n times.
func (tr *trace) tick(id wire.NodeID, n int) {
	for range n {
		tr.cores[id].Tick()
	}
	tr.ticked[id] += n
}

// joinerIncarnation is the incarnation of the data of a node that starts
// empty to join; confchange records it with the node.
func joinerIncarnation(id wire.NodeID) uint64 { return 1000 + uint64(id) }

// restart ID TERM T1,T2,... [vote=V]: the node comes back with this term,
// vote (none unless given) and log.
func (tr *trace) cmdRestart(args []string) []string {
	id, hs := tr.node(args, 0), wire.HardState{Term: tr.num(args, 1), Vote: wire.None}
	var terms []uint64
	for _, s := range strings.Split(tr.arg(args, 2), ",") {
		terms = append(terms, tr.parse(s))
	}
	for _, opt := range args[3:] {
		v, ok := strings.CutPrefix(opt, "vote=")
		if !ok {
			return tr.fail("restart: unknown option %q", opt)
		}
		hs.Vote = tr.node([]string{v}, 0)
	}
	ents := make([]wire.Entry, len(terms))
	for i, t := range terms {
		ents[i] = wire.Entry{Index: uint64(i + 1), Term: t}
	}
	tr.start(tr.cores[id].Config(), hs, ents)
	return nil
}

// campaign ID: the node is ticked until its election timeout fires. A
// leader has none (it campaigns again only once deposed), and a node that
// may not campaign (a learner) only waits anew, so either fails the
// script.
//
// Under check-quorum a node refuses votes in its first ElectionTickMin
// ticks (see inLease), and in a script only the nodes it names tick. The
// campaigner's timeout takes at least that long, so had the others'
// clocks run too they would be past it: they are ticked up to it first.
// A script in which one of them would time out meanwhile fails instead.
func (tr *trace) cmdCampaign(args []string) []string {
	id := tr.node(args, 0)
	in := tr.cores[id].Inspect()
	if in.Role == core.Leader || !in.MayCampaign {
		return tr.fail("campaign %d: a %v that may campaign=%v has no election timeout to fire", id, in.Role, in.MayCampaign)
	}
	for i, c := range tr.cores {
		n := c.Config().ElectionTickMin - tr.ticked[i]
		if wire.NodeID(i) == id || !c.Config().CheckQuorum || n <= 0 {
			continue
		}
		if in := c.Inspect(); in.Role == core.Leader || in.ElectionElapsed+n >= in.ElectionTimeout {
			return tr.fail("campaign %d: node %d, a %v, would time out or heartbeat in the %d ticks it still needs", id, i, in.Role, n)
		}
		tr.tick(wire.NodeID(i), n)
	}
	n := in.ElectionTimeout - in.ElectionElapsed
	tr.tick(id, n)
	if after := tr.cores[id].Inspect(); after.Role == core.Follower || after.ElectionElapsed != 0 {
		return tr.fail("campaign %d: still a %v after %d ticks", id, after.Role, n)
	}
	return nil
}

// tick ID [N]
func (tr *trace) cmdTick(args []string) []string {
	id, n := tr.node(args, 0), uint64(1)
	if len(args) > 1 {
		n = tr.num(args, 1)
	}
	tr.tick(id, int(n))
	return nil
}

// propose ID DATA
func (tr *trace) cmdPropose(args []string) []string {
	idx, term, err := tr.cores[tr.node(args, 0)].Propose([]byte(tr.arg(args, 1)))
	return proposed(idx, term, err)
}

// proposed prints the outcome of a proposal.
func proposed(idx, term uint64, err error) []string {
	if err != nil {
		return []string{"refused: " + err.Error()}
	}
	return []string{fmt.Sprintf("index %d term %d", idx, term)}
}

// transfer FROM TO
func (tr *trace) cmdTransfer(args []string) []string {
	if err := tr.cores[tr.node(args, 0)].TransferLeader(tr.node(args, 1)); err != nil {
		return []string{"refused: " + err.Error()}
	}
	return nil
}

// isolate ID: nothing to or from it arrives, until heal.
func (tr *trace) cmdIsolate(args []string) []string {
	id := tr.node(args, 0)
	tr.sides++
	tr.side[id] = tr.sides
	return nil
}

// partition 0,1 / 2,3,4: only nodes on the same side hear each other,
// until heal. Every node is named once.
func (tr *trace) cmdPartition(args []string) []string {
	side := map[wire.NodeID]int{}
	for i, group := range strings.Split(strings.Join(args, " "), "/") {
		group = strings.TrimSpace(group)
		if group == "" {
			return tr.fail("partition: empty side in %q", args)
		}
		for _, s := range strings.Split(group, ",") {
			id := tr.node([]string{strings.TrimSpace(s)}, 0)
			if _, dup := side[id]; dup {
				return tr.fail("partition: node %d named twice", id)
			}
			side[id] = tr.sides + 1 + i
		}
	}
	if len(side) != len(tr.cores) {
		return tr.fail("partition: %d of %d nodes named; name each once", len(side), len(tr.cores))
	}
	tr.side = side
	tr.sides += len(side)
	return nil
}

// heal: every node hears every other again.
func (tr *trace) cmdHeal([]string) []string {
	tr.side = map[wire.NodeID]int{}
	return nil
}

// round [N]: deliver N rounds of messages (see round), 1 by default.
func (tr *trace) cmdRound(args []string) []string {
	n := uint64(1)
	if len(args) > 0 {
		n = tr.num(args, 0)
	}
	var out []string
	for range n {
		lines, _ := tr.round()
		out = append(out, lines...)
	}
	return out
}

// stabilize: deliver rounds of messages until none is left.
func (tr *trace) cmdStabilize([]string) []string {
	var out []string
	for range 1000 {
		lines, more := tr.round()
		if !more {
			return out
		}
		out = append(out, lines...)
	}
	return tr.fail("messages still flowing after 1000 rounds")
}

// status: each node's role, term, leader, commit index and log terms.
func (tr *trace) cmdStatus([]string) []string {
	var out []string
	for id, c := range tr.cores {
		out = append(out, fmt.Sprintf("%d: %v term=%d lead=%s commit=%d log=%v", id, c.Role(), c.Term(), leadName(c.Leader()), c.Committed(), termsOf(c)))
	}
	return out
}

func leadName(id wire.NodeID) string {
	if id == wire.None {
		return "none"
	}
	return strconv.FormatUint(uint64(id), 10)
}

// confchange ID add-learner|promote|remove N: node ID proposes the change
// of node N. A learner is added with addresses made up from its id.
func (tr *trace) cmdConfChange(args []string) []string {
	c, id := tr.cores[tr.node(args, 0)], tr.node(args, 2)
	cc := core.ConfChange{Member: core.Member{ID: id}}
	switch kind := tr.arg(args, 1); kind {
	case "add-learner":
		cc.Type = core.ConfAddLearner
		cc.Member = core.Member{ID: id, RaftAddr: fmt.Sprintf("tcp://n%d:7000", id), HTTPAddr: fmt.Sprintf("n%d:8000", id),
			Incarnation: tr.cores[id].Config().Incarnation}
	case "promote":
		cc.Type = core.ConfPromote
	case "remove":
		cc.Type = core.ConfRemove
	default:
		return tr.fail("confchange: unknown change %q (add-learner, promote or remove)", kind)
	}
	idx, term, err := c.ProposeConfChange(cc)
	return proposed(idx, term, err)
}

// members: the latest membership each node holds (committed or not) and
// the index of the entry that set it (0: the bootstrap one).
func (tr *trace) cmdMembers([]string) []string {
	var out []string
	for id, c := range tr.cores {
		m, at := c.Membership()
		out = append(out, fmt.Sprintf("%d: %s at=%d", id, membersOf(m), at))
	}
	return out
}

// membersOf prints a membership's voters and learners.
func membersOf(m core.Membership) string {
	var learners []wire.NodeID
	for _, mb := range m.Members {
		if mb.Learner {
			learners = append(learners, mb.ID)
		}
	}
	return fmt.Sprintf("voters=%v learners=%v", m.Voters(), learners)
}

// round delivers one round: every message every core has ready, in the
// order of their senders and then of the cores' own output, each printed;
// one that crosses a cut link is printed as dropped. What the deliveries
// make the cores send waits for the next round. It reports whether there
// was anything to deliver.
func (tr *trace) round() ([]string, bool) {
	tr.collect()
	q := tr.queue
	tr.queue = nil
	slices.SortStableFunc(q, func(a, b wire.Message) int { return int(a.From) - int(b.From) })
	var out []string
	for _, m := range q {
		if tr.side[m.From] != tr.side[m.To] {
			out = append(out, "dropped "+formatMsg(m))
			continue
		}
		out = append(out, formatMsg(m))
		tr.cores[m.To].Step(m)
	}
	return out, len(q) > 0
}

// collect queues what every core has to send, doing with each Ready what
// the driver does (the trace has nothing to persist or apply).
func (tr *trace) collect() {
	for _, c := range tr.cores {
		for c.HasReady() {
			rd := c.Ready()
			tr.queue = append(tr.queue, rd.Messages...)
			c.Advance(rd)
		}
	}
}

// termsOf lists the terms of a core's log, its first entry first.
func termsOf(c *core.Core) []uint64 {
	var ts []uint64
	for _, e := range c.Inspect().Log[1:] {
		ts = append(ts, e.Term)
	}
	return ts
}

// formatMsg prints a message's fields that are set.
func formatMsg(m wire.Message) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d->%d %v term=%d", m.From, m.To, m.Type, m.Term)
	field := func(name string, v uint64) {
		if v != 0 {
			fmt.Fprintf(&b, " %s=%d", name, v)
		}
	}
	field("logterm", m.LogTerm)
	field("index", m.Index)
	field("commit", m.Commit)
	if m.Reject {
		b.WriteString(" reject")
		field("hint", m.RejectHint)
	}
	field("context", m.Context)
	field("tick", m.Tick)
	if len(m.Entries) > 0 {
		var ents []string
		for _, e := range m.Entries {
			s := fmt.Sprintf("%d/%d", e.Term, e.Index)
			if m, err := core.DecodeMembership(e.Data); e.Type == wire.EntryConfChange && err == nil {
				s += fmt.Sprintf(":conf(%s)", membersOf(m))
			} else if len(e.Data) > 0 {
				s += fmt.Sprintf(":%q", e.Data)
			}
			ents = append(ents, s)
		}
		fmt.Fprintf(&b, " entries=[%s]", strings.Join(ents, " "))
	}
	return b.String()
}
