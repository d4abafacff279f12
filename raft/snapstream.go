package raft

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/raftkv/raftkv/logs"
	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// Snapshots travel between drivers as a stream of MsgSnapChunk messages,
// each answered by a MsgSnapChunkAck naming the next offset the receiver
// wants. The sender keeps at most snapWindow chunks unacknowledged (flow
// control: a snapshot never floods a peer's queue, and heartbeats to
// other peers are untouched), goes back to the acknowledged offset when an
// ack is overdue (the transport may drop), and gives up when nothing
// moves for snapGiveUp. The receiver accepts only the next expected
// offset, writes to a temporary file, and verifies the whole file before
// anything uses it.
const (
	snapChunkBytes = 256 << 10
	snapWindow     = 4
	snapResend     = 500 * time.Millisecond
	snapGiveUp     = 10 * time.Second
)

// snapOutcome is how a stream to a follower ended.
type snapOutcome struct {
	to wire.NodeID
	ok bool
	// For the Observer: why it failed, how long it ran, the file's size.
	err   error
	took  time.Duration
	bytes int64
}

// snapSender streams one snapshot file to one follower.
type snapSender struct {
	to    wire.NodeID
	from  wire.NodeID
	term  uint64
	snap  core.SnapshotInfo
	file  io.ReaderAt
	close func() error
	size  int64
	tr    Transport
	log   *slog.Logger

	acks chan wire.Message // acknowledgements routed here by the driver
	stop chan struct{}
}

// run streams the file and reports the outcome on done.
func (s *snapSender) run(done chan<- snapOutcome, wg *sync.WaitGroup) {
	defer wg.Done()
	defer s.close()
	start := time.Now()
	err := s.stream()
	ok := err == nil
	if ok {
		s.log.Info("snapshot sent", "to", s.to, "index", s.snap.Index, "bytes", s.size, "took", time.Since(start).Round(time.Millisecond))
	} else {
		s.log.Warn("snapshot not sent", "to", s.to, "index", s.snap.Index, "err", err)
	}
	select {
	case done <- snapOutcome{to: s.to, ok: ok, err: err, took: time.Since(start), bytes: s.size}:
	case <-s.stop:
	}
}

var errSnapStopped = errors.New("stopped")

func (s *snapSender) stream() error {
	var acked, sent int64
	lastProgress := time.Now()
	resend := time.NewTimer(snapResend)
	defer resend.Stop()
	if s.size == 0 {
		return errors.New("empty snapshot file")
	}
	buf := make([]byte, snapChunkBytes)
	for acked < s.size {
		for sent < s.size && sent-acked < snapWindow*snapChunkBytes {
			n, err := s.file.ReadAt(buf[:min(int64(len(buf)), s.size-sent)], sent)
			if err != nil && !(errors.Is(err, io.EOF) && n > 0) {
				return fmt.Errorf("read snapshot at %d: %w", sent, err)
			}
			data := append([]byte(nil), buf[:n]...)
			s.tr.Send([]wire.Message{{Type: wire.MsgSnapChunk, From: s.from, To: s.to, Term: s.term,
				Index: s.snap.Index, LogTerm: s.snap.Term, Offset: uint64(sent), Size: uint64(s.size), Data: data}})
			sent += int64(n)
		}
		select {
		case m := <-s.acks:
			if m.Index != s.snap.Index {
				continue // an answer to an older stream
			}
			if m.Reject {
				return errors.New("the follower rejected the snapshot")
			}
			if off := int64(m.Offset); off > acked {
				acked, lastProgress = min(off, s.size), time.Now()
			}
		case <-resend.C:
			resend.Reset(snapResend)
			if time.Since(lastProgress) > snapGiveUp {
				return fmt.Errorf("no progress for %v at %d of %d bytes", snapGiveUp, acked, s.size)
			}
			if time.Since(lastProgress) >= snapResend {
				sent = acked // go back: something was dropped
			}
		case <-s.stop:
			return errSnapStopped
		}
	}
	return nil
}

// snapReceiver assembles a snapshot file from chunks. One stream at a
// time: a chunk at offset 0 of another snapshot starts over.
type snapReceiver struct {
	id    wire.NodeID
	store SnapshotStore
	tr    Transport
	log   *slog.Logger

	// Owned by the receiving goroutine.
	w        logs.RawSnapshotSink
	from     wire.NodeID
	term     uint64
	snap     core.SnapshotInfo
	next     int64
	lastSeen time.Time
}

// receive handles one chunk. It returns the MsgSnap to step into the core
// once a whole file is in and verified.
func (r *snapReceiver) receive(m wire.Message) (wire.Message, bool) {
	snap := core.SnapshotInfo{Index: m.Index, Term: m.LogTerm}
	off := int64(m.Offset)
	if r.w != nil && (snap != r.snap || m.From != r.from) && off == 0 {
		r.abort("a new snapshot stream began")
	}
	if r.w == nil {
		if off != 0 {
			r.ack(m, 0, false) // ask for the start
			return wire.Message{}, false
		}
		w, err := r.store.CreateRaw()
		if err != nil {
			r.log.Error("cannot receive snapshot", "err", err)
			r.ack(m, 0, true)
			return wire.Message{}, false
		}
		r.w, r.from, r.term, r.snap, r.next = w, m.From, m.Term, snap, 0
	}
	if snap != r.snap || m.From != r.from || off != r.next {
		r.ack(m, r.next, false) // out of order or stale: say what we want
		return wire.Message{}, false
	}
	data := m.Data
	if _, err := r.w.Write(data); err != nil {
		r.log.Error("write received snapshot", "err", err)
		r.abort("write failed")
		r.ack(m, 0, true)
		return wire.Message{}, false
	}
	r.next += int64(len(data))
	r.lastSeen = time.Now()
	if r.next < int64(m.Size) {
		r.ack(m, r.next, false)
		return wire.Message{}, false
	}
	meta, err := r.w.Commit()
	r.w = nil
	if err != nil || meta.Index != snap.Index || meta.Term != snap.Term {
		r.log.Error("received snapshot rejected", "index", snap.Index, "err", err, "meta", meta)
		r.ack(m, 0, true)
		return wire.Message{}, false
	}
	r.ack(m, r.next, false)
	r.log.Info("snapshot received", "from", m.From, "index", snap.Index, "term", snap.Term, "bytes", r.next)
	snapMsg := wire.Message{Type: wire.MsgSnap, From: m.From, To: r.id, Term: m.Term, Index: snap.Index, LogTerm: snap.Term}
	if len(meta.Conf) > 0 {
		// The core takes the membership at the snapshot from here, as
		// its own MsgSnap carries it.
		snapMsg.Entries = []wire.Entry{{Type: wire.EntryConfChange, Index: snap.Index, Term: snap.Term, Data: meta.Conf}}
	}
	return snapMsg, true
}

func (r *snapReceiver) ack(m wire.Message, next int64, reject bool) {
	r.tr.Send([]wire.Message{{Type: wire.MsgSnapChunkAck, From: r.id, To: m.From, Term: m.Term, Index: m.Index,
		Offset: uint64(next), Reject: reject}})
}

func (r *snapReceiver) abort(why string) {
	if r.w == nil {
		return
	}
	if err := r.w.Abort(); err != nil {
		r.log.Warn("discard partial snapshot", "err", err)
	}
	r.log.Info("partial snapshot discarded", "index", r.snap.Index, "why", why)
	r.w = nil
}

// expire drops a stream that went quiet: its sender gave up.
func (r *snapReceiver) expire() {
	if r.w != nil && time.Since(r.lastSeen) > 2*snapGiveUp {
		r.abort("sender went quiet")
	}
}
