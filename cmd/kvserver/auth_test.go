package main

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/raftkv/raftkv/config"
)

func TestWarnIfOpen(t *testing.T) {
	on := &config.Config{Auth: &config.AuthConfig{TokensFile: "tokens.json"}}
	cases := []struct {
		cfg  *config.Config
		addr string
		warn bool
	}{
		{&config.Config{}, "127.0.0.1:8000", false},
		{&config.Config{}, "[::1]:8000", false},
		{&config.Config{}, "localhost:8000", false},
		{&config.Config{}, "10.0.0.5:8000", true},
		{&config.Config{}, "db1.example.com:8000", true},
		{&config.Config{}, "[::ffff:127.0.0.1]:8000", false},
		{on, "10.0.0.5:8000", false},
	}
	for _, tc := range cases {
		var buf bytes.Buffer
		warnIfOpen(tc.cfg, tc.addr, slog.New(slog.NewTextHandler(&buf, nil)))
		if got := bytes.Contains(buf.Bytes(), []byte("level=WARN")); got != tc.warn {
			t.Errorf("%s, tokens %v: warned %v, want %v (%s)", tc.addr, tc.cfg.Auth.Enabled(), got, tc.warn, buf.String())
		}
	}
}
