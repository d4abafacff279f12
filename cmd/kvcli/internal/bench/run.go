package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// ErrAllFailed is returned, with the Result, when requests were sent and not
// one succeeded: the figures would describe nothing.
var ErrAllFailed = errors.New("every request failed")

// Run performs the benchmark described by cfg and returns its result. It
// returns early, with the figures so far and Interrupted set, when ctx ends.
// Errors: ErrConfig for a bad cfg; a wrapped client.ErrUnavailable or
// client.ErrNoLeader when the leader cannot be found (raftkv: etcd-v2 starts
// on the first endpoint instead); ErrAllFailed (with a Result) when no
// request succeeded. Failing to read the server's metrics is not an error:
// Result.ServerNote says why Result.Server is nil.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.FailFast == 0 {
		cfg.FailFast = 3 * time.Second
	}
	value := makeValue(cfg.ValueSize, cfg.Seed)
	s, err := newStore(cfg, value)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	defer s.close()

	tg := &targets{s: s, spread: cfg.Spread, timeout: cfg.Timeout}
	if err := tg.init(ctx); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, s: s, tg: tg, value: value, keyWidth: len(strconv.Itoa(cfg.Keys - 1))}
	res := &Result{Mode: cfg.Mode, Protocol: cfg.Protocol, Clients: cfg.Clients, ValueSize: cfg.ValueSize}
	if cfg.Mode != Write {
		start := time.Now()
		if err := r.prefill(ctx); err != nil {
			return nil, err
		}
		res.Prefill = time.Since(start)
	}
	sw := startServerWatch(ctx, cfg, s, tg)
	r.measure(ctx, res)
	res.Targets, res.Leaders = tg.used(), !cfg.Spread
	res.LeaderGuess = tg.guess
	sw.finish(ctx, res)
	if res.Ops == 0 && res.Errors > 0 {
		return res, fmt.Errorf("%w: %d requests, %s", ErrAllFailed, res.Errors, res.ErrorSummary())
	}
	return res, nil
}

// makeValue returns size pseudo-random printable bytes: the same value for
// every write, since generating one per request would cost the benchmark
// more than the store, and incompressible enough not to flatter it.
func makeValue(size int, seed uint64) []byte {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	rng := rand.New(rand.NewPCG(seed, 0x76616c7565))
	v := make([]byte, size)
	for i := range v {
		v[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return v
}

// runner holds what the clients share during one run.
type runner struct {
	cfg      Config
	s        store
	tg       *targets
	value    []byte
	keyWidth int

	seq    atomic.Uint64 // next key with Sequential order
	issued atomic.Int64  // requests claimed, against cfg.Requests
	ops    atomic.Int64  // successes so far, for progress and fail-fast
	errs   atomic.Int64  // failures so far
	stop   atomic.Bool   // set at the deadline, on fail-fast

	mu     sync.Mutex // guards the fields below, written after each request
	hist   *hdrhistogram.Histogram
	max    time.Duration // exact, whereas the histogram rounds to 3 digits
	kinds  map[string]int64
	reads  int64
	writes int64
	bytes  int64
}

func (r *runner) key(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for len(s) < r.keyWidth {
		s = "0" + s
	}
	return r.cfg.KeyPrefix + s
}

// prefill writes every key once, so reads find them. It is not measured.
func (r *runner) prefill(ctx context.Context) error {
	var (
		next     atomic.Int64
		failures atomic.Int64
		firstErr atomic.Pointer[error]
		wg       sync.WaitGroup
	)
	for range min(r.cfg.Clients, r.cfg.Keys) {
		wg.Go(func() {
			for {
				n := next.Add(1) - 1
				if n >= int64(r.cfg.Keys) || ctx.Err() != nil {
					return
				}
				if err := r.s.put(ctx, r.tg.next(), r.key(uint64(n))); err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, &err)
					r.tg.relocate(ctx, 200*time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("prefill: %w", err)
	}
	if n := failures.Load(); n > 0 {
		return fmt.Errorf("prefill: %d of %d writes failed, first: %w", n, r.cfg.Keys, *firstErr.Load())
	}
	return nil
}

// measure runs the clients until the deadline, the request budget, a
// fail-fast stop or the end of ctx, and fills res.
func (r *runner) measure(ctx context.Context, res *Result) {
	highest := max(r.cfg.Timeout, time.Second).Microseconds() * 2
	r.hist = hdrhistogram.New(1, highest, 3)
	r.kinds = map[string]int64{}

	start := time.Now()
	deadline := start.Add(r.cfg.Duration)
	if r.cfg.Requests > 0 {
		deadline = time.Time{}
	}
	done := make(chan struct{})
	watcherDone := make(chan struct{})
	followerDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		r.watch(start, done)
	}()

	if !r.cfg.Spread {
		go func() {
			defer close(followerDone)
			r.followLeader(ctx, done)
		}()
	} else {
		close(followerDone)
	}

	var wg sync.WaitGroup
	for i := range r.cfg.Clients {
		wg.Go(func() { r.client(ctx, uint64(i), deadline) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(done)
	<-watcherDone
	<-followerDone

	r.mu.Lock()
	defer r.mu.Unlock()
	res.Ops = r.reads + r.writes
	res.Reads, res.Writes = r.reads, r.writes
	res.ErrorsByKind = r.kinds
	for _, n := range r.kinds {
		res.Errors += n
	}
	res.Duration = elapsed
	if secs := elapsed.Seconds(); secs > 0 {
		res.OpsPerSec = float64(res.Ops) / secs
		res.MBPerSec = float64(r.bytes) / secs / 1e6
	}
	// A percentile is the top of its histogram bucket, which may lie above
	// the largest latency seen; no figure may exceed the real maximum.
	at := func(q float64) time.Duration {
		return min(time.Duration(r.hist.ValueAtQuantile(q))*time.Microsecond, r.max)
	}
	res.Latency = Latency{P50: at(50), P90: at(90), P99: at(99), P999: at(99.9), Max: r.max}
	res.Interrupted = ctx.Err() != nil
	res.FailedFast = r.stop.Load() && res.Ops == 0 && !res.Interrupted
}

// client is one closed-loop client: it sends its next request only once
// the previous answer has been read.
func (r *runner) client(ctx context.Context, id uint64, deadline time.Time) {
	rng := rand.New(rand.NewPCG(r.cfg.Seed, id))
	for {
		if r.stop.Load() || ctx.Err() != nil || (!deadline.IsZero() && !time.Now().Before(deadline)) {
			return
		}
		if r.cfg.Requests > 0 && r.issued.Add(1) > r.cfg.Requests {
			return
		}
		var n uint64
		if r.cfg.KeyOrder == Random {
			n = rng.Uint64N(uint64(r.cfg.Keys))
		} else {
			n = (r.seq.Add(1) - 1) % uint64(r.cfg.Keys)
		}
		key, target := r.key(n), r.tg.next()
		read := r.cfg.Mode == Read || (r.cfg.Mode == Mixed && rng.Float64() < r.cfg.ReadRatio)

		var (
			got int // value bytes read
			err error
		)
		begin := time.Now()
		if read {
			got, err = r.s.get(ctx, target, key)
		} else {
			err = r.s.put(ctx, target, key)
		}
		lat := time.Since(begin)

		if err != nil && ctx.Err() != nil {
			return // cut short by the caller: neither a success nor the cluster's failure
		}
		r.record(ctx, lat, read, got, err)
	}
}

func (r *runner) record(ctx context.Context, lat time.Duration, read bool, n int, err error) {
	if err != nil {
		kind := kindOf(err)
		r.errs.Add(1)
		r.mu.Lock()
		r.kinds[kind]++
		r.mu.Unlock()
		if leaderLost(kind) {
			r.tg.relocate(ctx, 200*time.Millisecond)
		}
		return
	}
	r.ops.Add(1)
	us := max(lat.Microseconds(), 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hist.RecordValue(us) != nil {
		// Beyond the histogram's range (twice the request timeout, so only
		// a stalled process gets here): count it at the top, keep the exact
		// value in max.
		r.hist.RecordValue(r.hist.HighestTrackableValue())
	}
	r.max = max(r.max, lat)
	if read {
		r.reads++
		r.bytes += int64(n)
	} else {
		r.writes++
		r.bytes += int64(len(r.value))
	}
}

// followLeader checks once a second where the leader is, until done is
// closed.
func (r *runner) followLeader(ctx context.Context, done <-chan struct{}) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
			r.tg.relocate(ctx, 500*time.Millisecond)
		}
	}
}

// watch prints progress every second and stops a run in which nothing has
// succeeded for FailFast, until done is closed.
func (r *runner) watch(start time.Time, done <-chan struct{}) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	// Lines are due on whole seconds of the run, so a slow tick does not
	// make them drift.
	nextLine, lastLine, lastOps := start.Add(time.Second), start, int64(0)
	for {
		select {
		case <-done:
			if r.cfg.Progress != nil && r.cfg.ProgressInPlace {
				fmt.Fprint(r.cfg.Progress, "\r\033[K")
			}
			return
		case now := <-tick.C:
			ops, errs := r.ops.Load(), r.errs.Load()
			if ops == 0 && errs > 0 && now.Sub(start) >= r.cfg.FailFast {
				r.stop.Store(true)
			}
			if r.cfg.Progress == nil || now.Before(nextLine) {
				continue
			}
			rate := float64(ops-lastOps) / now.Sub(lastLine).Seconds()
			line := fmt.Sprintf("%6.1fs  %9d ops  %8.0f ops/s  %d errors", now.Sub(start).Seconds(), ops, rate, errs)
			if r.cfg.ProgressInPlace {
				fmt.Fprint(r.cfg.Progress, "\r\033[K"+line)
			} else {
				fmt.Fprintln(r.cfg.Progress, line)
			}
			lastLine, lastOps = now, ops
			for !nextLine.After(now) {
				nextLine = nextLine.Add(time.Second)
			}
		}
	}
}
