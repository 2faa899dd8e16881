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

// countRequests reports every request to m. It must wrap the handler that
// routes, with the same *http.Request, to see the matched pattern.
func countRequests(next http.Handler, m Metrics) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		m.Request(r.Pattern, rec.status, time.Since(start))
	})
}
