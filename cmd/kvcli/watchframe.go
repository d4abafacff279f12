package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"
)

// ANSI escapes, for a terminal only.
const (
	ansiHome       = "\x1b[H"
	ansiClear      = "\x1b[2J"   // the whole screen
	ansiClearLine  = "\x1b[K"    // from the cursor to the end of the line
	ansiClearBelow = "\x1b[J"    // from the cursor to the end of the screen
	ansiHideCursor = "\x1b[?25l" // a cursor jumping about the table is noise
	ansiShowCursor = "\x1b[?25h" // restored on the way out
	ansiBold       = "\x1b[1m"   // the leader's row
	ansiHighlight  = "\x1b[1;7m" // bold, reverse video: a change of leader
	ansiReset      = "\x1b[0m"   // attributes back to normal
)

const (
	// keepChanges is how many changes of leader are listed under the table.
	keepChanges = 5
	// highlightFor is how long a change stays highlighted on a terminal: at
	// one refresh a second, a single highlighted frame is easy to miss.
	highlightFor = 5 * time.Second
)

// watcher draws the refreshes of status --watch, and remembers the leader
// between them to spot changes. It is used by one goroutine.
type watcher struct {
	out      io.Writer
	tty      bool // redraw in place with ANSI escapes
	json     bool // one JSON object per line per refresh
	interval time.Duration
	// termSize, when set, gives the terminal's columns and rows (0, 0 when
	// unknown); it is asked on every frame, so resizing just works.
	termSize func() (width, height int)

	frames  int
	last    leaderSeen // as of the last refresh in which a node answered
	hasLast bool
	changes []leaderChange // the latest keepChanges, oldest first
}

// begin prepares the terminal: the screen is cleared once, here; later
// frames overwrite it line by line, which does not flicker.
func (w *watcher) begin() error {
	if !w.tty || w.json {
		return nil
	}
	_, err := io.WriteString(w.out, ansiHideCursor+ansiHome+ansiClear)
	return err
}

// end restores the terminal. After Ctrl-C it also ends the line the
// terminal echoed "^C" on, so that the shell's prompt starts on its own.
func (w *watcher) end(interrupted bool) error {
	if !w.tty || w.json {
		return nil
	}
	s := ansiShowCursor
	if interrupted {
		s += "\n"
	}
	_, err := io.WriteString(w.out, s)
	return err
}

// show draws one refresh, started at at, in one write.
func (w *watcher) show(at time.Time, v *clusterView) error {
	seen, ok := observeLeader(v)
	var change *leaderChange
	if ok {
		if w.hasLast {
			if c, changed := compareLeaders(w.last, seen, at); changed {
				change = &c
				w.changes = append(w.changes, c)
				if len(w.changes) > keepChanges {
					w.changes = w.changes[len(w.changes)-keepChanges:]
				}
			}
		}
		w.last, w.hasLast = seen, true
	}
	var b bytes.Buffer
	var err error
	switch {
	case w.json:
		err = w.jsonLine(&b, at, v, seen, ok, change)
	case w.tty:
		err = w.frame(&b, at, v, seen, ok)
	default:
		err = w.block(&b, at, v, seen, ok, change)
	}
	if err != nil {
		return err
	}
	w.frames++
	_, err = w.out.Write(b.Bytes())
	return err
}

// header is the line above the table: time, leader, term, nodes up.
func header(at time.Time, layout string, v *clusterView, seen leaderSeen, ok bool) string {
	s := at.Format(layout) + "  "
	switch {
	case !ok:
		s += "leader -  term -"
	case seen.known && seen.endpoint != "":
		where := hostPort(seen.endpoint)
		// Right after a leader dies its followers still name it, until
		// their election timeout: say so rather than look healthy.
		for _, n := range v.nodes {
			if n.Endpoint == seen.endpoint && n.Err != nil {
				where += ", not answering"
			}
		}
		s += fmt.Sprintf("leader %d (%s)  term %d", seen.id, where, seen.term)
	case seen.known:
		s += fmt.Sprintf("leader %d  term %d", seen.id, seen.term)
	default:
		s += fmt.Sprintf("leader none  term %d", seen.term)
	}
	return s + fmt.Sprintf("  %d/%d nodes up", v.answered, len(v.nodes))
}

// block is one refresh for a pipe or a log: plain text, a blank line
// between refreshes, the "***" line only in the refresh that saw the change.
func (w *watcher) block(b *bytes.Buffer, at time.Time, v *clusterView, seen leaderSeen, ok bool, change *leaderChange) error {
	if w.frames > 0 {
		b.WriteByte('\n')
	}
	b.WriteString(header(at, time.DateTime, v, seen, ok) + "\n")
	if change != nil {
		b.WriteString("*** " + change.text() + "\n")
	}
	if err := v.writeTable(b); err != nil {
		return err
	}
	for _, s := range w.changeLines() {
		b.WriteString(s + "\n")
	}
	return nil
}

// changeLines lists the last changes with their times, under a title.
func (w *watcher) changeLines() []string {
	if len(w.changes) == 0 {
		return nil
	}
	lines := []string{"Recent changes:"}
	for _, c := range w.changes {
		lines = append(lines, fmt.Sprintf("  %s  %s", c.at.Format(time.TimeOnly), c.text()))
	}
	return lines
}

// frame is one refresh on a terminal, drawn over the last from the top
// left: each line is cleared before it is written (clearing after the text
// could eat the last column of a full-width line) and whatever the last
// frame had below is cleared at the end. Lines are cut to the terminal's
// size, as top does: a line that wrapped, or a frame that scrolled, would
// leave pieces of the last frame behind.
func (w *watcher) frame(b *bytes.Buffer, at time.Time, v *clusterView, seen leaderSeen, ok bool) error {
	type styled struct{ attr, text string }
	lines := []styled{{"", header(at, time.TimeOnly, v, seen, ok) + fmt.Sprintf("   [every %s, Ctrl-C quits]", w.interval)}}
	// The highlight has a line of its own, blank when there is none, so
	// that the table does not jump up and down.
	if n := len(w.changes); n > 0 && at.Sub(w.changes[n-1].at) < highlightFor {
		c := w.changes[n-1]
		lines = append(lines, styled{ansiHighlight, fmt.Sprintf(" *** %s  %s ", c.at.Format(time.TimeOnly), c.text())})
	} else {
		lines = append(lines, styled{})
	}
	var t bytes.Buffer
	if err := v.writeTable(&t); err != nil {
		return err
	}
	// The table's lines: a header, one row per node in order, a summary.
	for i, s := range strings.Split(strings.TrimSuffix(t.String(), "\n"), "\n") {
		attr := ""
		if i >= 1 && i <= len(v.nodes) {
			if n := &v.nodes[i-1]; n.Err == nil && n.Status.State == "leader" && seen.known && n.Status.ID == seen.id {
				attr = ansiBold
			}
		}
		lines = append(lines, styled{attr, s})
	}
	if len(w.changes) > 0 {
		lines = append(lines, styled{})
		for _, s := range w.changeLines() {
			lines = append(lines, styled{"", s})
		}
	}
	width, height := 0, 0
	if w.termSize != nil {
		width, height = w.termSize()
	}
	// The last row stays empty: a newline there would scroll the screen.
	if height > 1 && len(lines) > height-1 {
		lines = lines[:height-1]
	}
	b.WriteString(ansiHome)
	for _, l := range lines {
		text := l.text
		if r := []rune(text); width > 0 && len(r) > width {
			text = string(r[:width])
		}
		b.WriteString(ansiClearLine)
		if l.attr != "" {
			text = l.attr + text + ansiReset
		}
		b.WriteString(text + "\n")
	}
	b.WriteString(ansiClearBelow)
	return nil
}

// jsonLine is one refresh as one line of JSON: the status's nodes, the
// leader as the watch sees it, and the change this refresh saw, if any.
func (w *watcher) jsonLine(b *bytes.Buffer, at time.Time, v *clusterView, seen leaderSeen, ok bool, change *leaderChange) error {
	var leader, term, ch any
	if ok {
		term = seen.term
	}
	if seen.known {
		var ep any
		if seen.endpoint != "" {
			ep = seen.endpoint
		}
		leader = jsonObject{{"id", seen.id}, {"endpoint", ep}, {"term", seen.term}}
	}
	if change != nil {
		ch = change.json()
	}
	return writeJSON(b, jsonObject{{"time", at.Format(time.RFC3339Nano)}, {"nodes_up", v.answered},
		{"term", term}, {"leader", leader}, {"change", ch}, {"nodes", v.nodesJSON()}})
}
