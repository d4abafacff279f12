package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Validate checks the values of a decoded config and returns the first
// problem as one line naming the field.
func (c *Config) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("%s: %s", c.sourceName(), err)
	}
	return nil
}

func (c *Config) validate() error {
	if err := c.validateNodes(); err != nil {
		return err
	}
	if err := c.validateRoutes(); err != nil {
		return err
	}
	if err := c.validateTLS(); err != nil {
		return err
	}
	e := c.ElectionTimeoutMS
	switch {
	case e.Min <= 0:
		return fmt.Errorf("election_timeout_ms.min is %d; it must be positive", e.Min)
	case e.Max > maxElectionTimeoutMS:
		return fmt.Errorf("election_timeout_ms.max %d is above %d", e.Max, maxElectionTimeoutMS)
	case e.Min > e.Max:
		return fmt.Errorf("election_timeout_ms.min %d is greater than max %d", e.Min, e.Max)
	case e.Min == e.Max:
		// Identical timeouts make candidates collide election after election.
		return fmt.Errorf("election_timeout_ms.min equals max (%d); they must differ so timeouts are randomized", e.Min)
	case c.HeartbeatMS <= 0:
		return fmt.Errorf("heartbeat_ms is %d; it must be positive", c.HeartbeatMS)
	case c.HeartbeatMS >= e.Min:
		return fmt.Errorf("heartbeat_ms %d must be below election_timeout_ms.min %d, or followers time out between heartbeats", c.HeartbeatMS, e.Min)
	case c.LeaseClockDriftMS < 0 || c.LeaseClockDriftMS >= e.Min:
		return fmt.Errorf("lease_clock_drift_ms %d must be from 0 (no lease reads) to below election_timeout_ms.min %d", c.LeaseClockDriftMS, e.Min)
	case c.SnapshotEntries < 1:
		return fmt.Errorf("snapshot_entries is %d; it must be at least 1", c.SnapshotEntries)
	case c.SnapshotBytes < 1<<20:
		return fmt.Errorf("snapshot_bytes %d is below 1 MiB", c.SnapshotBytes)
	case c.SnapshotKeepEntries < 0:
		return fmt.Errorf("snapshot_keep_entries is %d; it must not be negative", c.SnapshotKeepEntries)
	case c.ReadyMaxLagEntries < 1:
		// 0 would flap under steady writes: applied trails commit by a batch.
		return fmt.Errorf("ready_max_lag_entries is %d; it must be at least 1", c.ReadyMaxLagEntries)
	case c.RequestTimeoutMS <= 0:
		return fmt.Errorf("request_timeout_ms is %d; it must be positive", c.RequestTimeoutMS)
	case c.RequestTimeoutMS > maxRequestTimeoutMS:
		return fmt.Errorf("request_timeout_ms %d is above %d", c.RequestTimeoutMS, maxRequestTimeoutMS)
	case c.MaxValueBytes <= 0:
		return fmt.Errorf("max_value_bytes is %d; it must be positive", c.MaxValueBytes)
	case c.MaxValueBytes > MaxValueBytesLimit:
		return fmt.Errorf("max_value_bytes %d is above the %d (64 MiB) limit", c.MaxValueBytes, MaxValueBytesLimit)
	case strings.TrimSpace(c.DataDir) == "":
		return fmt.Errorf("data_dir %q is empty", c.DataDir)
	case c.peerKeySet && strings.TrimSpace(c.PeerKeyFile) == "":
		// An empty value must not quietly turn peer encryption off.
		return fmt.Errorf("peer_key_file %q is empty; name a key file, or remove the field to run without peer encryption", c.PeerKeyFile)
	}
	return c.Badger.validate()
}

func (b BadgerConfig) validate() error {
	sizes := []struct {
		field    string
		v        int64
		min, max int64
	}{
		{"memtable_bytes", b.MemTableBytes, minMemTableBytes, maxMemTableBytes},
		{"block_cache_bytes", b.BlockCacheBytes, minCacheBytes, maxCacheBytes},
		{"index_cache_bytes", b.IndexCacheBytes, minCacheBytes, maxCacheBytes},
	}
	for _, s := range sizes {
		if s.v < s.min || s.v > s.max {
			return fmt.Errorf("badger.%s %d is outside %d (%s) to %d (%s)", s.field, s.v, s.min, size(s.min), s.max, size(s.max))
		}
	}
	return nil
}

func size(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%d GiB", n>>30)
	}
	return fmt.Sprintf("%d MiB", n>>20)
}

// validateRoutes checks each route's addresses; ids are unique, but a
// route may name a node not in nodes (one that joined later).
func (c *Config) validateRoutes() error {
	ids := map[uint64]int{}
	for i, n := range c.Routes {
		at := fmt.Sprintf("routes[%d]", i)
		if j, ok := ids[n.ID]; ok {
			return fmt.Errorf("%s.id %d duplicates routes[%d]", at, n.ID, j)
		}
		ids[n.ID] = i
		if _, err := parseRaftAddr(n.RaftAddr); err != nil {
			return fmt.Errorf("%s.raft_addr %q %v", at, n.RaftAddr, err)
		}
		if _, err := parseHostPort(n.HTTPAddr); err != nil {
			return fmt.Errorf("%s.http_addr %q %v", at, n.HTTPAddr, err)
		}
	}
	return nil
}

func (c *Config) validateNodes() error {
	if len(c.Nodes) == 0 {
		return fmt.Errorf("nodes is empty; list at least one node")
	}
	ids := map[uint64]int{}
	// Every address is something a node listens on, so no two may be the
	// same, whatever role each plays.
	type owner struct {
		node  int
		field string
	}
	addrs := map[string]owner{}
	for i, n := range c.Nodes {
		at := fmt.Sprintf("nodes[%d]", i)
		if n.ID == reservedNodeID {
			return fmt.Errorf("%s.id %d is reserved (it means \"no node\")", at, n.ID)
		}
		if j, ok := ids[n.ID]; ok {
			return fmt.Errorf("%s.id %d duplicates nodes[%d]", at, n.ID, j)
		}
		ids[n.ID] = i

		raft, err := parseRaftAddr(n.RaftAddr)
		if err != nil {
			return fmt.Errorf("%s.raft_addr %q %v", at, n.RaftAddr, err)
		}
		http, err := parseHostPort(n.HTTPAddr)
		if err != nil {
			if strings.Contains(n.HTTPAddr, "://") {
				err = fmt.Errorf("%v (write host:port, without a scheme)", err)
			}
			return fmt.Errorf("%s.http_addr %q %v", at, n.HTTPAddr, err)
		}
		for _, a := range []struct {
			field, key, raw string
		}{{"raft_addr", raft, n.RaftAddr}, {"http_addr", http, n.HTTPAddr}} {
			if o, ok := addrs[a.key]; ok {
				other := fmt.Sprintf("nodes[%d]", o.node)
				if o.field != a.field {
					other += "." + o.field
				}
				return fmt.Errorf("%s.%s %q duplicates %s", at, a.field, a.raw, other)
			}
			addrs[a.key] = owner{i, a.field}
		}
	}
	return nil
}

// parseRaftAddr checks a ZeroMQ endpoint of the form tcp://host:port and
// returns its normalized host:port.
func parseRaftAddr(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, "tcp://")
	if !ok {
		return "", fmt.Errorf("is not of the form tcp://host:port")
	}
	hp, err := parseHostPort(rest)
	if err != nil {
		return "", fmt.Errorf("is not of the form tcp://host:port: %v", err)
	}
	return hp, nil
}

// parseHostPort checks host:port with a concrete host (peers dial these
// addresses, so a wildcard would not do) and a port in 1-65535. It returns
// the address normalized, for duplicate detection.
func parseHostPort(s string) (string, error) {
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("is not host:port")
	}
	if host == "" {
		return "", fmt.Errorf("has no host")
	}
	if !validHost(host) {
		return "", fmt.Errorf("has an invalid host %q", host)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || strings.TrimLeft(portStr, "0123456789") != "" {
		return "", fmt.Errorf("has a non-numeric port %q", portStr)
	}
	if port < 1 || port > 65535 {
		return "", fmt.Errorf("has port %d out of range 1-65535", port)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String()
	}
	return net.JoinHostPort(strings.ToLower(host), strconv.Itoa(port)), nil
}

// validHost accepts an IP address or a DNS name.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}
