package kv

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

// BenchmarkApply measures SETs of 256-byte values applied in batches of 1
// (one proposal per Raft round) and 256 (a busy leader's batch).
func BenchmarkApply(b *testing.B) {
	value := bytes.Repeat([]byte("v"), 256)
	for _, batch := range []int{1, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			opts := testOptions(b.TempDir())
			opts.MemTableBytes = DefaultMemTableBytes
			s := openStore(b, opts)
			// Commands are encoded up front so only Apply is timed.
			cmds := make([][]byte, 1<<14)
			for i := range cmds {
				cmds[i] = EncodeSet([]byte(fmt.Sprintf("key%08d", i)), value)
			}
			entries := make([]wire.Entry, batch)
			next := uint64(1)
			b.SetBytes(int64(batch * len(value)))
			for b.Loop() {
				for i := range entries {
					entries[i] = wire.Entry{Index: next, Data: cmds[next%uint64(len(cmds))]}
					next++
				}
				if err := s.Apply(entries); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(next-1)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
