package auth

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func hexHash(tok string) string {
	h := Hash(tok)
	return hex.EncodeToString(h[:])
}

func entry(name, tok, role, prefix string) string {
	p := ""
	if prefix != "" {
		p = fmt.Sprintf(`, "prefix": %q`, prefix)
	}
	return fmt.Sprintf(`{"name": %q, "token_sha256": %q, "role": %q%s}`, name, hexHash(tok), role, p)
}

func TestParseTokens(t *testing.T) {
	good := "[" + entry("ops", "t-admin", "admin", "") + "," + entry("app", "t-app", "write", "app/") + "]"
	toks, err := ParseTokens("tokens.json", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 2 || toks[0].Role != RoleAdmin || toks[1].Prefix != "app/" || toks[1].Hash != Hash("t-app") {
		t.Fatalf("parsed %+v", toks)
	}
	bad := []struct{ name, doc, want string }{
		{"not json", `{`, "want a JSON array"},
		{"object", `{}`, "want a JSON array"},
		{"empty", `[]`, "no tokens"},
		{"unknown field", `[{"name": "a", "token_sha256": "` + hexHash("x") + `", "role": "read", "extra": 1}]`, "unknown field"},
		{"raw token instead of hash", `[{"name": "a", "token_sha256": "secret", "role": "read"}]`, "64 hex digits"},
		{"short hash", `[{"name": "a", "token_sha256": "abcd", "role": "read"}]`, "64 hex digits"},
		{"unknown role", "[" + entry("a", "x", "root", "") + "]", `role "root": want read, write or admin`},
		{"no name", "[" + entry("", "x", "read", "") + "]", "name is missing"},
		{"colon in name", "[" + entry("a:b", "x", "read", "") + "]", "no colons"},
		{"duplicate name", "[" + entry("a", "x", "read", "") + "," + entry("a", "y", "read", "") + "]", `name "a" duplicates entry 0`},
		{"duplicate hash", "[" + entry("a", "x", "read", "") + "," + entry("b", "x", "write", "") + "]", "token_sha256 duplicates entry 0"},
		{"empty prefix", `[{"name": "a", "token_sha256": "` + hexHash("x") + `", "role": "read", "prefix": ""}]`, "prefix is empty"},
		{"admin with prefix", "[" + entry("a", "x", "admin", "p/") + "]", "admin token covers every key"},
		{"hash of nothing", "[" + entry("a", "", "read", "") + "]", "hash of the empty token"},
		{"trailing data", "[" + entry("a", "x", "read", "") + "] []", "after the array"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTokens("tokens.json", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "tokens.json: ") {
				t.Fatalf("error %v, want one naming tokens.json with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

// TestMatch checks the comparator's behaviour: equal, unequal, a prefix or
// extension of a token, different lengths, basic auth's name. Whether it
// takes constant time cannot be measured reliably in a unit test; Match's
// comment argues it from the primitives it uses.
func TestMatch(t *testing.T) {
	toks, err := ParseTokens("t", []byte("["+entry("r", "read-token", "read", "")+","+entry("w", "write-token", "write", "k/")+"]"))
	if err != nil {
		t.Fatal(err)
	}
	s := NewSet(toks)
	cases := []struct {
		name, user, token, want string
	}{
		{"bearer first", "", "read-token", "r"},
		{"bearer last", "", "write-token", "w"},
		{"unequal", "", "read-tokeN", ""},
		{"shorter", "", "read-toke", ""},
		{"longer", "", "read-token2", ""},
		{"empty", "", "", ""},
		{"the hash itself", "", hexHash("read-token"), ""},
		{"basic right name", "w", "write-token", "w"},
		{"basic wrong name", "r", "write-token", ""},
		{"basic name of another length", "wx", "write-token", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := s.Match(tc.user, tc.token)
			if ok != (tc.want != "") || got.Name != tc.want {
				t.Fatalf("Match(%q, %q) = %q, %v; want %q", tc.user, tc.token, got.Name, ok, tc.want)
			}
		})
	}
	if _, ok := (&Set{}).Match("", "read-token"); ok {
		t.Fatal("the empty set matched")
	}
}

func TestEqualStrings(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"abc", "abc", 1}, {"abc", "abd", 0}, {"abc", "ab", 0}, {"", "", 1}, {"", "a", 0}} {
		if got := EqualStrings(tc.a, tc.b); got != tc.want {
			t.Errorf("EqualStrings(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestRoles(t *testing.T) {
	if !RoleAdmin.Covers(RoleWrite) || !RoleWrite.Covers(RoleRead) || RoleRead.Covers(RoleWrite) || !RoleRead.Covers(RoleNone) {
		t.Fatal("roles are not ordered read < write < admin")
	}
	if _, err := ParseRole("none"); err == nil {
		t.Fatal(`"none" parsed as a role a token may have`)
	}
}
