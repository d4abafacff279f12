package config

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/auth"
)

func tokenLine(name, tok, role string) string {
	h := auth.Hash(tok)
	return fmt.Sprintf(`{"name": %q, "token_sha256": %q, "role": %q}`, name, hex.EncodeToString(h[:]), role)
}

// authDir writes config.json with the given auth object, and the named
// files beside it, and returns the config's path.
func authDir(t *testing.T, authJSON string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	doc := edit(t, `"heartbeat_ms": 50,`, `"heartbeat_ms": 50, "auth": `+authJSON+`,`)
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAuthLoads(t *testing.T) {
	tokens := "[" + tokenLine("node", "node-secret", "admin") + "," + tokenLine("app", "app-secret", "read") + "]"
	path := authDir(t, `{"tokens_file": "tokens.json", "node_token_file": "node.token", "protect_metrics": true}`,
		map[string]string{"tokens.json": tokens, "node.token": "node-secret\n"})
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Auth
	if !a.Enabled() || !a.ProtectMetrics || a.ProtectUI || len(a.Tokens) != 2 || a.NodeToken != "node-secret" {
		t.Fatalf("auth = %+v", a)
	}
	// Relative paths start from the config's directory, not the working one.
	if want := filepath.Join(filepath.Dir(path), "tokens.json"); c.TokensPath() != want {
		t.Fatalf("TokensPath = %q, want %q", c.TokensPath(), want)
	}
	if again, err := c.LoadTokens(); err != nil || len(again) != 2 {
		t.Fatalf("LoadTokens = %v, %v", again, err)
	}
	var off *AuthConfig
	if off.Enabled() {
		t.Fatal("no auth section, yet enabled")
	}
}

func TestAuthErrors(t *testing.T) {
	admin := tokenLine("node", "node-secret", "admin")
	cases := []struct {
		name, auth string
		files      map[string]string
		want       string
	}{
		{"missing tokens_file", `{"node_token_file": "n"}`, nil, "auth.tokens_file is missing"},
		{"missing node_token_file", `{"tokens_file": "t"}`, nil, "auth.node_token_file is missing"},
		{"unknown field", `{"tokens_file": "t", "node_token_file": "n", "protect": true}`, nil, `auth: unknown field "protect"`},
		{"wrong type", `{"tokens_file": "t", "node_token_file": "n", "protect_ui": "yes"}`, nil, "auth.protect_ui must be true or false"},
		{"empty path", `{"tokens_file": " ", "node_token_file": "n"}`, nil, "auth.tokens_file is empty"},
		{"no tokens file", `{"tokens_file": "t", "node_token_file": "n"}`, nil, "auth.tokens_file: "},
		{"empty tokens file", `{"tokens_file": "t", "node_token_file": "n"}`, map[string]string{"t": "[]"}, "no tokens"},
		{"bad role", `{"tokens_file": "t", "node_token_file": "n"}`, map[string]string{"t": "[" + tokenLine("a", "x", "owner") + "]"}, `role "owner"`},
		{"no node token file", `{"tokens_file": "t", "node_token_file": "n"}`, map[string]string{"t": "[" + admin + "]"}, "auth.node_token_file: "},
		{"empty node token", `{"tokens_file": "t", "node_token_file": "n"}`, map[string]string{"t": "[" + admin + "]", "n": "\n"}, "is empty"},
		{"node token not listed", `{"tokens_file": "t", "node_token_file": "n"}`, map[string]string{"t": "[" + admin + "]", "n": "other"}, "matches no entry"},
		{"node token not admin", `{"tokens_file": "t", "node_token_file": "n"}`,
			map[string]string{"t": "[" + tokenLine("node", "node-secret", "write") + "]", "n": "node-secret"}, "nodes need an admin token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := authDir(t, tc.auth, tc.files)
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), path+":") {
				t.Fatalf("Load = %v; want an error naming %s with %q", err, path, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			if strings.Contains(err.Error(), "node-secret") {
				t.Fatalf("error shows the node token: %q", err)
			}
		})
	}
}
