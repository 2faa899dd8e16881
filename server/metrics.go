package server

import (
	"net/http"
	"time"
)

// Metrics receives what the HTTP layer observes and serves it; package
// metrics implements it for Prometheus.
type Metrics interface {
	// Handler serves GET /metrics.
	Handler() http.Handler
	// Request counts one answered request: its ServeMux pattern ("" when
	// none matched), status and duration. Never its path: paths hold IDs.
	Request(route string, status int, elapsed time.Duration)
}
