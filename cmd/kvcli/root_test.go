package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/raftkv/raftkv/internal/tlsconf"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/internal/fakenode"
)

func TestMain(m *testing.M) {
	// readline v1.5.1 leaks one goroutine per closed Instance: Close fills
	// the operation's one-slot error channel, and the operation's loop then
	// blocks forever sending io.EOF to it. Harmless in kvcli, which closes
	// the editor only to exit; every other goroutine is still checked.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/chzyer/readline.(*Operation).ioloop"))
}

// fakeSignals stands in for SIGINT: Interrupt delivers to every
// subscriber, as signal.Notify does.
type fakeSignals struct {
	mu   sync.Mutex // guards subs
	subs map[chan<- os.Signal]bool
	// subscribed is signalled on each Notify, so a test can wait for it.
	subscribed chan struct{}
}

func newFakeSignals() *fakeSignals {
	return &fakeSignals{subs: map[chan<- os.Signal]bool{}, subscribed: make(chan struct{}, 16)}
}

func (f *fakeSignals) Notify(c chan<- os.Signal) {
	f.mu.Lock()
	f.subs[c] = true
	f.mu.Unlock()
	f.subscribed <- struct{}{}
}

func (f *fakeSignals) Stop(c chan<- os.Signal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subs, c)
}

func (f *fakeSignals) Interrupt() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.subs {
		select {
		case c <- os.Interrupt:
		default:
		}
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// opts shape the environment of one run.
type opts struct {
	stdin     string
	stdoutTTY bool
	signals   signaler
	env       map[string]string // the environment kvcli sees
}

func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	return runWith(t, opts{}, args...)
}

func runWith(t *testing.T, o opts, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdin: strings.NewReader(o.stdin), stdout: &out, stderr: &errOut, stdoutTTY: o.stdoutTTY, signals: o.signals,
		getenv: func(k string) string { return o.env[k] }}
	code := run(context.Background(), args, e)
	return result{code, out.String(), errOut.String()}
}

// check asserts the exit code, stdout, and, for failures, exactly one
// stderr line.
func (r result) check(t *testing.T, wantCode int, wantStdout string) {
	t.Helper()
	if r.code != wantCode {
		t.Fatalf("exit %d, want %d; stdout %q stderr %q", r.code, wantCode, r.stdout, r.stderr)
	}
	if r.stdout != wantStdout {
		t.Errorf("stdout %q, want %q", r.stdout, wantStdout)
	}
	if wantCode == exitOK {
		if r.stderr != "" {
			t.Errorf("stderr on success: %q", r.stderr)
		}
		return
	}
	if !strings.HasPrefix(r.stderr, "kvcli: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr is not one kvcli: line: %q", r.stderr)
	}
}

func TestCommands(t *testing.T) {
	f, url := newFake(t, 0, 0)
	ep := "--endpoints=" + url

	runCLI(t, ep, "put", "color", "blue").check(t, exitOK, "1\n")
	runCLI(t, ep, "set", "a/b c", "two words").check(t, exitOK, "2\n")
	if v, _ := f.Get("a/b c"); v != "two words" {
		t.Errorf("key with slash and space stored as %q", v)
	}
	runCLI(t, ep, "get", "color").check(t, exitOK, "blue")
	runCLI(t, ep, "get", "a/b c").check(t, exitOK, "two words")
	runCLI(t, ep, "del", "color").check(t, exitOK, "3\n")
	r := runCLI(t, ep, "get", "color")
	r.check(t, exitNotFound, "")
	if !strings.Contains(r.stderr, `"color" not found`) {
		t.Errorf("not-found message %q", r.stderr)
	}
	runCLI(t, "--timeout=2s", ep, "put", "empty", "").check(t, exitOK, "4\n")
	runCLI(t, ep, "get", "empty").check(t, exitOK, "")
	runCLI(t, ep, "rm", "nothing-there").check(t, exitOK, "5\n")
}

func TestGetOnATerminalEndsTheLine(t *testing.T) {
	f, url := newFake(t, 0, 0)
	f.Set("plain", "v")
	f.Set("ends", "line\n")
	tty := opts{stdoutTTY: true}
	runWith(t, tty, "--endpoints", url, "get", "plain").check(t, exitOK, "v\n")
	runWith(t, tty, "--endpoints", url, "get", "ends").check(t, exitOK, "line\n")
	runCLI(t, "--endpoints", url, "get", "plain").check(t, exitOK, "v") // piped: exact bytes
}

func TestConsistencyFlag(t *testing.T) {
	f, url := newFake(t, 0, 0)
	f.Set("k", "v")
	for _, c := range []string{"stale", "linearizable", "lease"} {
		runCLI(t, "--endpoints", url, "--consistency", c, "get", "k").check(t, exitOK, "v")
		if q := lastQuery(f); q != "consistency="+c {
			t.Errorf("get --consistency %s sent %q", c, q)
		}
		runCLI(t, "--endpoints", url, "--consistency", c, "list").check(t, exitOK, "k\tv\n")
		if q := lastQuery(f); q != "consistency="+c {
			t.Errorf("list --consistency %s sent %q", c, q)
		}
	}
	runCLI(t, "--endpoints", url, "get", "k").check(t, exitOK, "v")
	if q := lastQuery(f); q != "" {
		t.Errorf("default get sent %q", q)
	}
}

func TestPutValueSources(t *testing.T) {
	f, url := newFake(t, 0, 0)
	ep := "--endpoints=" + url
	runWith(t, opts{stdin: "from\nstdin\x00"}, ep, "put", "k1", "-").check(t, exitOK, "1\n")
	if v, _ := f.Get("k1"); v != "from\nstdin\x00" {
		t.Errorf("value from stdin stored as %q", v)
	}
	file := filepath.Join(t.TempDir(), "value")
	if err := os.WriteFile(file, []byte("from a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	runCLI(t, ep, "put", "k2", "--file", file).check(t, exitOK, "2\n")
	runCLI(t, ep, "set", "-f", file, "k3").check(t, exitOK, "3\n")
	if v, _ := f.Get("k3"); v != "from a file" {
		t.Errorf("value from file stored as %q", v)
	}
	r := runCLI(t, ep, "put", "k4", "--file", filepath.Join(t.TempDir(), "missing"))
	r.check(t, exitUsage, "")
	if !strings.Contains(r.stderr, "--file") || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("missing file: %q", r.stderr)
	}
	runCLI(t, ep, "put", "k5", "v", "--file", file).check(t, exitUsage, "")
}

func TestJSONOutput(t *testing.T) {
	f, url := newFake(t, 3, 0)
	ep := "--endpoints=" + url
	f.Set("bin", "\xff\x00")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"put", "color", "blue"}, `{"key":"color","index":1}`},
		{[]string{"get", "color"}, `{"key":"color","value":"blue"}`},
		{[]string{"get", "bin"}, `{"key":"bin","value_base64":"/wA="}`},
		{[]string{"list", "c"}, `{"items":[{"key":"color","value":"blue","create_revision":1,"mod_revision":1,"version":1}]}`},
		{[]string{"list"}, `{"items":[{"key":"bin","value_base64":"/wA=","create_revision":0,"mod_revision":0,"version":0},` +
			`{"key":"color","value":"blue","create_revision":1,"mod_revision":1,"version":1}]}`},
		{[]string{"get", "--meta", "color"}, `{"key":"color","value":"blue","create_revision":1,"mod_revision":1,"version":1}`},
		{[]string{"list", "zzz"}, `{"items":[]}`},
		{[]string{"del", "color"}, `{"key":"color","index":2}`},
		{[]string{"leader"}, `{"id":3,"endpoint":"` + url + `","term":4}`},
	}
	for _, tt := range tests {
		args := append([]string{ep, "-o", "json"}, tt.args...)
		r := runCLI(t, args...)
		r.check(t, exitOK, tt.want+"\n")
		if !json.Valid([]byte(r.stdout)) {
			t.Errorf("%v: not JSON: %s", tt.args, r.stdout)
		}
	}
	// Failures stay one line on stderr, nothing on stdout.
	runCLI(t, ep, "-o", "json", "get", "color").check(t, exitNotFound, "")
}

func TestList(t *testing.T) {
	f, url := newFake(t, 0, 0)
	for k, v := range map[string]string{"a/1": "one", "a/2": "two words", "a/3": "", "b": "tab\there", "c\nd": "x", "bin": "\xff"} {
		f.Set(k, v)
	}
	ep := "--endpoints=" + url
	runCLI(t, ep, "list", "a/").check(t, exitOK, "a/1\tone\na/2\t\"two words\"\na/3\t\"\"\n")
	runWith(t, opts{stdoutTTY: true}, ep, "list", "a/").check(t, exitOK, "a/1  one\na/2  \"two words\"\na/3  \"\"\n")
	runCLI(t, ep, "ls").check(t, exitOK,
		"a/1\tone\na/2\t\"two words\"\na/3\t\"\"\nb\t\"tab\\there\"\nbin\t\"\\xff\"\n\"c\\nd\"\tx\n")
	runCLI(t, ep, "list", "--limit", "2").check(t, exitOK, "a/1\tone\na/2\t\"two words\"\n")
	if q := lastQuery(f); q != "limit=2" {
		t.Errorf("--limit sent %q", q)
	}
	runCLI(t, ep, "list", "-n", "0").check(t, exitOK, runCLI(t, ep, "list").stdout)
	runCLI(t, ep, "list", "--limit", "-1").check(t, exitUsage, "")
	runCLI(t, ep, "list", "--limit", "20000").check(t, exitUsage, "") // the server's 400
	runCLI(t, ep, "list", "a", "b").check(t, exitUsage, "")
	runCLI(t, ep, "list", "nothing").check(t, exitOK, "")
}

func TestStatus(t *testing.T) {
	leader, a := newFake(t, 0, 0)
	leader.EditStatus(func(st *client.Status) {
		st.LastLogIndex, st.CommitIndex = 40, 40
		st.FirstLogIndex, st.SnapshotIndex, st.SnapshotTerm, st.LogBytes = 31, 30, 3, 12897484
		st.Peers = []client.PeerStatus{{ID: 1, MatchIndex: 40}, {ID: 2, MatchIndex: 25}, {ID: 5, MatchIndex: 3}}
	})
	follower, b := newFake(t, 1, 503) // status still answers
	follower.EditStatus(func(st *client.Status) {
		fakenode.Follows(0, "")(st)
		st.CommitIndex, st.AppliedIndex, st.LogBytes = 38, 37, 1023
	})
	lagging, c := newFake(t, 2, 0)
	lagging.EditStatus(func(st *client.Status) {
		fakenode.Follows(0, "")(st)
		st.CommitIndex, st.AppliedIndex = 20, 20
	})
	dead := deadAddr(t)
	host := func(u string) string { return strings.TrimPrefix(u, "http://") }

	r := runCLI(t, "--endpoints", a+","+b+","+c+", "+dead, "status")
	r.check(t, exitOK, r.stdout)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 6 {
		t.Fatalf("want a header, 4 rows and a summary:\n%s", r.stdout)
	}
	for i, want := range [][]string{
		{"ID", "ADDRESS", "STATE", "TERM", "LEADER", "COMMIT", "APPLIED", "LAG", "SNAPSHOT", "LOG"},
		{"0", host(a), "leader", "4", "0", "40", "0", "-", "30", "12.3MiB"},
		{"1", host(b), "follower", "4", "0", "38", "37", "0", "-", "1023B"},
		{"2", host(c), "follower", "4", "0", "20", "20", "15", "-", "0B"},
		{"-", dead, "unreachable", "-", "-", "-", "-", "-", "-", "-"},
	} {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("line %d = %q, want fields %q", i, lines[i], want)
		}
	}
	wantSummary := "4 of 4 nodes answered"
	if !strings.HasPrefix(lines[5], "3 of 4 nodes answered; leader 0 at "+host(a)+", term 4; node 5 did not answer (match index 3)") {
		t.Errorf("summary %q (want like %q)", lines[5], wantSummary)
	}

	r = runCLI(t, "--endpoints", a+","+dead, "-o", "json", "status")
	r.check(t, exitOK, r.stdout)
	var js struct {
		Nodes []struct {
			Endpoint string  `json:"endpoint"`
			ID       *uint64 `json:"id"`
			State    string  `json:"state"`
			Lag      *uint64 `json:"lag"`
			Error    string  `json:"error"`
			// The log on disk.
			FirstLogIndex *uint64 `json:"first_log_index"`
			SnapshotIndex *uint64 `json:"snapshot_index"`
			SnapshotTerm  *uint64 `json:"snapshot_term"`
			LogBytes      *int64  `json:"log_bytes"`
		} `json:"nodes"`
		Leader *struct {
			ID       uint64 `json:"id"`
			Endpoint string `json:"endpoint"`
		} `json:"leader"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &js); err != nil {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	if len(js.Nodes) != 2 || js.Nodes[0].State != "leader" || js.Nodes[0].ID == nil || js.Nodes[0].Lag != nil ||
		js.Nodes[1].Error == "" || js.Nodes[1].Endpoint != "http://"+dead || js.Leader == nil || js.Leader.Endpoint != a {
		t.Errorf("status JSON: %s", r.stdout)
	}
	if n := js.Nodes[0]; n.FirstLogIndex == nil || *n.FirstLogIndex != 31 || n.SnapshotIndex == nil || *n.SnapshotIndex != 30 ||
		n.SnapshotTerm == nil || *n.SnapshotTerm != 3 || n.LogBytes == nil || *n.LogBytes != 12897484 {
		t.Errorf("status JSON lacks the log fields: %s", r.stdout)
	}
	if n := js.Nodes[1]; n.LogBytes != nil || n.SnapshotIndex != nil {
		t.Errorf("an unreachable node has log fields: %s", r.stdout)
	}

	// Nobody answers: the table still shows why, and the exit code says so.
	r = runCLI(t, "--endpoints", dead, "status")
	r.check(t, exitUnavailable, r.stdout)
	if !strings.Contains(r.stdout, "unreachable") || !strings.Contains(r.stdout, "0 of 1 nodes answered") ||
		!strings.Contains(r.stderr, "no endpoint answered") {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}

	// An election: nobody leads.
	cand, d := newFake(t, 0, 0)
	cand.EditStatus(noLeader)
	r = runCLI(t, "--endpoints", d, "status")
	r.check(t, exitOK, r.stdout)
	if !strings.Contains(r.stdout, "no leader among them") {
		t.Errorf("election status: %s", r.stdout)
	}
}

func TestLeader(t *testing.T) {
	_, a := newFake(t, 7, 0)
	follower, b := newFake(t, 1, 0)
	follower.EditStatus(fakenode.Follows(7, strings.TrimPrefix(a, "http://")))
	want := fmt.Sprintf("%s (node 7, term 4)\n", strings.TrimPrefix(a, "http://"))
	runCLI(t, "--endpoints", a+","+b, "leader").check(t, exitOK, want)
	// The leader is not listed: the follower names it.
	runCLI(t, "--endpoints", b, "leader").check(t, exitOK, want)

	cand, c := newFake(t, 2, 0)
	cand.EditStatus(noLeader)
	r := runCLI(t, "--endpoints", c, "leader")
	r.check(t, exitUnavailable, "")
	if !strings.Contains(r.stderr, "no leader known") {
		t.Errorf("no leader: %q", r.stderr)
	}
	runCLI(t, "--endpoints", deadAddr(t), "leader").check(t, exitUnavailable, "")
}

func TestFailover(t *testing.T) {
	good, url := newFake(t, 0, 0)
	_, unavailable := newFake(t, 1, 503)
	good.Set("k", "v")
	eps := "--endpoints=" + deadAddr(t) + "," + unavailable + "," + url
	runCLI(t, eps, "get", "k").check(t, exitOK, "v")
	runCLI(t, eps, "put", "k", "w").check(t, exitOK, "1\n")
	runCLI(t, eps, "list").check(t, exitOK, "k\tw\n")
	runCLI(t, eps, "del", "k").check(t, exitOK, "2\n")
	// All down: unavailable, and the message carries the last cause.
	r := runCLI(t, "--endpoints="+deadAddr(t)+","+unavailable, "get", "k")
	r.check(t, exitUnavailable, "")
	if !strings.Contains(r.stderr, "cluster unavailable") || !strings.Contains(r.stderr, "503") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestExitCodes(t *testing.T) {
	_, good := newFake(t, 0, 0)
	dead := deadAddr(t)
	codeURL := func(code int) string { _, u := newFake(t, 9, code); return u }
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no command, empty stdin: the shell reads nothing", []string{"--endpoints", good}, exitOK},
		{"help", []string{"--help"}, exitOK},
		{"command help", []string{"bench", "write", "--help"}, exitOK},
		{"unknown command", []string{"frobnicate"}, exitUsage},
		{"unknown flag", []string{"get", "k", "--bogus"}, exitUsage},
		{"get without key", []string{"--endpoints", good, "get"}, exitUsage},
		{"get with two keys", []string{"--endpoints", good, "get", "a", "b"}, exitUsage},
		{"put without value", []string{"--endpoints", good, "put", "k"}, exitUsage},
		{"status with args", []string{"--endpoints", good, "status", "x"}, exitUsage},
		{"leader with args", []string{"--endpoints", good, "leader", "x"}, exitUsage},
		{"bad timeout", []string{"--endpoints", good, "--timeout", "soon", "get", "k"}, exitUsage},
		{"zero timeout", []string{"--endpoints", good, "--timeout", "0s", "get", "k"}, exitUsage},
		{"bad output", []string{"--endpoints", good, "-o", "yaml", "get", "k"}, exitUsage},
		{"bad consistency", []string{"--endpoints", good, "--consistency", "eventual", "get", "k"}, exitUsage},
		{"bad endpoint", []string{"--endpoints", "ftp://x:1", "get", "k"}, exitUsage},
		{"empty endpoints", []string{"--endpoints", " , ", "get", "k"}, exitUsage},
		{"bench without mode", []string{"--endpoints", good, "bench", "erase"}, exitUsage},
		{"bench zero clients", []string{"--endpoints", good, "bench", "write", "--clients", "0"}, exitUsage},
		{"bench duration and requests", []string{"--endpoints", good, "bench", "write", "-d", "1s", "-n", "5"}, exitUsage},
		{"bench bad ratio", []string{"--endpoints", good, "bench", "mixed", "--read-ratio", "2"}, exitUsage},
		{"bench ratio outside mixed", []string{"--endpoints", good, "bench", "write", "--read-ratio", "0.5"}, exitUsage},
		{"server says bad request", []string{"--endpoints", codeURL(400), "put", "k", "v"}, exitUsage},
		{"server says too large", []string{"--endpoints", codeURL(413), "put", "k", "v"}, exitUsage},
		{"server fails", []string{"--endpoints", codeURL(500), "put", "k", "v"}, exitNotFound},
		{"no leader", []string{"--endpoints", codeURL(503), "put", "k", "v"}, exitUnavailable},
		{"write timed out", []string{"--endpoints", codeURL(504), "del", "k"}, exitUnavailable},
		{"refused", []string{"--endpoints", dead, "get", "k"}, exitUnavailable},
		{"refused then good", []string{"--endpoints", dead + "," + good, "put", "k", "v"}, exitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.args...)
			if r.code != tt.want {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", r.code, tt.want, r.stdout, r.stderr)
			}
			if tt.want != exitOK {
				r.check(t, tt.want, r.stdout)
			}
		})
	}
}

func TestEndpointsFromConfig(t *testing.T) {
	_, url := newFake(t, 0, 0)
	dir := t.TempDir()
	t.Chdir(dir)

	// No config.json: the fallback address, where (probably) nothing listens.
	tg, err := resolveTarget("", tlsconf.Files{}, configPath)
	if err != nil || len(tg.endpoints) != 1 || tg.endpoints[0] != fallbackEndpoint || tg.tls != nil {
		t.Fatalf("without config.json: %+v, %v", tg, err)
	}

	cfg := fmt.Sprintf(`{"nodes":[{"id":0,"raft_addr":"tcp://127.0.0.1:7000","http_addr":%q},
		{"id":1,"raft_addr":"tcp://127.0.0.1:7001","http_addr":%q}], "heartbeat_ms": 50, "future_field": true}`,
		deadAddr(t), strings.TrimPrefix(url, "http://"))
	if err := os.WriteFile(filepath.Join(dir, configPath), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	runCLI(t, "put", "k", "from-config").check(t, exitOK, "1\n")
	runCLI(t, "get", "k").check(t, exitOK, "from-config")
	// The flag wins over the file.
	runCLI(t, "--endpoints", deadAddr(t), "get", "k").check(t, exitUnavailable, "")

	for name, bad := range map[string]string{
		"not json":     `{"nodes": [`,
		"no nodes":     `{"nodes": []}`,
		"no http_addr": `{"nodes": [{"id": 0}]}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, configPath), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		r := runCLI(t, "get", "k")
		r.check(t, exitUsage, "")
		if !strings.Contains(r.stderr, "config.json") {
			t.Errorf("%s: message %q does not name the file", name, r.stderr)
		}
	}
}

func TestConditionalWriteFlags(t *testing.T) {
	f, url := newFake(t, 0, 0)
	ep := "--endpoints=" + url
	runCLI(t, ep, "put", "k", "a", "--create").check(t, exitOK, "1\n")
	r := runCLI(t, ep, "put", "k", "b", "--create")
	r.check(t, exitCondition, "")
	if !strings.Contains(r.stderr, "condition failed") {
		t.Errorf("failed create: stderr %q", r.stderr)
	}
	// The fake spends no index on a failed condition (the server does).
	runCLI(t, ep, "put", "k", "c", "--if-match", "1").check(t, exitOK, "2\n")
	runCLI(t, ep, "put", "k", "d", "--if-match", "1").check(t, exitCondition, "")
	runCLI(t, ep, "get", "--meta", "k").check(t, exitOK, "create_revision 1\nmod_revision 2\nversion 2\nvalue c\n")
	runCLI(t, ep, "del", "k", "--if-match", "1").check(t, exitCondition, "")
	runCLI(t, ep, "del", "k", "--if-match", "2").check(t, exitOK, "3\n")
	if v, ok := f.Get("k"); ok {
		t.Fatalf("k = %q after the conditional delete", v)
	}
	conds := conds(f)
	want := []string{"*", "*", `"1"`, `"1"`, `"1"`, `"2"`}
	if !slices.Equal(conds, want) {
		t.Errorf("conditions sent %q, want %q", conds, want)
	}
	for _, args := range [][]string{
		{"put", "k", "v", "--create", "--if-match", "2"},
		{"put", "k", "v", "--if-match", "0"},
		{"put", "k", "v", "--if-match", "x"},
		{"del", "k", "--create"},
	} {
		runCLI(t, append([]string{ep}, args...)...).check(t, exitUsage, "")
	}
	if f.Index() != 3 {
		t.Errorf("a refused command line reached the server (index %d)", f.Index())
	}
}

func TestTxnCommand(t *testing.T) {
	f, url := newFake(t, 0, 0)
	f.SetTxnResults(json.RawMessage(`{"found":false,"key":"k","op":"get"}`))
	ep := "--endpoints=" + url
	body := `{"success":[{"op":"get","key":"k"}]}`
	runWith(t, opts{stdin: body}, ep, "txn", "-").check(t, exitOK, "succeeded revision 1\n"+`{"found":false,"key":"k","op":"get"}`+"\n")
	file := filepath.Join(t.TempDir(), "txn.json")
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	runCLI(t, ep, "-o", "json", "txn", "--file", file).check(t, exitOK,
		`{"succeeded":true,"revision":2,"results":[{"found":false,"key":"k","op":"get"}],"retried":false}`+"\n")
	txns, ids := txns(f), requestIDs(f)
	if len(txns) != 2 || txns[0] != body || txns[1] != body {
		t.Errorf("server got %q", txns)
	}
	if len(ids) != 2 || ids[0] == "" || ids[0] == ids[1] {
		t.Errorf("request ids %q: want a fresh one per transaction", ids)
	}
	runCLI(t, ep, "txn").check(t, exitUsage, "")
	runWith(t, opts{stdin: "{not json"}, ep, "txn", "-").check(t, exitUsage, "")
	if f.Index() != 2 {
		t.Errorf("a refused transaction reached the server")
	}
}

func TestWatchCommand(t *testing.T) {
	f, url := newFake(t, 0, 0)
	// Where it starts, two changes, then the history runs out.
	f.SetWatch(5, client.WatchEvent{Type: "progress"},
		client.WatchEvent{Type: "put", Revision: 1, Item: client.Item{Key: "k", Value: []byte("v"), CreateRevision: 1, ModRevision: 1, Version: 1}},
		client.WatchEvent{Type: "delete", Revision: 2, Item: client.Item{Key: "k", ModRevision: 2}})
	ep := "--endpoints=" + url
	r := runCLI(t, ep, "watch", "k", "--prefix", "--rev", "1")
	r.check(t, exitNotFound, "PUT k v (rev 1)\nDELETE k (rev 2)\n")
	if !strings.Contains(r.stderr, "compacted") {
		t.Errorf("stderr %q does not say compacted", r.stderr)
	}
	q := lastQuery(f)
	if q != "prefix=1&start_revision=1" {
		t.Errorf("watch query %q", q)
	}
	runCLI(t, ep, "-o", "json", "watch", "k").check(t, exitNotFound,
		`{"type":"put","key":"k","value":"v","create_revision":1,"mod_revision":1,"version":1}`+"\n"+
			`{"type":"delete","key":"k","create_revision":0,"mod_revision":2,"version":0}`+"\n")
}
