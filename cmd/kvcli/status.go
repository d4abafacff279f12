package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/raftkv/raftkv/api/client"
)

func statusCmd(a *app) *cobra.Command {
	var w watchOpts
	cmd := &cobra.Command{
		Use:   "status [--watch [--interval D] [--count N]]",
		Short: "Show every node's Raft state, and how far each follower lags behind the leader",
		Long: "Ask every endpoint for its status, at once, and print one row per node. LAG is the number\n" +
			"of log entries the leader has that a follower has not acknowledged, in the leader's view.\n" +
			"SNAPSHOT is the index of the node's latest snapshot (- for none), LOG the size of its log\n" +
			"on disk: the entries after that snapshot.\n\n" +
			"--watch (-w) asks again every --interval (1s; a bare number is seconds) until Ctrl-C,\n" +
			"which exits 0, or until --count refreshes. On a terminal the table is redrawn in place,\n" +
			"like top, under a line with the time, leader, term and nodes up; a change of leader or\n" +
			"term is highlighted, and the last few are listed under the table. Otherwise one table\n" +
			"per refresh is printed, separated by blank lines, with a \"*** leader changed: ...\" line\n" +
			"when the leader or term changed since the refresh before; -o json prints one object per\n" +
			"line per refresh.",
		Args: cobra.NoArgs,
		RunE: withClient(a, func(ctx context.Context, c *client.Client, _ []string) error {
			if w.on {
				return a.watchStatus(ctx, c, w)
			}
			view := newClusterView(c.StatusCluster(ctx))
			var err error
			if a.json() {
				err = writeJSON(a.stdout, view.json())
			} else {
				err = view.writeTable(a.stdout)
			}
			if err != nil {
				return err
			}
			if view.answered == 0 {
				return &exitError{code: exitUnavailable, err: fmt.Errorf("no endpoint answered: %w", view.lastErr)}
			}
			return nil
		}),
	}
	w.addFlags(cmd)
	// The flags are checked before a client is made: a bad interval is a
	// usage error even when no endpoint could be resolved.
	cmd.PreRunE = func(cmd *cobra.Command, _ []string) error { return w.check(cmd) }
	return cmd
}

// clusterView is the status of every endpoint, with the leader's idea of
// each follower's progress.
type clusterView struct {
	nodes    []client.NodeStatus
	leader   *client.NodeStatus // the answering leader with the highest term, if any
	match    map[uint64]uint64  // follower id -> match index, from the leader
	roles    map[uint64]string  // member id -> voter or learner, from the leader
	answered int
	lastErr  error
}

func newClusterView(nodes []client.NodeStatus) *clusterView {
	v := &clusterView{nodes: nodes, match: map[uint64]uint64{}, roles: map[uint64]string{}}
	for i := range nodes {
		n := &nodes[i]
		if n.Err != nil {
			v.lastErr = n.Err
			continue
		}
		v.answered++
		if n.Status.State == "leader" && (v.leader == nil || n.Status.Term > v.leader.Status.Term) {
			v.leader = n
		}
	}
	if v.leader != nil {
		for _, p := range v.leader.Status.Peers {
			v.match[p.ID] = p.MatchIndex
		}
		for _, m := range v.leader.Status.Members {
			v.roles[m.ID] = m.Role
		}
	}
	return v
}

// role is the member's role in the leader's view, nil when unknown.
func (v *clusterView) role(id uint64) any {
	if r, ok := v.roles[id]; ok {
		return r
	}
	return nil
}

// state is the node's state for the table: a learner says so (it is
// always a follower), and a node the leader's membership does not list
// is "removed".
func (v *clusterView) state(st client.Status) string {
	if len(v.roles) == 0 {
		return st.State
	}
	switch role, ok := v.roles[st.ID]; {
	case !ok:
		return "removed"
	case role == "learner":
		return "learner"
	}
	return st.State
}

// lag returns how many entries the leader has that node n has not
// acknowledged, and whether that is known.
func (v *clusterView) lag(n *client.NodeStatus) (uint64, bool) {
	if v.leader == nil || n.Err != nil || n == v.leader {
		return 0, false
	}
	m, ok := v.match[n.Status.ID]
	if !ok {
		return 0, false
	}
	if last := v.leader.Status.LastLogIndex; last > m {
		return last - m, true
	}
	return 0, true
}

func (v *clusterView) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tSTATE\tTERM\tLEADER\tCOMMIT\tAPPLIED\tLAG\tSNAPSHOT\tLOG")
	for i := range v.nodes {
		n := &v.nodes[i]
		if n.Err != nil {
			fmt.Fprintf(tw, "-\t%s\tunreachable\t-\t-\t-\t-\t-\t-\t-\n", hostPort(n.Endpoint))
			continue
		}
		st := n.Status
		leader := "-"
		if st.Leader != nil {
			leader = strconv.FormatUint(*st.Leader, 10)
		}
		lag := "-"
		if l, ok := v.lag(n); ok {
			lag = strconv.FormatUint(l, 10)
		}
		snap := "-"
		if st.SnapshotIndex > 0 {
			snap = strconv.FormatUint(st.SnapshotIndex, 10)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%d\t%d\t%s\t%s\t%s\n",
			st.ID, hostPort(n.Endpoint), v.state(st), st.Term, leader, st.CommitIndex, st.AppliedIndex, lag,
			snap, humanBytes(st.LogBytes))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, v.summary())
	return err
}

// summary is the one line that says whether the cluster is healthy.
func (v *clusterView) summary() string {
	s := fmt.Sprintf("%d of %d nodes answered", v.answered, len(v.nodes))
	if v.leader == nil {
		if v.answered == 0 {
			return s
		}
		return s + "; no leader among them (election under way, or the leader is not listed)"
	}
	s += fmt.Sprintf("; leader %d at %s, term %d", v.leader.Status.ID, hostPort(v.leader.Endpoint), v.leader.Status.Term)
	// Followers the leader tracks that no listed endpoint answered for:
	// down, or missing from --endpoints.
	seen := map[uint64]bool{}
	for _, n := range v.nodes {
		if n.Err == nil {
			seen[n.Status.ID] = true
		}
	}
	for _, p := range v.leader.Status.Peers {
		if !seen[p.ID] {
			s += fmt.Sprintf("; node %d did not answer (match index %d)", p.ID, p.MatchIndex)
		}
	}
	return s
}

func (v *clusterView) json() jsonObject {
	var leader any
	if v.leader != nil {
		leader = jsonObject{{"id", v.leader.Status.ID}, {"endpoint", v.leader.Endpoint}, {"term", v.leader.Status.Term}}
	}
	return jsonObject{{"nodes", v.nodesJSON()}, {"leader", leader}}
}

// nodesJSON is one object per endpoint, in endpoint order.
func (v *clusterView) nodesJSON() []jsonObject {
	nodes := make([]jsonObject, len(v.nodes))
	for i := range v.nodes {
		n := &v.nodes[i]
		o := jsonObject{{"endpoint", n.Endpoint}}
		if n.Err != nil {
			nodes[i] = append(o, field{"error", n.Err.Error()})
			continue
		}
		st := n.Status
		o = append(o, field{"id", st.ID}, field{"state", st.State}, field{"role", v.role(st.ID)}, field{"term", st.Term}, field{"leader", st.Leader},
			field{"commit_index", st.CommitIndex}, field{"applied_index", st.AppliedIndex}, field{"last_log_index", st.LastLogIndex},
			field{"first_log_index", st.FirstLogIndex}, field{"snapshot_index", st.SnapshotIndex},
			field{"snapshot_term", st.SnapshotTerm}, field{"log_bytes", st.LogBytes})
		if l, ok := v.lag(n); ok {
			o = append(o, field{"lag", l})
		} else {
			o = append(o, field{"lag", nil})
		}
		nodes[i] = o
	}
	return nodes
}
