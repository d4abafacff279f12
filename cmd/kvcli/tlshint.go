package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
)

// tlsHint names the flag that fixes a TLS failure, "" for other errors.
func tlsHint(err error) string {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	// A node's refusal arrives as a TLS alert, whose type crypto/tls does
	// not export over TCP: only its text tells which.
	msg := err.Error()
	switch {
	case errors.As(err, &unknown):
		return "the nodes' certificates are signed by a CA this client does not trust: give it with --cacert"
	case errors.As(err, &hostname):
		return "the node's certificate does not name the address used: connect by a name or IP it lists, or reissue it"
	case errors.As(err, &verify):
		return "the node's certificate did not verify; check --cacert"
	case strings.Contains(msg, "remote error: tls: certificate required"),
		strings.Contains(msg, "remote error: tls: bad certificate"),
		strings.Contains(msg, "remote error: tls: unknown certificate authority"):
		// Under TLS 1.3 a client holding a certificate of another CA sends
		// none, so "required" may also mean "not one of theirs".
		return "the nodes require a client certificate signed by their client CA: give it with --cert and --key"
	case strings.Contains(msg, "Client sent an HTTP request to an HTTPS server"):
		return "the nodes serve HTTPS: use https:// endpoints, or host:port with --cacert"
	case strings.Contains(msg, "server gave HTTP response to HTTPS client"):
		return "the nodes serve plain HTTP: use http:// endpoints and no TLS flags"
	}
	return ""
}
