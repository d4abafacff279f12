package api

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/gin-gonic/gin"
)

// The dashboard: plain HTML, CSS and JavaScript, embedded so the binary
// serves it with no build step and no network (the page loads nothing from
// elsewhere).
//
//go:embed ui
var uiFiles embed.FS

// addDashboard serves the dashboard at /ui/ and its event stream at
// /v1/events; / leads to the dashboard.
func (s *Server) addDashboard(e *gin.Engine, v1 *gin.RouterGroup) {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic("api: embedded ui directory missing: " + err.Error()) // a build defect, not a runtime condition
	}
	files := http.StripPrefix("/ui", http.FileServer(http.FS(sub)))
	serve := func(c *gin.Context) {
		// Revalidate every load: the files change with the binary, and an
		// upgraded node must not run yesterday's page against today's API.
		c.Header("Cache-Control", "no-cache")
		files.ServeHTTP(c.Writer, c.Request)
	}
	e.GET("/ui/*filepath", serve)
	e.HEAD("/ui/*filepath", serve)
	toUI := func(c *gin.Context) { c.Redirect(http.StatusFound, "/ui/") }
	e.GET("/", toUI)
	e.GET("/ui", toUI)
	v1.GET("/events", s.handleEvents)
}
