// Package history records what the clients of a chaos run did and checks
// it for linearizability with porcupine.
package history

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Kind is the kind of an operation.
type Kind uint8

const (
	Get Kind = iota
	Put
	Delete
	// Cas puts Value only if the key holds Expect (or is absent, with
	// ExpectAbsent), in one transaction; Succeeded says whether it did.
	Cas
)

func (k Kind) String() string {
	switch k {
	case Get:
		return "get"
	case Put:
		return "put"
	case Delete:
		return "delete"
	case Cas:
		return "cas"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Outcome is what the client learned about an operation.
type Outcome uint8

const (
	// OK: the server answered; for a Get, Found and Value hold the answer.
	OK Outcome = iota
	// Unknown: a write timed out, lost its connection or got a 5xx. It may
	// have taken effect at any time after its invocation, or never.
	Unknown
	// Failed: the operation certainly had no effect (a refused connection,
	// a 4xx, or a read that got no answer). It is left out of the check.
	Failed
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case Unknown:
		return "unknown"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Op is one client operation, retries included: Call is the invocation of
// its first attempt and Return the completion of its last.
type Op struct {
	Client int
	Node   uint64 // the node the (last) attempt was sent to
	Kind   Kind
	Key    string
	Value  string // written by a Put; read by a Get when Found
	Found  bool   // a Get found the key
	Expect string // a Cas's expected value
	// ExpectAbsent: a Cas expects the key to be absent (a create).
	ExpectAbsent bool
	Succeeded    bool   // a Cas's compare held, so it wrote
	Consistency  string // a Get's consistency level ("linearizable", "lease")
	RequestID    string // the Request-Id of a write
	Attempts     int
	Call         int64 // nanoseconds since the recorder started
	Return       int64
	Outcome      Outcome
	Err          string // why the outcome is not OK
}

// Recorder collects operations from concurrent clients. Timestamps come
// from one monotonic clock, so a completion recorded before an invocation
// really happened before it.
type Recorder struct {
	start time.Time

	mu  sync.Mutex // guards ops
	ops []Op
}

// NewRecorder starts the clock.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Now is the time since the recorder started, in nanoseconds.
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// Start is when the clock started.
func (r *Recorder) Start() time.Time { return r.start }

// Add records a finished operation.
func (r *Recorder) Add(op Op) {
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

// Ops returns a copy of the operations recorded so far, by invocation.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	ops := append([]Op(nil), r.ops...)
	r.mu.Unlock()
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
	return ops
}

// Counts tallies operations by kind and outcome.
type Counts map[Kind]map[Outcome]int

// Count tallies ops.
func Count(ops []Op) Counts {
	c := Counts{}
	for _, op := range ops {
		if c[op.Kind] == nil {
			c[op.Kind] = map[Outcome]int{}
		}
		c[op.Kind][op.Outcome]++
	}
	return c
}

// Total is the number of operations with the given outcome, over all kinds.
func (c Counts) Total(o Outcome) int {
	n := 0
	for _, m := range c {
		n += m[o]
	}
	return n
}
