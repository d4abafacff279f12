package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/api/client"

	"github.com/raftkv/raftkv/internal/fakenode"
)

// bgRun is kvcli running in the background, its output readable as it
// comes.
type bgRun struct {
	out, errOut *syncBuffer
	done        chan int
}

func startCLI(ctx context.Context, o opts, args ...string) *bgRun {
	b := &bgRun{out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan int, 1)}
	e := &env{stdin: strings.NewReader(o.stdin), stdout: b.out, stderr: b.errOut, stdoutTTY: o.stdoutTTY, signals: o.signals}
	go func() { b.done <- run(ctx, args, e) }()
	return b
}

// exit waits for the run to end, at most within.
func (b *bgRun) exit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case code := <-b.done:
		return code
	case <-time.After(within):
		t.Fatalf("kvcli still runs after %v; stdout %q stderr %q", within, b.out.String(), b.errOut.String())
		return 0
	}
}

// waitUntil polls cond until it holds, failing the test after 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// On a terminal each line starts by clearing itself.
var tableHeader = regexp.MustCompile(`(?m)^(\x1b\[K)?ID +ADDRESS +STATE`)

func tables(out string) int { return len(tableHeader.FindAllString(out, -1)) }

const wantChange = "leader changed: node 0 -> node 1 (term 4 -> 5)"

// electionFakes starts two fake nodes whose status shows node 0 leading
// in term 4 for two refreshes, and from the third on node 1 in term 5.
func electionFakes(t *testing.T) (n0, n1 *fakenode.Node, a, b string) {
	t.Helper()
	n0, a = newFake(t, 0, 0)
	n1, b = newFake(t, 1, 0)
	host := func(u string) string { return strings.TrimPrefix(u, "http://") }
	n0.EditStatus(nil, nil, // the fake leads, in term 4
		func(st *client.Status) {
			fakenode.Follows(1, host(b))(st)
			st.Term = 5
		})
	followsA := fakenode.Follows(0, host(a))
	n1.EditStatus(followsA, followsA, func(st *client.Status) { st.Term = 5 })
	return n0, n1, a, b
}

// TestWatchPlain: not on a terminal, one table per refresh, separated by
// blank lines, the change of leader in a "***" line in the refresh that
// saw it and listed under the tables after it.
func TestWatchPlain(t *testing.T) {
	n0, n1, a, b := electionFakes(t)
	start := time.Now()
	r := runCLI(t, "--endpoints", a+","+b, "status", "--watch", "--interval", "20ms", "--count", "4")
	r.check(t, exitOK, r.stdout)
	if d := time.Since(start); d < 3*20*time.Millisecond {
		t.Errorf("4 refreshes 20ms apart took %v", d)
	}
	if n := tables(r.stdout); n != 4 {
		t.Errorf("%d tables, want 4:\n%s", n, r.stdout)
	}
	if n0.StatusRequests() != 4 || n1.StatusRequests() != 4 {
		t.Errorf("status requests %d and %d, want 4 each", n0.StatusRequests(), n1.StatusRequests())
	}
	blocks := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n\n")
	if len(blocks) != 4 {
		t.Fatalf("%d blank-line-separated blocks, want 4:\n%s", len(blocks), r.stdout)
	}
	hdr := func(id int, ep string, term int) *regexp.Regexp {
		return regexp.MustCompile(fmt.Sprintf(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  leader %d \(%s\)  term %d  2/2 nodes up$`,
			id, regexp.QuoteMeta(strings.TrimPrefix(ep, "http://")), term))
	}
	listed := regexp.MustCompile(`(?m)^Recent changes:\n  \d\d:\d\d:\d\d  ` + regexp.QuoteMeta(wantChange) + `$`)
	for i, blk := range blocks {
		lines := strings.Split(blk, "\n")
		want, changed := hdr(0, a, 4), false
		if i >= 2 {
			want, changed = hdr(1, b, 5), i == 2
		}
		if !want.MatchString(lines[0]) {
			t.Errorf("block %d header %q, want like %s", i, lines[0], want)
		}
		if got := lines[1] == "*** "+wantChange; got != changed {
			t.Errorf("block %d: change line %v, want %v:\n%s", i, got, changed, blk)
		}
		if got := listed.MatchString(blk); got != (i >= 2) {
			t.Errorf("block %d: change listed %v, want %v:\n%s", i, got, i >= 2, blk)
		}
		if tables(blk) != 1 || !strings.Contains(blk, "2 of 2 nodes answered; leader ") {
			t.Errorf("block %d has no whole table:\n%s", i, blk)
		}
	}
	if n := strings.Count(r.stdout, "***"); n != 1 {
		t.Errorf("%d *** lines, want 1", n)
	}
}

func TestWatchInterval(t *testing.T) {
	_, url := newFake(t, 0, 0)
	for _, tt := range []struct {
		interval []string // the flag as given; none: the default, 1s
		count    int
		gap      time.Duration
	}{
		{[]string{"--interval", "50ms"}, 5, 50 * time.Millisecond},
		{[]string{"--interval=0.1"}, 4, 100 * time.Millisecond}, // a bare number is seconds
		{nil, 2, time.Second},
	} {
		args := append([]string{"--endpoints", url, "status", "-w", "--count", fmt.Sprint(tt.count)}, tt.interval...)
		start := time.Now()
		r := runCLI(t, args...)
		d := time.Since(start)
		r.check(t, exitOK, r.stdout)
		if n := tables(r.stdout); n != tt.count {
			t.Errorf("%q: %d tables, want %d", tt.interval, n, tt.count)
		}
		// The first refresh is at once; the others one gap apart. The upper
		// bound is below what the default interval would take.
		lo := time.Duration(tt.count-1) * tt.gap
		if hi := lo + time.Second; d < lo || d > hi {
			t.Errorf("%q: %d refreshes took %v, want %v to %v", tt.interval, tt.count, d, lo, hi)
		}
	}
}

// TestWatchStops: Ctrl-C, or the context's end, stops the watch at once,
// even in the middle of a refresh, and it exits 0; on a terminal the
// cursor is shown again.
func TestWatchStops(t *testing.T) {
	for _, tt := range []struct {
		name   string
		tty    bool
		cancel bool // cancel the context instead of Ctrl-C
		hang   bool // stop while a refresh waits for the node
	}{
		{name: "ctrl-c"},
		{name: "ctrl-c on a terminal", tty: true},
		{name: "context", cancel: true},
		{name: "ctrl-c during a refresh", hang: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, url := newFake(t, 0, 0)
			if tt.hang {
				f.Intercept(holdStatus)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sigs := newFakeSignals()
			// A refresh that hangs waits min(--timeout, --interval): long.
			b := startCLI(ctx, opts{stdoutTTY: tt.tty, signals: sigs},
				"--endpoints", url, "--timeout", "30s", "status", "-w", "--interval", "20s")
			<-sigs.subscribed
			if tt.hang {
				waitUntil(t, "the status request", func() bool { return f.StatusRequests() > 0 })
			} else {
				waitUntil(t, "a table", func() bool { return tables(b.out.String()) > 0 })
			}
			start := time.Now()
			if tt.cancel {
				cancel()
			} else {
				sigs.Interrupt()
			}
			code := b.exit(t, 5*time.Second)
			if code != exitOK || b.errOut.String() != "" {
				t.Fatalf("exit %d, stderr %q; want 0 and nothing", code, b.errOut.String())
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v to stop", d)
			}
			out := b.out.String()
			switch {
			case tt.hang && out != "":
				t.Errorf("an interrupted refresh was drawn: %q", out)
			case tt.tty && !strings.HasSuffix(out, ansiShowCursor+"\n"):
				t.Errorf("the terminal is not restored: %q", out)
			case !tt.tty && !tt.hang && (tables(out) != 1 || !strings.HasSuffix(out, "1 of 1 nodes answered; leader 0 at "+strings.TrimPrefix(url, "http://")+", term 4\n")):
				t.Errorf("output %q", out)
			}
		})
	}
}

func TestWatchJSON(t *testing.T) {
	_, _, a, b := electionFakes(t)
	r := runCLI(t, "--endpoints", a+","+b, "-o", "json", "status", "--watch", "--interval", "10ms", "--count", "4")
	r.check(t, exitOK, r.stdout)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want one per refresh:\n%s", len(lines), r.stdout)
	}
	for i, line := range lines {
		var js struct {
			Time    string
			NodesUp int `json:"nodes_up"`
			Term    uint64
			Leader  struct {
				ID       uint64
				Endpoint string
				Term     uint64
			}
			Change *struct {
				From     *uint64 `json:"from"`
				To       *uint64 `json:"to"`
				FromTerm uint64  `json:"from_term"`
				ToTerm   uint64  `json:"to_term"`
				Text     string  `json:"text"`
			}
			Nodes []struct {
				ID    uint64
				State string
			}
		}
		if err := json.Unmarshal([]byte(line), &js); err != nil {
			t.Fatalf("line %d: %v: %s", i, err, line)
		}
		if _, err := time.Parse(time.RFC3339Nano, js.Time); err != nil {
			t.Errorf("line %d time: %v", i, err)
		}
		wantID, wantEP, wantTerm := uint64(0), a, uint64(4)
		if i >= 2 {
			wantID, wantEP, wantTerm = 1, b, 5
		}
		if js.NodesUp != 2 || len(js.Nodes) != 2 || js.Term != wantTerm || js.Leader.ID != wantID ||
			js.Leader.Endpoint != wantEP || js.Leader.Term != wantTerm || js.Nodes[wantID].State != "leader" {
			t.Errorf("line %d: %s", i, line)
		}
		if (js.Change != nil) != (i == 2) {
			t.Errorf("line %d: change %v", i, js.Change)
		}
		if c := js.Change; c != nil && (c.From == nil || *c.From != 0 || c.To == nil || *c.To != 1 ||
			c.FromTerm != 4 || c.ToTerm != 5 || c.Text != wantChange) {
			t.Errorf("change: %s", line)
		}
	}
}

// TestWatchTerminal: on a terminal the screen is cleared once, then each
// refresh is drawn over the last from the top; the leader's row is bold
// and a change of leader is shown in reverse video.
func TestWatchTerminal(t *testing.T) {
	_, _, a, b := electionFakes(t)
	r := runWith(t, opts{stdoutTTY: true}, "--endpoints", a+","+b, "status", "-w", "--interval", "10ms", "--count", "4")
	r.check(t, exitOK, r.stdout)
	out := r.stdout
	if !strings.HasPrefix(out, ansiHideCursor+ansiHome+ansiClear) || !strings.HasSuffix(out, ansiClearBelow+ansiShowCursor) {
		t.Fatalf("the screen is not set up and restored: %q", out)
	}
	frames := strings.Split(strings.TrimSuffix(out, ansiShowCursor), ansiHome)[2:]
	if len(frames) != 4 {
		t.Fatalf("%d frames, want 4: %q", len(frames), out)
	}
	highlight := ansiHighlight + " *** "
	for i, f := range frames {
		body, ok := strings.CutSuffix(f, ansiClearBelow)
		if !ok {
			t.Fatalf("frame %d does not clear what is below it: %q", i, f)
		}
		for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
			if !strings.HasPrefix(line, ansiClearLine) {
				t.Errorf("frame %d: line %q is not cleared first", i, line)
			}
		}
		leaderRow := ansiClearLine + ansiBold + "0 "
		if i >= 2 {
			leaderRow = ansiClearLine + ansiBold + "1 "
		}
		if !strings.Contains(f, leaderRow) || strings.Count(f, ansiBold) != 1 {
			t.Errorf("frame %d: the leader's row is not the one bold: %q", i, f)
		}
		hl := strings.Contains(f, highlight) && strings.Contains(f, wantChange+" "+ansiReset)
		if hl != (i >= 2) || strings.Contains(f, highlight) != hl {
			t.Errorf("frame %d: highlighted %v: %q", i, hl, f)
		}
		if !strings.Contains(f, "[every 10ms, Ctrl-C quits]") {
			t.Errorf("frame %d header: %q", i, f)
		}
	}
}

func TestWatchBadFlags(t *testing.T) {
	f, url := newFake(t, 0, 0)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-w", "--interval", "0"}, "at least 10ms"},
		{[]string{"-w", "--interval", "-1s"}, "at least 10ms"},
		{[]string{"-w", "--interval", "5ms"}, "at least 10ms"},
		{[]string{"-w", "--interval", "abc"}, `invalid argument "abc"`},
		{[]string{"-w", "--interval", "1x"}, "invalid argument"},
		{[]string{"-w", "--interval", "NaN"}, "invalid argument"},
		{[]string{"-w", "--interval", "1e300"}, "invalid argument"},
		{[]string{"-w", "--interval"}, "needs an argument"},
		{[]string{"-w", "--count", "-1"}, "--count -1 is negative"},
		{[]string{"-w", "--count", "x"}, "invalid argument"},
		{[]string{"--interval", "1s"}, "--interval needs --watch"},
		{[]string{"--count", "3"}, "--count needs --watch"},
		{[]string{"-w", "extra"}, "unknown command"},
	} {
		r := runCLI(t, append([]string{"--endpoints", url, "status"}, tt.args...)...)
		r.check(t, exitUsage, "")
		if !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%q: stderr %q, want %q in it", tt.args, r.stderr, tt.want)
		}
	}
	if n := f.StatusRequests(); n != 0 {
		t.Errorf("bad flags still sent %d status requests", n)
	}
}

// TestWatchNoAnswer: a refresh in which no node answers is shown, says
// nothing about the leader (the same leader after it is no change), and
// does not end the watch.
func TestWatchNoAnswer(t *testing.T) {
	f, url := newFake(t, 0, 0)
	f.Intercept(func(r fakenode.Request) *fakenode.Answer {
		if r.Path == "/v1/status" && r.N == 1 {
			return &fakenode.Answer{Code: http.StatusServiceUnavailable}
		}
		return nil
	})
	r := runCLI(t, "--endpoints", url, "status", "-w", "--interval", "10ms", "--count", "3")
	r.check(t, exitOK, r.stdout)
	blocks := strings.Split(r.stdout, "\n\n")
	if len(blocks) != 3 || !regexp.MustCompile(`^\S+ \S+  leader -  term -  0/1 nodes up\n`).MatchString(blocks[1]) ||
		!strings.Contains(blocks[1], "unreachable") || !strings.Contains(blocks[1], "0 of 1 nodes answered") ||
		strings.Contains(r.stdout, "***") || strings.Contains(r.stdout, "Recent changes") {
		t.Errorf("output:\n%s", r.stdout)
	}

	// Nothing answers at all: the watch still watches.
	dead := deadAddr(t)
	r = runCLI(t, "--endpoints", dead, "status", "-w", "--interval", "10ms", "--count", "2")
	r.check(t, exitOK, r.stdout)
	if tables(r.stdout) != 2 || strings.Count(r.stdout, "0/1 nodes up") != 2 {
		t.Errorf("output:\n%s", r.stdout)
	}
}

// TestWatchHungNode: a node that never answers costs each refresh at most
// a second (not --timeout), and shows as unreachable.
func TestWatchHungNode(t *testing.T) {
	if testing.Short() {
		t.Skip("waits two seconds")
	}
	_, good := newFake(t, 0, 0)
	hung, bad := newFake(t, 1, 0)
	hung.Intercept(holdStatus)
	start := time.Now()
	r := runCLI(t, "--endpoints", good+","+bad, "--timeout", "30s", "status", "-w", "--interval", "20ms", "--count", "2")
	d := time.Since(start)
	r.check(t, exitOK, r.stdout)
	if d < 2*minRefreshWait || d > 2*minRefreshWait+3*time.Second {
		t.Errorf("2 refreshes with a hung node took %v, want about %v", d, 2*minRefreshWait)
	}
	if strings.Count(r.stdout, "1/2 nodes up") != 2 || strings.Count(r.stdout, "unreachable") != 2 {
		t.Errorf("output:\n%s", r.stdout)
	}
}

// TestShellWatch: in the shell, status --watch runs until Ctrl-C, which
// ends it and not the shell.
func TestShellWatch(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	_, url := newFake(t, 0, 0)

	// A script: --count ends it, and the next line runs.
	r := runWith(t, opts{stdin: "status -w --interval 10ms --count 2\nleader\n"}, "--endpoints", url)
	r.check(t, exitOK, r.stdout)
	if tables(r.stdout) != 2 || !strings.HasSuffix(r.stdout, "(node 0, term 4)\n") {
		t.Errorf("script output:\n%s", r.stdout)
	}

	// Interactive: Ctrl-C stops the watch; the shell goes on.
	inR, inW := io.Pipe()
	sigs := newFakeSignals()
	b := &bgRun{out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan int, 1)}
	e := &env{stdin: inR, stdout: b.out, stderr: b.errOut, stdinTTY: true, signals: sigs, editorHook: terminalHook(inR)}
	go func() { b.done <- run(context.Background(), []string{"--endpoints", url}, e) }()
	<-sigs.subscribed
	prompt := "raftkv " + strings.TrimPrefix(url, "http://") + " (leader)> "
	waitUntil(t, "the prompt", func() bool { return strings.Contains(b.out.String(), prompt) })
	inW.Write([]byte("status --watch --interval 10ms\r"))
	waitUntil(t, "three tables", func() bool { return tables(b.out.String()) >= 3 })
	sigs.Interrupt()
	waitUntil(t, "the prompt again", func() bool {
		out := b.out.String()
		return strings.Count(out, prompt) >= 2 && strings.LastIndex(out, prompt) > strings.LastIndex(out, "nodes answered")
	})
	inW.Write([]byte("\x04"))
	code := b.exit(t, 10*time.Second)
	inW.Close()
	if code != exitOK || b.errOut.String() != "" {
		t.Errorf("exit %d, stderr %q", code, b.errOut.String())
	}
}

func TestObserveLeader(t *testing.T) {
	u := func(v uint64) *uint64 { return &v }
	s := func(v string) *string { return &v }
	type (
		Status     = client.Status
		NodeStatus = client.NodeStatus
	)
	up := func(ep string, st Status) NodeStatus { return NodeStatus{Endpoint: ep, Status: st} }
	down := NodeStatus{Endpoint: "http://h:3", Err: errors.New("refused")}
	for _, tt := range []struct {
		name  string
		nodes []NodeStatus
		want  leaderSeen
		ok    bool
	}{
		{"a leader answers", []NodeStatus{
			up("http://h:1", Status{ID: 1, State: "follower", Term: 3, Leader: u(2), LeaderHTTP: s("h:2")}),
			up("http://h:2", Status{ID: 2, State: "leader", Term: 3, Leader: u(2)}), down},
			leaderSeen{known: true, id: 2, term: 3, endpoint: "http://h:2"}, true},
		{"a follower names it", []NodeStatus{
			up("http://h:1", Status{ID: 1, State: "follower", Term: 3, Leader: u(7), LeaderHTTP: s("h:7")}), down},
			leaderSeen{known: true, id: 7, term: 3, endpoint: "http://h:7"}, true},
		{"a follower names it without an address", []NodeStatus{
			up("http://h:1", Status{ID: 1, State: "follower", Term: 3, Leader: u(7)})},
			leaderSeen{known: true, id: 7, term: 3}, true},
		{"a deposed leader loses to the newer term", []NodeStatus{
			up("http://h:1", Status{ID: 1, State: "leader", Term: 3, Leader: u(1)}),
			up("http://h:2", Status{ID: 2, State: "follower", Term: 4, Leader: u(3), LeaderHTTP: s("h:3")})},
			leaderSeen{known: true, id: 3, term: 4, endpoint: "http://h:3"}, true},
		{"an election", []NodeStatus{
			up("http://h:1", Status{ID: 1, State: "candidate", Term: 7}),
			up("http://h:2", Status{ID: 2, State: "follower", Term: 6}), down},
			leaderSeen{term: 7}, true},
		{"nobody answers", []NodeStatus{down, down}, leaderSeen{}, false},
	} {
		got, ok := observeLeader(newClusterView(tt.nodes))
		if got != tt.want || ok != tt.ok {
			t.Errorf("%s: %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestLeaderChangeText(t *testing.T) {
	lead := func(id, term uint64) leaderSeen { return leaderSeen{known: true, id: id, term: term} }
	none := func(term uint64) leaderSeen { return leaderSeen{term: term} }
	for _, tt := range []struct {
		from, to leaderSeen
		want     string // "" for no change
	}{
		{lead(1, 3), lead(1, 3), ""},
		{lead(1, 3), leaderSeen{known: true, id: 1, term: 3, endpoint: "http://elsewhere:1"}, ""}, // same leader
		{none(4), none(4), ""},
		{lead(1, 3), lead(2, 4), "leader changed: node 1 -> node 2 (term 3 -> 4)"},
		{lead(1, 3), none(4), "leader changed: node 1 -> none (term 3 -> 4)"},
		{none(4), lead(2, 4), "leader changed: none -> node 2 (term 4)"},
		{lead(1, 3), lead(1, 5), "term changed: node 1 leads again (term 3 -> 5)"},
		{none(4), none(5), "term changed: still no leader (term 4 -> 5)"},
	} {
		c, changed := compareLeaders(tt.from, tt.to, time.Time{})
		if got := c.text(); changed != (tt.want != "") || changed && got != tt.want {
			t.Errorf("%+v -> %+v: changed %v %q, want %q", tt.from, tt.to, changed, got, tt.want)
		}
	}
}

// TestWatchFrameFitsTerminal: on a small terminal lines are cut to its
// width and the frame to its height less one row, so nothing wraps or
// scrolls.
func TestWatchFrameFitsTerminal(t *testing.T) {
	nodes := []client.NodeStatus{
		{Endpoint: "http://a-rather-long-host-name.example:8000", Status: client.Status{ID: 1, State: "leader", Term: 2}},
		{Endpoint: "http://b:8000", Err: errors.New("refused")},
	}
	for _, tt := range []struct{ width, height, lines int }{
		{20, 5, 4},
		{200, 100, 6}, // header, highlight row, table header, 2 rows, summary
		{0, 0, 6},     // size unknown
	} {
		var out strings.Builder
		w := &watcher{out: &out, tty: true, interval: time.Second,
			termSize: func() (int, int) { return tt.width, tt.height }}
		if err := w.show(time.Now(), newClusterView(nodes)); err != nil {
			t.Fatal(err)
		}
		frame, ok := strings.CutSuffix(strings.TrimPrefix(out.String(), ansiHome), ansiClearBelow)
		if !ok {
			t.Fatalf("%dx%d: frame %q", tt.width, tt.height, out.String())
		}
		lines := strings.Split(strings.TrimSuffix(frame, "\n"), "\n")
		if len(lines) != tt.lines {
			t.Errorf("%dx%d: %d lines, want %d: %q", tt.width, tt.height, len(lines), tt.lines, frame)
		}
		for _, l := range lines {
			visible := strings.NewReplacer(ansiClearLine, "", ansiBold, "", ansiReset, "").Replace(l)
			if tt.width > 0 && len([]rune(visible)) > tt.width {
				t.Errorf("%dx%d: line %q is wider than the terminal", tt.width, tt.height, visible)
			}
		}
	}
}

func TestWatchHeader(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	u := func(v uint64) *uint64 { return &v }
	s := func(v string) *string { return &v }
	down := func(ep string) client.NodeStatus { return client.NodeStatus{Endpoint: ep, Err: errors.New("refused")} }
	for _, tt := range []struct {
		name  string
		nodes []client.NodeStatus
		want  string
	}{
		{"a leader answers", []client.NodeStatus{
			{Endpoint: "http://h:1", Status: client.Status{ID: 1, State: "leader", Term: 3}}, down("http://h:2")},
			"03:04:05  leader 1 (h:1)  term 3  1/2 nodes up"},
		{"its followers still name a dead leader", []client.NodeStatus{
			down("http://h:1"),
			{Endpoint: "http://h:2", Status: client.Status{ID: 2, State: "follower", Term: 3, Leader: u(1), LeaderHTTP: s("h:1")}}},
			"03:04:05  leader 1 (h:1, not answering)  term 3  1/2 nodes up"},
		{"no address for the leader", []client.NodeStatus{
			{Endpoint: "http://h:2", Status: client.Status{ID: 2, State: "follower", Term: 3, Leader: u(1)}}},
			"03:04:05  leader 1  term 3  1/1 nodes up"},
		{"an election", []client.NodeStatus{
			{Endpoint: "http://h:2", Status: client.Status{ID: 2, State: "candidate", Term: 9}}},
			"03:04:05  leader none  term 9  1/1 nodes up"},
		{"nobody answers", []client.NodeStatus{down("http://h:1")}, "03:04:05  leader -  term -  0/1 nodes up"},
	} {
		v := newClusterView(tt.nodes)
		seen, ok := observeLeader(v)
		if got := header(at, time.TimeOnly, v, seen, ok); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
