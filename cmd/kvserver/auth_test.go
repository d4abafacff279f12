package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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

// A bad tokens file stops kvserver before it starts: one line, exit 2.
func TestRunRefusesBadTokens(t *testing.T) {
	dir := t.TempDir()
	authJSON := writeTokens(t, dir)
	cfg := testConfigJSON(t, dir, 3, authJSON)
	for _, tc := range []struct{ name, tokens, want string }{
		{"unknown role", `[{"name": "a", "token_sha256": "` + strings.Repeat("ab", 32) + `", "role": "root"}]`, `role "root"`},
		{"not hex", `[{"name": "a", "token_sha256": "xyz", "role": "read"}]`, "64 hex digits"},
		{"empty", `[]`, "no tokens"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "tokens.json"), []byte(tc.tokens), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			if code := run([]string{"--config", cfg, "--all"}, &stdout, &stderr); code != exitConfig {
				t.Fatalf("exit %d, want %d; stderr %s", code, exitConfig, stderr.String())
			}
			out := strings.TrimSpace(stderr.String())
			if strings.Count(out, "\n") != 0 || !strings.Contains(out, tc.want) || strings.Contains(out, procNodeToken) {
				t.Fatalf("stderr %q: want one line with %q", out, tc.want)
			}
		})
	}
}
