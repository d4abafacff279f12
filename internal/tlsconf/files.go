// Package tlsconf turns TLS file names into crypto/tls configurations:
// the HTTPS server of a node (with a certificate and client CA pool that
// SIGHUP swaps without dropping connections), and the clients that talk
// to nodes (other nodes, kvcli). Every error names the file at fault.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// MinVersion is the oldest protocol spoken, either side: TLS 1.0 and 1.1
// are deprecated (RFC 8996).
const MinVersion = tls.VersionTLS12

// Files names the PEM files of one TLS setup. Empty names are unset.
type Files struct {
	CertFile string // this side's certificate (chain)
	KeyFile  string // its private key
	// CAFile verifies the servers this side connects to; "" means the
	// system's roots.
	CAFile string
	// ClientCAFile, on a server, turns on mutual TLS: clients must present
	// a certificate signed by one of these CAs.
	ClientCAFile string
}

// With returns f with every file o names taking o's place: a node's own
// settings over the cluster's shared ones.
func (f Files) With(o Files) Files {
	for _, p := range []struct{ dst, src *string }{
		{&f.CertFile, &o.CertFile}, {&f.KeyFile, &o.KeyFile}, {&f.CAFile, &o.CAFile}, {&f.ClientCAFile, &o.ClientCAFile},
	} {
		if *p.src != "" {
			*p.dst = *p.src
		}
	}
	return f
}

// LoadKeyPair reads a certificate and its key and checks that they match.
func LoadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := readFile(certFile)
	if err != nil {
		return nil, err
	}
	keyPEM, err := readFile(keyFile)
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s and %s are not a certificate and its key: %w", certFile, keyFile, err)
	}
	return &cert, nil
}

// LoadCAPool reads the PEM certificates in path; a file with none is an
// error, since it would make every peer fail verification.
func LoadCAPool(path string) (*x509.CertPool, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// Check loads every file f names, as a server or client would at start,
// and reports the first problem.
func (f Files) Check() error {
	if f.CertFile != "" || f.KeyFile != "" {
		if _, err := LoadKeyPair(f.CertFile, f.KeyFile); err != nil {
			return err
		}
	}
	for _, ca := range []string{f.CAFile, f.ClientCAFile} {
		if ca == "" {
			continue
		}
		if _, err := LoadCAPool(ca); err != nil {
			return err
		}
	}
	return nil
}

func readFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPathError(err))
	}
	return data, nil
}

// unwrapPathError drops the *fs.PathError wrapper, whose message would
// repeat the path the caller already prints.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
