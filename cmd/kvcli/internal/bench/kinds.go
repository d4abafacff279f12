package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"

	"github.com/raftkv/raftkv/api/client"
)

// Error kinds, as counted in Result.ErrorsByKind. An HTTP error answer is
// counted as "http NNN".
const (
	KindRefused    = "refused"    // nothing listens at the endpoint
	KindDial       = "dial"       // other failures to connect
	KindTimeout    = "timeout"    // no answer within the per-request timeout
	KindNotFound   = "not found"  // a read of a key that is absent
	KindConnection = "connection" // the connection broke mid-request
	KindBadAnswer  = "bad answer" // 2xx with a body the client could not use
)

// kindOf names the kind of a failed request.
func kindOf(err error) string {
	var (
		apiErr *client.APIError
		opErr  *net.OpError
		netErr net.Error
		urlErr *url.Error
	)
	switch {
	case errors.Is(err, client.ErrNotFound):
		return KindNotFound
	case errors.As(err, &apiErr):
		return fmt.Sprintf("http %d", apiErr.Status)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return KindTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return KindDial
	case errors.As(err, &opErr), errors.As(err, &urlErr), errors.Is(err, io.ErrUnexpectedEOF):
		return KindConnection // reset, EOF, closed by the server
	}
	return KindBadAnswer
}

// leaderLost reports whether a kind suggests the leader moved or died, so
// that a run aimed at the leader should look for it again.
func leaderLost(kind string) bool {
	switch kind {
	case KindRefused, KindDial, KindConnection, "http 503":
		return true
	}
	return false
}
