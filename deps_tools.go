//go:build tools

// This file pins modules that packages being written in parallel are about to import, so
// that go.mod stays stable meanwhile. It is removed once they are imported for real.
package tools

import (
	_ "github.com/getkin/kin-openapi/openapi3"
	_ "github.com/getkin/kin-openapi/openapi3filter"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
)
