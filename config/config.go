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

	"github.com/raftkv/raftkv/internal/storedefaults"
)

// Defaults for optional fields.
const (
	DefaultDataDir          = "data"
	DefaultRequestTimeoutMS = 5000
	DefaultMaxValueBytes    = 1 << 20
	DefaultHeartbeatMS      = 50
	// DefaultLeaseClockDriftMS is how much shorter than the election
	// timeout minimum a leader's read lease is.
	DefaultLeaseClockDriftMS = 100
	// A snapshot is taken after this many entries, or once the log is
	// this large; this many entries stay behind it for slow followers.
	// A snapshot copies the whole store, so at 10,000 entries it cost a
	// node 5-10% of its CPU under a write load; etcd's default is 100,000.
	DefaultSnapshotEntries     = 100000
	DefaultSnapshotBytes       = 64 << 20
	DefaultSnapshotKeepEntries = 5000
	DefaultElectionMinMS       = 300
	DefaultElectionMaxMS       = 600
	DefaultMemTableBytes       = storedefaults.MemTableBytes // kv's own, from one place
	DefaultBlockCacheBytes     = storedefaults.BlockCacheBytes
	DefaultIndexCacheBytes     = storedefaults.IndexCacheBytes

	// DefaultReadyMaxLagEntries: GET /readyz fails while the applied
	// index trails the commit index by more than this.
	DefaultReadyMaxLagEntries = 1000
)

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
	ID       uint64 `json:"id" config:"required"`
	RaftAddr string `json:"raft_addr" config:"required"` // tcp://host:port, for ZeroMQ
	HTTPAddr string `json:"http_addr" config:"required"` // host:port, for the API
	// TLS overrides, field by field, the top-level tls for this node
	// (typically its own cert_file and key_file).
	TLS *TLS `json:"tls,omitempty"`
}

// Range is an inclusive range of milliseconds.
type Range struct {
	Min int `json:"min" config:"required"`
	Max int `json:"max" config:"required"`
}

// BadgerConfig sizes each node's badger database.
type BadgerConfig struct {
	MemTableBytes   int64 `json:"memtable_bytes"`
	BlockCacheBytes int64 `json:"block_cache_bytes"`
	IndexCacheBytes int64 `json:"index_cache_bytes"`
}

// Config is the whole cluster configuration. Every node reads the same
// file and finds itself by ID.
type Config struct {
	Nodes               []Node `json:"nodes"`
	ElectionTimeoutMS   Range  `json:"election_timeout_ms"`
	HeartbeatMS         int    `json:"heartbeat_ms"`
	DataDir             string `json:"data_dir"`
	RequestTimeoutMS    int    `json:"request_timeout_ms"`
	MaxValueBytes       int64  `json:"max_value_bytes"`
	LeaseClockDriftMS   int    `json:"lease_clock_drift_ms"`
	SnapshotEntries     int64  `json:"snapshot_entries"`
	SnapshotBytes       int64  `json:"snapshot_bytes"`
	SnapshotKeepEntries int64  `json:"snapshot_keep_entries"`
	ReadyMaxLagEntries  int64  `json:"ready_max_lag_entries"`
	// AutoPromote: the leader makes a learner a voter once it has caught
	// up and stayed in contact for a while (AutoPromoteAfter).
	AutoPromote bool `json:"auto_promote"`
	// Routes, rarely needed, make this node reach the listed members at
	// other addresses than the membership records (a proxy in between, as
	// the kvchaos harness puts one on every link).
	Routes []Node       `json:"routes,omitempty"`
	Badger BadgerConfig `json:"badger,omitzero"`
	// PeerKeyFile names the file of the shared key(s) that seal Raft
	// traffic between nodes (peerkey.go); empty: peer traffic is neither
	// encrypted nor authenticated. Every node needs the same key.
	PeerKeyFile string `json:"peer_key_file,omitempty"`
	// TLS, shared by every node (nodes[i].tls overrides it), makes the
	// nodes serve HTTPS; see tls.go.
	TLS *TLS `json:"tls,omitempty"`
	// Auth, when set, makes the API ask for tokens (auth.go).
	Auth *AuthConfig `json:"auth,omitempty"`

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
	raw, err := decode(name, data)
	if err != nil {
		return nil, err
	}
	c := raw.withDefaults()
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
