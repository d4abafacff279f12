package kv

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// badgerLogger routes badger's log to slog. Badger narrates routine work
// (compactions, flushes, replay progress) at INFO and DEBUG; only its
// warnings and errors reach the operator.
type badgerLogger struct {
	l *slog.Logger
}

func (b badgerLogger) Errorf(format string, args ...any) {
	b.log(slog.LevelError, format, args)
}

func (b badgerLogger) Warningf(format string, args ...any) {
	b.log(slog.LevelWarn, format, args)
}

func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

func (b badgerLogger) log(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !b.l.Enabled(ctx, level) {
		return
	}
	// Badger ends most messages with a newline; slog adds its own.
	b.l.Log(ctx, level, strings.TrimSpace(fmt.Sprintf(format, args...)))
}
