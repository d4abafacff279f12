package workload

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/raftkv/raftkv/cmd/kvchaos/internal/history"
)

// FinalReads reads every key linearizably from every node once the cluster
// is healed, recording the reads as client clientID. They join the checked
// history, so every acknowledged write must show in them. It fails when
// some key cannot be read from some node within timeout.
func (w *Workload) FinalReads(ctx context.Context, clientID int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var errs []error
	for _, id := range w.ids {
		for k := range w.opts.Keys {
			key := fmt.Sprintf("k%d", k)
			if err := w.finalRead(ctx, clientID, id, key); err != nil {
				errs = append(errs, fmt.Errorf("read %s from node %d: %w", key, id, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (w *Workload) finalRead(ctx context.Context, clientID int, node uint64, key string) error {
	for {
		op := history.Op{Client: clientID, Node: node, Kind: history.Get, Key: key,
			Consistency: "linearizable", Attempts: 1}
		op.Call = w.rec.Now()
		actx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
		a := send(actx, w.hc, http.MethodGet, w.opts.Nodes[node], key, "consistency=linearizable", nil, "")
		cancel()
		op.Return = w.rec.Now()
		switch a.status {
		case http.StatusOK:
			op.Found, op.Value = true, string(a.body)
			w.rec.Add(op)
			return nil
		case http.StatusNotFound:
			w.rec.Add(op)
			return nil
		}
		op.Outcome, op.Err = history.Failed, a.String()
		w.rec.Add(op)
		select {
		case <-ctx.Done():
			return fmt.Errorf("no answer (last: %s)", a)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
