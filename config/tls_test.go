package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftkv/raftkv/internal/testcert"
)

// tlsFixture is a directory holding a config file and the certificates
// it names by relative paths.
type tlsFixture struct {
	dir string
}

func newTLSFixture(t *testing.T) tlsFixture {
	t.Helper()
	ca := testcert.NewCA(t, "ca")
	dir := t.TempDir()
	files := map[string]string{"ca.pem": ca.CertFile, "junk.pem": ""}
	for _, name := range []string{"node0", "node1", "node2"} {
		p := ca.Server(name)
		files[name+".pem"], files[name+"-key.pem"] = p.CertFile, p.KeyFile
	}
	for name, from := range files {
		data := []byte("not PEM at all\n")
		if from != "" {
			var err error
			if data, err = os.ReadFile(from); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return tlsFixture{dir: dir}
}

// load writes doc (baseDoc with the tls and nodes edits) beside the
// certificates and loads it.
func (f tlsFixture) load(t *testing.T, doc string) (*Config, error) {
	t.Helper()
	path := filepath.Join(f.dir, "config.json")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(path)
}

// withTLS adds a top-level tls object and per-node ones (by node index;
// "" for none) to baseDoc.
func withTLS(t *testing.T, top string, nodes ...string) string {
	t.Helper()
	doc := baseDoc
	if top != "" {
		doc = strings.Replace(doc, `"heartbeat_ms": 50`, `"heartbeat_ms": 50, "tls": `+top, 1)
	}
	for i, n := range nodes {
		if n == "" {
			continue
		}
		addr := `"http_addr": "127.0.0.1:800` + string(rune('0'+i)) + `"`
		doc = strings.Replace(doc, addr, addr+`, "tls": `+n, 1)
	}
	return doc
}

func TestTLSConfig(t *testing.T) {
	f := newTLSFixture(t)
	shared := `{"cert_file": "node0.pem", "key_file": "node0-key.pem", "ca_file": "ca.pem"}`
	tests := []struct {
		name  string
		top   string
		nodes []string
		want  string // error substring; "" = loads
	}{
		{"no tls", "", nil, ""},
		{"shared", shared, nil, ""},
		{"shared with mutual TLS", `{"cert_file": "node0.pem", "key_file": "node0-key.pem", "client_ca_file": "ca.pem"}`, nil, ""},
		{"per node", `{"ca_file": "ca.pem", "client_ca_file": "ca.pem"}`, []string{
			`{"cert_file": "node0.pem", "key_file": "node0-key.pem"}`,
			`{"cert_file": "node1.pem", "key_file": "node1-key.pem"}`,
			`{"cert_file": "node2.pem", "key_file": "node2-key.pem"}`}, ""},
		{"missing key", `{"cert_file": "node0.pem"}`, nil, "tls.cert_file is set but key_file is not; give both or neither"},
		{"missing cert", `{"key_file": "node0-key.pem"}`, nil, "tls.key_file is set but cert_file is not"},
		{"unreadable cert", `{"cert_file": "nope.pem", "key_file": "node0-key.pem"}`, nil,
			"tls: cannot read " + filepath.Join(f.dir, "nope.pem") + ": no such file or directory"},
		{"mismatched pair", `{"cert_file": "node0.pem", "key_file": "node1-key.pem"}`, nil,
			"are not a certificate and its key: tls: private key does not match public key"},
		{"bad CA file", `{"cert_file": "node0.pem", "key_file": "node0-key.pem", "ca_file": "junk.pem"}`, nil,
			"tls: " + filepath.Join(f.dir, "junk.pem") + " holds no PEM certificate"},
		{"bad client CA file", `{"cert_file": "node0.pem", "key_file": "node0-key.pem", "client_ca_file": "junk.pem"}`, nil,
			"holds no PEM certificate"},
		{"node half pair", `{"ca_file": "ca.pem"}`, []string{`{"cert_file": "node0.pem"}`}, "nodes[0].tls.cert_file is set but key_file is not"},
		{"node mismatched over shared", shared, []string{"", `{"key_file": "node2-key.pem"}`}, "nodes[1].tls: "},
		{"client CA without certificate", `{"client_ca_file": "ca.pem"}`, []string{`{"ca_file": "ca.pem"}`}, "nodes[0].tls.client_ca_file needs cert_file and key_file"},
		{"mixed", "", []string{"", `{"cert_file": "node1.pem", "key_file": "node1-key.pem"}`}, "nodes[1] serves HTTPS (tls.cert_file) but nodes[0] does not"},
		{"unknown field", `{"cert": "node0.pem"}`, nil, `tls: unknown field "cert" (did you mean "cert_file"?)`},
		{"not a string", `{"cert_file": 1}`, nil, "tls.cert_file must be a string, not number 1"},
		{"unknown node field", "", []string{`{"ca": "x"}`}, `nodes[0].tls: unknown field "ca"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := f.load(t, withTLS(t, tt.top, tt.nodes...))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Load: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Load = %v, want it to contain %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Fatalf("the error spans lines: %q", err)
			case err == nil && c.NodeTLS(2).Enabled() != (tt.top != "" || tt.nodes != nil):
				t.Fatalf("node 2 TLS %+v", c.NodeTLS(2))
			}
		})
	}
}

// Relative paths are relative to the config file; a node's tls overrides
// the shared one field by field; a node not in the file gets the shared.
func TestNodeTLS(t *testing.T) {
	f := newTLSFixture(t)
	abs := filepath.Join(f.dir, "ca.pem")
	c, err := f.load(t, withTLS(t, `{"cert_file": "node0.pem", "key_file": "node0-key.pem", "ca_file": "`+abs+`"}`,
		"", `{"cert_file": "node1.pem", "key_file": "node1-key.pem", "client_ca_file": "ca.pem"}`))
	if err != nil {
		t.Fatal(err)
	}
	in := func(name string) string { return filepath.Join(f.dir, name) }
	tests := []struct {
		id   uint64
		want TLS
	}{
		{0, TLS{CertFile: in("node0.pem"), KeyFile: in("node0-key.pem"), CAFile: abs}},
		{1, TLS{CertFile: in("node1.pem"), KeyFile: in("node1-key.pem"), CAFile: abs, ClientCAFile: in("ca.pem")}},
		{9, TLS{CertFile: in("node0.pem"), KeyFile: in("node0-key.pem"), CAFile: abs}},
	}
	for _, tt := range tests {
		if got := c.NodeTLS(tt.id); got != tt.want {
			t.Errorf("NodeTLS(%d) = %+v, want %+v", tt.id, got, tt.want)
		}
	}
}
