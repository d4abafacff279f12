package tlsconf

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"
)

// Server holds a node's HTTPS certificate and client CA pool, which Reload
// replaces while the server runs: each handshake takes what is current at
// that moment, and established connections keep theirs, so a certificate
// is rotated without dropping anyone.
type Server struct {
	files Files
	cur   atomic.Pointer[serverState]
}

// serverState is one loading of the files: the certificate and the
// handshake configuration built around it, swapped together so that a
// handshake never mixes a new certificate with an old CA pool.
type serverState struct {
	cert   *tls.Certificate
	config *tls.Config
}

// nextProtos is what the server offers in ALPN: net/http's ServeTLS serves
// HTTP/2 and HTTP/1.1 on a TLS listener.
var nextProtos = []string{"h2", "http/1.1"}

// NewServer loads f's certificate and key (required) and its client CA
// file (optional: mutual TLS).
func NewServer(f Files) (*Server, error) {
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, errors.New("a TLS server needs both a certificate and a key file")
	}
	s := &Server{files: f}
	st, err := s.load()
	if err != nil {
		return nil, err
	}
	s.cur.Store(st)
	return s, nil
}

func (s *Server) load() (*serverState, error) {
	cert, err := LoadKeyPair(s.files.CertFile, s.files.KeyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:   MinVersion,
		Certificates: []tls.Certificate{*cert},
		NextProtos:   nextProtos,
	}
	if s.files.ClientCAFile != "" {
		pool, err := LoadCAPool(s.files.ClientCAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return &serverState{cert: cert, config: cfg}, nil
}

// Reload reads the files again and, only if all of them load, serves the
// new certificate and CA pool from the next handshake on. On error the
// old ones stay in use.
func (s *Server) Reload() error {
	st, err := s.load()
	if err != nil {
		return fmt.Errorf("reload tls: %w (still serving the previous certificate)", err)
	}
	s.cur.Store(st)
	return nil
}

// Certificate is the certificate served now.
func (s *Server) Certificate() *tls.Certificate { return s.cur.Load().cert }

// MutualTLS reports whether clients must present a certificate.
func (s *Server) MutualTLS() bool { return s.files.ClientCAFile != "" }

// Config is the configuration for the http.Server (served with ServeTLS):
// GetConfigForClient hands every handshake the state current then.
// GetCertificate serves the same certificate to anything that bypasses
// GetConfigForClient.
func (s *Server) Config() *tls.Config {
	return &tls.Config{
		MinVersion: MinVersion,
		NextProtos: nextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.cur.Load().config, nil
		},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.cur.Load().cert, nil
		},
	}
}

// ClientConfig is for this node's own requests to other nodes (and to
// itself): it verifies them with the CA file (the system's roots without
// one) and, when a server asks for a client certificate (mutual TLS),
// presents this node's current certificate, so a reload renews both.
func (s *Server) ClientConfig() (*tls.Config, error) {
	cfg, err := clientBase(s.files.CAFile)
	if err != nil {
		return nil, err
	}
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		return s.cur.Load().cert, nil
	}
	return cfg, nil
}

// ClientConfig is for a client of the cluster (kvcli): it verifies the
// nodes with f.CAFile (the system's roots when "") and presents
// f.CertFile and f.KeyFile when both are given.
func ClientConfig(f Files) (*tls.Config, error) {
	cfg, err := clientBase(f.CAFile)
	if err != nil {
		return nil, err
	}
	if (f.CertFile == "") != (f.KeyFile == "") {
		return nil, fmt.Errorf("tls: a client certificate needs both the certificate and the key file")
	}
	if f.CertFile != "" {
		cert, err := LoadKeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg, nil
}

func clientBase(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: MinVersion}
	if caFile != "" {
		pool, err := LoadCAPool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
