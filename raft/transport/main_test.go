package transport

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/raftkv/raftkv/raft/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// eventually polls cond until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// receiveN collects exactly n messages from ch or fails after timeout.
func receiveN(t testing.TB, ch <-chan wire.Message, n int, timeout time.Duration) []wire.Message {
	t.Helper()
	out := make([]wire.Message, 0, n)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for len(out) < n {
		select {
		case m := <-ch:
			out = append(out, m)
		case <-timer.C:
			t.Fatalf("received %d of %d messages in %v", len(out), n, timeout)
		}
	}
	return out
}
