package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/raftkv/raftkv/api/client"
)

// etcdV2Store speaks etcd's v2 keys API, so that etcd can be measured with
// the same load generator, clients and values as raftkv:
//
//	write             PUT /v2/keys/<key>, form body value=<value>
//	linearizable read GET /v2/keys/<key>?quorum=true
//	stale read        GET /v2/keys/<key>
//
// The leader is the endpoint whose /v2/stats/self says "StateLeader". The
// HTTP client is set up as api/client's is (keep-alive, one idle
// connection per benchmark client per node), and every answer is decoded
// and checked as api/client checks raftkv's.
type etcdV2Store struct {
	eps     []string
	http    *http.Client
	timeout time.Duration
	form    string // "value=...", encoded once: every write sends the same value
	quorum  bool
}

func newEtcdV2(cfg Config, value []byte) (*etcdV2Store, error) {
	s := &etcdV2Store{
		timeout: cfg.Timeout,
		form:    url.Values{"value": {string(value)}}.Encode(),
		quorum:  cfg.Consistency != "stale", // "", "linearizable"; Validate refuses "lease"
	}
	for _, e := range cfg.Endpoints {
		n, err := client.Normalize(e)
		if err != nil {
			return nil, err
		}
		s.eps = append(s.eps, n)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = cfg.Clients
	tr.MaxIdleConns = cfg.Clients * (len(s.eps) + 1)
	if cfg.TLS != nil {
		tr.TLSClientConfig = cfg.TLS.Clone()
	}
	s.http = &http.Client{Transport: tr}
	return s, nil
}

func (s *etcdV2Store) endpoints() []string { return append([]string(nil), s.eps...) }
func (s *etcdV2Store) fallbackFirst() bool { return true }
func (s *etcdV2Store) close()              { s.http.CloseIdleConnections() }

// keysPath is /v2/keys/<key>: a "/" in the key stays one, as etcd reads it
// (a directory), anything else unusual is escaped.
func keysPath(key string) string {
	return (&url.URL{Path: "/v2/keys/" + key}).EscapedPath()
}

// etcdNode is the part of a v2 answer the benchmark checks.
type etcdNode struct {
	Node *struct {
		Value         *string `json:"value"`
		ModifiedIndex uint64  `json:"modifiedIndex"`
	} `json:"node"`
}

func (s *etcdV2Store) put(ctx context.Context, endpoint, key string) error {
	body, err := s.do(ctx, http.MethodPut, endpoint+keysPath(key), s.form)
	if err != nil {
		return err
	}
	var a etcdNode
	if err := json.Unmarshal(body, &a); err != nil || a.Node == nil || a.Node.ModifiedIndex == 0 {
		return fmt.Errorf("etcd-v2: answer %q has no node.modifiedIndex", shorten(body))
	}
	return nil
}

func (s *etcdV2Store) get(ctx context.Context, endpoint, key string) (int, error) {
	path := endpoint + keysPath(key)
	if s.quorum {
		path += "?quorum=true"
	}
	body, err := s.do(ctx, http.MethodGet, path, "")
	if err != nil {
		return 0, err
	}
	var a etcdNode
	if err := json.Unmarshal(body, &a); err != nil || a.Node == nil || a.Node.Value == nil {
		return 0, fmt.Errorf("etcd-v2: answer %q has no node.value", shorten(body))
	}
	return len(*a.Node.Value), nil
}

// do sends one request and returns the body of a 2xx answer (etcd answers
// 201 to the first write of a key, 200 to the others). A 404 to a GET is
// client.ErrNotFound, other answers a *client.APIError, so that errors are
// counted by the same kinds as raftkv's.
func (s *etcdV2Store) do(ctx context.Context, method, target, form string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var rd io.Reader
	if form != "" {
		rd = strings.NewReader(form)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("etcd-v2: %s %s: %w", method, target, err)
	}
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err // a *url.Error
	}
	defer resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	rdr := io.Reader(resp.Body)
	if !ok {
		rdr = io.LimitReader(resp.Body, 64<<10) // an error answer is small
	}
	body, err := io.ReadAll(rdr)
	if err != nil {
		return nil, fmt.Errorf("etcd-v2: read answer (%d) from %s: %w", resp.StatusCode, target, err)
	}
	switch {
	case ok:
		return body, nil
	case resp.StatusCode == http.StatusNotFound && method == http.MethodGet:
		return nil, client.ErrNotFound
	}
	return nil, &client.APIError{Status: resp.StatusCode, Message: etcdMessage(body)}
}

// etcdMessage is the "message" (and "cause") of a v2 error answer, or the
// shortened body.
func etcdMessage(body []byte) string {
	var e struct {
		Code    int    `json:"errorCode"`
		Message string `json:"message"`
		Cause   string `json:"cause"`
	}
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		return shorten(body)
	}
	msg := fmt.Sprintf("%s (etcd error %d)", e.Message, e.Code)
	if e.Cause != "" {
		msg += ": " + e.Cause
	}
	return msg
}

// leader asks each endpoint's /v2/stats/self for its Raft state and returns
// the first that says it leads.
func (s *etcdV2Store) leader(ctx context.Context) (string, error) {
	var errs []error
	for _, ep := range s.eps {
		state, err := s.state(ctx, ep)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if state == "StateLeader" {
			return ep, nil
		}
	}
	err := errors.New("no endpoint says \"StateLeader\" at /v2/stats/self")
	if len(errs) > 0 {
		err = fmt.Errorf("%w; %w", err, errs[len(errs)-1])
	}
	return "", err
}

func (s *etcdV2Store) state(ctx context.Context, endpoint string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, min(s.timeout, time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/v2/stats/self", nil)
	if err != nil {
		return "", err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("%s/v2/stats/self: %w", endpoint, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s/v2/stats/self: %s", endpoint, resp.Status)
	}
	var st struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return "", fmt.Errorf("%s/v2/stats/self: %w", endpoint, err)
	}
	return st.State, nil
}

func shorten(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
