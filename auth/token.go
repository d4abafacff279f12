// Package auth holds raftkv's API tokens: the roles they carry, the tokens
// file that lists them (hashes only, never the tokens), and the
// constant-time matching of a presented token against that list. It is a
// leaf package: config reads the file through it, api checks requests
// with it.
package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Role is what a token may do. Roles are ordered: each covers the ones
// below it.
type Role uint8

const (
	// RoleNone is no role: an open route needs it, no token has it.
	RoleNone Role = iota
	RoleRead
	RoleWrite
	RoleAdmin
)

var roleNames = [...]string{RoleNone: "none", RoleRead: "read", RoleWrite: "write", RoleAdmin: "admin"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", r)
}

// Covers reports whether a token of role r may do what needs role need.
func (r Role) Covers(need Role) bool { return r >= need }

// ParseRole reads "read", "write" or "admin".
func ParseRole(s string) (Role, error) {
	for r, name := range roleNames {
		if r != int(RoleNone) && s == name {
			return Role(r), nil
		}
	}
	return RoleNone, fmt.Errorf("role %q: want read, write or admin", s)
}

// Token is one entry of the tokens file. The token itself is never kept:
// only its SHA-256, which is what a presented token is compared with.
type Token struct {
	Name string
	Hash [sha256.Size]byte
	Role Role
	// Prefix, when not empty, limits the token to keys that start with it.
	Prefix string
}

// Hash returns the SHA-256 of a token, the form the tokens file keeps.
func Hash(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

// fileEntry is one entry as written in the tokens file.
type fileEntry struct {
	Name        string  `json:"name"`
	TokenSHA256 string  `json:"token_sha256"`
	Role        string  `json:"role"`
	Prefix      *string `json:"prefix"`
}

// ParseTokens decodes and checks a tokens file: a JSON array of
// {"name", "token_sha256", "role", "prefix"?}. Errors are one line, naming
// the entry at fault (name is the file, for the message).
func ParseTokens(name string, data []byte) ([]Token, error) {
	var entries []fileEntry
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("%s: want a JSON array of {\"name\", \"token_sha256\", \"role\", \"prefix\"}: %v", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: unexpected data after the array", name)
	}
	if len(entries) == 0 {
		// An empty list would lock every client out; that is never meant.
		return nil, fmt.Errorf("%s: no tokens; list at least one (or leave auth.tokens_file out to serve without tokens)", name)
	}
	tokens := make([]Token, 0, len(entries))
	names := map[string]int{}
	hashes := map[[sha256.Size]byte]int{}
	for i, e := range entries {
		t, err := e.token()
		if err != nil {
			return nil, fmt.Errorf("%s: entry %d: %w", name, i, err)
		}
		if j, ok := names[t.Name]; ok {
			return nil, fmt.Errorf("%s: entry %d: name %q duplicates entry %d", name, i, t.Name, j)
		}
		if j, ok := hashes[t.Hash]; ok {
			// Two names for one token: a request could not tell who it is.
			return nil, fmt.Errorf("%s: entry %d (%q): token_sha256 duplicates entry %d (%q)", name, i, t.Name, j, entries[j].Name)
		}
		names[t.Name], hashes[t.Hash] = i, i
		tokens = append(tokens, t)
	}
	return tokens, nil
}

func (e fileEntry) token() (Token, error) {
	t := Token{Name: e.Name}
	switch {
	case e.Name == "":
		return t, errors.New("name is missing or empty")
	case strings.ContainsAny(e.Name, ":\r\n") || strings.TrimSpace(e.Name) != e.Name:
		// A colon would break basic auth's name:token.
		return t, fmt.Errorf("name %q: no colons, newlines or surrounding spaces", e.Name)
	}
	raw, err := hex.DecodeString(e.TokenSHA256)
	if err != nil || len(raw) != sha256.Size {
		return t, fmt.Errorf("%q: token_sha256 must be 64 hex digits (sha256sum of the token)", e.Name)
	}
	copy(t.Hash[:], raw)
	if t.Hash == Hash("") {
		// sha256sum of an empty input: a request with an empty token
		// would match it.
		return t, fmt.Errorf("%q: token_sha256 is the hash of the empty token (was the token piped in empty?)", e.Name)
	}
	if t.Role, err = ParseRole(e.Role); err != nil {
		return t, fmt.Errorf("%q: %w", e.Name, err)
	}
	if e.Prefix != nil {
		if *e.Prefix == "" {
			return t, fmt.Errorf("%q: prefix is empty; leave it out for a token that covers every key", e.Name)
		}
		if t.Role == RoleAdmin {
			// Admin routes (backups, snapshots) see the whole store.
			return t, fmt.Errorf("%q: an admin token covers every key; prefix is for read and write tokens", e.Name)
		}
		t.Prefix = *e.Prefix
	}
	return t, nil
}
