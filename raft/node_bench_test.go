package raft_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkNodePropose measures proposals committed and applied through
// three drivers over the in-memory network on WAL files without fsync,
// with 16 concurrent proposers: the driver's own cost, without disk
// latency or ZeroMQ.
func BenchmarkNodePropose(b *testing.B) {
	c := newTestCluster(b, 3)
	lead := c.leader()
	var seq atomic.Int64
	b.SetParallelism(8) // 16 proposers on 2 cores
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := c.nodes[lead].node.Propose(ctx, []byte(fmt.Sprintf("p%d", seq.Add(1))))
			cancel()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "proposals/s")
}
