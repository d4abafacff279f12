package api

import (
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

// indexBody answers a committed write.
type indexBody struct {
	Index uint64 `json:"index"`
}

// keyParam returns the key named by /v1/kv/<key>, or answers 400.
//
// The engine routes on URL.Path, which net/url has percent-decoded exactly
// once, and the *key wildcard is a verbatim slice of it: so /v1/kv/a%2Fb and
// /v1/kv/a/b both name "a/b", and /v1/kv/a%252F names "a%2F". gin's
// UseRawPath+UnescapePathValues would decode with url.QueryUnescape, which
// also turns '+' into a space, and url.PathEscape (what clients use) leaves
// '+' as is: key "a+b" would silently become "a b".
func keyParam(c *gin.Context) ([]byte, bool) {
	k := c.Param("key")
	if len(k) > 0 && k[0] == '/' {
		k = k[1:]
	}
	switch {
	case k == "":
		abortError(c, http.StatusBadRequest, "empty key")
		return nil, false
	case len(k) > MaxKeyBytes:
		abortError(c, http.StatusBadRequest, fmt.Sprintf("key is %d bytes; the limit is %d", len(k), MaxKeyBytes))
		return nil, false
	}
	return []byte(k), true
}

// readValue reads the request body, at most MaxValueBytes, or answers
// 400/413.
func (s *Server) readValue(c *gin.Context) ([]byte, bool) {
	r := c.Request
	limit := s.opts.MaxValueBytes
	if r.ContentLength > limit {
		abortError(c, http.StatusRequestEntityTooLarge, tooLarge(r.ContentLength, limit))
		return nil, false
	}
	// Hand MaxBytesReader the net/http writer, not gin's wrapper: only the
	// former can be told to close the connection instead of draining an
	// oversized body.
	var w http.ResponseWriter = c.Writer
	if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); ok {
		w = u.Unwrap()
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	var (
		value []byte
		err   error
	)
	if r.ContentLength >= 0 {
		// Known length (already checked against the limit): one exact
		// allocation instead of ReadAll's doubling.
		value = make([]byte, r.ContentLength)
		_, err = io.ReadFull(body, value)
	} else {
		value, err = io.ReadAll(body)
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			abortError(c, http.StatusRequestEntityTooLarge, tooLarge(-1, limit))
		} else {
			abortError(c, http.StatusBadRequest, "read body: "+err.Error())
		}
		return nil, false
	}
	return value, true
}

func tooLarge(n, limit int64) string {
	if n < 0 {
		return fmt.Sprintf("value is larger than the limit of %d bytes", limit)
	}
	return fmt.Sprintf("value is %d bytes; the limit is %d", n, limit)
}

func (s *Server) handlePut(c *gin.Context) {
	cmd, ok := writeCommand(c, kv.OpSet)
	if !ok {
		return
	}
	if cmd.Value, ok = s.readValue(c); !ok {
		return
	}
	s.write(c, cmd, cmd.Value)
}

func (s *Server) handleDelete(c *gin.Context) {
	if cmd, ok := writeCommand(c, kv.OpDel); ok {
		s.write(c, cmd, nil)
	}
}

// writeCommand builds a write from the key in the path and the optional
// Request-Id header, or answers 400.
func writeCommand(c *gin.Context, op kv.Op) (kv.Command, bool) {
	key, ok := keyParam(c)
	if !ok {
		return kv.Command{}, false
	}
	client, seq, ok := requestID(c)
	return kv.Command{Op: op, Key: key, Client: client, Seq: seq}, ok
}

// requestID parses the optional Request-Id header, "<client-id>:<seq>",
// or answers 400.
func requestID(c *gin.Context) (string, uint64, bool) {
	raw := c.GetHeader(RequestIDHeader)
	if raw == "" {
		return "", 0, true
	}
	i := strings.LastIndexByte(raw, ':')
	var seq uint64
	var err error
	if i > 0 {
		seq, err = strconv.ParseUint(raw[i+1:], 10, 64)
	}
	if i <= 0 || err != nil || seq == 0 || i > kv.MaxClientIDBytes {
		abortError(c, http.StatusBadRequest, fmt.Sprintf(
			"%s %q: want <client-id>:<seq>, a client id of 1 to %d bytes and a sequence number from 1",
			RequestIDHeader, raw, kv.MaxClientIDBytes))
		return "", 0, false
	}
	return raw[:i], seq, true
}

// write proposes cmd and answers its index, forwarding the original request
// (body included) to the leader when this node is not it. A write with a
// request id answers the index of its first application, so a retry of an
// applied write gets the answer the lost original would have had.
func (s *Server) write(c *gin.Context, cmd kv.Command, body []byte) {
	defer s.recordWrite(time.Now(), c)
	index, err := s.cons.Propose(c.Request.Context(), cmd.Encode())
	if err == nil {
		if cmd.Client != "" {
			first, ok := s.store.RequestResult(cmd.Client, cmd.Seq)
			if !ok {
				// The state machine skipped it as older than the client's
				// window of recent requests: not applied now, and whether
				// it was applied before can no longer be told.
				abortError(c, http.StatusConflict, fmt.Sprintf(
					"%s %s:%d is older than the client's recent requests; it was not applied now, and its earlier outcome is unknown",
					RequestIDHeader, cmd.Client, cmd.Seq))
				return
			}
			index = first
		}
		c.JSON(http.StatusOK, indexBody{Index: index})
		return
	}
	if leader, ok := notLeader(err); ok {
		s.forward(c, leader, body)
		return
	}
	s.abortConsensusError(c, "write", err)
}

// readConsistency parses ?consistency= and, for a linearizable read, waits
// for the read barrier. It reports whether the handler may read the store.
func (s *Server) readConsistency(c *gin.Context) bool {
	switch mode := c.Query("consistency"); mode {
	case "", "linearizable":
		s.countRead("linearizable")
		if err := s.cons.ReadIndex(c.Request.Context()); err != nil {
			s.abortConsensusError(c, "read", err)
			return false
		}
		return true
	case "lease":
		s.countRead(mode)
		if err := s.cons.LeaseRead(c.Request.Context()); err != nil {
			s.abortConsensusError(c, "read", err)
			return false
		}
		return true
	case "stale":
		s.countRead(mode)
		return true
	default:
		abortError(c, http.StatusBadRequest,
			fmt.Sprintf("consistency %q: want linearizable (the default), lease or stale", mode))
		return false
	}
}

func (s *Server) handleGet(c *gin.Context) {
	key, ok := keyParam(c)
	if !ok || !s.readConsistency(c) {
		return
	}
	value, err := s.store.Get(key)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		abortError(c, http.StatusNotFound, "key not found")
	case err != nil:
		s.log.Error("get failed", "err", err)
		abortError(c, http.StatusInternalServerError, "get: "+err.Error())
	default:
		c.Data(http.StatusOK, "application/octet-stream", value)
	}
}

// listItem is one entry of a list answer. A key or value that is not valid
// UTF-8 cannot be a JSON string without loss, so it goes base64 in the
// *_base64 field instead; exactly one of each pair is set.
type listItem struct {
	Key         *string `json:"key,omitempty"`
	KeyBase64   *string `json:"key_base64,omitempty"`
	Value       *string `json:"value,omitempty"`
	ValueBase64 *string `json:"value_base64,omitempty"`
}

type listBody struct {
	Items []listItem `json:"items"`
}

func (s *Server) handleList(c *gin.Context) {
	limit := DefaultListLimit
	if raw, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > MaxListLimit {
			abortError(c, http.StatusBadRequest, fmt.Sprintf("limit %q: want an integer from 1 to %d", raw, MaxListLimit))
			return
		}
		limit = n
	}
	if !s.readConsistency(c) {
		return
	}
	items, err := s.store.List([]byte(c.Query("prefix")), limit)
	if err != nil {
		s.log.Error("list failed", "err", err)
		abortError(c, http.StatusInternalServerError, "list: "+err.Error())
		return
	}
	out := listBody{Items: make([]listItem, 0, len(items))}
	for _, it := range items {
		var li listItem
		li.Key, li.KeyBase64 = textOrBase64(it.Key)
		li.Value, li.ValueBase64 = textOrBase64(it.Value)
		out.Items = append(out.Items, li)
	}
	c.JSON(http.StatusOK, out)
}
