package api

import (
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"

	"github.com/go-chi/chi/v5"
)

// The console (docs/operations.md, "The console"): static files embedded
// in the binary, served by every node, that call this node's API with the
// token the user gives them. Nothing is loaded from outside the cluster:
// the charting library is vendored (ui/vendor).

//go:embed ui
var uiFiles embed.FS

// uiCSP confines the console to this origin: its own scripts and styles,
// API calls to this node, no framing.
const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// uiIndex serves the console's page.
func (s *Server) uiIndex(w http.ResponseWriter, r *http.Request) error {
	return serveUIFile(w, "ui/index.html")
}

// uiAsset serves one of the console's files (GET /ui/{file}).
func (s *Server) uiAsset(w http.ResponseWriter, r *http.Request) error {
	return serveUIFile(w, path.Join("ui", path.Base(chi.URLParam(r, "file"))))
}

// uiVendor serves a vendored library file (GET /ui/vendor/{file}).
func (s *Server) uiVendor(w http.ResponseWriter, r *http.Request) error {
	return serveUIFile(w, path.Join("ui/vendor", path.Base(chi.URLParam(r, "file"))))
}

func serveUIFile(w http.ResponseWriter, name string) error {
	b, err := fs.ReadFile(uiFiles, name)
	if err != nil || path.Ext(name) == ".md" || path.Ext(name) == ".LICENSE" {
		return newProblem(ProblemNotFound, "", "no such console file")
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Security-Policy", uiCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b) // #nosec G705 -- a file embedded in the binary, by a name reduced to its base; no request data
	return nil
}
