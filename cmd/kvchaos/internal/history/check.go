package history

import (
	"fmt"
	"time"

	"github.com/anishathalye/porcupine"
)

// Verdict is the checker's answer.
type Verdict string

const (
	Linearizable    Verdict = "linearizable"
	NotLinearizable Verdict = "NOT linearizable"
	// Inconclusive means porcupine ran out of time: nothing was proven
	// either way, and it must never be reported as a pass.
	Inconclusive Verdict = "unknown (checker timed out)"
)

// Annotation marks a fault (or anything else) on the visualization's
// timeline, in the recorder's clock.
type Annotation struct {
	Start, End  int64
	Tag         string // the row it is drawn on, e.g. "nemesis"
	Description string
	Details     string
}

// Result of a check.
type Result struct {
	Verdict  Verdict
	Checked  int // operations given to porcupine
	Duration time.Duration
	info     porcupine.LinearizationInfo
}

// Check checks ops for linearizability, giving up after timeout.
func Check(ops []Op, timeout time.Duration) Result {
	return check(Model, ops, timeout)
}

func check(model porcupine.Model, ops []Op, timeout time.Duration) Result {
	hist := Operations(ops)
	began := time.Now()
	res, info := porcupine.CheckOperationsVerbose(model, hist, timeout)
	r := Result{Checked: len(hist), Duration: time.Since(began), info: info}
	switch res {
	case porcupine.Ok:
		r.Verdict = Linearizable
	case porcupine.Illegal:
		r.Verdict = NotLinearizable
	default:
		r.Verdict = Inconclusive
	}
	return r
}

// Visualize writes porcupine's HTML view of the checked history, with the
// annotations on their own rows, to path.
func (r Result) Visualize(path string, notes []Annotation) error {
	var anns []porcupine.Annotation
	for _, n := range notes {
		anns = append(anns, porcupine.Annotation{Tag: n.Tag, Start: n.Start, End: n.End,
			Description: n.Description, Details: n.Details, BackgroundColor: "#ffd7c2"})
	}
	r.info.AddAnnotations(anns)
	if err := porcupine.VisualizePath(Model, r.info, path); err != nil {
		return fmt.Errorf("write visualization %s: %w", path, err)
	}
	return nil
}
