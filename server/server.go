// Package server is Latchkey's HTTP adapter: the management API
// (self-service and admin), whoami and the operational endpoints, all
// speaking the JSON, headers and error bodies of SPEC §5–§7.
//
// It holds no business rules: every decision about keys, users and tenants
// is made by *latchkey.Service; this package only authenticates the caller,
// decodes requests, maps errors to statuses and encodes responses.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"text/template"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/routes"
)

// Config configures the HTTP handler.
type Config struct {
	// ErrorTemplate, when set, renders every error body instead of the
	// default one (SPEC §5). Build it with ParseErrorTemplate.
	ErrorTemplate *template.Template
	// TrustUserHeader accepts a bare x-user-id header as the acting user of
	// the self-service API when the connection comes from TrustedProxies.
	TrustUserHeader bool
	// TrustedProxies are the peer addresses whose x-user-id is believed.
	TrustedProxies []netip.Prefix
	// RequireTenant refuses keys linked to no tenant (403 API_KEY_NO_TENANT).
	RequireTenant bool
	// Routes decides what /auth/check requires of each request (SPEC §8);
	// nil means every request needs a valid credential.
	Routes *routes.Table
	// Ready reports whether the server can serve traffic (typically the
	// store's Ping); /readyz answers 503 UNAVAILABLE when it fails. nil
	// means always ready.
	Ready func(ctx context.Context) error
	// Logger receives one line per request and the causes of 5xx errors.
	// nil discards logs.
	Logger *slog.Logger
	// Dashboard, when set, is the browser UI (SPEC §11), mounted at its
	// Patterns; its sessions are also a user context for the self-service
	// API (SPEC §6).
	Dashboard Dashboard
	// OAuth, when set, serves the OAuth 2.0 endpoints (SPEC §10). They
	// write their own RFC 6749 error bodies, never the error template.
	OAuth OAuthEndpoints
	// Metrics, when set, counts every request and serves GET /metrics.
	Metrics Metrics
	// BodyReadTimeout bounds the reading of a request body and
	// BodyWriteTimeout the writing of a response body; 0 means no bound.
	// They are armed per request, and only when there is a body, in place
	// of http.Server's ReadTimeout and WriteTimeout, which arm a timer on
	// every request: on a bodiless /auth/check answered with headers alone,
	// that was ~3 % of its throughput (bench/load.sh). The server's
	// ReadHeaderTimeout and IdleTimeout still bound the rest.
	BodyReadTimeout, BodyWriteTimeout time.Duration
}

// OAuthEndpoints are the OAuth 2.0 authorization server's handlers, as
// *oauth.Server provides them.
type OAuthEndpoints interface {
	TokenHandler() http.Handler      // POST /oauth/token
	IntrospectHandler() http.Handler // POST /oauth/introspect
	RevokeHandler() http.Handler     // POST /oauth/revoke
	JWKSHandler() http.Handler       // GET /.well-known/jwks.json
	MetadataHandler() http.Handler   // GET /.well-known/oauth-authorization-server
}

// Dashboard is the browser UI as the server mounts it.
type Dashboard interface {
	http.Handler
	// Patterns lists the ServeMux patterns the dashboard serves.
	Patterns() []string
	// SessionUser resolves the request's session cookie to its user. ok is
	// false when the request has no live session; err is set when it has
	// one but may not use it (a failed CSRF check on an unsafe method).
	SessionUser(r *http.Request) (u *latchkey.User, ok bool, err error)
}

// New returns the HTTP handler of the management API.
func New(svc *latchkey.Service, cfg Config) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rs := &responder{log: cfg.Logger, tmpl: cfg.ErrorTemplate}
	mux := http.NewServeMux()
	addRoutes(mux, svc, cfg, rs)

	return &observer{
		next: exactFirst(mux, checkPath), rs: rs, metrics: cfg.Metrics, mux: true, trusted: cfg.TrustedProxies,
		bodyLimit: maxBodyBytes, readTimeout: cfg.BodyReadTimeout, writeTimeout: cfg.BodyWriteTimeout,
	}
}

// exactFirst sends requests for exactly path to the handler mux has for
// it, without the mux's pattern matching, and everything else to mux. It
// is for the forward-auth check, which answers every request of the
// company's API: matching it among the management API's patterns cost
// ~0.25 µs and an allocation per check, a tenth of the check itself.
func exactFirst(mux *http.ServeMux, path string) http.Handler {
	h, pattern := mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: path}})
	return &exactRoute{mux: mux, path: path, pattern: pattern, handler: h}
}

type exactRoute struct {
	mux           *http.ServeMux
	path, pattern string
	handler       http.Handler
}

func (e *exactRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != e.path {
		e.mux.ServeHTTP(w, r)
		return
	}
	r.Pattern = e.pattern // as the mux would set it: metrics and logs name the route
	e.handler.ServeHTTP(w, r)
}

func (cfg Config) routeTable() *routes.Table {
	if cfg.Routes == nil {
		return routes.Default()
	}
	return cfg.Routes
}
