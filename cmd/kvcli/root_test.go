package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeNode is a one-node stand-in for the raftkv HTTP API.
type fakeNode struct {
	mu    sync.Mutex // guards data and index
	id    uint64
	data  map[string]string
	index uint64
	// code, when non-zero, is the answer to every request but /v1/status.
	code int
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	if r.URL.Path == "/v1/status" {
		reply(200, map[string]any{"id": f.id, "state": "leader", "term": 4, "leader": f.id,
			"commit_index": f.index, "applied_index": f.index, "last_log_index": f.index, "peers": []any{}})
		return
	}
	if f.code != 0 {
		reply(f.code, map[string]string{"error": "fake " + http.StatusText(f.code)})
		return
	}
	key, ok := strings.CutPrefix(r.URL.Path, "/v1/kv/")
	if !ok {
		reply(404, map[string]string{"error": "no such route"})
		return
	}
	switch r.Method {
	case http.MethodGet:
		v, ok := f.data[key]
		if !ok {
			reply(404, map[string]string{"error": "key not found"})
			return
		}
		io.WriteString(w, v)
	case http.MethodPut:
		b, _ := io.ReadAll(r.Body)
		f.data[key] = string(b)
		f.index++
		reply(200, map[string]uint64{"index": f.index})
	case http.MethodDelete:
		delete(f.data, key)
		f.index++
		reply(200, map[string]uint64{"index": f.index})
	}
}

func newFake(t *testing.T, id uint64, code int) (*fakeNode, string) {
	t.Helper()
	f := &fakeNode{id: id, data: map[string]string{}, code: code}
	s := httptest.NewServer(f)
	t.Cleanup(s.Close)
	return f, s.URL
}

func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// check asserts the exit code and, for failures, exactly one stderr line.
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
	if f.data["a/b c"] != "two words" {
		t.Errorf("key with slash and space stored as %v", f.data)
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
}

func TestStatus(t *testing.T) {
	_, a := newFake(t, 0, 0)
	_, b := newFake(t, 1, 503) // status still answers
	dead := deadAddr(t)

	r := runCLI(t, "--endpoints", a+","+b+", "+dead, "status")
	r.check(t, exitOK, r.stdout)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 {
		t.Fatalf("want a header and 3 rows:\n%s", r.stdout)
	}
	for i, want := range [][]string{
		{"ID", "ADDRESS", "STATE", "TERM", "LEADER", "COMMIT", "APPLIED"},
		{"0", a, "leader", "4", "0", "0", "0"},
		{"1", b, "leader", "4", "1", "0", "0"},
		{"-", "http://" + dead, "unreachable", "-", "-", "-", "-"},
	} {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("line %d = %q, want fields %q", i, lines[i], want)
		}
	}

	// Nobody answers: the table still shows why, and the exit code says so.
	r = runCLI(t, "--endpoints", dead, "status")
	r.check(t, exitUnavailable, r.stdout)
	if !strings.Contains(r.stdout, "unreachable") || !strings.Contains(r.stderr, "no endpoint answered") {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
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
		{"no command is help", []string{}, exitOK},
		{"help", []string{"--help"}, exitOK},
		{"unknown command", []string{"frobnicate"}, exitUsage},
		{"unknown flag", []string{"get", "k", "--bogus"}, exitUsage},
		{"get without key", []string{"--endpoints", good, "get"}, exitUsage},
		{"get with two keys", []string{"--endpoints", good, "get", "a", "b"}, exitUsage},
		{"put without value", []string{"--endpoints", good, "put", "k"}, exitUsage},
		{"status with args", []string{"--endpoints", good, "status", "x"}, exitUsage},
		{"bad timeout", []string{"--endpoints", good, "--timeout", "soon", "get", "k"}, exitUsage},
		{"zero timeout", []string{"--endpoints", good, "--timeout", "0s", "get", "k"}, exitUsage},
		{"bad endpoint", []string{"--endpoints", "ftp://x:1", "get", "k"}, exitUsage},
		{"empty endpoints", []string{"--endpoints", " , ", "get", "k"}, exitUsage},
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
	eps, err := resolveEndpoints("", configPath)
	if err != nil || len(eps) != 1 || eps[0] != fallbackEndpoint {
		t.Fatalf("without config.json: %v, %v", eps, err)
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
