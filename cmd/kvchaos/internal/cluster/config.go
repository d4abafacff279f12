// Package cluster runs a raftkv cluster of real kvserver processes on
// loopback, with a fault-injecting TCP proxy on every directed link.
package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/raftkv/raftkv/config"
)

// ServerPackage is the import path of the server binary the harness runs.
const ServerPackage = "github.com/raftkv/raftkv/cmd/kvserver"

// BuildServer builds kvserver into dir and returns the binary's path. It
// must run inside the module (go run and go test do).
func BuildServer(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "kvserver")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ServerPackage)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s (run inside the raftkv module, or pass --kvserver): %w\n%s",
			ServerPackage, err, out)
	}
	return bin, nil
}

// Timing is the Raft timing written into every node's config.
type Timing struct {
	ElectionMinMS, ElectionMaxMS int
	HeartbeatMS                  int
	RequestTimeoutMS             int
}

// DefaultTiming is the shipped config's timing, with a request timeout
// short enough that clients see many timeouts under faults.
var DefaultTiming = Timing{ElectionMinMS: 300, ElectionMaxMS: 600, HeartbeatMS: 50, RequestTimeoutMS: 2000}

// configNode and configFile mirror config.json's format.
type configNode struct {
	ID       uint64 `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr"`
}

type configRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

type configFile struct {
	Nodes            []configNode `json:"nodes"`
	ElectionTimeout  configRange  `json:"election_timeout_ms"`
	HeartbeatMS      int          `json:"heartbeat_ms"`
	DataDir          string       `json:"data_dir"`
	RequestTimeoutMS int          `json:"request_timeout_ms"`
	Routes           []configNode `json:"routes,omitempty"`
}

// writeConfig writes node id's own config: every node at its real
// addresses (the membership, the same in every file), and routes that send
// id's traffic to each peer through the proxies of the links id→peer.
// The file is loaded back through package config, so a layout the server
// would refuse fails here, before any process starts.
func (c *Cluster) writeConfig(id uint64) (string, error) {
	f := configFile{
		ElectionTimeout:  configRange{c.timing.ElectionMinMS, c.timing.ElectionMaxMS},
		HeartbeatMS:      c.timing.HeartbeatMS,
		DataDir:          filepath.Join(c.dir, "data"),
		RequestTimeoutMS: c.timing.RequestTimeoutMS,
	}
	for _, p := range c.ids {
		f.Nodes = append(f.Nodes, configNode{ID: p, RaftAddr: "tcp://" + c.raftAddr[p], HTTPAddr: c.httpAddr[p]})
		if p != id {
			l := c.links[Link{From: id, To: p}]
			f.Routes = append(f.Routes, configNode{ID: p, RaftAddr: "tcp://" + l.raft.Addr(), HTTPAddr: l.http.Addr()})
		}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode config of node %d: %w", id, err)
	}
	path := filepath.Join(c.dir, fmt.Sprintf("node-%d.json", id))
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("write config of node %d: %w", id, err)
	}
	if _, err := config.Load(path); err != nil {
		return "", fmt.Errorf("config of node %d refused: %w", id, err)
	}
	return path, nil
}

// freePorts returns n distinct loopback addresses that were free a moment
// ago. Nodes are killed and restarted on the same ports, so the ports come
// from outside the kernel's ephemeral range when it is known: otherwise an
// outgoing connection could take a dead node's port as its source port and
// the node could not bind it again. All are held open until every one is
// picked, so none repeats.
func freePorts(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	below := ephemeralStart()
	addrs := make([]string, 0, n)
	for tries := 0; len(addrs) < n; tries++ {
		addr := "127.0.0.1:0" // fallback: any port
		if below > nonEphemeralMin && tries < 100*n {
			addr = fmt.Sprintf("127.0.0.1:%d", nonEphemeralMin+rand.IntN(below-nonEphemeralMin))
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if tries >= 200*n {
				return nil, fmt.Errorf("pick a free port: %w", err)
			}
			continue // taken: try another
		}
		lns = append(lns, ln)
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

// nonEphemeralMin is the lowest port picked outside the ephemeral range:
// above the well-known and most registered services.
const nonEphemeralMin = 20000

// ephemeralStart is the lowest port of the kernel's range of source
// ports for outgoing connections, or 0 when unknown.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil {
		return 0
	}
	return lo
}
