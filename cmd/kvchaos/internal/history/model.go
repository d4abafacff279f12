package history

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"

	"github.com/anishathalye/porcupine"
)

// input is what a client asked; output what it was told. They are the
// porcupine Input and Output of an operation.
type input struct {
	Kind         Kind
	Key          string
	Value        string // a Put's or Cas's value
	Expect       string // a Cas's expected value
	ExpectAbsent bool   // a Cas expects the key absent
}

type output struct {
	Found     bool
	Value     string
	Succeeded bool // a Cas wrote
	Unknown   bool // the write's outcome is unknown: any state is consistent
}

// casHolds reports whether a Cas's compare holds in s.
func (i input) casHolds(s state) bool {
	if i.ExpectAbsent {
		return !s.present
	}
	return s.present && s.value == i.Expect
}

// state is one key's value in the model; the model is partitioned by key.
type state struct {
	present bool
	value   string
}

// Model is a key-value register per key: Put sets, Delete removes (a Put
// of "absent"), Get must see the current value. Histories are partitioned
// by key, which keeps checking fast: linearizability is compositional.
var Model = porcupine.Model{
	Partition: partitionByKey,
	Init:      func() any { return state{} },
	Step: func(st, in, out any) (bool, any) {
		s, i, o := st.(state), in.(input), out.(output)
		switch i.Kind {
		case Put:
			return true, state{present: true, value: i.Value}
		case Delete:
			return true, state{}
		case Cas:
			holds := i.casHolds(s)
			if !o.Unknown && o.Succeeded != holds {
				return false, s
			}
			if holds {
				return true, state{present: true, value: i.Value}
			}
			return true, s
		default:
			return o.Found == s.present && (!o.Found || o.Value == s.value), s
		}
	},
	Equal: func(a, b any) bool { return a.(state) == b.(state) },
	Hash: func(st any) uint64 {
		s := st.(state)
		h := fnv.New64a()
		if s.present {
			h.Write([]byte{1})
			h.Write([]byte(s.value))
		}
		return h.Sum64()
	},
	DescribeOperation: func(in, out any) string {
		i, o := in.(input), out.(output)
		switch i.Kind {
		case Put:
			if o.Unknown {
				return fmt.Sprintf("put(%s, %s) -> unknown", i.Key, i.Value)
			}
			return fmt.Sprintf("put(%s, %s)", i.Key, i.Value)
		case Delete:
			if o.Unknown {
				return fmt.Sprintf("delete(%s) -> unknown", i.Key)
			}
			return fmt.Sprintf("delete(%s)", i.Key)
		case Cas:
			expect := i.Expect
			if i.ExpectAbsent {
				expect = "absent"
			}
			switch {
			case o.Unknown:
				return fmt.Sprintf("cas(%s, %s -> %s) -> unknown", i.Key, expect, i.Value)
			case o.Succeeded:
				return fmt.Sprintf("cas(%s, %s -> %s) -> ok", i.Key, expect, i.Value)
			}
			return fmt.Sprintf("cas(%s, %s -> %s) -> failed", i.Key, expect, i.Value)
		default:
			if !o.Found {
				return fmt.Sprintf("get(%s) -> absent", i.Key)
			}
			return fmt.Sprintf("get(%s) -> %s", i.Key, o.Value)
		}
	},
	DescribeState: func(st any) string {
		if s := st.(state); s.present {
			return strconv.Quote(s.value)
		}
		return "absent"
	},
	DescribeOperationMetadata: func(info any) string {
		if info == nil {
			return ""
		}
		return fmt.Sprint(info)
	},
}

func partitionByKey(ops []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range ops {
		k := op.Input.(input).Key
		byKey[k] = append(byKey[k], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

// Operations turns recorded ops into porcupine's form. Failed ops had no
// effect and are left out, as are unknown reads (a read changes nothing).
// An unknown write may have happened at any time after its invocation, so
// its return is put after the end of the history, where porcupine may
// place it anywhere from its call on, including "never" (last, unobserved).
//
// Unknown writes that no read (or compare that held) can have observed are left out too: they
// stay pending to the end, and every pending operation multiplies the
// checker's search. Leaving them out changes no verdict: a put whose
// (unique) value no read returned, or a delete with no "absent" read
// completing after its call, has no read linearized right after it in any
// linearization, so removing it from one leaves a linearization, and
// placing it last extends one.
func Operations(ops []Op) []porcupine.Operation {
	var end int64
	seen := map[string]map[string]bool{} // key -> values reads returned
	lastAbsent := map[string]int64{}     // key -> latest return of an "absent" read
	for _, op := range ops {
		end = max(end, op.Return, op.Call)
		if op.Kind == Cas && op.Outcome == OK && op.Succeeded {
			// A compare that held observed the state, as a read does.
			op.Found, op.Value = !op.ExpectAbsent, op.Expect
		} else if op.Kind != Get || op.Outcome != OK {
			continue
		}
		if !op.Found {
			if r, ok := lastAbsent[op.Key]; !ok || op.Return > r {
				lastAbsent[op.Key] = op.Return
			}
			continue
		}
		if seen[op.Key] == nil {
			seen[op.Key] = map[string]bool{}
		}
		seen[op.Key][op.Value] = true
	}
	end++
	out := make([]porcupine.Operation, 0, len(ops))
	for _, op := range ops {
		if op.Outcome == Failed || (op.Outcome == Unknown && op.Kind == Get) {
			continue
		}
		if op.Outcome == Unknown {
			if (op.Kind == Put || op.Kind == Cas) && !seen[op.Key][op.Value] {
				continue
			}
			if r, ok := lastAbsent[op.Key]; op.Kind == Delete && (!ok || r < op.Call) {
				continue
			}
		}
		p := porcupine.Operation{
			ClientId: op.Client,
			Input:    input{Kind: op.Kind, Key: op.Key, Value: op.Value, Expect: op.Expect, ExpectAbsent: op.ExpectAbsent},
			Call:     op.Call,
			Output:   output{Found: op.Found, Value: op.Value},
			Return:   op.Return,
			Metadata: metadata(op),
		}
		if op.Kind != Get {
			p.Output = output{Succeeded: op.Succeeded}
		}
		if op.Outcome == Unknown {
			p.Output = output{Unknown: true}
			p.Return = end
		}
		out = append(out, p)
	}
	return out
}

// metadata is shown next to an operation in the visualization.
func metadata(op Op) string {
	s := fmt.Sprintf("node %d", op.Node)
	if op.Kind == Get {
		s += ", " + op.Consistency
	}
	if op.RequestID != "" {
		s += ", id " + op.RequestID
	}
	if op.Attempts > 1 {
		s += fmt.Sprintf(", %d attempts", op.Attempts)
	}
	if op.Err != "" {
		s += ", " + op.Err
	}
	return s
}
