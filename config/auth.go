package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/raftkv/raftkv/auth"
)

// maxTokensFileBytes bounds the tokens file (and the node token file): a
// few thousand entries, far more than any deployment lists.
const maxTokensFileBytes = 1 << 20

// AuthConfig turns on API tokens (config.json's "auth").
type AuthConfig struct {
	TokensFile string `json:"tokens_file" config:"required" doc:"the tokens: name, SHA-256, role and prefix of each"`
	// The node token is how a node gets past the tokens of the others:
	// joining, recording its incarnation and collecting the cluster status
	// all call the API, of another node or its own.
	NodeTokenFile string `json:"node_token_file" config:"required" doc:"the token this node presents when it calls the API of another node or its own, on one line; it must be an admin entry of 'tokens_file'"`
	// Metrics and the dashboard's files are open unless asked otherwise:
	// they hold no keys or values (the dashboard's data stream does, and
	// always needs a token).
	ProtectMetrics bool `json:"protect_metrics,omitempty" default:"false" doc:"'GET /metrics' needs a read token"`
	ProtectUI      bool `json:"protect_ui,omitempty" default:"false" doc:"the dashboard's files need a read token (its data stream always does)"`

	// Loaded from the files by Load/Parse; never marshalled.
	Tokens    []auth.Token `json:"-"`
	NodeToken string       `json:"-"`
}

// Enabled reports whether the API asks for tokens.
func (a *AuthConfig) Enabled() bool { return a != nil && a.TokensFile != "" }

// TokensPath and NodeTokenPath are the files' paths, relative ones taken
// from the config file's directory (they are deployed beside it).
func (c *Config) TokensPath() string    { return c.relative(c.Auth.TokensFile) }
func (c *Config) NodeTokenPath() string { return c.relative(c.Auth.NodeTokenFile) }

func (c *Config) relative(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// loadAuth reads the tokens and the node token, and checks that the node
// token is an admin entry: without it, joining and cluster status fail.
func (c *Config) loadAuth() error {
	a := c.Auth
	if a == nil {
		return nil
	}
	switch {
	case strings.TrimSpace(a.TokensFile) == "":
		return errors.New("auth.tokens_file is empty")
	case strings.TrimSpace(a.NodeTokenFile) == "":
		return errors.New("auth.node_token_file is empty")
	}
	tokens, err := c.LoadTokens()
	if err != nil {
		return err
	}
	nodeToken, err := readSmallFile(c.NodeTokenPath())
	if err != nil {
		return fmt.Errorf("auth.node_token_file: %w", err)
	}
	tok := strings.TrimSpace(string(nodeToken))
	if tok == "" {
		return fmt.Errorf("auth.node_token_file: %s is empty; it holds this node's token", c.NodeTokenPath())
	}
	entry, ok := auth.NewSet(tokens).Match("", tok)
	switch {
	case !ok:
		return fmt.Errorf("auth.node_token_file: the token in %s matches no entry of %s", c.NodeTokenPath(), c.TokensPath())
	case entry.Role != auth.RoleAdmin:
		return fmt.Errorf("auth.node_token_file: the token in %s is %q, role %s; nodes need an admin token", c.NodeTokenPath(), entry.Name, entry.Role)
	}
	a.Tokens, a.NodeToken = tokens, tok
	return nil
}

// LoadTokens reads and checks the tokens file again (a node reloads it on
// SIGHUP).
func (c *Config) LoadTokens() ([]auth.Token, error) {
	path := c.TokensPath()
	data, err := readSmallFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth.tokens_file: %w", err)
	}
	return auth.ParseTokens(path, data)
}

func readSmallFile(path string) ([]byte, error) {
	data, err := readLimited(path, maxTokensFileBytes)
	if errors.Is(err, errTooLarge) {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxTokensFileBytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}
