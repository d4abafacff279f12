package config

import (
	"fmt"

	"github.com/raftkv/raftkv/internal/tlsconf"
)

// TLS names the PEM files that make a node serve HTTPS. In the file,
// relative paths are relative to the config file's directory, so one
// config with certificates beside it works from any working directory
// (Load resolves them; Parse, with no file, leaves them to the working
// directory).
type TLS struct {
	CertFile     string `json:"cert_file,omitempty" absent:"plain HTTP" doc:"the node's certificate (chain), PEM, naming the host of its 'http_addr' (and, with 'client_ca_file', allowing client auth: nodes present it to each other); with 'key_file': both or neither"`
	KeyFile      string `json:"key_file,omitempty" absent:"plain HTTP" doc:"the certificate's key, PEM"`
	CAFile       string `json:"ca_file,omitempty" absent:"the system's roots" doc:"CA certificates that verify the other nodes when a node calls them (forwarding, joining, the cluster status)"`
	ClientCAFile string `json:"client_ca_file,omitempty" absent:"off" doc:"mutual TLS: every client, other nodes included, must present a certificate these CAs signed"`
}

// Enabled reports whether the node serves HTTPS.
func (t TLS) Enabled() bool { return t.CertFile != "" }

// Files is t for package tlsconf.
func (t TLS) Files() tlsconf.Files { return tlsconf.Files(t) }

// with returns t with every field o sets taking o's value.
func (t TLS) with(o *TLS) TLS {
	if o == nil {
		return t
	}
	return TLS(t.Files().With(o.Files()))
}

// NodeTLS is node id's TLS: the top-level tls with its nodes[i].tls over
// it. A node not among nodes (one joining with --join) gets the top-level.
func (c *Config) NodeTLS(id uint64) TLS {
	var t TLS
	if c.TLS != nil {
		t = *c.TLS
	}
	for _, n := range c.Nodes {
		if n.ID == id {
			return t.with(n.TLS)
		}
	}
	return t
}

// resolveTLSPaths makes the relative file names in every tls object
// relative to the config file's directory.
func (c *Config) resolveTLSPaths() {
	resolve := func(t *TLS) {
		if t == nil {
			return
		}
		for _, p := range []*string{&t.CertFile, &t.KeyFile, &t.CAFile, &t.ClientCAFile} {
			*p = c.relative(*p)
		}
	}
	resolve(c.TLS)
	for i := range c.Nodes {
		resolve(c.Nodes[i].TLS)
	}
}

// validateTLS checks the top-level tls and each node's, and loads their
// files as the node would at start. Every node must serve HTTPS or none:
// nodes call each other (forwarding writes, joining) with one scheme.
func (c *Config) validateTLS() error {
	if c.TLS != nil {
		if err := checkTLS("tls", *c.TLS, false); err != nil {
			return err
		}
	}
	for i, n := range c.Nodes {
		if n.TLS == nil {
			continue // the top-level's, checked above
		}
		if err := checkTLS(fmt.Sprintf("nodes[%d].tls", i), c.NodeTLS(n.ID), true); err != nil {
			return err
		}
	}
	first := c.NodeTLS(c.Nodes[0].ID).Enabled()
	for i, n := range c.Nodes[1:] {
		if c.NodeTLS(n.ID).Enabled() != first {
			on, off := 0, i+1
			if !first {
				on, off = off, on
			}
			return fmt.Errorf("nodes[%d] serves HTTPS (tls.cert_file) but nodes[%d] does not; "+
				"give every node a certificate or none, since nodes call each other", on, off)
		}
	}
	return nil
}

// checkTLS checks one tls object; whole means it is a node's complete
// setting (the top-level may leave certificates to the nodes).
func checkTLS(field string, t TLS, whole bool) error {
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		return fmt.Errorf("%s.cert_file is set but key_file is not; give both or neither", field)
	case t.KeyFile != "" && t.CertFile == "":
		return fmt.Errorf("%s.key_file is set but cert_file is not; give both or neither", field)
	case whole && t.ClientCAFile != "" && !t.Enabled():
		return fmt.Errorf("%s.client_ca_file needs cert_file and key_file (mutual TLS is part of HTTPS)", field)
	}
	if err := t.Files().Check(); err != nil {
		return fmt.Errorf("%s: %v", field, err)
	}
	return nil
}
