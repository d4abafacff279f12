package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chzyer/readline"
)

func TestShellScript(t *testing.T) {
	f, url := newFake(t, 0, 0)
	script := strings.Join([]string{
		"# a comment, then a blank line",
		"",
		"put a 1",
		"get a",
		`put greeting "hello world"`,
		"get greeting",
		"  set 'it''s' \"say \\\"hi\\\"\"  ",
		"get missing",
		`put broken "unterminated`,
		"list",
		"-o json get a",
		"kvcli del a",
		"help",
		"frobnicate",
		"put needs-stdin -",
		"status",
	}, "\n") + "\n"
	r := runWith(t, opts{stdin: script}, "--endpoints", url)
	if r.code != exitUsage {
		t.Errorf("exit %d, want %d (the last failure, a usage error)", r.code, exitUsage)
	}
	if v, _ := f.Get("its"); v != `say "hi"` {
		t.Errorf("quoted put stored %q", v)
	}
	if _, ok := f.Get("a"); ok {
		t.Error(`"kvcli del a" did not delete a`)
	}
	for _, want := range []string{
		"1\n1\n", // put a 1 prints the index, get a prints 1 and ends the line
		"hello world\n",
		"its\t\"say \\\"hi\\\"\"\n",
		`{"key":"a","value":"1"}`,
		"Commands (quote values with blanks",
		"ID  ADDRESS",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "raftkv ") {
		t.Errorf("a prompt was printed without a terminal:\n%s", r.stdout)
	}
	errLines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	wantErrs := []string{
		`line 8: key "missing" not found`,
		"line 9: unterminated double quote (opened at column 12)",
		`line 14: unknown command "frobnicate"`,
		`line 15: "-" reads standard input, which the shell is reading commands from; use --file`,
	}
	if len(errLines) != len(wantErrs) {
		t.Fatalf("stderr has %d lines, want %d:\n%s", len(errLines), len(wantErrs), r.stderr)
	}
	for i, want := range wantErrs {
		if !strings.Contains(errLines[i], want) {
			t.Errorf("stderr line %d = %q, want it to contain %q", i, errLines[i], want)
		}
	}
}

func TestShellScriptExitCodes(t *testing.T) {
	_, url := newFake(t, 0, 0)
	tests := []struct {
		script string
		want   int
	}{
		{"", exitOK},
		{"put a 1\nget a\n", exitOK},
		{"put a 1\nget a", exitOK}, // no final newline
		{"put a 1\r\nget a\r\n", exitOK},
		{"get nothing\nput a 1\n", exitNotFound}, // a failure is not forgotten
		{"get nothing\nexit\nfrobnicate\n", exitNotFound},
		{"exit\nfrobnicate\n", exitOK},
		{"quit\n", exitOK},
		{"use\n", exitUsage},
		{"use ftp://x:1\n", exitUsage},
		{"--endpoints " + url + "\n", exitUsage}, // no nested shell
	}
	for _, tt := range tests {
		r := runWith(t, opts{stdin: tt.script}, "--endpoints", url)
		if r.code != tt.want {
			t.Errorf("script %q: exit %d, want %d; stderr %q", tt.script, r.code, tt.want, r.stderr)
		}
	}
	// The shell's own connection flags are checked before it reads a line.
	r := runWith(t, opts{stdin: "get a\n"}, "--endpoints", url, "-o", "xml")
	r.check(t, exitUsage, "")
}

func TestShellUse(t *testing.T) {
	first, a := newFake(t, 0, 0)
	second, b := newFake(t, 1, 0)
	script := "put k one\nuse " + b + "\nput k two\nuse " + strings.TrimPrefix(a, "http://") + "\nget k\n"
	r := runWith(t, opts{stdin: script}, "--endpoints", a+","+b)
	r.check(t, exitOK, "1\n1\none\n")
	if v, _ := second.Get("k"); v != "two" {
		t.Errorf("after use, the write went elsewhere: second has %q", v)
	}
	if v, _ := first.Get("k"); v != "one" {
		t.Errorf("first has %q", v)
	}
	// A used endpoint that dies fails over to the others given at start.
	dead := deadAddr(t)
	r = runWith(t, opts{stdin: "use " + dead + "\nget k\n"}, "--endpoints", a)
	r.check(t, exitOK, "one\n")
	// A line may still override the session's endpoints.
	r = runWith(t, opts{stdin: "--endpoints " + b + " get k\nget k\n"}, "--endpoints", a)
	r.check(t, exitOK, "two\none\n")
}

// TestShellInterrupt: Ctrl-C cancels the running command, and in a script
// the rest of the script, with exit code 130.
func TestShellInterrupt(t *testing.T) {
	f, url := newFake(t, 0, 0)
	f.Intercept(holdAllButStatus)
	sigs := newFakeSignals()
	go func() {
		<-sigs.subscribed // the shell
		time.Sleep(50 * time.Millisecond)
		sigs.Interrupt()
	}()
	start := time.Now()
	r := runWith(t, opts{stdin: "get k\nput never reached\n", signals: sigs}, "--endpoints", url, "--timeout", "30s")
	if r.code != exitInterrupted || time.Since(start) > 10*time.Second {
		t.Fatalf("exit %d after %v, want %d at once; stderr %q", r.code, time.Since(start), exitInterrupted, r.stderr)
	}
	if !strings.Contains(r.stderr, "line 1: interrupted") || strings.Contains(r.stderr, "line 2") {
		t.Errorf("stderr %q", r.stderr)
	}
}

func terminalHook(in io.Reader) func(*readline.Config) {
	return func(c *readline.Config) {
		c.Stdin = io.NopCloser(in)
		c.FuncIsTerminal = func() bool { return true }
		c.FuncMakeRaw = func() error { return nil }
		c.FuncExitRaw = func() error { return nil }
		c.FuncGetWidth = func() int { return 120 }
		c.FuncOnWidthChanged = func(func()) {}
	}
}

// TestInteractiveShell drives the line editor through a pipe: prompt with
// the node's role, history written to $HOME, Ctrl-C dropping a half-typed
// line, Ctrl-D leaving.
func TestInteractiveShell(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	f, url := newFake(t, 0, 0)
	inR, inW := io.Pipe()
	var out, errOut syncBuffer
	e := &env{stdin: inR, stdout: &out, stderr: &errOut, stdinTTY: true, editorHook: terminalHook(inR)}
	done := make(chan int)
	go func() { done <- run(context.Background(), []string{"--endpoints", url}, e) }()

	// Keys are typed one write at a time, each line waiting for its effect,
	// because readline reads only while a prompt is up.
	typeLine := func(s string) {
		t.Helper()
		if _, err := inW.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; stdout %q stderr %q", what, out.String(), errOut.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	prompt := "raftkv " + strings.TrimPrefix(url, "http://") + " (leader)> "
	waitFor("the prompt", func() bool { return strings.Contains(out.String(), prompt) })
	typeLine(`put greeting "hello world"` + "\r")
	waitFor("the put", func() bool { v, _ := f.Get("greeting"); return v == "hello world" })
	typeLine("put half-typed")
	typeLine("\x03") // Ctrl-C: the line is dropped
	typeLine("get greeting\r")
	waitFor("the get", func() bool { return strings.Contains(out.String(), "hello world\n") })
	typeLine("\x04") // Ctrl-D on an empty line: leave
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d; stderr %q", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the shell did not leave on Ctrl-D")
	}
	inW.Close()
	if _, ok := f.Get("half-typed"); ok {
		t.Error("Ctrl-C did not drop the half-typed line")
	}
	hist, err := os.ReadFile(filepath.Join(home, historyName))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(hist)), "\n"); !slices.Equal(lines, []string{`put greeting "hello world"`, "get greeting"}) {
		t.Errorf("history %q", hist)
	}
	if st, err := os.Stat(filepath.Join(home, historyName)); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("history file mode %v, %v; want 0600", st.Mode(), err)
	}
}

func TestCompleter(t *testing.T) {
	f, url := newFake(t, 0, 0)
	for _, k := range []string{"color", "colour", "shape", "with space"} {
		f.Set(k, "v")
	}
	c, err := newTestSession(t, url)
	if err != nil {
		t.Fatal(err)
	}
	comp := &completer{s: c, root: newRootCmd(&app{env: &env{}, sess: c})}
	tests := []struct {
		line    string
		want    []string
		wantLen int
	}{
		{"", withSpace(commandNames()), 0},
		{"g", []string{"et "}, 1},
		{"st", []string{"atus "}, 2},
		{"bench w", []string{"rite "}, 1},
		{"bench ", []string{"mixed ", "read ", "write "}, 0},
		{"get col", []string{"or ", "our "}, 3},
		{"del sh", []string{"ape "}, 2},
		{"get w", nil, 1}, // a key with a blank cannot be one bare word
		{"list ", []string{"color ", "colour ", "shape "}, 0},
		{"bench write --cl", []string{"ients "}, 4},
		{"get --cons", []string{"istency "}, 6},
		{"list --li", []string{"mit "}, 4},
		{"use " + strings.TrimPrefix(url, "http://")[:5], []string{strings.TrimPrefix(url, "http://")[5:] + " "}, 5},
		{"help st", []string{"atus "}, 2},
		{"help ", withSpace(commandNames()), 0},
		{"get color x", nil, 1},
		{"zzz", nil, 3},
	}
	for _, tt := range tests {
		got, n := comp.Do([]rune(tt.line), len([]rune(tt.line)))
		var gs []string
		for _, g := range got {
			gs = append(gs, string(g))
		}
		if !slices.Equal(gs, tt.want) || n != tt.wantLen {
			t.Errorf("complete %q = %q, %d; want %q, %d", tt.line, gs, n, tt.want, tt.wantLen)
		}
	}
}

func newTestSession(t *testing.T, endpoints ...string) (*session, error) {
	t.Helper()
	s := &session{endpoints: endpoints, timeout: 2 * time.Second}
	if err := s.use(endpoints[0]); err != nil {
		return nil, err
	}
	t.Cleanup(func() { s.client().Close() })
	return s, nil
}

func withSpace(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = w + " "
	}
	return out
}

// Every command kvcli has is offered by the shell's help and completion.
func TestShellListsEveryCommand(t *testing.T) {
	offered := map[string]bool{}
	for _, c := range shellCommands {
		offered[c.name] = true
	}
	root := newRootCmd(&app{env: &env{}})
	for _, c := range root.Commands() {
		if c.Hidden || c.Name() == "completion" || c.Name() == "help" || c.Name() == "shell" {
			continue
		}
		if !offered[c.Name()] {
			t.Errorf("command %q is missing from the shell's help (shellCommands)", c.Name())
		}
	}
}
