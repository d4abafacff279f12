package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

const baseDoc = `{
  "nodes": [
    {"id": 0, "raft_addr": "tcp://127.0.0.1:7000", "http_addr": "127.0.0.1:8000"},
    {"id": 1, "raft_addr": "tcp://127.0.0.1:7001", "http_addr": "127.0.0.1:8001"},
    {"id": 2, "raft_addr": "tcp://127.0.0.1:7002", "http_addr": "127.0.0.1:8002"}
  ],
  "election_timeout_ms": {"min": 300, "max": 600},
  "heartbeat_ms": 50,
  "data_dir": "data",
  "request_timeout_ms": 5000,
  "max_value_bytes": 1048576
}
`

// edit returns baseDoc with old replaced by new; old must occur.
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(baseDoc, old) {
		t.Fatalf("base document lacks %q", old)
	}
	return strings.Replace(baseDoc, old, new, 1)
}

func writeFile(t *testing.T, doc string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// withDefaults is the config of a file that lists nodes and nothing else.
// The values are written out, not read from the tags, so that a default
// changed by mistake fails here.
func withDefaults(nodes []Node, source, dir string) *Config {
	return &Config{
		Nodes:               nodes,
		ElectionTimeoutMS:   Range{300, 600},
		HeartbeatMS:         50,
		DataDir:             "data",
		RequestTimeoutMS:    5000,
		MaxValueBytes:       1 << 20,
		LeaseClockDriftMS:   100,
		SnapshotEntries:     100000,
		SnapshotBytes:       64 << 20,
		SnapshotKeepEntries: 5000,
		ReadyMaxLagEntries:  1000,
		AutoPromote:         true,
		Badger:              BadgerConfig{8 << 20, 32 << 20, 16 << 20},
		source:              source,
		dir:                 dir,
	}
}

func TestShippedConfigLoads(t *testing.T) {
	c, err := Load("../config.json")
	if err != nil {
		t.Fatalf("Load(../config.json): %v", err)
	}
	// The shipped file gives the default values, and leaves out the rest.
	want := withDefaults([]Node{
		{ID: 0, RaftAddr: "tcp://127.0.0.1:7000", HTTPAddr: "127.0.0.1:8000"},
		{ID: 1, RaftAddr: "tcp://127.0.0.1:7001", HTTPAddr: "127.0.0.1:8001"},
		{ID: 2, RaftAddr: "tcp://127.0.0.1:7002", HTTPAddr: "127.0.0.1:8002"},
	}, "../config.json", "..")
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Load = %+v\nwant   %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}

	emin, emax := c.ElectionTimeout()
	if emin != 300*time.Millisecond || emax != 600*time.Millisecond {
		t.Errorf("ElectionTimeout = %v, %v", emin, emax)
	}
	if got := c.HeartbeatInterval(); got != 50*time.Millisecond {
		t.Errorf("HeartbeatInterval = %v", got)
	}
	if got := c.RequestTimeout(); got != 5*time.Second {
		t.Errorf("RequestTimeout = %v", got)
	}
	if got, want := c.NodeDir(1), filepath.Join("data", "node-1"); got != want {
		t.Errorf("NodeDir(1) = %q, want %q", got, want)
	}
	if got, want := c.TrailPath(2), filepath.Join("data", "logs", "2.txt"); got != want {
		t.Errorf("TrailPath(2) = %q, want %q", got, want)
	}
	n, err := c.Node(1)
	if err != nil || n.RaftAddr != "tcp://127.0.0.1:7001" || n.HTTPAddr != "127.0.0.1:8001" {
		t.Errorf("Node(1) = %+v, %v", n, err)
	}
	if _, err := c.Node(7); err == nil || err.Error() != "unknown node id 7 (config has 0, 1, 2)" {
		t.Errorf("Node(7) error = %v", err)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(`{"nodes": [{"id": 5, "raft_addr": "tcp://localhost:7000", "http_addr": "localhost:8000"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := withDefaults([]Node{{ID: 5, RaftAddr: "tcp://localhost:7000", HTTPAddr: "localhost:8000"}}, "config", ".")
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Parse = %+v\nwant    %+v", c, want)
	}

	// A partial badger section keeps the defaults for the rest.
	c, err = Parse([]byte(strings.Replace(baseDoc, `"heartbeat_ms": 50,`, `"badger": {"memtable_bytes": 4194304},`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if want := (BadgerConfig{4 << 20, 32 << 20, 16 << 20}); c.Badger != want {
		t.Fatalf("Badger = %+v, want %+v", c.Badger, want)
	}
	if c.HeartbeatMS != 50 {
		t.Fatalf("HeartbeatMS = %d, want the default", c.HeartbeatMS)
	}
}

func TestValidVariants(t *testing.T) {
	tests := []struct {
		name string
		doc  string
	}{
		{"byte order mark", "\xEF\xBB\xBF" + baseDoc},
		{"ipv6 and names", strings.NewReplacer(
			"tcp://127.0.0.1:7000", "tcp://[::1]:7000",
			"127.0.0.1:8000", "[::1]:8000",
			"tcp://127.0.0.1:7001", "tcp://node-1.example.com:7001",
			"127.0.0.1:8001", "node-1.example.com:8001").Replace(baseDoc)},
		{"64 MiB values", strings.Replace(baseDoc, "1048576", "67108864", 1)},
		{"sparse ids", strings.Replace(baseDoc, `"id": 2`, `"id": 42`, 1)},
		{"same port on another host", strings.Replace(baseDoc, "tcp://127.0.0.1:7001", "tcp://127.0.0.2:7000", 1)},
		{"heartbeat just below election", strings.Replace(baseDoc, `"heartbeat_ms": 50`, `"heartbeat_ms": 299`, 1)},
		{"full badger section", strings.Replace(baseDoc, `"heartbeat_ms": 50,`,
			`"heartbeat_ms": 50, "badger": {"memtable_bytes": 1048576, "block_cache_bytes": 1048576, "index_cache_bytes": 1048576},`, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Load(writeFile(t, tt.doc)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // substrings the message must contain
	}{
		// Reading and syntax.
		{"empty file", "", []string{"file is empty"}},
		{"blank file", " \n\t\n", []string{"file is empty"}},
		{"bad JSON", "{\n  \"nodes\": [\n    {\"id\": 0 \"raft_addr\": \"x\"}\n  ]\n}\n",
			[]string{"config.json:3:14: invalid JSON", "after object key:value pair"}},
		{"trailing comma", "{\"nodes\": [],\n}", []string{"config.json:2:1: invalid JSON"}},
		{"truncated", baseDoc[:40], []string{"config.json:3:26: invalid JSON: unexpected end of file"}},
		{"trailing data", baseDoc + "{}", []string{"config.json:13:1:", "unexpected data after the top-level value"}},
		{"trailing garbage", baseDoc + "x", []string{"config.json:13:1: unexpected data after the top-level value"}},
		{"bad literal", edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": tru`), []string{"config.json:8:22: invalid JSON: invalid character ','"}},
		{"bad escape", edit(t, `"data_dir": "data"`, `"data_dir": "d\q"`), []string{"config.json:9:18: invalid JSON", "escape"}},
		{"raw newline in string", edit(t, `"data_dir": "data"`, "\"data_dir\": \"da\nta\""), []string{"config.json:9:18: invalid JSON"}},
		{"leading zero", edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": 050`), []string{"config.json:8:20: invalid JSON"}},
		{"not an object", `[1, 2]`, []string{"config.json:1:1: top level must be an object, not an array"}},
		{"bare string", `"nodes"`, []string{"top level must be an object, not string"}},

		// Structure and types.
		{"unknown field", edit(t, `"heartbeat_ms"`, `"heartbeat"`),
			[]string{"config.json:8:3:", `top level: unknown field "heartbeat" (did you mean "heartbeat_ms"?)`}},
		{"unknown node field", edit(t, `"raft_addr": "tcp://127.0.0.1:7001"`, `"raft_adr": "tcp://127.0.0.1:7001"`),
			[]string{"config.json:4:15:", `nodes[1]: unknown field "raft_adr" (did you mean "raft_addr"?)`}},
		{"unknown field far from all", edit(t, `"heartbeat_ms"`, `"colour"`),
			[]string{`unknown field "colour" (known fields: auth, auto_promote, badger, data_dir,`}},
		{"unknown badger field", edit(t, `"heartbeat_ms": 50,`, `"badger": {"memtable": 1},`),
			[]string{`badger: unknown field "memtable" (did you mean "memtable_bytes"?)`}},
		{"duplicate field", edit(t, `"heartbeat_ms": 50,`, `"heartbeat_ms": 50, "heartbeat_ms": 60,`),
			[]string{"config.json:8:23:", "heartbeat_ms appears twice"}},
		{"string for int", edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": "50"`),
			[]string{"config.json:8:19:", `heartbeat_ms must be an integer, not string "50"`}},
		{"float for int", edit(t, `"request_timeout_ms": 5000`, `"request_timeout_ms": 5000.5`),
			[]string{"request_timeout_ms must be an integer, not number 5000.5"}},
		{"exponent for int", edit(t, `"max_value_bytes": 1048576`, `"max_value_bytes": 1e6`),
			[]string{"max_value_bytes must be an integer"}},
		{"negative id", edit(t, `"id": 1`, `"id": -1`), []string{"nodes[1].id must be a non-negative integer, not number -1"}},
		{"id too big", edit(t, `"id": 1`, `"id": 18446744073709551616`), []string{"nodes[1].id must be a non-negative integer"}},
		{"null", edit(t, `"data_dir": "data"`, `"data_dir": null`), []string{"data_dir must be a string, not null"}},
		{"number for string", edit(t, `"http_addr": "127.0.0.1:8002"`, `"http_addr": 8002`),
			[]string{"nodes[2].http_addr must be a string, not number 8002"}},
		{"object for array", `{"nodes": {"id": 0}}`, []string{"config.json:1:11: nodes must be an array, not an object"}},
		{"bool for object", edit(t, `{"min": 300, "max": 600}`, `true`), []string{"election_timeout_ms must be an object, not true"}},
		{"nodes missing", `{"heartbeat_ms": 50}`, []string{"config.json:1:1: nodes is missing"}},
		{"node field missing", edit(t, `, "http_addr": "127.0.0.1:8002"`, ``),
			[]string{"config.json:5:5:", "nodes[2].http_addr is missing"}},
		{"node id missing", edit(t, `"id": 0, `, ``), []string{"nodes[0].id is missing"}},
		{"range max missing", edit(t, `, "max": 600`, ``), []string{"election_timeout_ms.max is missing"}},

		// Values.
		{"empty nodes", `{"nodes": []}`, []string{"config.json: nodes is empty"}},
		{"duplicate id", edit(t, `"id": 1`, `"id": 0`), []string{"nodes[1].id 0 duplicates nodes[0]"}},
		{"reserved id", edit(t, `"id": 1`, `"id": 18446744073709551615`), []string{"nodes[1].id 18446744073709551615 is reserved"}},
		{"duplicate raft_addr", edit(t, "tcp://127.0.0.1:7001", "tcp://127.0.0.1:7000"),
			[]string{`config.json: nodes[1].raft_addr "tcp://127.0.0.1:7000" duplicates nodes[0]`}},
		{"duplicate raft_addr, other spelling", edit(t, "tcp://127.0.0.1:7002", "tcp://127.0.0.1:07000"),
			[]string{`nodes[2].raft_addr "tcp://127.0.0.1:07000" duplicates nodes[0]`}},
		{"duplicate http_addr", edit(t, "127.0.0.1:8002", "127.0.0.1:8001"),
			[]string{`nodes[2].http_addr "127.0.0.1:8001" duplicates nodes[1]`}},
		{"http_addr on a raft port", edit(t, "127.0.0.1:8001", "127.0.0.1:7000"),
			[]string{`nodes[1].http_addr "127.0.0.1:7000" duplicates nodes[0].raft_addr`}},
		{"raft_addr on its own http port", edit(t, "tcp://127.0.0.1:7001", "tcp://127.0.0.1:8001"),
			[]string{`nodes[1].http_addr "127.0.0.1:8001" duplicates nodes[1].raft_addr`}},
		{"raft_addr without scheme", edit(t, "tcp://127.0.0.1:7001", "127.0.0.1:7001"),
			[]string{`nodes[1].raft_addr "127.0.0.1:7001" is not of the form tcp://host:port`}},
		{"raft_addr other scheme", edit(t, "tcp://127.0.0.1:7001", "ipc://127.0.0.1:7001"),
			[]string{`nodes[1].raft_addr "ipc://127.0.0.1:7001" is not of the form tcp://host:port`}},
		{"raft_addr without port", edit(t, "tcp://127.0.0.1:7001", "tcp://127.0.0.1"),
			[]string{`nodes[1].raft_addr "tcp://127.0.0.1" is not of the form tcp://host:port`}},
		{"raft_addr with path", edit(t, "tcp://127.0.0.1:7001", "tcp://127.0.0.1:7001/x"),
			[]string{`nodes[1].raft_addr`, `non-numeric port "7001/x"`}},
		{"raft_addr without host", edit(t, "tcp://127.0.0.1:7001", "tcp://:7001"), []string{`nodes[1].raft_addr "tcp://:7001"`, "has no host"}},
		{"raft_addr wildcard", edit(t, "tcp://127.0.0.1:7001", "tcp://*:7001"), []string{`nodes[1].raft_addr`, `invalid host "*"`}},
		{"raft_addr port 0", edit(t, "tcp://127.0.0.1:7001", "tcp://127.0.0.1:0"), []string{`nodes[1].raft_addr`, "port 0 out of range"}},
		{"raft_addr port 65536", edit(t, "tcp://127.0.0.1:7001", "tcp://127.0.0.1:65536"), []string{`nodes[1].raft_addr`, "port 65536 out of range"}},
		{"http_addr with scheme", edit(t, `"127.0.0.1:8000"`, `"http://127.0.0.1:8000"`),
			[]string{`nodes[0].http_addr "http://127.0.0.1:8000" is not host:port (write host:port, without a scheme)`}},
		{"http_addr without port", edit(t, `"127.0.0.1:8000"`, `"127.0.0.1"`), []string{`nodes[0].http_addr "127.0.0.1" is not host:port`}},
		{"http_addr without host", edit(t, `"127.0.0.1:8000"`, `":8000"`), []string{`nodes[0].http_addr ":8000" has no host`}},
		{"http_addr bad host", edit(t, `"127.0.0.1:8000"`, `"my host:8000"`), []string{`nodes[0].http_addr`, "invalid host"}},
		{"http_addr port 99999", edit(t, `"127.0.0.1:8000"`, `"127.0.0.1:99999"`), []string{`nodes[0].http_addr`, "port 99999 out of range"}},
		{"http_addr signed port", edit(t, `"127.0.0.1:8000"`, `"127.0.0.1:+80"`), []string{`nodes[0].http_addr`, `non-numeric port "+80"`}},
		{"http_addr named port", edit(t, `"127.0.0.1:8000"`, `"127.0.0.1:http"`), []string{`nodes[0].http_addr`, `non-numeric port "http"`}},
		{"min > max", edit(t, `"min": 300`, `"min": 700`), []string{"election_timeout_ms.min 700 is greater than max 600"}},
		{"min == max", edit(t, `"min": 300`, `"min": 600`), []string{"election_timeout_ms.min equals max"}},
		{"min zero", edit(t, `"min": 300`, `"min": 0`), []string{"election_timeout_ms.min is 0"}},
		{"min negative", edit(t, `"min": 300`, `"min": -300`), []string{"election_timeout_ms.min is -300"}},
		{"max absurd", edit(t, `"max": 600`, `"max": 600000`), []string{"election_timeout_ms.max 600000 is above"}},
		{"heartbeat equals election min", edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": 300`),
			[]string{"heartbeat_ms 300 must be below election_timeout_ms.min 300"}},
		{"heartbeat above election min", edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": 1000`), []string{"heartbeat_ms 1000 must be below"}},
		{"snapshot entries zero", edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": 50, "snapshot_entries": 0`), []string{"snapshot_entries is 0"}},
		{"snapshot bytes tiny", edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": 50, "snapshot_bytes": 10`), []string{"snapshot_bytes 10"}},
		{"snapshot keep negative", edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": 50, "snapshot_keep_entries": -1`), []string{"snapshot_keep_entries is -1"}},
		{"ready lag zero", edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": 50, "ready_max_lag_entries": 0`), []string{"ready_max_lag_entries is 0", "at least 1"}},
		{"ready lag negative", edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": 50, "ready_max_lag_entries": -5`), []string{"ready_max_lag_entries is -5"}},
		{"ready lag not a number", edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": 50, "ready_max_lag_entries": "10"`), []string{"ready_max_lag_entries must be an integer"}},
		{"lease drift negative", edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": 50, "lease_clock_drift_ms": -1`), []string{"lease_clock_drift_ms -1"}},
		{"lease drift not below election min", edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": 50, "lease_clock_drift_ms": 300`), []string{"lease_clock_drift_ms 300", "election_timeout_ms.min 300"}},
		{"heartbeat zero", edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": 0`), []string{"heartbeat_ms is 0"}},
		{"request timeout zero", edit(t, `"request_timeout_ms": 5000`, `"request_timeout_ms": 0`), []string{"request_timeout_ms is 0"}},
		{"request timeout negative", edit(t, `"request_timeout_ms": 5000`, `"request_timeout_ms": -1`), []string{"request_timeout_ms is -1"}},
		{"max value zero", edit(t, `"max_value_bytes": 1048576`, `"max_value_bytes": 0`), []string{"max_value_bytes is 0"}},
		{"max value negative", edit(t, `"max_value_bytes": 1048576`, `"max_value_bytes": -5`), []string{"max_value_bytes is -5"}},
		{"max value above 64 MiB", edit(t, `"max_value_bytes": 1048576`, `"max_value_bytes": 67108865`),
			[]string{"max_value_bytes 67108865 is above the 67108864 (64 MiB) limit"}},
		{"empty data_dir", edit(t, `"data_dir": "data"`, `"data_dir": ""`), []string{`data_dir "" is empty`}},
		{"tiny memtable", edit(t, `"heartbeat_ms": 50,`, `"heartbeat_ms": 50, "badger": {"memtable_bytes": 1000},`),
			[]string{"badger.memtable_bytes 1000 is outside"}},
		{"zero cache", edit(t, `"heartbeat_ms": 50,`, `"heartbeat_ms": 50, "badger": {"block_cache_bytes": 0},`),
			[]string{"badger.block_cache_bytes 0 is outside"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.doc)
			c, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", c)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, path+":") {
				t.Errorf("error %q does not start with the file name", msg)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error spans lines: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\ndoes not contain %q", msg, w)
				}
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.json")
	_, err := Load(missing)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || err.Error() != missing+": config file not found: file does not exist" {
		t.Errorf("Load(missing) = %v", err)
	}
	_, err = Load(dir)
	if err == nil || !strings.HasPrefix(err.Error(), dir+": cannot read config: ") || strings.Count(err.Error(), dir) != 1 {
		t.Errorf("Load(directory) = %v", err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, []byte(strings.Repeat(" ", maxConfigFileBytes+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("Load(huge file) = %v", err)
	}
}

func TestParseNamesConfig(t *testing.T) {
	_, err := Parse([]byte(`{"nodes": []}`))
	if err == nil || err.Error() != "config: nodes is empty; list at least one node" {
		t.Fatalf("Parse error = %v", err)
	}
	_, err = Parse([]byte(`{`))
	if err == nil || !strings.HasPrefix(err.Error(), "config:1:2: invalid JSON") {
		t.Fatalf("Parse error = %v", err)
	}
}

// Validate re-checks a config changed after loading (cmd overrides
// data_dir from a flag), and keeps naming the file.
func TestValidateAfterChange(t *testing.T) {
	c, err := Load("../config.json")
	if err != nil {
		t.Fatal(err)
	}
	c.Nodes[2].HTTPAddr = c.Nodes[0].HTTPAddr
	err = c.Validate()
	if err == nil || err.Error() != `../config.json: nodes[2].http_addr "127.0.0.1:8000" duplicates nodes[0]` {
		t.Fatalf("Validate = %v", err)
	}
	var zero Config
	if err := zero.Validate(); err == nil || !strings.HasPrefix(err.Error(), "config: nodes is empty") {
		t.Fatalf("zero Config Validate = %v", err)
	}
}

// What Config marshals to loads back to the same Config.
func TestMarshalRoundTrip(t *testing.T) {
	c, err := Load("../config.json")
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(%s): %v", data, err)
	}
	back.source, back.dir = c.source, c.dir
	if !reflect.DeepEqual(back, c) {
		t.Fatalf("round trip gave %+v, want %+v", back, c)
	}
}

func TestLoadWritesNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	doc := strings.Replace(baseDoc, `"data_dir": "data"`, `"data_dir": "`+filepath.Join(dir, "data")+`"`, 1)
	if err := os.WriteFile(path, []byte(doc), 0o444); err != nil {
		t.Fatal(err)
	}
	before := listTree(t, dir)
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.NodeDir(0)
	_ = c.TrailPath(0)
	if after := listTree(t, dir); !reflect.DeepEqual(before, after) {
		t.Fatalf("Load changed %s:\nbefore %v\nafter  %v", dir, before, after)
	}
}

func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, p+" "+info.Mode().String()+" "+info.ModTime().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"", "abc", 3},
		{"raft_adr", "raft_addr", 1},
		{"kitten", "sitting", 3},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestReadyMaxLagEntries(t *testing.T) {
	for _, n := range []int64{1, 1000, 1 << 40} {
		c, err := Parse([]byte(edit(t, `"heartbeat_ms": 50`, fmt.Sprintf(`"heartbeat_ms": 50, "ready_max_lag_entries": %d`, n))))
		if err != nil {
			t.Fatalf("ready_max_lag_entries %d: %v", n, err)
		}
		if c.ReadyMaxLagEntries != n {
			t.Fatalf("ReadyMaxLagEntries = %d, want %d", c.ReadyMaxLagEntries, n)
		}
	}
}

func TestAutoPromote(t *testing.T) {
	tests := []struct {
		field   string
		want    bool
		wantErr string
	}{
		{"", true, ""},
		{`, "auto_promote": false`, false, ""},
		{`, "auto_promote": true`, true, ""},
		{`, "auto_promote": "no"`, false, `auto_promote must be true or false, not string "no"`},
		{`, "auto_promote": 0`, false, "auto_promote must be true or false"},
	}
	for _, tt := range tests {
		c, err := Parse([]byte(edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": 50`+tt.field)))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want %q", tt.field, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tt.field, err)
		}
		if c.AutoPromote != tt.want {
			t.Errorf("%q: AutoPromote %v, want %v", tt.field, c.AutoPromote, tt.want)
		}
		if after := c.AutoPromoteAfter(); (after > 0) != tt.want || tt.want && after < time.Duration(4*c.ElectionTimeoutMS.Max)*time.Millisecond {
			t.Errorf("%q: AutoPromoteAfter %v", tt.field, after)
		}
	}
}

func TestRoutes(t *testing.T) {
	tests := []struct {
		routes  string
		wantErr string
	}{
		{`[{"id": 1, "raft_addr": "tcp://127.0.0.1:9001", "http_addr": "127.0.0.1:9101"}, {"id": 7, "raft_addr": "tcp://127.0.0.1:9007", "http_addr": "127.0.0.1:9107"}]`, ""},
		{`[{"id": 1, "raft_addr": "127.0.0.1:9001", "http_addr": "127.0.0.1:9101"}]`, "routes[0].raft_addr"},
		{`[{"id": 1, "raft_addr": "tcp://127.0.0.1:9001", "http_addr": "http://127.0.0.1:9101"}]`, "routes[0].http_addr"},
		{`[{"id": 1, "raft_addr": "tcp://h:1", "http_addr": "h:2"}, {"id": 1, "raft_addr": "tcp://h:3", "http_addr": "h:4"}]`, "routes[1].id 1 duplicates routes[0]"},
		{`[{"id": 1, "raft_addr": "tcp://h:1"}]`, "http_addr"},
		{`[{"id": 1, "raft_addr": "tcp://h:1", "http_addr": "h:2", "tls": {}}]`, `routes[0]: unknown field "tls"`},
	}
	for _, tt := range tests {
		c, err := Parse([]byte(edit(t, `"heartbeat_ms": 50`, `"heartbeat_ms": 50, "routes": `+tt.routes)))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.routes, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(c.Routes) != 2 || c.Routes[1].ID != 7 || c.Routes[1].HTTPAddr != "127.0.0.1:9107" {
			t.Errorf("%s: %+v, %v", tt.routes, c, err)
		}
	}
}

// The schema is derived from Config: every field the struct has is
// known, with its kind, and the required ones are marked.
func TestSchemaFollowsTheStruct(t *testing.T) {
	top := configShape
	for _, name := range []string{"nodes", "election_timeout_ms", "routes", "badger", "peer_key_file", "tls", "auth"} {
		if top.fields[name] == nil {
			t.Errorf("the schema lacks %q", name)
		}
	}
	if !slices.Equal(top.required, []string{"nodes"}) {
		t.Errorf("top-level required = %v", top.required)
	}
	node := top.fields["nodes"].elem
	if node.fields["id"].kind != kindUint || node.fields["tls"].kind != kindObject ||
		!slices.Equal(node.required, []string{"id", "raft_addr", "http_addr"}) {
		t.Errorf("nodes[] shape: %+v", node)
	}
	if a := top.fields["auth"]; !slices.Equal(a.required, []string{"tokens_file", "node_token_file"}) || a.fields["protect_ui"].kind != kindBool {
		t.Errorf("auth shape: %+v", a)
	}
	if r := top.fields["election_timeout_ms"]; !slices.Equal(r.required, []string{"min", "max"}) || r.fields["min"].kind != kindInt {
		t.Errorf("election_timeout_ms shape: %+v", r)
	}
}
