package workload

import (
	"fmt"
	"slices"
	"time"
)

// LeaseRecord is what one lessee saw of one lease. Times are nanoseconds
// since the recorder started, on the same machine as the servers, whose
// monotonic clocks run at the same rate.
type LeaseRecord struct {
	ID     uint64        `json:"id"`
	Key    string        `json:"key"`
	TTL    time.Duration `json:"ttl"`
	Client int           `json:"client"`
	// Restarts are the call times of the grant and of every keepalive
	// the cluster acknowledged. A countdown restarted by a request starts
	// after the request was sent, so the lease cannot end before any of
	// them plus TTL.
	Restarts []int64 `json:"restarts"`
	// Attached is when the put of Key on the lease was acknowledged (0:
	// never, and the record is not checked: an unacknowledged put may
	// apply late, after reads that found the key absent).
	Attached int64 `json:"attached"`
	// Gone holds the (call, return) of each read after Attached that
	// found Key absent, and of each keepalive answered 404.
	Gone [][2]int64 `json:"gone"`
	// Present counts the reads that found Key.
	Present int `json:"present"`
	// LetGo is when the lessee stopped keeping the lease alive, and
	// Expired the return of the first read after it that found Key gone
	// (0: not seen).
	LetGo   int64 `json:"let_go"`
	Expired int64 `json:"expired"`
	// LastTry is when the last keepalive was sent, acknowledged or not:
	// an unknown one may have restarted the countdown.
	LastTry int64 `json:"last_try"`
}

// LeaseResult is the verdict on the lease records of a run.
type LeaseResult struct {
	Leases, Checked, KeepAlives, Expired int
	Violations                           []string
}

// CheckLeases checks two things of every lease whose key was attached:
// the key was never seen gone before the last acknowledged restart of its
// countdown plus the TTL (a TTL is a lower bound), and once let go it was
// seen gone (expiry happens). The second holds only for records whose
// final poll ran, which FinalLeases does for all.
func CheckLeases(recs []LeaseRecord) LeaseResult {
	res := LeaseResult{Leases: len(recs)}
	for _, r := range recs {
		res.KeepAlives += max(0, len(r.Restarts)-1)
		if r.Expired != 0 {
			res.Expired++
		}
		if r.Attached == 0 || len(r.Restarts) == 0 {
			continue
		}
		res.Checked++
		last := slices.Max(r.Restarts)
		bound := last + int64(r.TTL)
		for _, g := range r.Gone {
			if g[1] < bound {
				res.Violations = append(res.Violations, fmt.Sprintf(
					"lease %d (key %s, TTL %s): found gone at %s, before %s, the TTL after its countdown was last restarted (at %s)",
					r.ID, r.Key, r.TTL, at(g[1]), at(bound), at(last)))
				break
			}
		}
		if r.LetGo != 0 && r.Expired == 0 {
			res.Violations = append(res.Violations, fmt.Sprintf(
				"lease %d (key %s, TTL %s): let go at %s (last keepalive sent at %s) and never expired",
				r.ID, r.Key, r.TTL, at(r.LetGo), at(r.LastTry)))
		}
	}
	return res
}

// at prints a recorder time.
func at(ns int64) string { return time.Duration(ns).Round(time.Millisecond).String() }
