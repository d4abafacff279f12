package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/raftkv/raftkv/api/client"
	"github.com/raftkv/raftkv/config"
	"github.com/raftkv/raftkv/internal/tlsconf"
)

// checkJoinTLS refuses a join that could only fail on a scheme: a node
// not among config.json's nodes gets the top-level tls, which must give
// it a certificate when the cluster serves HTTPS, and then its --join
// URLs cannot be http://.
func checkJoinTLS(cfg *config.Config, id uint64, j *joinSpec) error {
	own, cluster := cfg.NodeTLS(id).Enabled(), cfg.NodeTLS(cfg.Nodes[0].ID).Enabled()
	switch {
	case cluster && !own:
		return fmt.Errorf("--join: config.json's nodes serve HTTPS but node %d would not: give the top-level tls "+
			"a cert_file and key_file, or list node %d in nodes with its own tls", id, id)
	case !own:
		return nil
	}
	for _, u := range j.urls {
		if strings.HasPrefix(u, "http://") {
			return fmt.Errorf("--join %s: the cluster serves HTTPS (config.json's tls); write https:// or host:port", u)
		}
	}
	return nil
}

// nodeTLS is a node's HTTPS: the server side, which SIGHUP reloads, and
// the client configuration it calls other nodes (and itself) with.
type nodeTLS struct {
	server *tlsconf.Server
	peer   *tls.Config
}

// newNodeTLS loads t's files; nil when the node serves plain HTTP.
// Config validation loaded them already, so an error here means they
// changed since.
func newNodeTLS(t config.TLS) (*nodeTLS, error) {
	if !t.Enabled() {
		return nil, nil
	}
	s, err := tlsconf.NewServer(t.Files())
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	peer, err := s.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return &nodeTLS{server: s, peer: peer}, nil
}

// selfURL is where the node calls its own API: over plain HTTP the
// address it listens on; over HTTPS the configured http_addr, whose host
// is the name the certificate carries (it may list a DNS name only).
func (t *nodeTLS) selfURL(listening, configured string) string {
	if t == nil {
		return "http://" + listening
	}
	return "https://" + configured
}

// peerConfig is api.Options.PeerTLS: nil over plain HTTP.
func (t *nodeTLS) peerConfig() *tls.Config {
	if t == nil {
		return nil
	}
	return t.peer
}

// clientOptions make an api/client reach the nodes the way this node
// serves (bare host:port addresses become https://).
func (t *nodeTLS) clientOptions() []client.Option {
	if t == nil {
		return nil
	}
	return []client.Option{client.WithTLS(t.peer)}
}

// serve serves h on ln, over TLS when t is set, until the server is shut
// down. TLS errors (a plain-HTTP client, a refused certificate) go to
// logger as warnings rather than to the process's stderr.
func (t *nodeTLS) serve(srv *http.Server, ln net.Listener, logger *slog.Logger) error {
	if t == nil {
		return srv.Serve(ln)
	}
	srv.TLSConfig = t.server.Config()
	srv.ErrorLog = slog.NewLogLogger(logger.With("component", "http").Handler(), slog.LevelWarn)
	return srv.ServeTLS(ln, "", "")
}

// reload reads the certificate, key and client CA file again (SIGHUP). A
// failure keeps the previous ones, and says so.
func (t *nodeTLS) reload(logger *slog.Logger) {
	if t == nil {
		return
	}
	if err := t.server.Reload(); err != nil {
		logger.Error("TLS reload failed", "err", err)
		return
	}
	leaf := t.server.Certificate().Leaf
	logger.Info("TLS certificate reloaded", "subject", leaf.Subject.String(), "expires", leaf.NotAfter)
}
