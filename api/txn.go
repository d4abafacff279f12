package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/kv"
)

// POST /v1/txn: compares, then the success or the failure branch, as one
// log entry applied atomically (kv/txn.go has the rules).

type txnCompareJSON struct {
	Key         *string         `json:"key"`
	KeyBase64   *string         `json:"key_base64"`
	Target      string          `json:"target"`
	Op          string          `json:"op"`
	Value       json.RawMessage `json:"value"`
	ValueBase64 *string         `json:"value_base64"`
}

type txnOpJSON struct {
	Op          string  `json:"op"`
	Key         *string `json:"key"`
	KeyBase64   *string `json:"key_base64"`
	Value       *string `json:"value"`
	ValueBase64 *string `json:"value_base64"`
}

type txnRequest struct {
	Compare []txnCompareJSON `json:"compare"`
	Success []txnOpJSON      `json:"success"`
	Failure []txnOpJSON      `json:"failure"`
}

var (
	txnTargets = map[string]kv.CompareTarget{"value": kv.TargetValue, "version": kv.TargetVersion,
		"mod_revision": kv.TargetModRevision, "create_revision": kv.TargetCreateRevision}
	txnCompareOps = map[string]kv.CompareOp{"=": kv.CompareEqual, "!=": kv.CompareNotEqual, "<": kv.CompareLess, ">": kv.CompareGreater}
	txnOps        = map[string]kv.Op{"put": kv.OpSet, "delete": kv.OpDel, "get": kv.OpGet}
	txnOpNames    = map[kv.Op]string{kv.OpSet: "put", kv.OpDel: "delete", kv.OpGet: "get"}
)

// bytesOf returns text or the decoded base64, whichever is set (exactly
// one must be, unless optional).
func bytesOf(what string, text, b64 *string, optional bool) ([]byte, error) {
	switch {
	case text != nil && b64 != nil:
		return nil, fmt.Errorf("%s and %s_base64 together: send one", what, what)
	case text != nil:
		return []byte(*text), nil
	case b64 != nil:
		b, err := base64.StdEncoding.DecodeString(*b64)
		if err != nil {
			return nil, fmt.Errorf("%s_base64: %v", what, err)
		}
		return b, nil
	case optional:
		return nil, nil
	}
	return nil, fmt.Errorf("no %s", what)
}

func txnKey(text, b64 *string) ([]byte, error) {
	k, err := bytesOf("key", text, b64, false)
	switch {
	case err != nil:
		return nil, err
	case len(k) == 0:
		return nil, errors.New("empty key")
	case len(k) > MaxKeyBytes:
		return nil, fmt.Errorf("key is %d bytes; the limit is %d", len(k), MaxKeyBytes)
	}
	return k, nil
}

func (r txnCompareJSON) compare() (kv.Compare, error) {
	key, err := txnKey(r.Key, r.KeyBase64)
	if err != nil {
		return kv.Compare{}, err
	}
	c := kv.Compare{Key: key}
	var ok bool
	if c.Target, ok = txnTargets[r.Target]; !ok {
		return kv.Compare{}, fmt.Errorf("target %q: want value, version, mod_revision or create_revision", r.Target)
	}
	if c.Op, ok = txnCompareOps[r.Op]; !ok {
		return kv.Compare{}, fmt.Errorf("op %q: want =, !=, < or >", r.Op)
	}
	if c.Target == kv.TargetValue {
		var text *string
		if len(r.Value) > 0 {
			if err := json.Unmarshal(r.Value, &text); err != nil || text == nil {
				return kv.Compare{}, errors.New("a value compare takes a string value (or value_base64)")
			}
		}
		c.Value, err = bytesOf("value", text, r.ValueBase64, false)
		return c, err
	}
	if r.ValueBase64 != nil || len(r.Value) == 0 {
		return kv.Compare{}, fmt.Errorf("a %s compare takes a number value", r.Target)
	}
	if c.Number, err = strconv.ParseUint(string(r.Value), 10, 64); err != nil {
		return kv.Compare{}, fmt.Errorf("a %s compare takes a whole number from 0, not %s", r.Target, r.Value)
	}
	return c, nil
}

func (r txnOpJSON) op() (kv.TxnOp, error) {
	o, ok := txnOps[r.Op]
	if !ok {
		return kv.TxnOp{}, fmt.Errorf("op %q: want put, delete or get", r.Op)
	}
	key, err := txnKey(r.Key, r.KeyBase64)
	if err != nil {
		return kv.TxnOp{}, err
	}
	op := kv.TxnOp{Op: o, Key: key}
	if o != kv.OpSet {
		if r.Value != nil || r.ValueBase64 != nil {
			return kv.TxnOp{}, fmt.Errorf("%s takes no value", r.Op)
		}
		return op, nil
	}
	if op.Value, err = bytesOf("value", r.Value, r.ValueBase64, false); err != nil {
		return kv.TxnOp{}, fmt.Errorf("put: %w", err)
	}
	if op.Value == nil {
		op.Value = []byte{}
	}
	return op, nil
}

// branch converts one branch, refusing two writes to one key.
func branch(name string, in []txnOpJSON) ([]kv.TxnOp, error) {
	written := map[string]bool{}
	out := make([]kv.TxnOp, 0, len(in))
	for i, r := range in {
		op, err := r.op()
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", name, i, err)
		}
		if op.Op != kv.OpGet {
			if written[string(op.Key)] {
				return nil, fmt.Errorf("%s[%d]: a second write to key %q in one branch", name, i, op.Key)
			}
			written[string(op.Key)] = true
		}
		out = append(out, op)
	}
	return out, nil
}

func (r txnRequest) txn() (*kv.Txn, error) {
	n := len(r.Compare) + len(r.Success) + len(r.Failure)
	switch {
	case n == 0:
		return nil, errors.New("an empty transaction: give compare, success or failure")
	case n > kv.MaxTxnOps:
		return nil, fmt.Errorf("%d compares and operations; the limit is %d", n, kv.MaxTxnOps)
	}
	t := &kv.Txn{}
	for i, c := range r.Compare {
		cmp, err := c.compare()
		if err != nil {
			return nil, fmt.Errorf("compare[%d]: %w", i, err)
		}
		t.Compares = append(t.Compares, cmp)
	}
	var err error
	if t.Success, err = branch("success", r.Success); err != nil {
		return nil, err
	}
	if t.Failure, err = branch("failure", r.Failure); err != nil {
		return nil, err
	}
	if n := t.WriteBytes(); n > kv.MaxTxnBytes {
		return nil, fmt.Errorf("a branch writes %d bytes of keys and values; the limit is %d", n, kv.MaxTxnBytes)
	}
	return t, nil
}

// txnResultJSON is one operation's result: a get says whether it found
// the key and gives its value and revisions; a put gives the key's new
// revisions; a delete says whether the key existed.
type txnResultJSON struct {
	Op             string  `json:"op"`
	Key            *string `json:"key,omitempty"`
	KeyBase64      *string `json:"key_base64,omitempty"`
	Found          *bool   `json:"found,omitempty"`
	Deleted        *bool   `json:"deleted,omitempty"`
	Value          *string `json:"value,omitempty"`
	ValueBase64    *string `json:"value_base64,omitempty"`
	CreateRevision *uint64 `json:"create_revision,omitempty"`
	ModRevision    *uint64 `json:"mod_revision,omitempty"`
	Version        *uint64 `json:"version,omitempty"`
}

func (j *txnResultJSON) setMeta(m kv.Meta) {
	j.CreateRevision, j.ModRevision, j.Version = &m.CreateRevision, &m.ModRevision, &m.Version
}

type txnAnswer struct {
	Succeeded bool            `json:"succeeded"`
	Revision  uint64          `json:"revision"`
	Results   []txnResultJSON `json:"results"`
	// Retried: this request id was applied before; the results of that
	// first application are not kept, only whether it succeeded.
	Retried bool `json:"retried,omitempty"`
}

func txnResults(ops []kv.TxnOp, res []kv.OpResult) []txnResultJSON {
	out := make([]txnResultJSON, len(res))
	for i, r := range res {
		j := txnResultJSON{Op: txnOpNames[r.Op]}
		j.Key, j.KeyBase64 = client.EncodeBytes(ops[i].Key)
		found := r.Found
		switch r.Op {
		case kv.OpGet:
			j.Found = &found
			if found {
				j.Value, j.ValueBase64 = client.EncodeBytes(r.Item.Value)
				j.setMeta(r.Item.Meta)
			}
		case kv.OpDel:
			j.Deleted = &found
		case kv.OpSet:
			j.setMeta(r.Item.Meta)
		}
		out[i] = j
	}
	return out
}

// txnKeys is every key a transaction compares, reads or writes, in either
// branch: a token limited to a prefix must cover them all.
func txnKeys(t *kv.Txn) [][]byte {
	keys := make([][]byte, 0, len(t.Compares)+len(t.Success)+len(t.Failure))
	for _, c := range t.Compares {
		keys = append(keys, c.Key)
	}
	for _, branch := range [][]kv.TxnOp{t.Success, t.Failure} {
		for _, op := range branch {
			keys = append(keys, op.Key)
		}
	}
	return keys
}

func (s *Server) handleTxn(c *gin.Context) {
	body, ok := s.readValue(c)
	if !ok {
		return
	}
	var req txnRequest
	if err := strictJSON(body, &req); err != nil {
		abortError(c, http.StatusBadRequest, "transaction body: "+err.Error())
		return
	}
	txn, err := req.txn()
	if err != nil {
		abortError(c, http.StatusBadRequest, "transaction: "+err.Error())
		return
	}
	if !allowKeys(c, txnKeys(txn)...) {
		return
	}
	client, seq, ok := requestID(c)
	if !ok {
		return
	}
	defer s.recordWrite(time.Now(), c)
	cmd := kv.Command{Op: kv.OpTxn, Txn: txn, Client: client, Seq: seq, Nonce: newNonce()}
	if p, ok := s.propose(c, cmd, body); ok {
		s.answerTxn(c, cmd, p)
	}
}

func (s *Server) answerTxn(c *gin.Context, cmd kv.Command, p proposal) {
	index := p.index
	if o := p.outcome; p.found && o.Txn != nil {
		ops := cmd.Txn.Success
		if !o.Txn.Succeeded {
			ops = cmd.Txn.Failure
		}
		c.JSON(http.StatusOK, txnAnswer{Succeeded: o.Txn.Succeeded, Revision: index, Results: txnResults(ops, o.Txn.Results)})
		return
	}
	if cmd.Client != "" {
		if first, ok := s.store.RequestResult(cmd.Client, cmd.Seq); ok {
			c.JSON(http.StatusOK, txnAnswer{Succeeded: !first.CondFailed, Revision: first.Index, Results: []txnResultJSON{}, Retried: true})
			return
		}
		abortStaleRequest(c, cmd)
		return
	}
	abortUnavailable(c, fmt.Sprintf("the transaction was decided at index %d, but this node installed a snapshot over it "+
		"before reading its outcome: read the keys to see what it did", index))
}
