// Package openapi serves the generated OpenAPI document of both services and
// Swagger UI over it. Swagger UI's files are embedded in the binary (no CDN),
// pinned by the github.com/swaggo/files/v2 version in go.mod.
package openapi

import (
	_ "embed"
	"net/http"

	swaggerfiles "github.com/swaggo/files/v2"
)

// Document is the OpenAPI v2 document that `make proto` generates.
//
//go:embed workflowruntime.swagger.json
var Document []byte

// initializer replaces Swagger UI's stock one, which loads the petstore
// example, so that the UI opens our document from this same server.
const initializer = `window.onload = function() {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout"
  });
};
`

// Register adds GET /openapi.json and Swagger UI under /docs/ to mux.
func Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(Document)
	})
	mux.HandleFunc("GET /docs/swagger-initializer.js", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write([]byte(initializer))
	})
	mux.Handle("GET /docs/", http.StripPrefix("/docs/", http.FileServerFS(swaggerfiles.FS)))
	mux.Handle("GET /docs", http.RedirectHandler("/docs/", http.StatusMovedPermanently))
}
