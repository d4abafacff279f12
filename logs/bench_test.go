package logs

import (
	"fmt"
	"testing"

	"github.com/raftkv/raftkv/raft/wire"
)

// BenchmarkSave measures the hot path with real fsyncs: one Save per op of
// a batch of 256-byte entries. Segments roll at the default 64 MiB.
func BenchmarkSave(b *testing.B) {
	for _, per := range []int{1, 64} {
		b.Run(fmt.Sprintf("entries=%d", per), func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{Logger: quietLogger})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			data := make([]byte, 256)
			batch := make([]wire.Entry, per)
			for i := range batch {
				batch[i] = wire.Entry{Term: 1, Data: data}
			}
			next := uint64(1)
			b.SetBytes(int64(per * len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for i := range batch {
					batch[i].Index = next + uint64(i)
				}
				if err := l.Save(nil, batch); err != nil {
					b.Fatal(err)
				}
				next += uint64(per)
			}
			b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
