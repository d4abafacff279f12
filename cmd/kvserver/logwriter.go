package main

import (
	"io"
	"sync"
)

// logWriter serialises log lines from several nodes onto one stream, each
// prefixed with its node, so `--all` output stays readable.
type logWriter struct {
	mu sync.Mutex // guards w: one line at a time
	w  io.Writer
}

func newLogWriter(w io.Writer) *logWriter { return &logWriter{w: w} }

type prefixWriter struct {
	lw     *logWriter
	prefix []byte
}

func (lw *logWriter) prefixed(prefix string) io.Writer {
	return prefixWriter{lw: lw, prefix: []byte(prefix)}
}

// Write writes one slog record (slog hands a whole line per call).
func (p prefixWriter) Write(b []byte) (int, error) {
	p.lw.mu.Lock()
	defer p.lw.mu.Unlock()
	if len(p.prefix) > 0 {
		if _, err := p.lw.w.Write(p.prefix); err != nil {
			return 0, err
		}
	}
	return p.lw.w.Write(b)
}
