// Package trail keeps the human-readable trail of committed entries (one
// line "<index>, <term>, <command>" per entry, logs.Trail) by wrapping the
// state machine: every entry it applies, and every snapshot it restores, is
// also written to the trail. The consensus driver knows nothing of it.
//
// Lines are rendered and written by a goroutine of the wrapper's own:
// Apply only queues a copy of the entries, so a write is answered without
// waiting for the trail, which is a view for people; the data is already
// safe in the state machine.
package trail

import (
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/raftkv/raftkv/logs"
	"github.com/raftkv/raftkv/raft"
	"github.com/raftkv/raftkv/raft/wire"
)

// maxPending bounds the entries waiting for the writer: past it Apply
// waits, so a stalled disk slows writes down instead of growing memory.
const maxPending = 64 << 10

// EntryReader reads entries [lo, hi) of the durable log (logs.Log).
type EntryReader interface {
	FirstIndex() uint64 // 0 when empty
	LastIndex() uint64
	Entries(lo, hi uint64) ([]wire.Entry, error)
}

// StateMachine is a raft.StateMachine that writes the trail.
type StateMachine struct {
	raft.StateMachine
	trail    *logs.Trail
	describe func(data []byte) string
	logger   *slog.Logger

	// mu guards pending and closed; room and ready wake the two sides.
	mu      sync.Mutex
	pending []item
	closed  bool
	room    *sync.Cond // the writer took lines: Apply may queue again
	ready   chan struct{}
	done    chan struct{} // the writer has stopped
}

// Wrap wraps sm. describe renders a normal entry's data as its command
// (kv.Store.Describe; nil prints the data's size). First it writes the
// lines the trail lacks for entries sm applied before the last stop (a
// crash between Apply and the trail write), reading them from the log;
// entries already compacted away are skipped. Close stops the writer.
func Wrap(sm raft.StateMachine, t *logs.Trail, log EntryReader, describe func([]byte) string, logger *slog.Logger) (*StateMachine, error) {
	if logger == nil {
		logger = slog.Default()
	}
	s := &StateMachine{StateMachine: sm, trail: t, describe: describe, logger: logger,
		ready: make(chan struct{}, 1), done: make(chan struct{})}
	s.room = sync.NewCond(&s.mu)
	if err := s.catchUp(log); err != nil {
		return nil, err
	}
	go s.write()
	return s, nil
}

func (s *StateMachine) catchUp(log EntryReader) error {
	if log.FirstIndex() == 0 {
		return nil // an empty log: nothing to read the lines from
	}
	lo := max(s.trail.LastIndex()+1, log.FirstIndex())
	hi := min(s.AppliedIndex(), log.LastIndex()) + 1
	if lo >= hi {
		return nil
	}
	ents, err := log.Entries(lo, hi)
	if err != nil {
		return fmt.Errorf("trail: read entries %d-%d to catch up: %w", lo, hi-1, err)
	}
	if err := s.trail.Append(s.lines(entryItems(ents))); err != nil {
		return fmt.Errorf("trail: catch up: %w", err)
	}
	return nil
}

// item is one line to come: an applied entry, or a restored snapshot
// (Index and Term only).
type item struct {
	wire.Entry
	snapshot bool
}

// Apply applies entries and queues them for their lines. The entries are
// copied (their data is never changed once committed, so it is shared):
// the slice is the driver's.
func (s *StateMachine) Apply(entries []wire.Entry) error {
	if err := s.StateMachine.Apply(entries); err != nil {
		return err
	}
	s.queue(entryItems(entries))
	return nil
}

func entryItems(ents []wire.Entry) []item {
	items := make([]item, len(ents))
	for i, e := range ents {
		items[i] = item{Entry: e}
	}
	return items
}

// Restore restores the image and queues a SNAPSHOT line at its index.
func (s *StateMachine) Restore(r io.Reader, index, term uint64) error {
	if err := s.StateMachine.Restore(r, index, term); err != nil {
		return err
	}
	s.queue([]item{{Entry: wire.Entry{Index: index, Term: term}, snapshot: true}})
	return nil
}

func (s *StateMachine) lines(items []item) []logs.TrailLine {
	out := make([]logs.TrailLine, 0, len(items))
	for _, it := range items {
		cmd := "NOOP"
		switch {
		case it.snapshot:
			cmd = "SNAPSHOT"
		case it.Type == wire.EntryConfChange:
			cmd = "CONFCHANGE" // a membership change: not a new leader's no-op
		case it.Type != wire.EntryNormal:
		case s.describe != nil:
			cmd = s.describe(it.Data)
		default:
			cmd = fmt.Sprintf("DATA %d bytes", len(it.Data))
		}
		out = append(out, logs.TrailLine{Index: it.Index, Term: it.Term, Command: cmd})
	}
	return out
}

func (s *StateMachine) queue(items []item) {
	s.mu.Lock()
	for len(s.pending) >= maxPending && !s.closed {
		s.room.Wait()
	}
	if s.closed {
		s.mu.Unlock()
		return // stopping: the lines are replayed from the log next start
	}
	s.pending = append(s.pending, items...)
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default: // the writer is already signalled
	}
}

// write appends queued lines until Close, and what is queued then.
func (s *StateMachine) write() {
	defer close(s.done)
	for {
		<-s.ready
		s.mu.Lock()
		items, closed := s.pending, s.closed
		s.pending = nil
		s.room.Broadcast()
		s.mu.Unlock()
		if len(items) > 0 {
			if err := s.trail.Append(s.lines(items)); err != nil {
				s.logger.Warn("committed-entry trail not written", "err", err, "lines", len(items))
			}
		}
		if closed {
			return
		}
	}
}

// Close writes what is queued and stops the writer; the state machine
// and the trail stay open (their owner closes them). Calling it twice is
// harmless.
func (s *StateMachine) Close() {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.room.Broadcast()
	s.mu.Unlock()
	if !already {
		select {
		case s.ready <- struct{}{}:
		default:
		}
	}
	<-s.done
}
