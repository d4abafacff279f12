package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/logs"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/internal/fakenode"
)

// makeSnapshot writes a real snapshot file through the logs package and
// returns its bytes.
func makeSnapshot(t *testing.T, index, term uint64, body []byte) []byte {
	t.Helper()
	store, err := logs.OpenSnapshotStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, err := store.Create(logs.SnapshotMeta{Index: index, Term: term, Peers: []uint64{0, 1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	r, _, err := store.OpenRaw(index)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// backupNode serves data as GET /v1/admin/backup. length is the
// Content-Length announced (0: len(data)); headers says whether it names
// the snapshot in X-Raftkv-Snapshot-* headers (a follower relaying the
// leader's answer does not), as index and term.
type backupNode struct {
	data        []byte
	length      int
	headers     bool
	index, term uint64
}

func (b *backupNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/admin/backup" || r.Method != http.MethodGet {
		http.Error(w, `{"error":"no such route"}`, http.StatusNotFound)
		return
	}
	n := b.length
	if n == 0 {
		n = len(b.data)
	}
	w.Header().Set("Content-Length", strconv.Itoa(n))
	if b.headers {
		w.Header().Set("X-Raftkv-Snapshot-Index", strconv.FormatUint(b.index, 10))
		w.Header().Set("X-Raftkv-Snapshot-Term", strconv.FormatUint(b.term, 10))
	}
	w.Write(b.data)
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL
}

// noTemp fails when a FILE.tmp was left behind.
func noTemp(t *testing.T, file string) {
	t.Helper()
	if _, err := os.Stat(file + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("%s.tmp left behind (stat: %v)", file, err)
	}
}

func TestBackup(t *testing.T) {
	snap := makeSnapshot(t, 42, 7, bytes.Repeat([]byte("state "), 5000))
	good := serve(t, &backupNode{data: snap, headers: true, index: 42, term: 7})
	relayed := serve(t, &backupNode{data: snap})
	dir := t.TempDir()
	file := filepath.Join(dir, "backup.snap")

	r := runCLI(t, "--endpoints", good, "backup", file)
	r.check(t, exitOK, file+": snapshot at index 42, term 7, "+humanBytes(int64(len(snap)))+" ("+strconv.Itoa(len(snap))+" bytes)\n")
	got, err := os.ReadFile(file)
	if err != nil || !bytes.Equal(got, snap) {
		t.Fatalf("backup file: %d bytes, %v; want the %d served", len(got), err, len(snap))
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode %v, %v; want 0600 (it holds every value)", st.Mode(), err)
	}
	if _, err := logs.VerifySnapshotFile(file); err != nil {
		t.Errorf("the saved file does not verify: %v", err)
	}
	noTemp(t, file)

	// An existing file needs --force.
	r = runCLI(t, "--endpoints", good, "backup", file)
	r.check(t, exitUsage, "")
	if !strings.Contains(r.stderr, "--force") {
		t.Errorf("overwrite refusal %q does not mention --force", r.stderr)
	}
	if err := os.WriteFile(file, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Through a follower: no snapshot headers, the file says what it is.
	r = runCLI(t, "--endpoints", relayed, "-o", "json", "backup", file, "--force")
	r.check(t, exitOK, `{"file":"`+file+`","index":42,"term":7,"bytes":`+strconv.Itoa(len(snap))+"}\n")
	if got, _ := os.ReadFile(file); !bytes.Equal(got, snap) {
		t.Error("--force did not overwrite the file")
	}

	// Failover: refused, then 503, then a node that serves.
	_, unavailable := newFake(t, 1, http.StatusServiceUnavailable)
	runCLI(t, "--endpoints", deadAddr(t)+","+unavailable+","+good, "backup", filepath.Join(dir, "b2")).check(t, exitOK,
		filepath.Join(dir, "b2")+": snapshot at index 42, term 7, "+humanBytes(int64(len(snap)))+" ("+strconv.Itoa(len(snap))+" bytes)\n")

	flipped := append([]byte(nil), snap...)
	flipped[len(flipped)/2] ^= 0x40
	tests := []struct {
		name     string
		node     http.Handler
		code     int
		wantErrs []string
	}{
		{"truncated", &backupNode{data: snap[:len(snap)-100]}, exitNotFound, []string{"failed verification", "truncated"}},
		{"only part of the header", &backupNode{data: snap[:10]}, exitNotFound, []string{"failed verification", "truncated"}},
		{"empty", &backupNode{data: nil}, exitNotFound, []string{"failed verification", "empty"}},
		{"corrupt", &backupNode{data: flipped}, exitNotFound, []string{"failed verification", "checksum"}},
		{"not a snapshot", &backupNode{data: []byte("<html>hello</html>")}, exitNotFound, []string{"failed verification"}},
		{"cut off mid-stream", &backupNode{data: snap[:len(snap)/2], length: len(snap)}, exitNotFound, []string{"broke off"}},
		{"headers disagree with the file", &backupNode{data: snap, headers: true, index: 43, term: 7}, exitNotFound,
			[]string{"failed verification", "announced index 43"}},
		{"no leader", fakeHandler(t, http.StatusServiceUnavailable), exitUnavailable, []string{"cluster unavailable", "503"}},
		{"backups disabled", fakeHandler(t, http.StatusNotImplemented), exitNotFound, []string{"501"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := serve(t, tt.node)
			out := filepath.Join(t.TempDir(), "b.snap")
			r := runCLI(t, "--endpoints", url, "backup", out)
			r.check(t, tt.code, "")
			for _, want := range tt.wantErrs {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr %q lacks %q", r.stderr, want)
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s exists after a failed backup", out)
			}
			noTemp(t, out)

			// With --force over an existing file: the old one survives.
			if err := os.WriteFile(out, []byte("previous backup"), 0o600); err != nil {
				t.Fatal(err)
			}
			runCLI(t, "--endpoints", url, "backup", "--force", out).check(t, tt.code, "")
			if got, _ := os.ReadFile(out); string(got) != "previous backup" {
				t.Errorf("a failed backup replaced the existing file with %d bytes", len(got))
			}
			noTemp(t, out)
		})
	}

	// Bad targets: a directory, a missing directory, no argument.
	runCLI(t, "--endpoints", good, "backup", dir, "--force").check(t, exitUsage, "")
	r = runCLI(t, "--endpoints", good, "backup", filepath.Join(dir, "no", "such", "dir", "f"))
	r.check(t, exitNotFound, "")
	if !strings.Contains(r.stderr, "no such file") {
		t.Errorf("missing directory: %q", r.stderr)
	}
	runCLI(t, "--endpoints", good, "backup").check(t, exitUsage, "")
}

// fakeHandler is a fake node answering code to everything but status.
func fakeHandler(t *testing.T, code int) http.Handler {
	return newFakeNode(0, code)
}

func TestSnapshotCommand(t *testing.T) {
	first, a := newFake(t, 0, 0)
	first.Set("k", "v")
	first.SetIndex(12)
	second, b := newFake(t, 1, 0)
	second.SetIndex(9)
	third, c := newFake(t, 2, http.StatusServiceUnavailable)
	host := func(u string) string { return strings.TrimPrefix(u, "http://") }

	runCLI(t, "--endpoints", a+","+b, "snapshot").check(t, exitOK, "snapshot of "+host(a)+" at index 12, term 4\n")
	if got := adminRequests(second); len(got) != 0 {
		t.Errorf("snapshot without --all reached the second node: %q", got)
	}
	if got := adminRequests(first); len(got) != 1 || got[0] != "POST /v1/admin/snapshot " {
		t.Errorf("first node saw %q", got)
	}
	runCLI(t, "--endpoints", b, "-o", "json", "snapshot").check(t, exitOK, `{"endpoint":"`+b+`","index":9,"term":4}`+"\n")

	// No failover: the node asked is the node that must snapshot.
	r := runCLI(t, "--endpoints", deadAddr(t)+","+a, "snapshot")
	r.check(t, exitUnavailable, "")
	if n := len(adminRequests(first)); n != 1 {
		t.Errorf("a dead first endpoint moved the snapshot to the next one (%d requests)", n)
	}

	r = runCLI(t, "--endpoints", a+","+b, "snapshot", "--all")
	r.check(t, exitOK, r.stdout)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "ADDRESS INDEX TERM" ||
		strings.Join(strings.Fields(lines[1]), " ") != host(a)+" 12 4" || strings.Join(strings.Fields(lines[2]), " ") != host(b)+" 9 4" {
		t.Errorf("snapshot --all:\n%s", r.stdout)
	}

	// One node fails: every row is still printed, and the exit code says so.
	r = runCLI(t, "--endpoints", a+","+c+","+b, "snapshot", "--all")
	r.check(t, exitUnavailable, r.stdout)
	lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || !strings.HasPrefix(strings.Join(strings.Fields(lines[2]), " "), host(c)+" - - failed: 503") ||
		strings.Join(strings.Fields(lines[3]), " ") != host(b)+" 9 4" {
		t.Errorf("snapshot --all with a failure:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "snapshot failed on 1 of 3 nodes") || !strings.Contains(r.stderr, host(c)) {
		t.Errorf("stderr %q", r.stderr)
	}
	if len(adminRequests(third)) != 1 {
		t.Errorf("the failing node saw %q", adminRequests(third))
	}

	r = runCLI(t, "--endpoints", a+","+c, "-o", "json", "snapshot", "--all")
	r.check(t, exitUnavailable, r.stdout)
	var js struct {
		Nodes []struct {
			Endpoint string  `json:"endpoint"`
			Index    *uint64 `json:"index"`
			Error    string  `json:"error"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &js); err != nil || len(js.Nodes) != 2 ||
		js.Nodes[0].Index == nil || *js.Nodes[0].Index != 12 || js.Nodes[1].Error == "" || js.Nodes[1].Index != nil {
		t.Errorf("snapshot --all JSON %s (%v)", r.stdout, err)
	}
	runCLI(t, "--endpoints", a, "snapshot", "extra").check(t, exitUsage, "")
}

func TestTransferLeader(t *testing.T) {
	old, a := newFake(t, 0, 0)
	newer, b := newFake(t, 1, 0)
	old.SetTransferTarget(1)
	// Node 99 is not a member; 7 is, though nobody knows its address.
	old.SetMembers(client.Members{Members: []client.Member{{ID: 0}, {ID: 1}, {ID: 7}}})
	// After the transfer: node 1 leads in term 5, node 0 follows it.
	old.EditStatus(func(st *client.Status) {
		fakenode.Follows(1, strings.TrimPrefix(b, "http://"))(st)
		st.Term = 5
	})
	newer.EditStatus(func(st *client.Status) { st.Term = 5 })
	eps := "--endpoints=" + a + "," + b
	want := strings.TrimPrefix(b, "http://") + " (node 1, term 5)\n"

	runCLI(t, eps, "transfer-leader").check(t, exitOK, want)
	runCLI(t, eps, "transfer-leader", "1").check(t, exitOK, want)
	if got := adminRequests(old); len(got) != 2 || got[0] != "POST /v1/cluster/transfer-leader " ||
		got[1] != `POST /v1/cluster/transfer-leader {"to":1}` {
		t.Errorf("requests %q", got)
	}
	runCLI(t, eps, "-o", "json", "transfer-leader", "1").check(t, exitOK, `{"id":1,"endpoint":"`+b+`","term":5}`+"\n")
	// The new leader is not in the cluster's view yet: its id alone.
	runCLI(t, eps, "transfer-leader", "7").check(t, exitOK, "node 7\n")
	runCLI(t, eps, "-o", "json", "transfer-leader", "7").check(t, exitOK, `{"id":7,"endpoint":null,"term":null}`+"\n")

	// Through a dead node and a 503: failover.
	_, unavailable := newFake(t, 3, http.StatusServiceUnavailable)
	runCLI(t, "--endpoints="+deadAddr(t)+","+unavailable+","+a+","+b, "transfer-leader", "1").check(t, exitOK, want)

	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{eps, "transfer-leader", "x"}, exitUsage},
		{[]string{eps, "transfer-leader", "-1"}, exitUsage},
		{[]string{eps, "transfer-leader", "18446744073709551615"}, exitUsage},
		{[]string{eps, "transfer-leader", "1", "2"}, exitUsage},
		{[]string{eps, "transfer-leader", "99"}, exitUsage}, // the server's 400: not a member
		{[]string{"--endpoints=" + unavailable, "transfer-leader"}, exitUnavailable},
		{[]string{"--endpoints=" + deadAddr(t), "transfer-leader"}, exitUnavailable},
	} {
		r := runCLI(t, tt.args...)
		r.check(t, tt.code, "")
		if tt.args[len(tt.args)-1] == "99" && !strings.Contains(r.stderr, "not a member") {
			t.Errorf("unknown node: %q", r.stderr)
		}
	}
}

// TestWritesCarryRequestIDs: kvcli's writes carry a Request-Id, one per
// write, the same on every endpoint a write fails over to.
func TestWritesCarryRequestIDs(t *testing.T) {
	good, url := newFake(t, 0, 0)
	busy, unavailable := newFake(t, 1, http.StatusServiceUnavailable)
	eps := "--endpoints=" + deadAddr(t) + "," + unavailable + "," + url
	runCLI(t, eps, "put", "k", "v").check(t, exitOK, "1\n")
	runCLI(t, eps, "del", "k").check(t, exitOK, "2\n")
	// The shell keeps one client: its writes number up from 1.
	r := runWith(t, opts{stdin: "put a 1\nput b 2\ndel a\n"}, "--endpoints", url)
	r.check(t, exitOK, "3\n4\n5\n")

	g, u := requestIDs(good), requestIDs(busy)
	if len(g) != 5 || len(u) != 2 {
		t.Fatalf("ids: good %q, 503 %q", g, u)
	}
	for i := range 2 {
		if g[i] == "" || g[i] != u[i] {
			t.Errorf("write %d: id %q on the 503 node, %q on the good one", i, u[i], g[i])
		}
	}
	if g[0] == g[1] {
		t.Errorf("two kvcli runs sent the same id %q", g[0])
	}
	client := strings.TrimSuffix(g[2], ":1")
	if client == g[2] || g[3] != client+":2" || g[4] != client+":3" {
		t.Errorf("shell ids %q, want <client>:1, :2, :3", g[2:])
	}
}

func TestHumanBytes(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{0, "0B"}, {1, "1B"}, {1023, "1023B"}, {1024, "1.0KiB"}, {1536, "1.5KiB"},
		{12897484, "12.3MiB"}, {1<<20 - 1, "1.0MiB"}, {1<<30 - 1, "1.0GiB"}, {5 << 40, "5.0TiB"},
		{1<<63 - 1, "8.0EiB"},
	} {
		if got := humanBytes(tt.n); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// TestShellAdminCommands: the new commands run in the shell and help
// lists them.
func TestShellAdminCommands(t *testing.T) {
	f := newFakeNode(0, 0)
	snap := makeSnapshot(t, 3, 1, []byte("body"))
	// The fake node answers everything but backups; a mux adds those.
	mux := http.NewServeMux()
	mux.Handle("/v1/admin/backup", &backupNode{data: snap})
	mux.Handle("/", f)
	node := serve(t, mux)
	file := filepath.Join(t.TempDir(), "s.snap")
	r := runWith(t, opts{stdin: "help\nsnapshot\ntransfer-leader 0\nbackup " + file + "\nbackup " + file + "\n"}, "--endpoints", node)
	if r.code != exitUsage {
		t.Errorf("exit %d, want %d (the second backup refuses to overwrite)", r.code, exitUsage)
	}
	for _, want := range []string{"transfer-leader [ID]", "snapshot [--all]", "backup FILE [--force]",
		"snapshot of " + strings.TrimPrefix(node, "http://") + " at index 0, term 4\n",
		strings.TrimPrefix(node, "http://") + " (node 0, term 4)\n",
		file + ": snapshot at index 3, term 1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("shell output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "line 5: backup: "+file+" exists; pass --force") {
		t.Errorf("stderr %q", r.stderr)
	}
}
