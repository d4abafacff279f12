package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/raftkv/raftkv/auth"
)

// AuthOptions turns on API tokens. See access.go for what each route
// needs and README.md's Security section for the whole picture.
type AuthOptions struct {
	Tokens []auth.Token
	// NodeToken is presented on this node's own calls to other nodes
	// (cluster status); an admin token of Tokens.
	NodeToken      string
	ProtectMetrics bool
	ProtectUI      bool
}

const (
	authorizationHeader = "Authorization"
	// tokenKey is where checkAccess leaves the request's auth.Token.
	tokenKey = "raftkv.token"
)

// queryTokenParams are where some APIs take tokens from. Never here: a URL
// ends up in proxy logs, browser history and Referer headers.
var queryTokenParams = []string{"token", "access_token"}

// SetTokens replaces the tokens checked from the next request on (a
// SIGHUP reload). It does nothing on a server started without tokens:
// turning them on needs a restart, so that what a node enforces is always
// what its start-up said.
func (s *Server) SetTokens(tokens []auth.Token) {
	if s.tokens.Load() != nil {
		s.tokens.Store(auth.NewSet(tokens))
	}
}

// checkAccess authenticates the request and checks its token's role and
// prefix against what the route needs (routeAccess). It runs after
// routing, so c.FullPath() names the route.
func (s *Server) checkAccess(c *gin.Context) {
	set := s.tokens.Load()
	if set == nil {
		c.Next()
		return
	}
	if refuseQueryToken(c) {
		return
	}
	route := c.Request.Method + " " + c.FullPath()
	a, ok := routeAccess[route]
	if !ok {
		a, route = unlisted, c.Request.Method+" "+c.Request.URL.Path
	}
	need := s.needed(a)
	if need == auth.RoleNone {
		c.Next()
		return
	}
	tok, why := identify(c.Request, set)
	if why != "" {
		unauthorized(c, why, a.toggle == toggleUI)
		return
	}
	if !tok.Role.Covers(need) {
		abortError(c, http.StatusForbidden, fmt.Sprintf("token %q has the %s role; %s needs %s", tok.Name, tok.Role, route, need))
		return
	}
	if key, ok := outOfScope(c, a.scope, tok); !ok {
		abortOutOfScope(c, tok, key)
		return
	}
	c.Set(tokenKey, tok)
	c.Next()
}

// refuseQueryToken answers 400 to a request with a token in its query
// string, even when a good header came with it: that token has leaked
// already (proxy logs, history), and its owner must learn so.
func refuseQueryToken(c *gin.Context) bool {
	q := c.Request.URL.Query()
	for _, p := range queryTokenParams {
		if q.Has(p) {
			abortError(c, http.StatusBadRequest, "?"+p+"= is refused: send the token in the Authorization header (Bearer or basic), never in the URL")
			return true
		}
	}
	return false
}

// nodeCredentials adds this node's own token to a request it makes of a
// peer, when tokens are on. Peers read the same tokens file, so they
// know it.
func (s *Server) nodeCredentials(req *http.Request) {
	if a := s.opts.Auth; a != nil && a.NodeToken != "" {
		req.Header.Set(authorizationHeader, "Bearer "+a.NodeToken)
	}
}

// needed is the role a route needs, its switch considered.
func (s *Server) needed(a access) auth.Role {
	switch {
	case a.toggle == toggleMetrics && s.opts.Auth.ProtectMetrics,
		a.toggle == toggleUI && s.opts.Auth.ProtectUI:
		return auth.RoleRead
	}
	return a.role
}

// identify finds the request's token: "Authorization: Bearer <token>" or
// basic auth with the entry's name and the token as password (curl -u).
// why, when not empty, says what was wrong, never quoting the token.
func identify(r *http.Request, set *auth.Set) (auth.Token, string) {
	h := r.Header.Get(authorizationHeader)
	if h == "" {
		return auth.Token{}, "no token: send Authorization: Bearer <token>"
	}
	name, secret := "", ""
	scheme, rest, _ := strings.Cut(h, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		secret = strings.TrimSpace(rest)
	case strings.EqualFold(scheme, "Basic"):
		user, pass, ok := r.BasicAuth()
		if !ok || user == "" {
			return auth.Token{}, "malformed basic auth: give the token's name and the token (curl -u name:token)"
		}
		name, secret = user, pass
	default:
		return auth.Token{}, "unsupported Authorization scheme: use Bearer <token> or basic auth"
	}
	tok, ok := set.Match(name, secret)
	if !ok {
		return auth.Token{}, "invalid token"
	}
	return tok, ""
}

// unauthorized answers 401 with the challenge: basic for the dashboard's
// files, so a browser asks for a name and token; bearer elsewhere, which a
// browser does not turn into a login dialog over the dashboard's own
// requests.
func unauthorized(c *gin.Context, why string, basic bool) {
	scheme := "Bearer"
	if basic {
		scheme = "Basic"
	}
	c.Header("WWW-Authenticate", scheme+` realm="raftkv"`)
	abortError(c, http.StatusUnauthorized, why)
}

// outOfScope returns the first key (or prefix) a request touches outside
// the token's prefix, and false; or true when all are within.
func outOfScope(c *gin.Context, sc scope, tok auth.Token) (string, bool) {
	if tok.Prefix == "" {
		return "", true
	}
	var key string
	switch sc {
	case scopeNone, scopeHandler:
		return "", true
	case scopePath:
		key = strings.TrimPrefix(c.Param("key"), "/")
	case scopeListPrefix:
		key = c.Query("prefix")
	case scopeEverything:
		key = ""
	}
	return key, strings.HasPrefix(key, tok.Prefix)
}

func abortOutOfScope(c *gin.Context, tok auth.Token, key string) {
	what := fmt.Sprintf("key %q", key)
	if key == "" {
		what = "every key"
	}
	abortError(c, http.StatusForbidden, fmt.Sprintf("token %q covers keys under %q only; this request reaches %s", tok.Name, tok.Prefix, what))
}

// allowKeys checks keys a handler found (a transaction's, a lease's)
// against the request's token, or answers 403.
func allowKeys(c *gin.Context, keys ...[]byte) bool {
	v, ok := c.Get(tokenKey)
	if !ok {
		return true // tokens are off
	}
	tok := v.(auth.Token)
	if tok.Prefix == "" {
		return true
	}
	for _, k := range keys {
		if !strings.HasPrefix(string(k), tok.Prefix) {
			abortOutOfScope(c, tok, string(k))
			return false
		}
	}
	return true
}
