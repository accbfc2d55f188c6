package api

import (
	_ "embed"
	"io"
	"net/http"
)

// openapiDoc is the OpenAPI 3.0 document of the whole HTTP API (openapi.yaml, beside this
// file). openapi_test.go validates real responses of the gateway against it.
//
//go:embed openapi.yaml
var openapiDoc string

// OpenAPI returns the OpenAPI 3.0 document of the gateway's HTTP API, as YAML (serve it as
// application/yaml). Each call returns a fresh copy.
func OpenAPI() []byte { return []byte(openapiDoc) }

// openAPI serves GET /openapi.yaml.
func openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Cache-Control", "no-cache")
	_, err := io.WriteString(w, openapiDoc)
	return err
}
