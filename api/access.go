package api

import (
	"github.com/raftkv/raftkv/auth"
)

// What each route needs of a token, when the node asks for tokens. This is
// the one table: a route registered without an entry fails
// TestEveryRouteHasAccess, and a request to a route (or a path) it does
// not list needs a read token, so a forgotten entry is closed, not open.

// scope says which keys a route touches, for tokens limited to a prefix.
type scope uint8

const (
	// scopeNone: the route touches no key (status, members, lease grant
	// and keepalive), so a token's prefix does not limit it.
	scopeNone scope = iota
	// scopePath: the key in the path (/v1/kv/<key>; /v1/watch/<key>, the
	// watched prefix with ?prefix=true) must lie within the prefix.
	scopePath
	// scopeListPrefix: a list's ?prefix= must lie within the prefix.
	scopeListPrefix
	// scopeHandler: the keys are only known to the handler (a
	// transaction's, a lease's), which checks them with allowKeys.
	scopeHandler
	// scopeEverything: the route shows keys of the whole store (the
	// dashboard stream carries the trail), so only tokens without a prefix.
	scopeEverything
)

// toggle names a config switch that protects an otherwise open route.
type toggle uint8

const (
	toggleNone    toggle = iota
	toggleMetrics        // auth.protect_metrics
	toggleUI             // auth.protect_ui
)

// access is what a route needs: a role (auth.RoleNone: open) and the
// scope of the keys it touches; a toggled route needs a read token only
// when its switch is on.
type access struct {
	role   auth.Role
	scope  scope
	toggle toggle
}

var (
	open     = access{}
	read     = access{role: auth.RoleRead}
	write    = access{role: auth.RoleWrite}
	admin    = access{role: auth.RoleAdmin}
	switched = func(t toggle) access { return access{toggle: t} }
)

func (a access) in(s scope) access { a.scope = s; return a }

// routeAccess maps "METHOD pattern" (gin's FullPath) to its access.
var routeAccess = map[string]access{
	// Probes must work without credentials: load balancers and
	// orchestrators call them, and they tell nothing of the data.
	"GET /healthz": open,
	"GET /readyz":  open,
	"GET /metrics": switched(toggleMetrics),

	"GET /v1/status":          read,
	"GET /v1/cluster/members": read,

	"GET /v1/kv":            read.in(scopeListPrefix),
	"GET /v1/kv/*key":       read.in(scopePath),
	"GET /v1/watch/*key":    read.in(scopePath),
	"PUT /v1/kv/*key":       write.in(scopePath),
	"DELETE /v1/kv/*key":    write.in(scopePath),
	"POST /v1/txn":          write.in(scopeHandler),
	"GET /v1/leases/:id":    read.in(scopeHandler),
	"DELETE /v1/leases/:id": write.in(scopeHandler),
	// A lease holds no key of its own: granting one or keeping it alive
	// changes no key, so a prefix does not limit them. Revoking deletes
	// the lease's keys, and showing lists them: both check them.
	"POST /v1/leases":               write,
	"POST /v1/leases/:id/keepalive": write,

	"POST /v1/cluster/transfer-leader":         admin,
	"POST /v1/cluster/members":                 admin,
	"POST /v1/cluster/members/:id/promote":     admin,
	"POST /v1/cluster/members/:id/incarnation": admin,
	"DELETE /v1/cluster/members/:id":           admin,
	"POST /v1/admin/snapshot":                  admin,
	"GET /v1/admin/backup":                     admin,

	// The dashboard's files hold no data (they are the same for every
	// cluster); its stream does, every key that goes by in the trail.
	"GET /":              switched(toggleUI),
	"GET /ui":            switched(toggleUI),
	"GET /ui/*filepath":  switched(toggleUI),
	"HEAD /ui/*filepath": switched(toggleUI),
	"GET /v1/events":     read.in(scopeEverything),
}

// unlisted is what a path no route matches needs (answered 404 or 405 to
// those with a token): strangers learn nothing of what routes exist.
var unlisted = read
