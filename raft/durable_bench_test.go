package raft_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkv/raftkv/logs"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/transport"
	"github.com/raftkv/raftkv/raft/wire"
)

// discardSM applies by counting: the benchmark measures consensus, not a
// store.
type discardSM struct{ applied atomic.Uint64 }

func (s *discardSM) Apply(ents []wire.Entry) error {
	s.applied.Store(ents[len(ents)-1].Index)
	return nil
}
func (s *discardSM) AppliedIndex() uint64 { return 0 } // nothing survives a restart
func (s *discardSM) AppliedTerm() uint64  { return 0 }
func (s *discardSM) Sync() error          { return nil }
func (s *discardSM) Snapshot(begin func(index, term uint64) (io.Writer, error)) error {
	_, err := begin(s.applied.Load(), 0)
	return err
}
func (s *discardSM) Restore(io.Reader, uint64, uint64) error { return nil }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// BenchmarkDurableCommit measures entries committed through three nodes
// with everything real below the state machine: the WAL with fdatasync and
// the ZeroMQ transport on loopback, 256-byte entries, concurrent
// proposers on the leader, no HTTP. It reports entries/s (issue 11's
// target: 200,000); with one proposer, ns/op is the commit latency
// (an fsync on the leader and on a follower, in parallel, and two hops).
// Every node shares the same cores, as in the cluster benchmarks.
func BenchmarkDurableCommit(b *testing.B) {
	for _, proposers := range []int{1, 64, 256} {
		b.Run(fmt.Sprintf("proposers=%d", proposers), func(b *testing.B) {
			benchDurableCommit(b, proposers)
		})
	}
}

func benchDurableCommit(b *testing.B, proposers int) {
	nodes := startDurableCluster(b, 3)
	lead := durableLeader(b, nodes)
	payload := make([]byte, 256)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range proposers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := lead.Propose(ctx, payload)
				cancel()
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "entries/s")
}

func startDurableCluster(b *testing.B, n int) []*raft.Node {
	addrs := map[wire.NodeID]string{}
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addrs[wire.NodeID(i)] = "tcp://" + l.Addr().String()
		l.Close()
	}
	var ids []wire.NodeID
	for id := range wire.NodeID(n) {
		ids = append(ids, id)
	}
	nodes := make([]*raft.Node, n)
	for _, id := range ids {
		dir := b.TempDir()
		wal, err := logs.Open(filepath.Join(dir, "wal"), logs.Options{Logger: quiet()})
		if err != nil {
			b.Fatal(err)
		}
		snaps, err := logs.OpenSnapshotStore(filepath.Join(dir, "snap"))
		if err != nil {
			b.Fatal(err)
		}
		peers := map[wire.NodeID]string{}
		for pid, a := range addrs {
			if pid != id {
				peers[pid] = a
			}
		}
		tr, err := transport.NewZMQ(transport.ZMQConfig{ID: id, Listen: addrs[id], Peers: peers, Logger: quiet()})
		if err != nil {
			b.Fatal(err)
		}
		node, err := raft.StartNode(raft.NodeConfig{
			ID: id, Peers: ids, ElectionTimeoutMin: 300 * time.Millisecond, ElectionTimeoutMax: 600 * time.Millisecond,
			HeartbeatInterval: 50 * time.Millisecond, MaxMsgBytes: 1 << 20,
			Storage: wal, Transport: tr, StateMachine: &discardSM{}, Snapshots: snaps, SnapshotEntries: 1 << 40,
			Logger: quiet(),
		})
		if err != nil {
			b.Fatal(err)
		}
		nodes[id] = node
		b.Cleanup(func() {
			node.Stop()
			tr.Close()
			wal.Close()
		})
	}
	return nodes
}

func durableLeader(b *testing.B, nodes []*raft.Node) *raft.Node {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			if n.Status().Role == core.Leader {
				return n
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Fatal("no leader within 10s")
	return nil
}
