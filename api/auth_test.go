package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftkv/raftkv/auth"
	"github.com/raftkv/raftkv/internal/syncbuf"
)

// cred is one way a test request presents itself.
type cred struct {
	name   string
	header string    // the Authorization header; "" sends none
	role   auth.Role // what it may do (RoleNone: no valid token)
	prefix string    // the token's prefix
}

// The test tokens. Their secrets are distinctive so that a leak into a
// log or an error is easy to spot.
const (
	secretRead    = "s3cret-read-9f1c"
	secretWrite   = "s3cret-write-27ab"
	secretAdmin   = "s3cret-admin-c0de"
	secretReadIn  = "s3cret-readapp-5511"
	secretWriteIn = "s3cret-writeapp-0707"
	secretNode    = "s3cret-node-4242"
)

var allSecrets = []string{secretRead, secretWrite, secretAdmin, secretReadIn, secretWriteIn, secretNode}

func testTokens() []auth.Token {
	return []auth.Token{
		{Name: "reader", Hash: auth.Hash(secretRead), Role: auth.RoleRead},
		{Name: "writer", Hash: auth.Hash(secretWrite), Role: auth.RoleWrite},
		{Name: "ops", Hash: auth.Hash(secretAdmin), Role: auth.RoleAdmin},
		{Name: "app-reader", Hash: auth.Hash(secretReadIn), Role: auth.RoleRead, Prefix: "app/"},
		{Name: "app-writer", Hash: auth.Hash(secretWriteIn), Role: auth.RoleWrite, Prefix: "app/"},
		{Name: "node", Hash: auth.Hash(secretNode), Role: auth.RoleAdmin},
	}
}

func bearer(secret string) string { return "Bearer " + secret }

func basic(name, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(name+":"+secret))
}

var creds = []cred{
	{name: "none"},
	{name: "bad token", header: bearer("not-a-token")},
	{name: "read", header: bearer(secretRead), role: auth.RoleRead},
	{name: "write", header: bearer(secretWrite), role: auth.RoleWrite},
	{name: "admin", header: bearer(secretAdmin), role: auth.RoleAdmin},
	{name: "read app/", header: bearer(secretReadIn), role: auth.RoleRead, prefix: "app/"},
	{name: "write app/", header: basic("app-writer", secretWriteIn), role: auth.RoleWrite, prefix: "app/"},
}

func authOptions() *AuthOptions {
	return &AuthOptions{Tokens: testTokens(), NodeToken: secretNode, ProtectMetrics: true, ProtectUI: true}
}

// routeCase is a concrete request for one route: in stays within the
// prefix app/, out (for routes that touch keys) reaches beyond it.
type routeCase struct {
	in, out request
	// stream marks routes that stream until the client goes: they are sent
	// with a context already cancelled, so they answer and end.
	stream bool
	// want is the status of the first request that passes the check, on
	// the node itself (0: anything but 401 and 403).
	want int
}

// pick is the request within the prefix, or the one beyond it. Bodies
// are readers, read once: take a fresh routeCases for every request.
func (rc routeCase) pick(out bool) request {
	if out {
		return rc.out
	}
	return rc.in
}

func body(s string) io.Reader { return strings.NewReader(s) }

// routeCases gives each route of routeAccess a request; A and B are
// leases whose keys lie within app/ and beyond it.
func routeCases(a, b uint64) map[string]routeCase {
	lease := func(method string, id uint64, suffix string) request {
		return request{method: method, target: fmt.Sprintf("/v1/leases/%d%s", id, suffix)}
	}
	txn := func(extra string) request {
		return request{method: http.MethodPost, target: "/v1/txn", body: body(`{"success":[{"op":"put","key":"app/t","value":"1"}]` + extra + `}`)}
	}
	get := func(target string) request { return request{method: http.MethodGet, target: target} }
	return map[string]routeCase{
		"GET /healthz": {in: get("/healthz"), want: 200},
		"GET /readyz":  {in: get("/readyz")},
		"GET /metrics": {in: get("/metrics"), want: 200},

		"GET /v1/status":          {in: get("/v1/status"), want: 200},
		"GET /v1/cluster/members": {in: get("/v1/cluster/members"), want: 200},

		"GET /v1/kv":         {in: get("/v1/kv?prefix=app/"), out: get("/v1/kv"), want: 200},
		"GET /v1/kv/*key":    {in: get("/v1/kv/app/k"), out: get("/v1/kv/other/k"), want: 200},
		"GET /v1/watch/*key": {in: get("/v1/watch/app/?prefix=true"), out: get("/v1/watch/?prefix=true"), stream: true, want: 200},
		"PUT /v1/kv/*key": {in: request{method: http.MethodPut, target: "/v1/kv/app/new", body: body("v")},
			out: request{method: http.MethodPut, target: "/v1/kv/other/new", body: body("v")}, want: 200},
		"DELETE /v1/kv/*key": {in: request{method: http.MethodDelete, target: "/v1/kv/app/k"},
			out: request{method: http.MethodDelete, target: "/v1/kv/other/k"}, want: 200},
		"POST /v1/txn": {in: txn(""), out: txn(`,"failure":[{"op":"get","key":"other/k"}]`), want: 200},

		"GET /v1/leases/:id":            {in: lease(http.MethodGet, a, ""), out: lease(http.MethodGet, b, ""), want: 200},
		"DELETE /v1/leases/:id":         {in: lease(http.MethodDelete, a, ""), out: lease(http.MethodDelete, b, ""), want: 200},
		"POST /v1/leases":               {in: request{method: http.MethodPost, target: "/v1/leases", body: body(`{"ttl_s": 10}`)}, want: 200},
		"POST /v1/leases/:id/keepalive": {in: lease(http.MethodPost, b, "/keepalive"), want: 200},

		"POST /v1/cluster/transfer-leader": {in: request{method: http.MethodPost, target: "/v1/cluster/transfer-leader"}},
		"POST /v1/cluster/members": {in: request{method: http.MethodPost, target: "/v1/cluster/members",
			body: body(`{"id": 5, "raft_addr": "tcp://127.0.0.1:7005", "http_addr": "127.0.0.1:8005"}`)}},
		"POST /v1/cluster/members/:id/promote": {in: request{method: http.MethodPost, target: "/v1/cluster/members/5/promote"}},
		"POST /v1/cluster/members/:id/incarnation": {in: request{method: http.MethodPost, target: "/v1/cluster/members/0/incarnation",
			body: body(`{"incarnation": 7}`)}},
		"DELETE /v1/cluster/members/:id": {in: request{method: http.MethodDelete, target: "/v1/cluster/members/5"}},
		"POST /v1/admin/snapshot":        {in: request{method: http.MethodPost, target: "/v1/admin/snapshot"}},
		"GET /v1/admin/backup":           {in: get("/v1/admin/backup")},

		"GET /":              {in: get("/"), want: http.StatusFound},
		"GET /ui":            {in: get("/ui"), want: http.StatusFound},
		"GET /ui/*filepath":  {in: get("/ui/"), want: 200},
		"HEAD /ui/*filepath": {in: request{method: http.MethodHead, target: "/ui/app.js"}, want: 200},
		"GET /v1/events":     {in: get("/v1/events"), stream: true, want: 200},
	}
}

// expect is the check's verdict for c on a route: 401, 403, or 0 (passes).
func expect(a access, c cred, outOfPrefix bool) int {
	need := a.role
	if a.toggle != toggleNone {
		need = auth.RoleRead // authOptions turns both switches on
	}
	switch {
	case need == auth.RoleNone:
		return 0
	case c.role == auth.RoleNone:
		return http.StatusUnauthorized
	case !c.role.Covers(need):
		return http.StatusForbidden
	case c.prefix != "" && (outOfPrefix || a.scope == scopeEverything):
		return http.StatusForbidden
	}
	return 0
}

// authFixture is a leader over a real store, with tokens on, holding
// app/k and other/k, lease A (on app/l) and lease B (on other/l).
type authFixture struct {
	n    *storeNode
	srv  *Server
	h    http.Handler
	a, b uint64
}

func newAuthFixture(t *testing.T, opts Options) *authFixture {
	t.Helper()
	n := newStoreNode(t)
	n.withMembers(map[uint64]string{0: "127.0.0.1:1"})
	opts.Auth, opts.Metrics, opts.MinLeaseTTL = authOptions(), &fakeMetrics{}, time.Second
	f := &authFixture{n: n, srv: newTestServer(t, opts, n, n.st)}
	f.h = f.srv.Handler()
	as := map[string]string{"Authorization": bearer(secretAdmin)}
	for _, k := range []string{"app/k", "other/k"} {
		mustServe(t, f.h, request{method: http.MethodPut, target: "/v1/kv/" + k, body: body("v"), header: as})
	}
	f.a, f.b = f.leaseOn(t, "app/l"), f.leaseOn(t, "other/l")
	return f
}

func (f *authFixture) leaseOn(t *testing.T, key string) uint64 {
	t.Helper()
	as := map[string]string{"Authorization": bearer(secretAdmin)}
	rec := mustServe(t, f.h, request{method: http.MethodPost, target: "/v1/leases", body: body(`{"ttl_s": 60}`), header: as})
	var l struct{ ID uint64 }
	if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil || l.ID == 0 {
		t.Fatalf("grant: %s", rec.Body)
	}
	mustServe(t, f.h, request{method: http.MethodPut, target: fmt.Sprintf("/v1/kv/%s?lease=%d", key, l.ID), body: body("v"), header: as})
	return l.ID
}

func mustServe(t *testing.T, h http.Handler, r request) *httptest.ResponseRecorder {
	t.Helper()
	rec := serve(t, h, r)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s %s: %d %s", r.method, r.target, rec.Code, rec.Body)
	}
	return rec
}

// send serves r with c's credentials; a stream is sent already cancelled.
func send(t *testing.T, h http.Handler, r request, c cred, stream bool) *httptest.ResponseRecorder {
	t.Helper()
	var b []byte
	if r.body != nil {
		b, _ = io.ReadAll(r.body)
	}
	req := httptest.NewRequest(r.method, r.target, bytes.NewReader(b))
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	if c.header != "" {
		req.Header.Set("Authorization", c.header)
	}
	if stream {
		ctx, cancel := context.WithCancel(req.Context())
		cancel()
		req = req.WithContext(ctx)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// attempt is one credential on one variant of a route's request.
type attempt struct {
	c   cred
	out bool
}

// attempts orders the tries so that those the check refuses come first:
// they must find the fixture as it was made, and change nothing.
func attempts(rc routeCase, a access) []attempt {
	var refused, passed []attempt
	for _, c := range creds {
		variants := []attempt{{c, false}}
		if c.prefix != "" && rc.out.method != "" {
			variants = append(variants, attempt{c, true})
		}
		for _, v := range variants {
			if expect(a, v.c, v.out) != 0 {
				refused = append(refused, v)
			} else {
				passed = append(passed, v)
			}
		}
	}
	return append(refused, passed...)
}

func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, want int, c cred) {
	t.Helper()
	switch {
	case want == 0 && (rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden):
		t.Fatalf("%s: %d %s; want it let through", c.name, rec.Code, rec.Body)
	case want != 0 && rec.Code != want:
		t.Fatalf("%s: %d %s; want %d", c.name, rec.Code, rec.Body, want)
	case want == http.StatusUnauthorized:
		if got := rec.Header().Get("WWW-Authenticate"); !strings.HasSuffix(got, ` realm="raftkv"`) {
			t.Fatalf("%s: 401 with WWW-Authenticate %q", c.name, got)
		}
		errorMessage(t, rec)
	case want == http.StatusForbidden:
		if msg := errorMessage(t, rec); !strings.Contains(msg, "token ") {
			t.Fatalf("%s: 403 %q does not say what the token lacks", c.name, msg)
		}
	}
}

// TestAccessByRoleAndPrefix sends every route of routeAccess every kind of
// credential, within the prefix app/ and beyond it, and checks for 401,
// 403, or the route's own answer.
func TestAccessByRoleAndPrefix(t *testing.T) {
	for route, a := range routeAccess {
		t.Run(route, func(t *testing.T) {
			f := newAuthFixture(t, Options{})
			rc, ok := routeCases(f.a, f.b)[route]
			if !ok {
				t.Fatalf("no request for %s in routeCases", route)
			}
			first := true
			for _, at := range attempts(rc, a) {
				r := routeCases(f.a, f.b)[route].pick(at.out)
				want := expect(a, at.c, at.out)
				rec := send(t, f.h, r, at.c, rc.stream)
				if want == 0 && first && rc.want != 0 {
					want, first = rc.want, false
				}
				checkAnswer(t, rec, want, at.c)
			}
		})
	}
}

// TestAccessThroughFollower: a follower checks the token, then forwards
// to the leader, which checks it again. What the follower refuses never
// reaches the leader; what it lets through carries the token there.
func TestAccessThroughFollower(t *testing.T) {
	for route, a := range routeAccess {
		t.Run(route, func(t *testing.T) {
			f := newAuthFixture(t, Options{NodeID: 0})
			c := newCluster(t, f.h, Options{Auth: authOptions(), Metrics: &fakeMetrics{}})
			rc := routeCases(f.a, f.b)[route]
			for _, at := range attempts(rc, a) {
				r := routeCases(f.a, f.b)[route].pick(at.out)
				before := len(c.seen.all())
				rec := send(t, c.followerH, r, at.c, rc.stream)
				want := expect(a, at.c, at.out)
				checkAnswer(t, rec, want, at.c)
				reached := c.seen.all()[before:]
				// A lease's keys are known where the lease is: the leader
				// refuses those beyond the prefix.
				leaderChecks := a.scope == scopeHandler && at.out
				if want != 0 && len(reached) > 0 && !leaderChecks {
					t.Fatalf("%s: refused by the follower, yet the leader saw %+v", at.c.name, reached)
				}
			}
		})
	}
}

// The leader checks a forwarded request as any other: the forwarding
// header is no way around the token.
func TestForwardedRequestNeedsToken(t *testing.T) {
	f := newAuthFixture(t, Options{})
	rec := serve(t, f.h, request{method: http.MethodPut, target: "/v1/kv/app/x", body: body("v"),
		header: map[string]string{ForwardedHeader: "1"}})
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("forwarded write without a token: %d %s", rec.Code, rec.Body)
	}
	c := newCluster(t, f.h, Options{Auth: authOptions()})
	rec = send(t, c.followerH, request{method: http.MethodPut, target: "/v1/kv/app/x", body: body("v")}, creds[6], false)
	if rec.Code != http.StatusOK {
		t.Fatalf("write through the follower: %d %s", rec.Code, rec.Body)
	}
	if got := c.seen.all(); len(got) != 1 || got[0].forwardedBy != "1" {
		t.Fatalf("leader saw %+v, want one forwarded write", got)
	}
}

// TestEveryRouteHasAccess fails when a route is registered without an
// entry in routeAccess, or an entry names no route.
func TestEveryRouteHasAccess(t *testing.T) {
	srv := newTestServer(t, Options{Metrics: &fakeMetrics{}}, newLeader(newFakeStore()), newFakeStore())
	registered := map[string]bool{}
	for _, r := range srv.engine.Routes() {
		key := r.Method + " " + r.Path
		registered[key] = true
		if _, ok := routeAccess[key]; !ok {
			t.Errorf("route %s has no entry in routeAccess (access.go)", key)
		}
	}
	for key := range routeAccess {
		if !registered[key] {
			t.Errorf("routeAccess lists %s, which is not a route", key)
		}
	}
	if _, ok := routeCases(1, 2)[""]; len(routeCases(1, 2)) != len(routeAccess) || ok {
		t.Errorf("routeCases has %d routes, routeAccess %d", len(routeCases(1, 2)), len(routeAccess))
	}
}

func TestUnknownPathsNeedToken(t *testing.T) {
	f := newAuthFixture(t, Options{})
	for _, r := range []request{{method: http.MethodGet, target: "/v2/keys"}, {method: http.MethodPost, target: "/v1/kv/app/k"}} {
		if rec := serve(t, f.h, r); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d", r.method, r.target, rec.Code)
		}
		rec := send(t, f.h, r, creds[2], false)
		if rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s with a token: %d", r.method, r.target, rec.Code)
		}
	}
}

func TestSwitchesOff(t *testing.T) {
	n := newStoreNode(t)
	opts := Options{Metrics: &fakeMetrics{}, Auth: &AuthOptions{Tokens: testTokens()}}
	h := newTestServer(t, opts, n, n.st).Handler()
	for _, target := range []string{"/metrics", "/ui/", "/healthz"} {
		if rec := serve(t, h, request{method: http.MethodGet, target: target}); rec.Code != http.StatusOK {
			t.Errorf("GET %s, switches off, no token: %d", target, rec.Code)
		}
	}
	if rec := serve(t, h, request{method: http.MethodGet, target: "/v1/events"}); rec.Code != http.StatusUnauthorized {
		t.Errorf("the dashboard's stream without a token: %d, want 401", rec.Code)
	}
}

func TestChallenges(t *testing.T) {
	f := newAuthFixture(t, Options{})
	rec := serve(t, f.h, request{method: http.MethodGet, target: "/ui/"})
	if got := rec.Header().Get("WWW-Authenticate"); rec.Code != 401 || got != `Basic realm="raftkv"` {
		t.Errorf("/ui/: %d %q; want 401 with a basic challenge, for the browser's dialog", rec.Code, got)
	}
	rec = serve(t, f.h, request{method: http.MethodGet, target: "/v1/kv/app/k"})
	if got := rec.Header().Get("WWW-Authenticate"); rec.Code != 401 || got != `Bearer realm="raftkv"` {
		t.Errorf("/v1/kv: %d %q; want 401 with a bearer challenge", rec.Code, got)
	}
	// A preflight carries no credentials and must still be answered.
	rec = serve(t, f.h, request{method: http.MethodOptions, target: "/v1/kv/app/k"})
	if rec.Code != http.StatusNoContent || !strings.Contains(rec.Header().Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d, allows %q", rec.Code, rec.Header().Get("Access-Control-Allow-Headers"))
	}
}

func TestBasicAuth(t *testing.T) {
	f := newAuthFixture(t, Options{})
	cases := []struct {
		name, header string
		want         int
	}{
		{"name and token", basic("writer", secretWrite), 200},
		{"case-insensitive bearer", "bearer " + secretWrite, 200},
		{"another entry's name", basic("reader", secretWrite), 401},
		{"no name", basic("", secretWrite), 401},
		{"name only", basic("writer", ""), 401},
		{"other scheme", "Digest username=writer", 401},
		{"bad base64", "Basic !!!", 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := send(t, f.h, request{method: http.MethodPut, target: "/v1/kv/k", body: body("v")}, cred{name: tc.name, header: tc.header}, false)
			if rec.Code != tc.want {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body, tc.want)
			}
		})
	}
}

// A token in the query string is refused, and not used, even beside a
// good header.
func TestQueryTokenRefused(t *testing.T) {
	f := newAuthFixture(t, Options{})
	for _, target := range []string{"/v1/kv/app/k?token=" + secretRead, "/v1/kv/app/k?access_token=" + secretRead, "/healthz?token=x"} {
		for _, c := range []cred{creds[0], creds[2]} {
			rec := send(t, f.h, request{method: http.MethodGet, target: target}, c, false)
			if rec.Code != http.StatusBadRequest {
				t.Errorf("GET %s (%s): %d %s, want 400", target, c.name, rec.Code, rec.Body)
			}
			if strings.Contains(rec.Body.String(), secretRead) {
				t.Errorf("the answer repeats the token: %s", rec.Body)
			}
		}
	}
}

func TestSetTokens(t *testing.T) {
	f := newAuthFixture(t, Options{})
	f.srv.SetTokens([]auth.Token{{Name: "new", Hash: auth.Hash("fresh"), Role: auth.RoleRead}})
	if rec := send(t, f.h, request{method: http.MethodGet, target: "/v1/kv/app/k"}, cred{header: bearer("fresh")}, false); rec.Code != 200 {
		t.Errorf("the new token: %d", rec.Code)
	}
	if rec := send(t, f.h, request{method: http.MethodGet, target: "/v1/kv/app/k"}, creds[2], false); rec.Code != 401 {
		t.Errorf("a token no longer listed: %d", rec.Code)
	}
	n := newStoreNode(t)
	off := newTestServer(t, Options{}, n, n.st)
	off.SetTokens(testTokens())
	if rec := serve(t, off.Handler(), request{method: http.MethodGet, target: "/v1/status"}); rec.Code != 200 {
		t.Errorf("SetTokens turned tokens on in a server started without: %d", rec.Code)
	}
}

// syncBuffer is a log destination shared by servers' goroutines.
type syncBuffer = syncbuf.Buffer

// TestTokensNeverLogged makes requests of every kind (good, bad, refused,
// forwarded, in the URL) with the logs at DEBUG, and finds no token, and
// no Authorization header, in the logs or in the answers.
func TestTokensNeverLogged(t *testing.T) {
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newAuthFixture(t, Options{NodeID: 0, Logger: logger})
	c := newCluster(t, f.h, Options{Auth: authOptions(), Logger: logger})
	var answers []string
	for _, h := range []http.Handler{f.h, c.followerH} {
		for _, cr := range append(creds, cred{name: "bad basic", header: basic("writer", secretRead)}) {
			for _, r := range []request{
				{method: http.MethodPut, target: "/v1/kv/app/x", body: body("v")},
				{method: http.MethodPut, target: "/v1/kv/other/x", body: body("v")},
				{method: http.MethodGet, target: "/v1/kv/app/x?token=" + secretAdmin},
				{method: http.MethodPost, target: "/v1/cluster/transfer-leader"},
				{method: http.MethodGet, target: "/v1/status?all=1"},
			} {
				answers = append(answers, send(t, h, r, cr, false).Body.String())
			}
		}
	}
	out := logs.String()
	if !strings.Contains(out, "http request") || !strings.Contains(out, "token_name=") {
		t.Fatalf("the requests were not logged at all: %q", out)
	}
	for _, s := range append(slices.Clone(allSecrets), "Bearer", "Basic ", "Authorization", base64.StdEncoding.EncodeToString([]byte("writer:"))) {
		if strings.Contains(out, s) {
			t.Errorf("the logs contain %q", s)
		}
		for _, a := range answers {
			if strings.Contains(a, s) && s != "Authorization" && s != "Bearer" {
				t.Errorf("an answer contains %q: %s", s, a)
			}
		}
	}
}

// The node's own calls to peers (cluster status) carry its token.
func TestClusterStatusCarriesNodeToken(t *testing.T) {
	peer := newAuthFixture(t, Options{NodeID: 0})
	c := newCluster(t, peer.h, Options{Auth: authOptions()})
	rec := send(t, c.followerH, request{method: http.MethodGet, target: "/v1/status?all=1"}, creds[2], false)
	var st struct {
		Nodes []struct {
			ID    uint64
			Up    bool
			Error string
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || rec.Code != 200 {
		t.Fatalf("status?all: %d %s", rec.Code, rec.Body)
	}
	for _, n := range st.Nodes {
		if !n.Up {
			t.Errorf("node %d is down to the follower: %s (was the node token sent?)", n.ID, n.Error)
		}
	}
}

// The dashboard sends its token in a header, never in a URL: its stream
// is read with fetch, since EventSource cannot send headers.
func TestDashboardTokenInHeader(t *testing.T) {
	js, err := uiFiles.ReadFile("ui/app.js")
	if err != nil {
		t.Fatal(err)
	}
	src := string(js)
	if !strings.Contains(src, `h.Authorization = "Bearer " + state.token`) {
		t.Error("app.js does not send the token as a Bearer header")
	}
	for _, bad := range []string{"new EventSource(", "token=", "localStorage"} {
		if strings.Contains(src, bad) {
			t.Errorf("app.js contains %q", bad)
		}
	}
}
