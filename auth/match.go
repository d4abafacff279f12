package auth

import (
	"crypto/sha256"
	"crypto/subtle"
)

// Set is a list of tokens to match presented ones against. The zero value
// matches nothing.
type Set struct {
	tokens []Token
}

// NewSet returns a Set of tokens (as ParseTokens checked them: names and
// hashes unique).
func NewSet(tokens []Token) *Set {
	return &Set{tokens: append([]Token(nil), tokens...)}
}

// Len is how many tokens the set holds.
func (s *Set) Len() int { return len(s.tokens) }

// Match returns the entry whose hash is the SHA-256 of token, when there
// is one. With name not empty (basic auth), the entry's name must be name
// too.
//
// It takes the same time whichever entry matches, or none: the presented
// token is hashed (a time that depends only on its length), then compared
// with every entry's hash by subtle.ConstantTimeCompare, without stopping
// at a match, and the choice is made with constant-time selects. So
// neither the position of a match nor how many bytes of a hash agreed
// leaks. (A map keyed by the hash would also be safe, as an attacker does
// not choose the hash's bytes, but comparing all is simpler to argue.)
func (s *Set) Match(name, token string) (Token, bool) {
	h := sha256.Sum256([]byte(token))
	found := -1
	for i := range s.tokens {
		t := &s.tokens[i]
		ok := subtle.ConstantTimeCompare(h[:], t.Hash[:])
		if name != "" {
			ok &= EqualStrings(name, t.Name)
		}
		found = subtle.ConstantTimeSelect(ok, i, found)
	}
	if found < 0 {
		return Token{}, false
	}
	return s.tokens[found], true
}

// EqualStrings compares a and b in time that depends only on their
// lengths, and returns 1 when they are equal, 0 when not.
func EqualStrings(a, b string) int {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b))
}
