package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// WatchEvent is one change ("put" or "delete") of a watched key, or a
// "progress" mark: the watch has seen everything up to Revision.
type WatchEvent struct {
	Type     string
	Revision uint64 // the change's revision (its mod_revision)
	Item     Item   // the key, and for a put its value and revisions
}

// CompactedError means the changes after the revision asked for are no
// longer kept by the server: read the current state and watch from there.
type CompactedError struct{ CompactRevision uint64 }

func (e *CompactedError) Error() string {
	return fmt.Sprintf("the changes up to revision %d are no longer kept (compacted): read the current state and watch again", e.CompactRevision)
}

// watchRetry is the pause before a broken watch tries the next endpoint.
const watchRetry = 200 * time.Millisecond

// Watch calls fn with each change of key (every key starting with it when
// prefix), from revision start (0: from now), until ctx ends or fn returns
// an error, which Watch returns. A stream that breaks (the node died) is
// resumed on the next endpoint after the last revision fully seen, so fn
// sees no gap and no repeat; *CompactedError when the server no longer
// has those changes.
func (c *Client) Watch(ctx context.Context, key string, prefix bool, start uint64, fn func(WatchEvent) error) error {
	q := url.Values{}
	if prefix {
		q.Set("prefix", "1")
	}
	if start > 0 {
		q.Set("start_revision", strconv.FormatUint(start, 10))
	}
	var seen *uint64 // the revision every change up to which fn has had
	idx := int(c.next.Load()) % len(c.endpoints)
	for {
		var hdr http.Header
		path := "/v1/watch/" + url.PathEscape(key)
		if seen != nil {
			hdr = http.Header{"Last-Event-Id": {strconv.FormatUint(*seen, 10)}}
			if prefix {
				path += "?prefix=1"
			}
		} else if len(q) > 0 {
			path += "?" + q.Encode()
		}
		err := c.watchOnce(ctx, c.endpoints[idx], path, hdr, &seen, fn)
		var ce *CompactedError
		var cbErr callbackError
		var apiErr *APIError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &ce):
			return ce
		case errors.As(err, &cbErr):
			return cbErr.err
		case errors.As(err, &apiErr) && apiErr.Status != http.StatusServiceUnavailable:
			return err
		}
		idx = (idx + 1) % len(c.endpoints)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(watchRetry):
		}
	}
}

// callbackError wraps fn's error, to tell it from a broken stream.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// watchOnce reads one stream until it ends.
func (c *Client) watchOnce(ctx context.Context, base, path string, hdr http.Header, seen **uint64, fn func(WatchEvent) error) error {
	resp, err := c.send(ctx, base, http.MethodGet, path, nil, hdr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 8<<20) // a 1 MiB value base64-encoded, with room
	var id, name, data string
	for sc.Scan() {
		line := sc.Text()
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				id = value
			case "event":
				name = value
			case "data":
				data = value
			}
			continue
		}
		if err := deliver(name, id, data, seen, fn); err != nil {
			return err
		}
		id, name, data = "", "", ""
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("client: watch stream from %s: %w", base, err)
	}
	return fmt.Errorf("client: watch stream from %s ended", base)
}

func deliver(name, id, data string, seen **uint64, fn func(WatchEvent) error) error {
	switch name {
	case "compacted":
		var b struct {
			CompactRevision uint64 `json:"compact_revision"`
		}
		if err := json.Unmarshal([]byte(data), &b); err != nil {
			return fmt.Errorf("client: decode compacted event: %w", err)
		}
		return &CompactedError{CompactRevision: b.CompactRevision}
	case "put", "delete", "progress":
	default:
		return nil // a kind this client does not know: skip it
	}
	ev := WatchEvent{Type: name}
	if name == "progress" {
		var b struct {
			Revision uint64 `json:"revision"`
		}
		if err := json.Unmarshal([]byte(data), &b); err != nil {
			return fmt.Errorf("client: decode progress event: %w", err)
		}
		ev.Revision = b.Revision
	} else {
		var r WireItem
		if err := json.Unmarshal([]byte(data), &r); err != nil {
			return fmt.Errorf("client: decode %s event: %w", name, err)
		}
		if r.Value == nil && r.ValueBase64 == nil {
			r.Value = new(string) // a delete has no value
		}
		it, err := r.Item()
		if err != nil {
			return fmt.Errorf("client: %s event %w", name, err)
		}
		ev.Item, ev.Revision = it, it.ModRevision
	}
	if id != "" {
		if rev, err := strconv.ParseUint(id, 10, 64); err == nil {
			defer func() { *seen = &rev }() // once fn has had the event
		}
	}
	if err := fn(ev); err != nil {
		return callbackError{err}
	}
	return nil
}
