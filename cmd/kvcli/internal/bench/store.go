package bench

import (
	"context"
	"fmt"

	"github.com/raftkv/raftkv/api/client"
)

// Protocols: which API the clients speak.
const (
	ProtocolRaftkv = "raftkv"  // raftkv's /v1 API, through api/client
	ProtocolEtcdV2 = "etcd-v2" // etcd's v2 keys API (etcd 3.4 with --enable-v2), for comparisons
)

// store is what the load generator needs from a cluster: one request to one
// endpoint at a time, no failover (the benchmark must know who served
// what), and a way to find the leader. Every request writes the run's one
// value, so that a protocol can encode it once. Errors must be what kindOf
// classifies: *client.APIError for an error answer, client.ErrNotFound for
// an absent key, transport errors as net/http returns them.
type store interface {
	endpoints() []string // normalized ("http://host:port"), in the order given
	// leader returns the leader's endpoint. With fallbackFirst set, an
	// error here is not fatal: the run starts on the first endpoint.
	leader(ctx context.Context) (string, error)
	fallbackFirst() bool
	put(ctx context.Context, endpoint, key string) error
	get(ctx context.Context, endpoint, key string) (valueBytes int, err error)
	close()
}

func newStore(cfg Config, value []byte) (store, error) {
	switch cfg.Protocol {
	case "", ProtocolRaftkv:
		opts := []client.Option{client.WithConnsPerHost(cfg.Clients), client.WithToken(cfg.Token)}
		if cfg.TLS != nil {
			opts = append(opts, client.WithTLS(cfg.TLS))
		}
		c, err := client.New(cfg.Endpoints, cfg.Timeout, opts...)
		if err != nil {
			return nil, err
		}
		return &raftkvStore{c: c, value: value, consistency: cfg.Consistency}, nil
	case ProtocolEtcdV2:
		return newEtcdV2(cfg, value)
	}
	return nil, fmt.Errorf("protocol %q", cfg.Protocol) // Validate refuses it first
}

// raftkvStore is the raftkv API through api/client, exactly as kvcli's
// benchmark always sent it: PutAt with a Request-Id, GetAt with the
// --consistency query.
type raftkvStore struct {
	c           *client.Client
	value       []byte
	consistency string
}

func (s *raftkvStore) endpoints() []string { return s.c.Endpoints() }
func (s *raftkvStore) fallbackFirst() bool { return false }
func (s *raftkvStore) close()              { s.c.Close() }

func (s *raftkvStore) leader(ctx context.Context) (string, error) {
	li, err := s.c.Leader(ctx)
	if err != nil {
		return "", fmt.Errorf("find the leader through /v1/status: %w", err)
	}
	return li.Endpoint, nil
}

func (s *raftkvStore) put(ctx context.Context, endpoint, key string) error {
	_, err := s.c.PutAt(ctx, endpoint, key, s.value)
	return err
}

func (s *raftkvStore) get(ctx context.Context, endpoint, key string) (int, error) {
	v, err := s.c.GetAt(ctx, endpoint, key, s.consistency)
	return len(v), err
}
