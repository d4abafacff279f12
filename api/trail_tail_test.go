package api

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/logs"
)

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func trailLines(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "%d, 1, SET k v\n", i)
	}
	return b.String()
}

// indexes returns the leading index of each line, "?" for a line without.
func indexes(lines []string) string {
	var out []string
	for _, l := range lines {
		i := strings.IndexByte(l, ',')
		if i < 0 {
			out = append(out, "?")
			continue
		}
		out = append(out, l[:i])
	}
	return strings.Join(out, " ")
}

func seq(from, to int) string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return strings.Join(out, " ")
}

func TestTrailTail(t *testing.T) {
	type step struct {
		do   func(t *testing.T, path string) // changes the files; nil: none
		want string                          // indexes poll returns
	}
	tests := []struct {
		name      string
		setup     func(t *testing.T, path string)
		wantStart string
		steps     []step
	}{
		{
			name:      "no file yet",
			wantStart: "",
			steps: []step{
				{nil, ""},
				{func(t *testing.T, p string) { appendFile(t, p, trailLines(1, 2)) }, "1 2"},
				{nil, ""},
			},
		},
		{
			name:      "the last lines on start",
			setup:     func(t *testing.T, p string) { appendFile(t, p, trailLines(1, 25)) },
			wantStart: seq(6, 25),
			steps:     []step{{nil, ""}, {func(t *testing.T, p string) { appendFile(t, p, trailLines(26, 26)) }, "26"}},
		},
		{
			name: "just after a rotation, the previous file fills in",
			setup: func(t *testing.T, p string) {
				appendFile(t, p+".1", trailLines(1, 30))
				appendFile(t, p, trailLines(31, 35))
			},
			wantStart: seq(16, 35),
		},
		{
			name:      "a torn line waits for its end",
			setup:     func(t *testing.T, p string) { appendFile(t, p, trailLines(1, 2)+"3, 1, SET k") },
			wantStart: "1 2",
			steps: []step{
				{nil, ""},
				{func(t *testing.T, p string) { appendFile(t, p, " v\n4, 1, D") }, "3"},
				{func(t *testing.T, p string) { appendFile(t, p, "EL k\n") }, "4"},
			},
		},
		{
			name:      "rotation: the rest of the old file, then the new one",
			setup:     func(t *testing.T, p string) { appendFile(t, p, trailLines(1, 3)) },
			wantStart: "1 2 3",
			steps: []step{
				{func(t *testing.T, p string) {
					appendFile(t, p, trailLines(4, 5))
					if err := os.Rename(p, p+".1"); err != nil {
						t.Fatal(err)
					}
					appendFile(t, p, trailLines(6, 7))
				}, "4 5 6 7"},
				{func(t *testing.T, p string) { appendFile(t, p, trailLines(8, 8)) }, "8"},
			},
		},
		{
			name:      "rotation caught midway: the new file is not there yet",
			setup:     func(t *testing.T, p string) { appendFile(t, p, trailLines(1, 1)) },
			wantStart: "1",
			steps: []step{
				{func(t *testing.T, p string) {
					appendFile(t, p, trailLines(2, 2))
					if err := os.Rename(p, p+".1"); err != nil {
						t.Fatal(err)
					}
				}, "2"},
				{func(t *testing.T, p string) { appendFile(t, p, trailLines(3, 3)) }, "3"},
			},
		},
		{
			name:      "cut back",
			setup:     func(t *testing.T, p string) { appendFile(t, p, trailLines(1, 5)) },
			wantStart: seq(1, 5),
			steps: []step{
				{func(t *testing.T, p string) {
					if err := os.Truncate(p, int64(len(trailLines(1, 2)))); err != nil {
						t.Fatal(err)
					}
				}, ""},
				{func(t *testing.T, p string) { appendFile(t, p, trailLines(9, 9)) }, "9"},
			},
		},
		{
			name:      "a burst: only the last lines, all whole",
			setup:     func(t *testing.T, p string) { appendFile(t, p, trailLines(1, 1)) },
			wantStart: "1",
			steps: []step{
				{func(t *testing.T, p string) { appendFile(t, p, trailLines(2, 20000)) }, seq(19981, 20000)},
				{func(t *testing.T, p string) { appendFile(t, p, trailLines(20001, 20001)) }, "20001"},
			},
		},
		{
			name:      "a line too long to be a trail line is skipped",
			setup:     func(t *testing.T, p string) { appendFile(t, p, trailLines(1, 1)) },
			wantStart: "1",
			steps: []step{
				{func(t *testing.T, p string) { appendFile(t, p, "2, 1, SET k "+strings.Repeat("x", 2*trailReadBytes)) }, ""},
				{func(t *testing.T, p string) { appendFile(t, p, strings.Repeat("x", 100)+"\n"+trailLines(3, 3)) }, "3"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "0.txt")
			if tt.setup != nil {
				tt.setup(t, path)
			}
			tail := newTrailTail(path)
			defer tail.close()
			lines, err := tail.start()
			if err != nil {
				t.Fatal(err)
			}
			if got := indexes(lines); got != tt.wantStart {
				t.Errorf("start = %q, want %q", got, tt.wantStart)
			}
			for i, st := range tt.steps {
				if st.do != nil {
					st.do(t, path)
				}
				lines, err := tail.poll()
				if err != nil {
					t.Fatalf("poll %d: %v", i, err)
				}
				if got := indexes(lines); got != st.want {
					t.Errorf("poll %d = %q, want %q", i, got, st.want)
				}
			}
		})
	}
}

func TestTrailTailClipsLongLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.txt")
	appendFile(t, path, "1, 1, SET k "+strings.Repeat("v", 1000)+"\r\n")
	lines, err := newTrailTail(path).start()
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || len([]rune(lines[0])) != trailLineChars+1 || !strings.HasSuffix(lines[0], "…") {
		t.Errorf("clipped line = %q (%d runes)", lines, len([]rune(lines[0])))
	}
}

// Against the real trail with rotation: polled as often as the dashboard
// does relative to writes, the tail sees every line exactly once, in order.
func TestTrailTailFollowsRotatingTrail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "0.txt")
	trail, err := logs.OpenTrail(path)
	if err != nil {
		t.Fatal(err)
	}
	defer trail.Close()
	trail.RotateAt(2000) // a rotation every few dozen lines
	tail := newTrailTail(path)
	defer tail.close()
	if _, err := tail.start(); err != nil {
		t.Fatal(err)
	}
	var seen []string
	next := uint64(1)
	for round := range 60 {
		batch := make([]logs.TrailLine, 1+round%7)
		for i := range batch {
			batch[i] = logs.TrailLine{Index: next, Term: 1, Command: "SET key value-" + strconv.FormatUint(next, 10)}
			next++
		}
		if err := trail.Append(batch); err != nil {
			t.Fatal(err)
		}
		lines, err := tail.poll()
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, lines...)
	}
	if _, err := os.Stat(path + ".1"); err != nil {
		t.Fatalf("the trail never rotated: %v", err)
	}
	if got, want := indexes(seen), seq(1, int(next-1)); got != want {
		t.Errorf("tail saw %q\nwant %q", got, want)
	}
}
