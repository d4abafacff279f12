package kv

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/raftkv/raftkv/logs"
	"github.com/raftkv/raftkv/raft/wire"
)

const (
	benchKeys      = 100_000
	benchValueSize = 256
)

// benchStore fills a store with benchKeys keys of benchValueSize bytes.
func benchStore(b *testing.B) *Store {
	b.Helper()
	opts := testOptions(b.TempDir())
	opts.MemTableBytes = DefaultMemTableBytes
	s := openStore(b, opts)
	value := bytes.Repeat([]byte("v"), benchValueSize)
	const batch = 1000
	ents := make([]wire.Entry, 0, batch)
	for i := 1; i <= benchKeys; i++ {
		ents = append(ents, wire.Entry{Index: uint64(i), Term: 1, Data: EncodeSet([]byte(fmt.Sprintf("key%08d", i)), value)})
		if len(ents) == batch {
			mustApply(b, s, ents...)
			ents = ents[:0]
		}
	}
	return s
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// BenchmarkSnapshot: an image of 100k keys × 256 B, streamed to nowhere
// (the cost of reading badger and encoding) and into a snapshot file
// (with its checksum, fsync and rename).
func BenchmarkSnapshot(b *testing.B) {
	s := benchStore(b)
	b.Run("discard", func(b *testing.B) {
		var cw countingWriter
		for b.Loop() {
			cw.n = 0
			if _, _, err := s.SnapshotTo(&cw); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(cw.n)
		b.ReportMetric(float64(cw.n), "image_bytes")
	})
	b.Run("file", func(b *testing.B) {
		snaps, err := logs.OpenSnapshotStore(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		var body int64
		for b.Loop() {
			var w logs.SnapshotSink
			var cw countingWriter
			err := s.Snapshot(func(index, term uint64) (io.Writer, error) {
				var err error
				w, err = snaps.Create(logs.SnapshotMeta{Index: index, Term: term, Peers: []uint64{1, 2, 3}})
				return io.MultiWriter(w, &cw), err
			})
			if err == nil {
				err = w.Commit()
			}
			if err != nil {
				b.Fatal(err)
			}
			body = cw.n
		}
		b.SetBytes(body)
	})
}

// BenchmarkRestore loads the same image into a store: fresh badger,
// verification, directory swap and reopen.
func BenchmarkRestore(b *testing.B) {
	src := benchStore(b)
	var img bytes.Buffer
	index, term, err := src.SnapshotTo(&img)
	if err != nil {
		b.Fatal(err)
	}
	opts := testOptions(b.TempDir())
	opts.MemTableBytes = DefaultMemTableBytes
	dst := openStore(b, opts)
	b.SetBytes(int64(img.Len()))
	for b.Loop() {
		if err := dst.Restore(bytes.NewReader(img.Bytes()), index, term); err != nil {
			b.Fatal(err)
		}
	}
}
