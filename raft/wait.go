package raft

import (
	"context"
	"sync"

	"github.com/raftkv/raftkv/raft/core"
	"github.com/raftkv/raftkv/raft/wire"
)

// waitList connects callers to the applier: proposals wait for their
// index to be applied, reads wait for the applied index to reach their
// read index.
type waitList struct {
	mu        sync.Mutex // guards everything below
	applied   uint64
	proposals map[uint64]proposalWait
	reads     []readWait // in the order registered; indexes only grow per leader
	stopped   bool
}

type proposalWait struct {
	term uint64
	ch   chan error
}

type readWait struct {
	index uint64
	ch    chan error
}

func newWaitList() *waitList {
	return &waitList{proposals: map[uint64]proposalWait{}}
}

// register arranges for a result on the returned channel when index is
// applied: nil when the applied entry has the proposal's term, else
// ErrProposalDropped. The entry may be applied already (a forwarded
// proposal's answer can arrive after the entry it names was applied
// here): then the outcome is decided at once from termAt, the term the
// log holds at index, or is unknown if the log no longer has it. The
// check and the registration happen under one lock, so appliedTo cannot
// slip between them.
func (w *waitList) register(index, term uint64, termAt func(uint64) (uint64, bool)) chan error {
	ch := make(chan error, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.stopped:
		ch <- ErrStopped
	case index <= w.applied:
		t, ok := termAt(index)
		switch {
		case !ok:
			ch <- ErrProposalUnknown
		case t == term:
			ch <- nil
		default:
			ch <- core.ErrProposalDropped
		}
	default:
		w.proposals[index] = proposalWait{term: term, ch: ch}
	}
	return ch
}

func (w *waitList) cancel(index uint64, ch chan error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if pw, ok := w.proposals[index]; ok && pw.ch == ch {
		delete(w.proposals, index)
	}
}

// waitProposal waits for a registered proposal's outcome.
func (w *waitList) waitProposal(ctx context.Context, index uint64, ch chan error) error {
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		w.cancel(index, ch)
		return ctx.Err()
	}
}

// addReads releases chs once index is applied.
func (w *waitList) addReads(index uint64, chs []chan error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range chs {
		switch {
		case w.stopped:
			ch <- ErrStopped
		case w.applied >= index:
			ch <- nil
		default:
			w.reads = append(w.reads, readWait{index: index, ch: ch})
		}
	}
}

// appliedTo records that entries were applied and releases their waiters.
func (w *waitList) appliedTo(ents []wire.Entry) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range ents {
		if pw, ok := w.proposals[e.Index]; ok {
			delete(w.proposals, e.Index)
			if pw.term == e.Term {
				pw.ch <- nil
			} else {
				pw.ch <- core.ErrProposalDropped
			}
		}
	}
	w.applied = ents[len(ents)-1].Index
	kept := w.reads[:0]
	for _, r := range w.reads {
		if r.index <= w.applied {
			r.ch <- nil
		} else {
			kept = append(kept, r)
		}
	}
	w.reads = kept
}

// restoredTo records that a snapshot at index replaced the state: reads
// up to it are served; proposals up to it may or may not be in it.
func (w *waitList) restoredTo(index uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, pw := range w.proposals {
		if i <= index {
			pw.ch <- ErrProposalUnknown
			delete(w.proposals, i)
		}
	}
	w.applied = max(w.applied, index)
	kept := w.reads[:0]
	for _, r := range w.reads {
		if r.index <= w.applied {
			r.ch <- nil
		} else {
			kept = append(kept, r)
		}
	}
	w.reads = kept
}

// stop fails every waiter and any later registration.
func (w *waitList) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	for i, pw := range w.proposals {
		pw.ch <- ErrStopped
		delete(w.proposals, i)
	}
	for _, r := range w.reads {
		r.ch <- ErrStopped
	}
	w.reads = nil
}
