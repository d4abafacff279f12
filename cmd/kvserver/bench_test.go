package main

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkPut writes 256-byte values from 16 concurrent clients to the
// leader of an in-process 3-node cluster on real parts (HTTP, ZeroMQ,
// fsynced WAL, badger).
func BenchmarkPut(b *testing.B) {
	c := newE2ECluster(b)
	lead := c.leader()
	cl := c.client(lead)
	val := []byte(strings.Repeat("v", 256))
	var seq atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := cl.Put(b.Context(), fmt.Sprintf("k%d", seq.Add(1)%1000), val); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "writes/s")
}
