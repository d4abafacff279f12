// Package config reads and checks the cluster configuration (config.json):
// the nodes, Raft timing, limits and storage sizes. It only reads; every
// error is one line that names the file and the field at fault.
package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Every field's name, default and documentation are its struct tags (the
// vocabulary is at field, in decode.go): decoding, the defaults, the
// reference table in README.md and package internal/defaults all come
// from them.
//go:generate go test -run TestGeneratedFiles -update

// MaxValueBytesLimit caps max_value_bytes: a value travels whole in one
// Raft entry, one AppendEntries and one badger write.
const MaxValueBytesLimit = 64 << 20

const (
	defaultSourceName  = "config"
	maxConfigFileBytes = 1 << 20

	// reservedNodeID is wire.None, the ID that means "no node".
	reservedNodeID = ^uint64(0)

	// Sanity bounds; values outside them are typos, not tuning.
	minMemTableBytes     = 1 << 20 // badger cannot work with less
	maxMemTableBytes     = 1 << 30
	minCacheBytes        = 1 << 20
	maxCacheBytes        = 64 << 30
	maxElectionTimeoutMS = 60_000
	maxRequestTimeoutMS  = 3_600_000
)

// Node is one member of the cluster.
type Node struct {
	ID       uint64 `json:"id" config:"required" doc:"node id, unique"`
	RaftAddr string `json:"raft_addr" config:"required" doc:"ZeroMQ address peers send Raft messages to ('tcp://host:port')"`
	HTTPAddr string `json:"http_addr" config:"required" doc:"HTTP API address ('host:port')"`
	TLS      *TLS   `json:"tls,omitempty" absent:"the top-level 'tls'" doc:"the 'tls' fields for this one node, each overriding the top-level one (typically the node's own 'cert_file' and 'key_file')"`
}

// Range is an inclusive range of milliseconds.
type Range struct {
	Min int `json:"min" config:"required" doc:"the shortest timeout; positive"`
	Max int `json:"max" config:"required" doc:"the longest; above 'min', at most 60000"`
}

// BadgerConfig sizes each node's badger database.
type BadgerConfig struct {
	// MemTableBytes drives most of badger's Go heap under a write load: two
	// skiplist arenas of that size (the open memtable and one being flushed)
	// and, per flush, a table builder whose allocator grows to about the
	// memtable's size and is then kept in badger's allocator pool (up to 8 of
	// them, released only after 2 s without any table build, so never during
	// steady writes). A heap profile after 1M writes of 256 B at 16 MiB showed
	// 21 MB of arenas and 60 MB of pooled builder buffers of 118 MB live; with
	// GOGC=100 the process holds about twice the live heap. At 8 MiB the same
	// run showed 10 MB of arenas and 28 MB of builder buffers, at the cost of
	// twice as many (smaller) L0 flushes.
	MemTableBytes int64 `json:"memtable_bytes" default:"8388608" doc:"badger's memtable size; 1 MiB to 1 GiB"`
	// The caches are sized for several nodes in one process (kvserver --all,
	// tests): badger's own defaults assume one large database per machine.
	BlockCacheBytes int64 `json:"block_cache_bytes" default:"33554432" doc:"badger's block cache; 1 MiB to 64 GiB"`
	IndexCacheBytes int64 `json:"index_cache_bytes" default:"16777216" doc:"badger's index cache; 1 MiB to 64 GiB"`
}

// Config is the whole cluster configuration. Every node reads the same
// file and finds itself by ID.
type Config struct {
	// After the first start the membership is in the Raft log, and nodes
	// only seeds a brand-new cluster.
	Nodes             []Node `json:"nodes" config:"required" doc:"the members a new cluster starts with; every node reads the same file and finds itself by 'id'"`
	ElectionTimeoutMS Range  `json:"election_timeout_ms" default:"{\"min\": 300, \"max\": 600}" doc:"a follower that hears no leader for a random time in [min, max] starts an election"`
	HeartbeatMS       int    `json:"heartbeat_ms" default:"50" doc:"leader heartbeat interval; must be below 'election_timeout_ms.min'"`
	DataDir           string `json:"data_dir" default:"\"data\"" doc:"where nodes keep their state (relative to the working directory; 'kvserver --data-dir' overrides it)"`
	RequestTimeoutMS  int    `json:"request_timeout_ms" default:"5000" doc:"how long a write or linearizable read may take before 504"`
	MaxValueBytes     int64  `json:"max_value_bytes" default:"1048576" doc:"largest value accepted (413 above); at most 64 MiB"`
	LeaseClockDriftMS int    `json:"lease_clock_drift_ms" default:"100" doc:"how much shorter than 'election_timeout_ms.min' a leader's read lease is; 0 disables lease reads"`
	// A snapshot copies the whole store, so at 10,000 entries it cost a
	// node 5-10% of its CPU under a write load; etcd's default is 100,000.
	SnapshotEntries     int64 `json:"snapshot_entries" default:"100000" doc:"take a snapshot after this many entries were applied since the last one"`
	SnapshotBytes       int64 `json:"snapshot_bytes" default:"67108864" doc:"... or once the stored log is this large"`
	SnapshotKeepEntries int64 `json:"snapshot_keep_entries" default:"5000" doc:"entries kept in the log behind a snapshot, so slow followers catch up from the log"`
	// 0 would flap under steady writes: applied trails commit by a batch.
	ReadyMaxLagEntries int64 `json:"ready_max_lag_entries" default:"1000" doc:"'GET /readyz' answers 503 while the applied index trails the commit index by more than this; at least 1"`
	// The wait (AutoPromoteAfter) keeps a flapping node from getting a vote.
	AutoPromote bool `json:"auto_promote" default:"true" doc:"the leader makes a learner a voter once it holds all but 1024 entries and has stayed in contact for 4 election timeouts (at least 2 s); 'false': only 'kvcli member promote' does"`
	// A route has no tls: it changes where a member is reached, not how.
	Routes []Node       `json:"routes,omitempty" config:"without=tls" absent:"none" doc:"rarely needed: a list of 'id', 'raft_addr', 'http_addr' objects, where *this* node reaches those members instead of the addresses the membership records (a proxy in between, as kvchaos puts on every link)"`
	Badger BadgerConfig `json:"badger,omitzero" absent:"each field's default" doc:"badger's memory sizes, per node"`
	// Every node needs the same key (peerkey.go).
	PeerKeyFile string `json:"peer_key_file,omitempty" absent:"none: peer traffic is in the clear" doc:"file of the shared key(s) that encrypt and authenticate Raft traffic between nodes (see [Peer traffic](#peer-traffic)); relative to the directory of 'config.json', like the 'tls' and 'auth' files"`
	// Shared by every node, so one file serves the cluster (tls.go).
	TLS  *TLS        `json:"tls,omitempty" absent:"plain HTTP" doc:"makes the nodes serve HTTPS (see [HTTPS](#https)); 'nodes[].tls' overrides it field by field"`
	Auth *AuthConfig `json:"auth,omitempty" absent:"none: no tokens asked" doc:"API tokens (see [Tokens](#tokens))"`

	// source names the file in error messages; dir is its directory, which
	// relative paths to other files start from.
	source string
	dir    string
	// peerKeySet: the file has peer_key_file, perhaps empty.
	peerKeySet bool
}

// Load reads, decodes, fills defaults into and validates the file at path.
// It never writes anything.
func Load(path string) (*Config, error) {
	data, err := readLimited(path, maxConfigFileBytes)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: config file not found: %w", path, fs.ErrNotExist)
	case errors.Is(err, errTooLarge):
		return nil, fmt.Errorf("%s: config file is larger than %d bytes", path, maxConfigFileBytes)
	case err != nil:
		return nil, fmt.Errorf("%s: cannot read config: %w", path, err)
	}
	return parse(path, filepath.Dir(path), data)
}

var errTooLarge = errors.New("file too large")

// readLimited reads a file of at most limit bytes (errTooLarge beyond).
// Errors do not repeat the path: callers name it their way.
func readLimited(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if len(data) > limit {
		return nil, errTooLarge
	}
	return data, nil
}

// unwrapPathError drops the *fs.PathError wrapper, whose message would
// repeat the path the caller already prints.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Parse decodes and validates a config held in memory. Errors name it
// "config".
func Parse(data []byte) (*Config, error) {
	return parse(defaultSourceName, ".", data)
}

func parse(name, dir string, data []byte) (*Config, error) {
	c, err := decode(name, data)
	if err != nil {
		return nil, err
	}
	c.source, c.dir = name, dir
	if name != defaultSourceName {
		c.resolveTLSPaths()
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := c.loadAuth(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

func (c *Config) sourceName() string {
	if c.source == "" {
		return defaultSourceName
	}
	return c.source
}

// Node returns the node with the given ID.
func (c *Config) Node(id uint64) (Node, error) {
	ids := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		if n.ID == id {
			return n, nil
		}
		ids[i] = fmt.Sprint(n.ID)
	}
	return Node{}, fmt.Errorf("unknown node id %d (config has %s)", id, strings.Join(ids, ", "))
}

// NodeDir is where node id keeps its Raft log and its badger data.
func (c *Config) NodeDir(id uint64) string {
	return filepath.Join(c.DataDir, fmt.Sprintf("node-%d", id))
}

// TrailPath is the human-readable trail of entries node id committed.
func (c *Config) TrailPath(id uint64) string {
	return filepath.Join(c.DataDir, "logs", fmt.Sprintf("%d.txt", id))
}

// ElectionTimeout is the range election timeouts are drawn from.
func (c *Config) ElectionTimeout() (min, max time.Duration) {
	return ms(c.ElectionTimeoutMS.Min), ms(c.ElectionTimeoutMS.Max)
}

// HeartbeatInterval is how often a leader sends heartbeats.
func (c *Config) HeartbeatInterval() time.Duration { return ms(c.HeartbeatMS) }

// AutoPromoteAfter is how long a caught-up learner must stay in contact
// with the leader before the leader makes it a voter (Consul Autopilot's
// stabilization time); 0 when auto_promote is off. A few election
// timeouts: long enough that a flapping node is not given a vote.
func (c *Config) AutoPromoteAfter() time.Duration {
	if !c.AutoPromote {
		return 0
	}
	return max(2*time.Second, 4*ms(c.ElectionTimeoutMS.Max))
}

// RequestTimeout bounds how long the API waits for a write to commit.
func (c *Config) RequestTimeout() time.Duration { return ms(c.RequestTimeoutMS) }

// SnapshotDir is where node id keeps its snapshot files.
func (c *Config) SnapshotDir(id uint64) string { return filepath.Join(c.NodeDir(id), "snap") }

// LeaseClockDrift is the margin by which a leader's read lease is shorter
// than the election timeout minimum; 0 disables lease reads.
func (c *Config) LeaseClockDrift() time.Duration { return ms(c.LeaseClockDriftMS) }

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }
