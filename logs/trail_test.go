package logs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func openTrail(t *testing.T, path string) *Trail {
	t.Helper()
	tr, err := OpenTrail(path)
	if err != nil {
		t.Fatalf("OpenTrail(%s): %v", path, err)
	}
	return tr
}

func mustAppend(t *testing.T, tr *Trail, lines ...TrailLine) {
	t.Helper()
	if err := tr.Append(lines); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTrailAppendAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dirs", "trail.log")
	tr := openTrail(t, path)
	if tr.LastIndex() != 0 {
		t.Fatalf("new trail LastIndex = %d", tr.LastIndex())
	}
	mustAppend(t, tr, TrailLine{1, 1, "SET color blue"}, TrailLine{2, 1, "DELETE color"})
	mustAppend(t, tr) // nothing to do
	mustAppend(t, tr, TrailLine{3, 2, ""}, TrailLine{7, 2, "SET a b, c"})
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := tr.Append([]TrailLine{{8, 2, "x"}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	want := "1, 1, SET color blue\n2, 1, DELETE color\n3, 2, \n7, 2, SET a b, c\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("trail =\n%q\nwant\n%q", got, want)
	}
	tr = openTrail(t, path)
	defer tr.Close()
	if tr.LastIndex() != 7 {
		t.Fatalf("reopened LastIndex = %d, want 7", tr.LastIndex())
	}
	mustAppend(t, tr, TrailLine{8, 3, "SET k v"})
	if got := readFile(t, path); got != want+"8, 3, SET k v\n" {
		t.Fatalf("trail after reopen =\n%q", got)
	}
}

func TestTrailIsIdempotentByIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trail")
	tr := openTrail(t, path)
	defer tr.Close()
	mustAppend(t, tr, TrailLine{1, 1, "a"}, TrailLine{2, 1, "b"})
	// A replay after restart overlaps what is already there.
	mustAppend(t, tr, TrailLine{1, 1, "a"}, TrailLine{2, 1, "b"}, TrailLine{3, 1, "c"})
	mustAppend(t, tr, TrailLine{2, 1, "b"})
	// Out of order inside one call: the stale line is skipped too.
	mustAppend(t, tr, TrailLine{4, 1, "d"}, TrailLine{3, 1, "c"}, TrailLine{5, 1, "e"})
	want := "1, 1, a\n2, 1, b\n3, 1, c\n4, 1, d\n5, 1, e\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("trail =\n%q\nwant\n%q", got, want)
	}
	if tr.LastIndex() != 5 {
		t.Fatalf("LastIndex = %d", tr.LastIndex())
	}
}

func TestTrailEscapesLineBreaks(t *testing.T) {
	tests := []struct{ cmd, want string }{
		{"plain", "plain"},
		{"a\nb", `a\nb`},
		{"a\r\nb", `a\r\nb`},
		{"\n\n", `\n\n`},
		{"tab\tand \\ stay", "tab\tand \\ stay"},
		{"ünïcode\n", `ünïcode\n`},
	}
	path := filepath.Join(t.TempDir(), "trail")
	tr := openTrail(t, path)
	defer tr.Close()
	var want strings.Builder
	for i, tt := range tests {
		idx := uint64(i + 1)
		mustAppend(t, tr, TrailLine{idx, 1, tt.cmd})
		fmt.Fprintf(&want, "%d, 1, %s\n", idx, tt.want)
	}
	got := readFile(t, path)
	if got != want.String() {
		t.Fatalf("trail =\n%q\nwant\n%q", got, want.String())
	}
	if n := strings.Count(got, "\n"); n != len(tests) {
		t.Fatalf("%d lines for %d entries", n, len(tests))
	}
}

func TestTrailRecovery(t *testing.T) {
	tests := []struct {
		name     string
		content  string
		wantLast uint64
		wantFile string // after open and appending index 100
	}{
		{"empty", "", 0, "100, 9, next\n"},
		{"torn last line", "1, 1, a\n2, 1, b\n3, 1, SET ha", 2, "1, 1, a\n2, 1, b\n100, 9, next\n"},
		{"torn only line", "1, 1, SET", 0, "100, 9, next\n"},
		{"garbage last line kept", "1, 1, a\n2, 1, b\nnonsense\n", 2, "1, 1, a\n2, 1, b\nnonsense\n100, 9, next\n"},
		{"garbage in the middle", "1, 1, a\n???\n3, 1, c\n", 3, "1, 1, a\n???\n3, 1, c\n100, 9, next\n"},
		{"all garbage", "x\ny\n\n", 0, "x\ny\n\n100, 9, next\n"},
		{"bad numbers", "1, 1, a\n-2, 1, b\n3, x, c\n", 1, "1, 1, a\n-2, 1, b\n3, x, c\n100, 9, next\n"},
		{"missing command separator", "1, 1, a\n2, 1\n", 1, "1, 1, a\n2, 1\n100, 9, next\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "trail")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			tr := openTrail(t, path)
			defer tr.Close()
			if tr.LastIndex() != tt.wantLast {
				t.Errorf("LastIndex = %d, want %d", tr.LastIndex(), tt.wantLast)
			}
			mustAppend(t, tr, TrailLine{100, 9, "next"})
			if got := readFile(t, path); got != tt.wantFile {
				t.Errorf("trail =\n%q\nwant\n%q", got, tt.wantFile)
			}
		})
	}
}

// TestTrailRecoveryLongFile crosses the backward reader's chunk boundaries:
// many lines, a last line longer than a chunk, and a torn tail.
func TestTrailRecoveryLongFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trail")
	tr := openTrail(t, path)
	var lines []TrailLine
	for i := uint64(1); i <= 5000; i++ {
		lines = append(lines, TrailLine{i, i / 100, fmt.Sprintf("SET key%d value%d", i, i)})
	}
	lines = append(lines, TrailLine{5001, 50, strings.Repeat("v", 3*backScanChunk+17)})
	mustAppend(t, tr, lines...)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	tr = openTrail(t, path)
	if tr.LastIndex() != 5001 {
		t.Fatalf("LastIndex = %d, want 5001", tr.LastIndex())
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	// Tear the long last line and add unparsable lines before it: the
	// reader must walk back over a chunk-sized fragment and bad lines.
	whole := readFile(t, path)
	torn := whole[:len(whole)-backScanChunk]
	cut := strings.LastIndexByte(torn[:len(torn)-2*backScanChunk], '\n') + 1
	body := torn[:cut] + strings.Repeat("junk line\n", 10000) + torn[cut:]
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	tr = openTrail(t, path)
	defer tr.Close()
	if tr.LastIndex() != 5000 {
		t.Fatalf("LastIndex after tearing = %d, want 5000", tr.LastIndex())
	}
	got := readFile(t, path)
	if !strings.HasSuffix(got, "junk line\n") || len(got) != cut+10*10000 {
		t.Fatalf("torn line not cut cleanly: file is %d bytes, want %d", len(got), cut+10*10000)
	}
}

func TestTrailRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "0.txt")
	tr, err := OpenTrail(path)
	if err != nil {
		t.Fatal(err)
	}
	tr.RotateAt(200)
	for i := uint64(1); i <= 40; i++ {
		if err := tr.Append([]TrailLine{{Index: i, Term: 1, Command: "SET key value"}}); err != nil {
			t.Fatal(err)
		}
	}
	cur, _ := os.ReadFile(path)
	old, err := os.ReadFile(path + ".1")
	if err != nil {
		t.Fatalf("no rotated file: %v", err)
	}
	if len(cur) >= 200 || len(old) > 250 || len(old) < 200 {
		t.Fatalf("sizes after rotation: current %d, previous %d", len(cur), len(old))
	}
	if !strings.Contains(string(old)+string(cur), "40, 1, SET key value\n") {
		t.Fatalf("the newest line is in neither file")
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening right after a rotation (empty current file) still knows
	// where the trail stands.
	os.WriteFile(path, nil, 0o644)
	tr, err = OpenTrail(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	lastOld := strings.Split(strings.TrimSpace(string(old)), "\n")
	want := lastOld[len(lastOld)-1]
	if got := tr.LastIndex(); fmt.Sprintf("%d, 1, SET key value", got) != want {
		t.Fatalf("LastIndex after reopen = %d, last line of the previous file %q", got, want)
	}
}
