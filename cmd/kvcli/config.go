package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
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
		HTTPAddr string `json:"http_addr"`
	} `json:"nodes"`
}

// resolveEndpoints returns the --endpoints list, or else the nodes' http
// addresses from the config file at path, or else the fallback.
func resolveEndpoints(flag, path string) ([]string, error) {
	if flag != "" {
		var eps []string
		for _, e := range strings.Split(flag, ",") {
			if e = strings.TrimSpace(e); e != "" {
				eps = append(eps, e)
			}
		}
		if len(eps) == 0 {
			return nil, fmt.Errorf("--endpoints %q names no endpoint", flag)
		}
		return eps, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return []string{fallbackEndpoint}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var cf clusterFile
	if err := json.Unmarshal(data, &cf); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	var eps []string
	for i, n := range cf.Nodes {
		if n.HTTPAddr == "" {
			return nil, fmt.Errorf("%s: nodes[%d] has no http_addr", path, i)
		}
		eps = append(eps, n.HTTPAddr)
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("%s lists no nodes; pass --endpoints", path)
	}
	return eps, nil
}
