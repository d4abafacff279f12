package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/raftkv/raftkv/internal/tlsconf"
)

const (
	configPath       = "config.json"
	fallbackEndpoint = "http://127.0.0.1:8000"
)

// clusterFile is the little of config.json kvcli needs. It is parsed here,
// leniently, rather than with package config: a client should not refuse to
// run because of a server-side setting it does not use.
type clusterFile struct {
	Nodes []struct {
		HTTPAddr string   `json:"http_addr"`
		TLS      *fileTLS `json:"tls"`
	} `json:"nodes"`
	TLS *fileTLS `json:"tls"`
}

// fileTLS is config.json's tls object (see package config).
type fileTLS struct {
	CertFile     string `json:"cert_file"`
	KeyFile      string `json:"key_file"`
	CAFile       string `json:"ca_file"`
	ClientCAFile string `json:"client_ca_file"`
}

// target is where kvcli connects and how.
type target struct {
	endpoints []string
	// tls, when set, makes the client speak HTTPS with these files.
	tls *tlsconf.Files
}

// resolveTarget returns the --endpoints list, or else the nodes' http
// addresses from the config file at path, or else the fallback. The TLS
// files are the flags' over config.json's, when that file gave the
// endpoints and its nodes serve HTTPS.
func resolveTarget(flag string, tf tlsconf.Files, path string) (target, error) {
	var t target
	if tf != (tlsconf.Files{}) {
		t.tls = &tf
	}
	if flag != "" {
		for _, e := range strings.Split(flag, ",") {
			if e = strings.TrimSpace(e); e != "" {
				t.endpoints = append(t.endpoints, e)
			}
		}
		if len(t.endpoints) == 0 {
			return target{}, fmt.Errorf("--endpoints %q names no endpoint", flag)
		}
		return t, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.endpoints = []string{fallbackEndpoint}
		return t, nil
	}
	if err != nil {
		return target{}, fmt.Errorf("read %s: %w", path, err)
	}
	var cf clusterFile
	if err := json.Unmarshal(data, &cf); err != nil {
		return target{}, fmt.Errorf("parse %s: %w", path, err)
	}
	for i, n := range cf.Nodes {
		if n.HTTPAddr == "" {
			return target{}, fmt.Errorf("%s: nodes[%d] has no http_addr", path, i)
		}
		t.endpoints = append(t.endpoints, n.HTTPAddr)
	}
	if len(t.endpoints) == 0 {
		return target{}, fmt.Errorf("%s lists no nodes; pass --endpoints", path)
	}
	if fromFile := cf.clientTLS(filepath.Dir(path)); fromFile != nil {
		merged := fromFile.With(tf)
		t.tls = &merged
	}
	return t, nil
}

// clientTLS is how kvcli reaches the nodes of this file: nil when they
// serve plain HTTP. It verifies them with ca_file and, when they require
// client certificates (client_ca_file), presents the first node's own
// certificate: kvcli run on a node's host with that node's config acts
// with its identity. The shared tls and nodes[0].tls merge as for the
// node. Relative paths are relative to the file's directory.
func (cf *clusterFile) clientTLS(dir string) *tlsconf.Files {
	var t tlsconf.Files
	if cf.TLS != nil {
		t = tlsconf.Files(*cf.TLS)
	}
	if o := cf.Nodes[0].TLS; o != nil {
		t = t.With(tlsconf.Files(*o))
	}
	if t.CertFile == "" {
		return nil
	}
	files := &tlsconf.Files{CAFile: inDir(dir, t.CAFile)}
	if t.ClientCAFile != "" {
		files.CertFile, files.KeyFile = inDir(dir, t.CertFile), inDir(dir, t.KeyFile)
	}
	return files
}

func inDir(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}
