package api

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/kv"
	"github.com/raftkv/raftkv/raft/core"
)

// indexBody answers a committed write.
type indexBody struct {
	Index uint64 `json:"index"`
	Lease uint64 `json:"lease,omitempty"` // the key's lease (PUT ?lease= or ?ttl=)
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
	ttl, ok := s.putLease(c, &cmd)
	if !ok {
		return
	}
	if cmd.Value, ok = s.readValue(c); !ok {
		return
	}
	if ttl > 0 {
		// A lease of the key's own, granted first: if the put then fails,
		// the lease simply expires with nothing attached.
		o, ok := s.proposeForOutcome(c, kv.Command{Op: kv.OpLeaseGrant, TTL: ttl}, cmd.Value)
		if !ok {
			return
		}
		cmd.Lease = o.Lease
	}
	s.write(c, cmd, cmd.Value)
}

// putLease parses ?lease=ID (attach to a lease) and ?ttl=D (a lease of
// the key's own), or answers 400.
func (s *Server) putLease(c *gin.Context, cmd *kv.Command) (time.Duration, bool) {
	rawLease, hasLease := c.GetQuery("lease")
	rawTTL, hasTTL := c.GetQuery("ttl")
	switch {
	case hasLease && hasTTL:
		abortError(c, http.StatusBadRequest, "lease and ttl together: a ttl grants the key a lease of its own")
	case hasLease:
		id, err := strconv.ParseUint(rawLease, 10, 64)
		if err != nil || id == 0 {
			abortError(c, http.StatusBadRequest, fmt.Sprintf("lease %q: want a lease id from POST /v1/leases", rawLease))
			return 0, false
		}
		cmd.Lease = id
		return 0, true
	case hasTTL:
		d, err := time.ParseDuration(rawTTL)
		if err == nil && d%time.Second != 0 {
			err = errors.New("not whole seconds")
		}
		if err == nil {
			_, err = s.leaseTTL(int64(d / time.Second))
		}
		if err != nil {
			abortError(c, http.StatusBadRequest, fmt.Sprintf("ttl %q: %v (for example ttl=30s)", rawTTL, err))
			return 0, false
		}
		return d, true
	default:
		return 0, true
	}
	return 0, false
}

func (s *Server) handleDelete(c *gin.Context) {
	if cmd, ok := writeCommand(c, kv.OpDel); ok {
		s.write(c, cmd, nil)
	}
}

// writeCommand builds a write from the key in the path and the optional
// Request-Id, If-Match and If-None-Match headers, or answers 400.
func writeCommand(c *gin.Context, op kv.Op) (kv.Command, bool) {
	key, ok := keyParam(c)
	if !ok {
		return kv.Command{}, false
	}
	client, seq, ok := requestID(c)
	if !ok {
		return kv.Command{}, false
	}
	cond, rev, ok := writeCondition(c)
	return kv.Command{Op: op, Key: key, Client: client, Seq: seq, Cond: cond, CondRevision: rev}, ok
}

// writeCondition parses If-Match ("<mod_revision>" or *) and If-None-Match
// (* only: create), or answers 400. The state machine checks the
// condition when it applies the write.
func writeCondition(c *gin.Context) (kv.Cond, uint64, bool) {
	im, inm := strings.TrimSpace(c.GetHeader("If-Match")), strings.TrimSpace(c.GetHeader("If-None-Match"))
	switch {
	case im != "" && inm != "":
		abortError(c, http.StatusBadRequest, "If-Match and If-None-Match together: send one")
	case inm == "*":
		return kv.CondAbsent, 0, true
	case inm != "":
		abortError(c, http.StatusBadRequest, fmt.Sprintf("If-None-Match %q: only * (create only) is supported on writes", inm))
	case im == "*":
		return kv.CondExists, 0, true
	case im != "":
		rev, err := strconv.ParseUint(strings.Trim(im, `"`), 10, 64)
		if err != nil || rev == 0 || !strings.HasPrefix(im, `"`) || !strings.HasSuffix(im, `"`) || len(im) < 3 {
			abortError(c, http.StatusBadRequest, fmt.Sprintf(
				`If-Match %q: want "<mod_revision>" (a quoted revision from 1, as GET's ETag) or *; use If-None-Match: * to create only`, im))
			return kv.CondNone, 0, false
		}
		return kv.CondModRevision, rev, true
	default:
		return kv.CondNone, 0, true
	}
	return kv.CondNone, 0, false
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
// request id answers the outcome of its first application, so a retry of an
// applied write gets the answer the lost original would have had.
func (s *Server) write(c *gin.Context, cmd kv.Command, body []byte) {
	defer s.recordWrite(time.Now(), c)
	if cmd.Cond != kv.CondNone || cmd.Lease != 0 {
		cmd.Nonce = newNonce()
	}
	if p, ok := s.propose(c, cmd, body); ok {
		s.answerWrite(c, cmd, p)
	}
}

// proposal is a command applied on this node: its index and, when the
// command had a nonce, what applying it did (found is false when it was
// skipped as a retry, or a snapshot installed over it).
type proposal struct {
	index   uint64
	outcome kv.Outcome
	found   bool
}

// propose proposes cmd, registering its nonce (when it has one) to learn
// the outcome, and returns once it is applied here; false when it has
// answered already: forwarded to the leader, or an error.
func (s *Server) propose(c *gin.Context, cmd kv.Command, body []byte) (proposal, bool) {
	if cmd.Nonce != 0 {
		s.store.Expect(cmd.Nonce)
		defer s.store.Forget(cmd.Nonce) // a no-op once Outcome took it
	}
	index, err := s.cons.Propose(c.Request.Context(), cmd.Encode())
	if leader, isNot := notLeader(err); isNot {
		s.forward(c, leader, body)
		return proposal{}, false
	}
	if err != nil {
		s.abortConsensusError(c, "write", err)
		return proposal{}, false
	}
	p := proposal{index: index}
	if cmd.Nonce != 0 {
		p.outcome, p.found = s.store.Outcome(cmd.Nonce)
	}
	return p, true
}

// newNonce names a conditional write so that this node can pick out its
// outcome; zero means none.
func newNonce() uint64 {
	for {
		if n := rand.Uint64(); n != 0 {
			return n
		}
	}
}

// answerWrite answers a write applied on this node at index.
func abortLeaseMissing(c *gin.Context, id uint64) {
	abortError(c, http.StatusNotFound, fmt.Sprintf("lease %d not found (expired or revoked): nothing written", id))
}

func (s *Server) answerWrite(c *gin.Context, cmd kv.Command, p proposal) {
	index, o := p.index, p.outcome
	switch {
	case p.found && o.LeaseMissing:
		abortLeaseMissing(c, cmd.Lease)
		return
	case p.found && !o.Applied:
		abortPrecondition(c, o.Meta)
		return
	case p.found:
		answerIndex(c, cmd, index)
		return
	}
	if cmd.Client != "" {
		first, ok := s.store.RequestResult(cmd.Client, cmd.Seq)
		if !ok {
			abortStaleRequest(c, cmd)
			return
		}
		if first.LeaseMissing {
			abortLeaseMissing(c, cmd.Lease)
			return
		}
		if first.CondFailed {
			// The key as it is now: what it was then is gone.
			it, err := s.store.GetItem(cmd.Key)
			if err != nil && !errors.Is(err, kv.ErrNotFound) {
				abortError(c, http.StatusInternalServerError, "read the key after a failed condition: "+err.Error())
				return
			}
			abortPrecondition(c, it.Meta)
			return
		}
		answerIndex(c, cmd, first.Index)
		return
	}
	if cmd.Nonce != 0 {
		abortUnavailable(c, fmt.Sprintf("the write was decided at index %d, but this node installed a snapshot over it "+
			"before reading its outcome: read the key to see whether it holds the write", index))
		return
	}
	answerIndex(c, cmd, index)
}

// abortStaleRequest answers a write the state machine skipped as older
// than the client's window of recent requests: not applied now, and
// whether it was applied before can no longer be told.
func abortStaleRequest(c *gin.Context, cmd kv.Command) {
	abortError(c, http.StatusConflict, fmt.Sprintf(
		"%s %s:%d is older than the client's recent requests; it was not applied now, and its earlier outcome is unknown",
		RequestIDHeader, cmd.Client, cmd.Seq))
}

// answerIndex answers a write that took effect at index; after a PUT that
// is the key's new mod_revision, its ETag.
func answerIndex(c *gin.Context, cmd kv.Command, index uint64) {
	if cmd.Op == kv.OpSet {
		c.Header("ETag", etag(index))
	}
	c.JSON(http.StatusOK, indexBody{Index: index, Lease: cmd.Lease})
}

func etag(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }

// preconditionBody answers a write whose condition did not hold, with the
// key's revisions (0 when absent).
type preconditionBody struct {
	Error       string `json:"error"`
	ModRevision uint64 `json:"mod_revision"`
	Version     uint64 `json:"version"`
}

func abortPrecondition(c *gin.Context, m kv.Meta) {
	msg := "condition failed: the key is absent"
	if m.ModRevision != 0 || m.Version != 0 {
		msg = fmt.Sprintf("condition failed: the key is at mod_revision %d, version %d", m.ModRevision, m.Version)
	}
	c.AbortWithStatusJSON(http.StatusPreconditionFailed, preconditionBody{Error: msg, ModRevision: m.ModRevision, Version: m.Version})
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
	if !ok {
		return
	}
	meta, ok := boolQuery(c, "meta")
	if !ok || !s.readConsistency(c) {
		return
	}
	it, err := s.store.GetItem(key)
	switch {
	case errors.Is(err, kv.ErrNotFound):
		abortError(c, http.StatusNotFound, "key not found")
	case err != nil:
		s.log.Error("get failed", "err", err)
		abortError(c, http.StatusInternalServerError, "get: "+err.Error())
	default:
		if it.ModRevision != 0 {
			c.Header("ETag", etag(it.ModRevision))
		}
		if meta {
			s.answerMeta(c, it)
			return
		}
		c.Data(http.StatusOK, "application/octet-stream", it.Value)
	}
}

// answerMeta answers GET ?meta=1. A key with a lease also gets the time
// left on it, which only the leader's clock knows: another node forwards
// the read there, unless it was asked for a stale read, which omits it.
func (s *Server) answerMeta(c *gin.Context, it kv.Item) {
	body := itemBody(it)
	if it.Lease != 0 {
		st := s.cons.Status()
		info, ok := s.store.Lease(it.Lease)
		switch {
		case st.Role == core.Leader && ok:
			left := s.lessor.remaining(it.Lease, info.TTL).Milliseconds()
			body.TTLRemainingMS = &left
		case st.Role != core.Leader && c.Query("consistency") != "stale":
			s.forward(c, uint64(st.Leader), nil)
			return
		}
	}
	c.JSON(http.StatusOK, body)
}

func itemBody(it kv.Item) client.WireItem {
	wi := client.WireItem{CreateRevision: it.CreateRevision, ModRevision: it.ModRevision, Version: it.Version, Lease: it.Lease}
	wi.Key, wi.KeyBase64 = client.EncodeBytes(it.Key)
	wi.Value, wi.ValueBase64 = client.EncodeBytes(it.Value)
	return wi
}

type listBody struct {
	Items []client.WireItem `json:"items"`
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
	out := listBody{Items: make([]client.WireItem, 0, len(items))}
	for _, it := range items {
		out.Items = append(out.Items, itemBody(it))
	}
	c.JSON(http.StatusOK, out)
}
