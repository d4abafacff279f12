package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// ErrLeaseNotFound is returned for a lease that does not exist (expired
// or revoked).
var ErrLeaseNotFound = errors.New("lease not found (expired or revoked)")

// LeaseInfo is GET /v1/leases/<id>.
type LeaseInfo struct {
	ID        uint64
	TTL       time.Duration
	Remaining time.Duration // by the leader's clock
	Keys      []string
}

func leasePath(id uint64) string { return "/v1/leases/" + strconv.FormatUint(id, 10) }

// leaseErr turns a 404 from a lease route into ErrLeaseNotFound.
func leaseErr(err error) error {
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
		return fmt.Errorf("%w: %s", ErrLeaseNotFound, apiErr.Message)
	}
	return err
}

// GrantLease creates a lease of ttl (whole seconds) and returns its id.
// It is not resent after a broken connection: a second grant would make
// a second lease, which then simply expires.
func (c *Client) GrantLease(ctx context.Context, ttl time.Duration) (uint64, error) {
	body, _ := json.Marshal(map[string]int64{"ttl_s": int64(ttl / time.Second)})
	out, err := c.do(ctx, http.MethodPost, "/v1/leases", body, nil, false)
	if err != nil {
		return 0, err
	}
	var b struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal(out, &b); err != nil || b.ID == 0 {
		return 0, fmt.Errorf("client: answer %q has no lease id", truncate(out))
	}
	return b.ID, nil
}

// KeepAlive restarts the lease's countdown on the leader.
func (c *Client) KeepAlive(ctx context.Context, id uint64) error {
	_, err := c.do(ctx, http.MethodPost, leasePath(id)+"/keepalive", nil, nil, true)
	return leaseErr(err)
}

// RevokeLease ends the lease now, deleting the keys attached to it.
func (c *Client) RevokeLease(ctx context.Context, id uint64) error {
	_, err := c.do(ctx, http.MethodDelete, leasePath(id), nil, nil, true)
	return leaseErr(err)
}

// Lease returns the lease's TTL, time left and keys.
func (c *Client) Lease(ctx context.Context, id uint64) (LeaseInfo, error) {
	out, err := c.do(ctx, http.MethodGet, leasePath(id), nil, nil, true)
	if err != nil {
		return LeaseInfo{}, leaseErr(err)
	}
	var b WireLease
	if err := json.Unmarshal(out, &b); err != nil {
		return LeaseInfo{}, fmt.Errorf("client: decode lease: %w", err)
	}
	info := LeaseInfo{ID: b.ID, TTL: time.Duration(b.TTL) * time.Second, Remaining: time.Duration(b.RemainingMS) * time.Millisecond}
	for i, k := range b.Keys {
		key, err := DecodeBytes(k.Key, k.KeyBase64)
		if err != nil {
			return LeaseInfo{}, fmt.Errorf("client: lease key %d: %w", i, err)
		}
		info.Keys = append(info.Keys, string(key))
	}
	return info, nil
}

// WithLease attaches the written key to lease id (PUT ?lease=): it is
// deleted when the lease expires or is revoked, unless rewritten first.
func (w *Write) WithLease(id uint64) *Write {
	w.path = keyPathOnly(w.path) + "?lease=" + strconv.FormatUint(id, 10)
	return w
}

// WithTTL gives the written key a lease of its own (PUT ?ttl=).
func (w *Write) WithTTL(ttl time.Duration) *Write {
	w.path = keyPathOnly(w.path) + "?ttl=" + strconv.FormatInt(int64(ttl/time.Second), 10) + "s"
	return w
}

func keyPathOnly(p string) string {
	for i := range len(p) {
		if p[i] == '?' {
			return p[:i]
		}
	}
	return p
}

// WireLease is a lease as GET /v1/leases/:id answers it, the one
// declaration of that JSON (the server encodes it).
type WireLease struct {
	ID          uint64    `json:"id"`
	TTL         int64     `json:"ttl_s"`
	RemainingMS int64     `json:"remaining_ms"`
	Keys        []WireKey `json:"keys"`
}

// WireKey is a key alone, as text or base64 (see EncodeBytes).
type WireKey struct {
	Key       *string `json:"key,omitempty"`
	KeyBase64 *string `json:"key_base64,omitempty"`
}
