package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// AnyNode asks TransferLeader to hand leadership to whichever node is most
// up to date.
const AnyNode = ^uint64(0)

// TransferLeader asks the cluster to make node to the leader (AnyNode: the
// most up-to-date follower) and returns the id of the leader once the
// transfer is done. Any node accepts it (followers forward it); failover as
// for other calls.
func (c *Client) TransferLeader(ctx context.Context, to uint64) (uint64, error) {
	var body []byte
	if to != AnyNode {
		body = []byte(`{"to":` + strconv.FormatUint(to, 10) + `}`)
	}
	out, err := c.do(ctx, http.MethodPost, "/v1/cluster/transfer-leader", body, nil, false)
	if err != nil {
		return 0, err
	}
	var b struct {
		Leader *uint64 `json:"leader"`
	}
	if err := json.Unmarshal(out, &b); err != nil || b.Leader == nil {
		return 0, fmt.Errorf("client: transfer answer %q has no leader", truncate(out))
	}
	return *b.Leader, nil
}

// SnapshotInfo names a snapshot: the last log entry it covers.
type SnapshotInfo struct {
	Index uint64 `json:"index"`
	Term  uint64 `json:"term"`
}

// Snapshot makes the node at endpoint snapshot its state now and compact
// its log. There is no failover: each node snapshots itself, so another
// node's snapshot would not be what was asked for.
func (c *Client) Snapshot(ctx context.Context, endpoint string) (SnapshotInfo, error) {
	out, err := c.at(ctx, endpoint, http.MethodPost, "/v1/admin/snapshot", nil, nil)
	if err != nil {
		return SnapshotInfo{}, err
	}
	var raw struct {
		Index *uint64 `json:"index"`
		Term  *uint64 `json:"term"`
	}
	if err := json.Unmarshal(out, &raw); err != nil || raw.Index == nil || raw.Term == nil {
		return SnapshotInfo{}, fmt.Errorf("client: snapshot answer %q has no index and term", truncate(out))
	}
	return SnapshotInfo{Index: *raw.Index, Term: *raw.Term}, nil
}

// Headers of a backup answer. A follower relaying the leader's answer does
// not pass them on, so they may be absent.
const (
	snapshotIndexHeader = "X-Raftkv-Snapshot-Index"
	snapshotTermHeader  = "X-Raftkv-Snapshot-Term"
)

// BackupInfo describes a backup Backup streamed.
type BackupInfo struct {
	Endpoint string // the endpoint that answered
	// Index and Term are what the answer's headers announce, 0 when they
	// are absent; the file itself is the authority.
	Index, Term uint64
	Bytes       int64 // written to w
}

// ErrStalled is returned (wrapped) by Backup when the transfer made no
// progress for the client's timeout.
var ErrStalled = errors.New("backup stalled")

// Backup streams a fresh snapshot of the leader's state (GET
// /v1/admin/backup; any node, since followers forward it) into w. It does
// not check what it streams: a snapshot file carries its own length and
// checksum, and the caller verifies it before trusting it. A refused
// connection or a 503 moves on to the next endpoint; once bytes have been
// written to w nothing is retried. The client's timeout does not bound the
// whole transfer, which lasts as long as the state takes to copy, but each
// wait: for the answer to begin (the leader writes the snapshot first) and
// between pieces of the stream.
func (c *Client) Backup(ctx context.Context, w io.Writer) (BackupInfo, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	wd := newWatchdog(c.timeout, func() {
		cancel(fmt.Errorf("%w: nothing received for %s: %w", ErrStalled, c.timeout, context.DeadlineExceeded))
	})
	defer wd.stop()
	// cause prefers the watchdog's reason to the bare "context canceled".
	cause := func(err error) error {
		if c := context.Cause(ctx); c != nil && errors.Is(c, ErrStalled) {
			return c
		}
		return err
	}

	n := len(c.endpoints)
	start := int(c.next.Load()) % n
	var last error
	for i := range n {
		idx := (start + i) % n
		base := c.endpoints[idx]
		wd.kick()
		resp, err := c.send(ctx, base, http.MethodGet, "/v1/admin/backup", nil, nil)
		if err != nil {
			err = cause(err)
			if !retryable(err) {
				return BackupInfo{}, err
			}
			last = err
			if ctx.Err() != nil {
				break
			}
			continue
		}
		c.next.Store(uint32(idx))
		info := BackupInfo{Endpoint: base}
		info.Index, _ = strconv.ParseUint(resp.Header.Get(snapshotIndexHeader), 10, 64)
		info.Term, _ = strconv.ParseUint(resp.Header.Get(snapshotTermHeader), 10, 64)
		info.Bytes, err = io.Copy(w, &kickReader{r: resp.Body, wd: wd})
		resp.Body.Close()
		if err != nil {
			return info, fmt.Errorf("client: backup from %s cut short after %d bytes: %w", base, info.Bytes, cause(err))
		}
		return info, nil
	}
	return BackupInfo{}, fmt.Errorf("%w: %w", ErrUnavailable, last)
}

// watchdog calls fire when kick has not been called for d. A zero d
// disables it.
type watchdog struct {
	d time.Duration
	t *time.Timer

	mu      sync.Mutex // guards stopped, so no kick revives a stopped timer
	stopped bool
}

func newWatchdog(d time.Duration, fire func()) *watchdog {
	w := &watchdog{d: d}
	if d > 0 {
		w.t = time.AfterFunc(d, fire)
	}
	return w
}

func (w *watchdog) kick() {
	if w.t == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Reset(w.d)
	}
}

func (w *watchdog) stop() {
	if w.t == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.t.Stop()
}

// kickReader kicks the watchdog whenever bytes arrive.
type kickReader struct {
	r  io.Reader
	wd *watchdog
}

func (k *kickReader) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if n > 0 {
		k.wd.kick()
	}
	return n, err
}
