package history

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Shorthands for hand-made histories; times are abstract ticks.
func put(client int, key, value string, call, ret int64) Op {
	return Op{Client: client, Kind: Put, Key: key, Value: value, Call: call, Return: ret, Outcome: OK}
}

func del(client int, key string, call, ret int64) Op {
	return Op{Client: client, Kind: Delete, Key: key, Call: call, Return: ret, Outcome: OK}
}

func get(client int, key, value string, call, ret int64) Op {
	return Op{Client: client, Kind: Get, Key: key, Value: value, Found: true, Call: call, Return: ret, Outcome: OK}
}

func getAbsent(client int, key string, call, ret int64) Op {
	return Op{Client: client, Kind: Get, Key: key, Call: call, Return: ret, Outcome: OK}
}

func cas(client int, key, expect, value string, succeeded bool, call, ret int64) Op {
	return Op{Client: client, Kind: Cas, Key: key, Expect: expect, Value: value, Succeeded: succeeded, Call: call, Return: ret, Outcome: OK}
}

func create(client int, key, value string, succeeded bool, call, ret int64) Op {
	op := cas(client, key, "", value, succeeded, call, ret)
	op.ExpectAbsent = true
	return op
}

func unknown(op Op) Op { op.Outcome = Unknown; op.Err = "timeout"; return op }
func failed(op Op) Op  { op.Outcome = Failed; op.Err = "connection refused"; return op }

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		ops  []Op
		want Verdict
	}{
		{"empty", nil, Linearizable},
		{"sequential", []Op{
			getAbsent(0, "x", 0, 1), put(0, "x", "a", 2, 3), get(1, "x", "a", 4, 5),
			del(1, "x", 6, 7), getAbsent(0, "x", 8, 9),
		}, Linearizable},
		{"concurrent put seen by an overlapping read", []Op{
			put(0, "x", "a", 0, 10), get(1, "x", "a", 1, 2), get(2, "x", "a", 3, 4),
		}, Linearizable},
		{"overlapping read may miss a concurrent put", []Op{
			put(0, "x", "a", 0, 10), getAbsent(1, "x", 1, 2),
		}, Linearizable},
		{"keys are independent", []Op{
			put(0, "x", "a", 0, 1), put(1, "y", "b", 2, 3), get(0, "x", "a", 4, 5), get(1, "y", "b", 4, 5),
		}, Linearizable},
		{"stale read after a completed put", []Op{
			put(0, "x", "a", 0, 1), put(0, "x", "b", 2, 3), get(1, "x", "a", 4, 5),
		}, NotLinearizable},
		{"read of a value never written", []Op{
			put(0, "x", "a", 0, 1), get(1, "x", "z", 2, 3),
		}, NotLinearizable},
		{"read from the future", []Op{
			get(1, "x", "a", 0, 1), put(0, "x", "a", 2, 3),
		}, NotLinearizable},
		{"delete then stale read", []Op{
			put(0, "x", "a", 0, 1), del(0, "x", 2, 3), get(1, "x", "a", 4, 5),
		}, NotLinearizable},
		{"two readers disagree on order", []Op{
			put(0, "x", "a", 0, 10), put(1, "x", "b", 0, 10),
			get(2, "x", "a", 11, 12), get(3, "x", "b", 13, 14), get(2, "x", "a", 15, 16),
		}, NotLinearizable},
		{"unknown put seen later", []Op{
			put(0, "x", "a", 0, 1), unknown(put(1, "x", "b", 2, 3)), get(2, "x", "b", 50, 51),
		}, Linearizable},
		{"unknown put never seen", []Op{
			put(0, "x", "a", 0, 1), unknown(put(1, "x", "b", 2, 3)), get(2, "x", "a", 50, 51),
		}, Linearizable},
		{"unknown put may apply long after its timeout", []Op{
			unknown(put(1, "x", "b", 2, 3)), getAbsent(2, "x", 10, 11), get(2, "x", "b", 20, 21),
		}, Linearizable},
		{"unknown put cannot apply before its call", []Op{
			get(2, "x", "b", 0, 1), unknown(put(1, "x", "b", 2, 3)),
		}, NotLinearizable},
		{"unknown put applies once", []Op{
			unknown(put(1, "x", "b", 0, 1)), get(2, "x", "b", 10, 11), put(0, "x", "c", 12, 13),
			get(2, "x", "b", 14, 15),
		}, NotLinearizable},
		{"failed put is left out", []Op{
			failed(put(1, "x", "b", 0, 1)), getAbsent(2, "x", 10, 11),
		}, Linearizable},
		{"cas from the current value", []Op{
			put(0, "x", "a", 0, 1), cas(1, "x", "a", "b", true, 2, 3), get(2, "x", "b", 4, 5),
		}, Linearizable},
		{"cas that should have failed", []Op{
			put(0, "x", "a", 0, 1), cas(1, "x", "z", "b", true, 2, 3),
		}, NotLinearizable},
		{"cas that should have succeeded", []Op{
			put(0, "x", "a", 0, 1), cas(1, "x", "a", "b", false, 2, 3),
		}, NotLinearizable},
		{"two cas from one value: only one may win", []Op{
			put(0, "x", "a", 0, 1), cas(1, "x", "a", "b", true, 2, 10), cas(2, "x", "a", "c", true, 2, 10),
		}, NotLinearizable},
		{"two cas from one value: one wins, one loses", []Op{
			put(0, "x", "a", 0, 1), cas(1, "x", "a", "b", true, 2, 10), cas(2, "x", "a", "c", false, 2, 10),
			get(0, "x", "b", 11, 12),
		}, Linearizable},
		{"create only once", []Op{
			create(1, "x", "a", true, 0, 5), create(2, "x", "b", true, 0, 5),
		}, NotLinearizable},
		{"create of an existing key fails", []Op{
			put(0, "x", "a", 0, 1), create(1, "x", "b", false, 2, 3), get(2, "x", "a", 4, 5),
		}, Linearizable},
		{"a cas that held observed an unknown put", []Op{
			unknown(put(1, "x", "b", 0, 1)), cas(2, "x", "b", "c", true, 10, 11),
		}, Linearizable},
		{"unknown cas seen later", []Op{
			put(0, "x", "a", 0, 1), unknown(cas(1, "x", "a", "b", false, 2, 3)), get(2, "x", "b", 10, 11),
		}, Linearizable},
		{"failed read is left out", []Op{
			put(0, "x", "a", 0, 1), failed(get(1, "x", "zzz", 2, 3)), unknown(get(1, "x", "zzz", 4, 5)),
		}, Linearizable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Check(tt.ops, 10*time.Second)
			if res.Verdict != tt.want {
				t.Fatalf("verdict %q, want %q", res.Verdict, tt.want)
			}
		})
	}
}

func TestOperationsUnknownOutcomes(t *testing.T) {
	ops := []Op{
		put(0, "x", "a", 0, 5),
		unknown(put(1, "x", "b", 1, 7)),
		unknown(del(2, "y", 2, 3)),
		unknown(get(3, "x", "", 4, 9)),
		failed(put(4, "x", "c", 5, 6)),
		get(0, "x", "a", 8, 20),
		get(1, "x", "b", 9, 12),  // observes the unknown put
		getAbsent(1, "y", 2, 12), // may follow the unknown delete
	}
	got := Operations(ops)
	if len(got) != 6 {
		t.Fatalf("%d operations, want 6 (failed ops and unknown reads dropped): %+v", len(got), got)
	}
	const end = 21 // one past the latest time in the history
	for _, op := range got {
		in, out := op.Input.(input), op.Output.(output)
		switch {
		case in.Kind == Put && in.Value == "b", in.Kind == Delete:
			if !out.Unknown || op.Return != end {
				t.Errorf("unknown %v: output %+v return %d, want unknown at %d", in.Kind, out, op.Return, end)
			}
		case in.Kind == Put:
			if out.Unknown || op.Return != 5 {
				t.Errorf("ok put: %+v return %d", out, op.Return)
			}
		case in.Kind == Get && in.Key == "x" && out.Value == "a":
			if out != (output{Found: true, Value: "a"}) || op.Return != 20 {
				t.Errorf("ok get: %+v return %d", out, op.Return)
			}
		}
	}
}

// Unknown writes no read can have observed are left out: they only slow
// the checker down.
func TestOperationsDropsUnobservableUnknownWrites(t *testing.T) {
	tests := []struct {
		name string
		ops  []Op
		kept int
	}{
		{"put never read", []Op{unknown(put(0, "x", "a", 0, 1)), getAbsent(1, "x", 2, 3)}, 1},
		{"put read", []Op{unknown(put(0, "x", "a", 0, 1)), get(1, "x", "a", 2, 3)}, 2},
		{"put's value read on another key", []Op{unknown(put(0, "x", "a", 0, 1)), get(1, "y", "a", 2, 3)}, 1},
		{"delete, absent read before its call", []Op{getAbsent(1, "x", 0, 1), unknown(del(0, "x", 2, 3))}, 1},
		{"delete, absent read overlapping its call", []Op{getAbsent(1, "x", 0, 5), unknown(del(0, "x", 2, 3))}, 2},
		{"delete, absent read after", []Op{unknown(del(0, "x", 2, 3)), getAbsent(1, "x", 10, 11)}, 2},
		{"delete, absent read on another key", []Op{unknown(del(0, "x", 2, 3)), getAbsent(1, "y", 10, 11)}, 1},
		{"failed absent read does not count", []Op{unknown(del(0, "x", 2, 3)), failed(getAbsent(1, "x", 10, 11))}, 0},
	}
	for _, tt := range tests {
		if got := Operations(tt.ops); len(got) != tt.kept {
			t.Errorf("%s: %d operations kept, want %d", tt.name, len(got), tt.kept)
		}
	}
}

func TestRecorderConcurrent(t *testing.T) {
	r := NewRecorder()
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Go(func() {
			for i := range 100 {
				call := r.Now()
				op := put(c, "k", "v", call, r.Now())
				if i%10 == 0 {
					op.Outcome = Unknown
				}
				r.Add(op)
			}
		})
	}
	wg.Wait()
	ops := r.Ops()
	if len(ops) != 800 {
		t.Fatalf("%d ops, want 800", len(ops))
	}
	for i := 1; i < len(ops); i++ {
		if ops[i].Call < ops[i-1].Call {
			t.Fatalf("ops not ordered by call at %d", i)
		}
		if ops[i].Return < ops[i].Call {
			t.Fatalf("op %d returns before its call", i)
		}
	}
	c := Count(ops)
	if c[Put][OK] != 720 || c[Put][Unknown] != 80 || c.Total(Unknown) != 80 || c.Total(Failed) != 0 {
		t.Fatalf("counts %v", c)
	}
	if r.Start().After(time.Now()) {
		t.Fatal("start in the future")
	}
}

func TestStrings(t *testing.T) {
	for got, want := range map[string]string{
		Get.String(): "get", Put.String(): "put", Delete.String(): "delete", Kind(7).String(): "kind(7)",
		OK.String(): "ok", Unknown.String(): "unknown", Failed.String(): "failed", Outcome(9).String(): "outcome(9)",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestVisualizeViolation(t *testing.T) {
	ops := []Op{
		put(0, "x", "a", 0, 1), put(0, "x", "b", 2, 3), get(1, "x", "a", 4, 5),
		unknown(put(2, "y", "q", 0, 1)), get(3, "y", "q", 2, 3),
	}
	ops[2].Node, ops[2].Consistency = 2, "lease"
	res := Check(ops, 10*time.Second)
	if res.Verdict != NotLinearizable || res.Checked != 5 {
		t.Fatalf("verdict %q checked %d", res.Verdict, res.Checked)
	}
	path := filepath.Join(t.TempDir(), "violation.html")
	if err := res.Visualize(path, []Annotation{{Start: 1, End: 3, Tag: "nemesis", Description: "kill node 0"}}); err != nil {
		t.Fatal(err)
	}
	// The history is embedded as JSON, where '>' is escaped.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<html", `get(x) -\u003e a`, "node 2, lease", "kill node 0", `put(y, q) -\u003e unknown`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("visualization lacks %q", want)
		}
	}
	if err := res.Visualize(filepath.Join(t.TempDir(), "no", "such", "dir.html"), nil); err == nil {
		t.Fatal("Visualize into a missing directory succeeded")
	}
}

// A checker that runs out of time must say so, never "linearizable".
func TestCheckTimeoutIsInconclusive(t *testing.T) {
	slow := Model
	slow.Step = nil
	slow.StepContext = func(ctx context.Context, st, in, out any) (bool, any) {
		<-ctx.Done() // never decides before the deadline
		return false, st
	}
	ops := []Op{put(0, "x", "a", 0, 1), get(1, "x", "a", 2, 3)}
	res := check(slow, ops, 50*time.Millisecond)
	if res.Verdict != Inconclusive {
		t.Fatalf("verdict %q, want %q", res.Verdict, Inconclusive)
	}
	var _ porcupine.Model = slow
}

// A leader paused mid-run wakes up and serves a stale read: Explain names
// that read, the fault around it and the writes it missed.
func TestExplainPinsTheStaleRead(t *testing.T) {
	ms := int64(time.Millisecond)
	stale := get(7, "k", "old", 1000*ms, 3000*ms)
	stale.Node, stale.Consistency = 0, "lease"
	ops := []Op{
		put(1, "k", "old", 0, 10*ms),
		get(2, "k", "old", 20*ms, 30*ms),
		put(1, "k", "new", 500*ms, 510*ms),
		get(2, "k", "new", 520*ms, 530*ms),
		stale,
		get(3, "k", "new", 3100*ms, 3110*ms),
		put(4, "other", "x", 0, 10*ms),
		get(4, "other", "x", 20*ms, 30*ms),
	}
	findings := Explain(ops, 10*time.Second)
	if len(findings) != 1 {
		t.Fatalf("%d findings, want 1 (only key k fails): %+v", len(findings), findings)
	}
	f := findings[0]
	if f.Key != "k" || f.Culprit != stale {
		t.Fatalf("culprit %+v on %s, want the stale lease read", f.Culprit, f.Key)
	}
	if len(f.Before) != 4 || f.Before[3].Value != "new" || f.Pending != 0 {
		t.Fatalf("before: %+v", f.Before)
	}
	var b strings.Builder
	f.Print(&b, []Annotation{{Start: 900 * ms, End: 2900 * ms, Description: "SIGSTOP node 0 (leader)"},
		{Start: 5000 * ms, End: 6000 * ms, Description: "unrelated"}})
	for _, want := range []string{"key k stops being linearizable at:",
		"[1.000s .. 3.000s] client 7 via node 0: get -> old (lease)",
		"during fault: SIGSTOP node 0 (leader) (0.900s to 2.900s)",
		"client 1 via node 0: put new"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("explanation lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "unrelated") {
		t.Errorf("explanation lists a fault that did not overlap:\n%s", b.String())
	}
	if got := Explain(ops[:4], 10*time.Second); len(got) != 0 {
		t.Fatalf("findings in a linearizable history: %+v", got)
	}
}

// Prefixes as observed at a time drop pending reads and turn pending
// writes unknown, so they never fail where the whole history passes.
func TestObservedAt(t *testing.T) {
	ops := []Op{put(0, "k", "a", 0, 10), get(1, "k", "a", 5, 20), put(2, "k", "b", 6, 30), unknown(del(3, "k", 7, 8))}
	got := observedAt(ops, 15)
	if len(got) != 3 || got[1].Kind != Put || got[1].Outcome != Unknown || got[2].Outcome != Unknown {
		t.Fatalf("observedAt = %+v", got)
	}
	if got := observedAt(ops, 4); len(got) != 1 || got[0].Outcome != Unknown {
		t.Fatalf("observedAt(4) = %+v", got)
	}
}

// When a violation hides among many pending unknown writes, the checker
// may time out instead of proving it. Explain still points at where the
// check turns intractable, and says it is not proven.
func TestExplainUnprovenViolation(t *testing.T) {
	var ops []Op
	tick := int64(10)
	// A round: put, read it, (delete,) read "absent".
	round := func(deleted bool) {
		v := fmt.Sprint("v", tick)
		ops = append(ops, put(1, "k", v, tick, tick+1), get(2, "k", v, tick+2, tick+3))
		if deleted {
			ops = append(ops, del(1, "k", tick+4, tick+5))
		}
		ops = append(ops, getAbsent(3, "k", tick+6, tick+7))
		tick += 10
	}
	for range 20 {
		round(true)
	}
	// Deletes of unknown outcome, pending from here on: any subset of them
	// may come before any "absent" read, which the checker must all try
	// before it can call the history illegal.
	for i := range 24 {
		ops = append(ops, unknown(del(100+i, "k", tick, tick+1)))
	}
	tick += 10
	for range 3 {
		round(false) // each needs one of the unknown deletes
	}
	bad := get(4, "k", "never written", tick, tick+1)
	ops = append(ops, bad)
	const step = 300 * time.Millisecond
	if res := Check(ops, step); res.Verdict == Linearizable {
		t.Fatal("a read of a value never written passed")
	}
	findings := Explain(ops, step)
	if len(findings) != 1 || findings[0].Culprit != bad || findings[0].Pending != 24 {
		t.Fatalf("findings %+v, want the bad read with 24 pending deletes", findings)
	}
	var b strings.Builder
	findings[0].Print(&b, nil)
	want := "stops being linearizable"
	if !findings[0].Proven {
		want = "NOT proven"
	}
	if !strings.Contains(b.String(), want) {
		t.Fatalf("explanation lacks %q:\n%s", want, b.String())
	}
	t.Logf("proven: %v", findings[0].Proven)
}
