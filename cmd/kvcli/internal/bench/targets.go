package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// targets says where each request goes.
type targets struct {
	s       store
	spread  bool
	timeout time.Duration
	list    atomic.Pointer[[]string] // the leader alone, or every endpoint
	rr      atomic.Uint64            // round-robin position with spread

	mu         sync.Mutex // held by the one goroutine looking for the leader; guards the fields below
	lastLookup time.Time
	leaders    []string // every leader the run sent to, in order
	// guessed is set when no leader could be found and the run started on
	// the first endpoint (a store with fallbackFirst); guess says why.
	guessed bool
	guess   string
}

func (t *targets) init(ctx context.Context) error {
	if t.spread {
		eps := t.s.endpoints()
		t.list.Store(&eps)
		return nil
	}
	ep, err := t.s.leader(ctx)
	if err != nil {
		if !t.s.fallbackFirst() {
			return err
		}
		ep, t.guessed, t.guess = t.s.endpoints()[0], true, err.Error()
	}
	t.list.Store(&[]string{ep})
	t.leaders = []string{ep}
	t.lastLookup = time.Now()
	return nil
}

func (t *targets) next() string {
	l := *t.list.Load()
	if len(l) == 1 {
		return l[0]
	}
	return l[t.rr.Add(1)%uint64(len(l))]
}

// used returns every endpoint with Spread, else each leader in turn.
func (t *targets) used() []string {
	if t.spread {
		return append([]string(nil), *t.list.Load()...)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.leaders...)
}

// relocate looks for the leader again, unless someone did less than gap
// ago or is doing it now: the other clients carry on meanwhile (and keep
// failing, which is counted: the cluster was unavailable to them). It is
// called after failures that suggest the leader moved, and once a second
// anyway, since a leader that steps down quietly leaves a follower that
// forwards every write: no error, but no longer what is measured.
func (t *targets) relocate(ctx context.Context, gap time.Duration) {
	if t.spread || !t.mu.TryLock() {
		return
	}
	defer t.mu.Unlock()
	if time.Since(t.lastLookup) < gap {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, min(t.timeout, time.Second))
	defer cancel()
	ep, err := t.s.leader(ctx)
	t.lastLookup = time.Now()
	if err != nil || ep == (*t.list.Load())[0] {
		return
	}
	t.list.Store(&[]string{ep})
	t.leaders = append(t.leaders, ep)
}
