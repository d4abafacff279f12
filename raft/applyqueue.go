package raft

import "sync"

// applyQueue carries committed entries and restores from the driver to
// the applier. The driver never waits on it: a bounded channel made the
// driver stop (no heartbeats, no acknowledgements) whenever the state
// machine stalled, e.g. while badger held writes during a flush, and the
// followers then elected someone else. The entries are in memory already
// (the core handed them over), so the queue only holds references;
// instead of blocking, the driver stops taking new proposals while more
// than maxApplyBacklog entries it handed over are not applied yet (see
// run), which pushes back on clients.
type applyQueue struct {
	mu     sync.Mutex // guards tasks and closed
	tasks  []applyTask
	closed bool
	// ready holds a token while tasks are queued or the queue closed.
	ready chan struct{}
}

// maxApplyBacklog is the number of handed-over, unapplied entries above
// which the driver takes no new proposals until the applier catches up.
const maxApplyBacklog = 16384

func newApplyQueue() *applyQueue { return &applyQueue{ready: make(chan struct{}, 1)} }

// push queues t; it never blocks.
func (q *applyQueue) push(t applyTask) {
	q.mu.Lock()
	q.tasks = append(q.tasks, t)
	q.mu.Unlock()
	q.signal()
}

// close says no more tasks will come; the applier drains what is queued
// and then stops.
func (q *applyQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *applyQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default: // a token is there already
	}
}

// take waits for tasks and returns all of them, in order; ok is false
// once the queue is closed and drained.
func (q *applyQueue) take() (tasks []applyTask, ok bool) {
	for {
		q.mu.Lock()
		tasks, q.tasks = q.tasks, nil
		closed := q.closed
		q.mu.Unlock()
		if len(tasks) > 0 {
			return tasks, true
		}
		if closed {
			return nil, false
		}
		<-q.ready
	}
}
