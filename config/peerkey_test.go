package config

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	hexKey1 = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	hexKey2 = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
)

func TestPeerKeys(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		want    []string // hex of the keys, in order
		wantErr string
	}{
		{"one key", hexKey1 + "\n", []string{hexKey1}, ""},
		{"no newline, CRLF, spaces, upper case", "  " + strings.ToUpper(hexKey1) + " \r\n", []string{hexKey1}, ""},
		{"two keys with comments", "# current\n" + hexKey2 + "\n\n# previous, until the rotation ends\n" + hexKey1 + "\n",
			[]string{hexKey2, hexKey1}, ""},
		{"empty", "", nil, "holds no key (make one with: openssl rand -hex 32)"},
		{"only comments", "# nothing yet\n", nil, "holds no key"},
		{"short", hexKey1[:62] + "\n", nil, "line 1: a key is 64 hex digits (32 bytes), not 62 characters"},
		{"raw bytes", strings.Repeat("k", 32), nil, "line 1: a key is 64 hex digits (32 bytes), not 32 characters"},
		{"not hex", "zz" + hexKey1[2:], nil, "line 1: a key is 64 hex digits (0-9, a-f) and this line has other characters"},
		{"base64", "ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8=", nil, "not 44 characters"},
		{"three keys", hexKey1 + "\n" + hexKey2 + "\n" + strings.Repeat("ab", 32), nil, "holds 3 keys; at most 2"},
		{"repeated", hexKey1 + "\n" + hexKey1 + "\n", nil, "line 2 repeats key 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "peer.key")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			c := parseWithKeyFile(t, path)
			keys, err := c.PeerKeys()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), `config: peer_key_file "`+path+`": `) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %q is not one line naming the config and the file", err)
				}
				if strings.Contains(err.Error(), hexKey1[2:20]) {
					t.Fatalf("error %q shows key material", err)
				}
				return
			}
			if err != nil || len(keys) != len(tt.want) {
				t.Fatalf("keys %x, err %v; want %v", keys, err, tt.want)
			}
			for i, k := range keys {
				if got := strings.ToLower(strings.TrimSpace(tt.want[i])); got != hex.EncodeToString(k[:]) {
					t.Fatalf("key %d is %x, want %s", i, k, got)
				}
			}
		})
	}
}

func parseWithKeyFile(t *testing.T, path string) *Config {
	t.Helper()
	c, err := Parse([]byte(edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": 50, "peer_key_file": "`+path+`"`)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPeerKeyFileErrors(t *testing.T) {
	c := parseWithKeyFile(t, filepath.Join(t.TempDir(), "missing.key"))
	if _, err := c.PeerKeys(); err == nil || !strings.Contains(err.Error(), "missing.key\": cannot read it: no such file or directory") {
		t.Fatalf("missing file: %v", err)
	}
	for _, v := range []string{`""`, `"  "`} {
		_, err := Parse([]byte(edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": 50, "peer_key_file": `+v)))
		if err == nil || !strings.Contains(err.Error(), "peer_key_file "+v+" is empty") {
			t.Errorf("peer_key_file %s: %v", v, err)
		}
	}
	_, err := Parse([]byte(edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": 50, "peer_key_file": 7`)))
	if err == nil || !strings.Contains(err.Error(), "peer_key_file must be a string") {
		t.Errorf("peer_key_file 7: %v", err)
	}
	c, err = Parse([]byte(baseDoc))
	if keys, kerr := c.PeerKeys(); err != nil || kerr != nil || keys != nil {
		t.Fatalf("without peer_key_file: %v, %v, %v", keys, err, kerr)
	}
}

// A relative peer_key_file starts from the config file's directory, as the
// tls and auth files do, not from wherever kvserver runs.
func TestPeerKeyFileRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "peer.key"), []byte(hexKey1+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.json")
	doc := edit(t, `"heartbeat_ms": 50,`, `"heartbeat_ms": 50, "peer_key_file": "peer.key",`)
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "peer.key"); c.PeerKeyPath() != want {
		t.Fatalf("PeerKeyPath = %q, want %q", c.PeerKeyPath(), want)
	}
	if keys, err := c.PeerKeys(); err != nil || len(keys) != 1 {
		t.Fatalf("PeerKeys = %d keys, %v", len(keys), err)
	}
}
