package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/kv"
)

// GET /v1/watch/<key>[?prefix=1][&start_revision=N]: the key's changes as
// Server-Sent Events, in revision order. Each event is read from the
// store's history at the watcher's own pace, so a slow watcher costs its
// connection only; one that falls out of the history is told compacted.

const watchPathPrefix = "/v1/watch/"

// DefaultWatchProgress is how often an idle watch says how far it is complete.
const DefaultWatchProgress = 5 * time.Second

// watchBatch bounds the events read from the history at a time.
const watchBatch = 256

// watchStart is the revision the watch resumes after: start_revision=N
// replays from N, Last-Event-ID: N resumes after N; neither means now.
func (s *Server) watchStart(c *gin.Context) (uint64, bool) {
	if raw, ok := c.GetQuery("start_revision"); ok {
		n, err := strconv.ParseUint(raw, 10, 64)
		if err != nil || n == 0 {
			abortError(c, http.StatusBadRequest, fmt.Sprintf("start_revision %q: want a revision from 1", raw))
			return 0, false
		}
		return n - 1, true
	}
	if raw := c.GetHeader("Last-Event-ID"); raw != "" {
		n, err := strconv.ParseUint(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			abortError(c, http.StatusBadRequest, fmt.Sprintf("Last-Event-ID %q: want a revision", raw))
			return 0, false
		}
		return n, true
	}
	return s.store.HistoryRevision(), true
}

func (s *Server) handleWatch(c *gin.Context) {
	prefix, ok := boolQuery(c, "prefix")
	if !ok {
		return
	}
	var key []byte
	if p := strings.TrimPrefix(c.Param("key"), "/"); !prefix || p != "" {
		// An empty prefix watches every key; an empty key, nothing.
		if key, ok = keyParam(c); !ok {
			return
		}
	}
	after, ok := s.watchStart(c)
	if !ok {
		return
	}
	match := func(k []byte) bool { return bytes.Equal(k, key) }
	if prefix {
		match = func(k []byte) bool { return bytes.HasPrefix(k, key) }
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	c.Writer.WriteHeaderNow()
	c.Writer.Flush()
	progress := time.NewTicker(s.opts.WatchProgress)
	defer progress.Stop()
	ctx := c.Request.Context()
	for first := true; ; first = false {
		evs, upTo, more, err := s.store.Changes(after, match, watchBatch)
		var ce *kv.CompactedError
		if errors.As(err, &ce) {
			writeSSE(c.Writer, "compacted", "", map[string]uint64{"compact_revision": ce.CompactRevision})
			c.Writer.Flush()
			return
		}
		if err != nil {
			writeSSE(c.Writer, "error", "", errorBody{Error: err.Error()})
			c.Writer.Flush()
			return
		}
		if first {
			// Where the stream starts, so that a client that hears
			// nothing else still knows where to resume.
			if writeProgress(c.Writer, after) != nil {
				return
			}
		}
		if len(evs) > 0 && writeEvents(c.Writer, evs) != nil {
			return
		}
		c.Writer.Flush()
		after = upTo
		if len(evs) > 0 {
			continue // there may be more behind them
		}
		select {
		case <-more:
		case <-progress.C:
			if writeProgress(c.Writer, after) != nil {
				return
			}
			c.Writer.Flush()
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		}
	}
}

// writeProgress says the stream is complete up to rev; its id makes a
// reconnect resume after it.
func writeProgress(w io.Writer, rev uint64) error {
	return writeSSE(w, "progress", strconv.FormatUint(rev, 10), map[string]uint64{"revision": rev})
}

// writeEvents writes one SSE event per change. Only the last event of a
// revision carries its id, so a client that reconnects with Last-Event-ID
// never skips the rest of a transaction it saw only part of.
func writeEvents(w io.Writer, evs []kv.Event) error {
	for i, e := range evs {
		id := ""
		if i == len(evs)-1 || evs[i+1].Revision != e.Revision {
			id = strconv.FormatUint(e.Revision, 10)
		}
		name, data := "put", itemBody(e.Item)
		if e.Type == kv.EventDel {
			name, data.Value, data.ValueBase64 = "delete", nil, nil
		}
		if err := writeSSE(w, name, id, data); err != nil {
			return err
		}
	}
	return nil
}

func writeSSE(w io.Writer, event, id string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if id != "" {
		fmt.Fprintf(&buf, "id: %s\n", id)
	}
	fmt.Fprintf(&buf, "event: %s\ndata: %s\n\n", event, b)
	_, err = w.Write(buf.Bytes())
	return err
}
