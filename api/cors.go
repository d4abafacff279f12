package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// cors lets the dashboard, loaded from one node, talk to every other node:
// when the node serving it dies it reconnects elsewhere, a cross-origin
// request. The API has no cookies or other ambient credentials (a token
// is sent only by a page that was given it), so "*" grants a page nothing
// its user could not do with curl.
func cors(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	if c.Request.Method != http.MethodOptions {
		c.Next()
		return
	}
	// A preflight: answered here, before routing could call it a 405.
	h.Set("Access-Control-Allow-Methods", "GET, PUT, DELETE, POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, "+RequestIDHeader)
	h.Set("Access-Control-Max-Age", "600")
	c.AbortWithStatus(http.StatusNoContent)
}
