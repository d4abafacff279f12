// Package bench is kvcli's closed-loop load generator: a fixed number of
// clients, each sending its next request only after the previous answer was
// read, with every request's latency recorded in an HDR histogram.
package bench

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"time"
)

// Mode is what the clients send.
type Mode string

// Modes.
const (
	Write Mode = "write" // PUT only
	Read  Mode = "read"  // GET only, after writing every key once
	Mixed Mode = "mixed" // GET with probability ReadRatio, else PUT
)

// Key orders.
const (
	Sequential = "sequential" // key i, i+1, ... shared by all clients, wrapping at Keys
	Random     = "random"     // uniform over the key space, seeded
)

// Config describes one run. The zero value is not usable; start from
// Defaults.
type Config struct {
	Mode      Mode
	Protocol  string        // the API spoken: ProtocolRaftkv ("" is the same) or ProtocolEtcdV2
	Endpoints []string      // every node's HTTP address
	Clients   int           // concurrent clients, each with one request in flight
	Duration  time.Duration // how long to send; ignored when Requests > 0
	Requests  int64         // total requests to send, failed ones included; 0 = run for Duration
	ValueSize int           // bytes per written value
	Keys      int           // size of the key space
	KeyPrefix string        // keys are KeyPrefix + zero-padded number
	KeyOrder  string        // Sequential or Random
	Seed      uint64        // for Random keys and the mixed read/write choice
	// Spread sends requests round-robin to every endpoint; otherwise all go
	// to the leader, found through /v1/status (etcd-v2: /v2/stats/self).
	Spread    bool
	ReadRatio float64 // Mixed only: the share of reads, 0..1
	// Consistency is for reads: "", "linearizable", "stale" or "lease"
	// (raftkv only). With etcd-v2, "" and "linearizable" send quorum=true.
	Consistency string
	Timeout     time.Duration // per request
	// TLS, when set, is how the benchmark's clients speak HTTPS to the
	// nodes (kvcli's --cacert, --cert, --key); nil: plain HTTP, or the
	// system's roots for https:// endpoints.
	TLS *tls.Config
	// Token is sent on every request, the metrics scrapes included
	// (raftkv only); "" sends none.
	Token string
	// Progress, when set, receives a progress line every second; with
	// ProgressInPlace the line is rewritten in place (a terminal) instead of
	// one line per second (a log).
	Progress        io.Writer
	ProgressInPlace bool
	// FailFast stops a run in which no request has succeeded after this
	// long, instead of spinning through the whole duration. 0 means 3s.
	FailFast time.Duration
}

// Defaults returns a Config with the defaults the kvcli flags show.
func Defaults(mode Mode) Config {
	return Config{
		Mode:      mode,
		Protocol:  ProtocolRaftkv,
		Clients:   16,
		Duration:  10 * time.Second,
		ValueSize: 256,
		Keys:      1000,
		KeyPrefix: "bench/",
		KeyOrder:  Sequential,
		Seed:      1,
		ReadRatio: 0.5,
		Timeout:   5 * time.Second,
	}
}

// ErrConfig marks a Config that cannot run; the message says which field.
var ErrConfig = errors.New("bad benchmark configuration")

// Validate reports the first field that makes c unusable.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Mode != Write && c.Mode != Read && c.Mode != Mixed:
		return bad("mode %q is not write, read or mixed", c.Mode)
	case c.Protocol != "" && c.Protocol != ProtocolRaftkv && c.Protocol != ProtocolEtcdV2:
		return bad("--protocol %q is not %s or %s", c.Protocol, ProtocolRaftkv, ProtocolEtcdV2)
	case c.Protocol == ProtocolEtcdV2 && c.Consistency == "lease":
		return bad("--consistency lease has no etcd-v2 equivalent (use linearizable, which sends quorum=true, or stale)")
	case len(c.Endpoints) == 0:
		return bad("no endpoints")
	case c.Clients < 1 || c.Clients > 10000:
		return bad("--clients %d is not in 1..10000", c.Clients)
	case c.Requests < 0:
		return bad("--requests %d is negative", c.Requests)
	case c.Requests == 0 && c.Duration <= 0:
		return bad("--duration %s must be positive (or give --requests)", c.Duration)
	case c.ValueSize < 0 || c.ValueSize > 64<<20:
		return bad("--value-size %d is not in 0..%d", c.ValueSize, 64<<20)
	case c.Keys < 1:
		return bad("--keys %d must be at least 1", c.Keys)
	case c.KeyOrder != Sequential && c.KeyOrder != Random:
		return bad("--key-order %q is not %s or %s", c.KeyOrder, Sequential, Random)
	case c.ReadRatio < 0 || c.ReadRatio > 1 || c.ReadRatio != c.ReadRatio:
		return bad("--read-ratio %v is not in 0..1", c.ReadRatio)
	case c.Consistency != "" && c.Consistency != "linearizable" && c.Consistency != "stale" && c.Consistency != "lease":
		return bad("consistency %q is not linearizable, stale or lease", c.Consistency)
	case c.Timeout <= 0:
		return bad("timeout %s must be positive", c.Timeout)
	case c.FailFast < 0:
		return bad("fail-fast %s is negative", c.FailFast)
	}
	return nil
}
