package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"text/template"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/routes"
)

// codeBadGateway is the code of a 502: the upstream could not be reached or
// did not answer. SPEC §5's table has no 502; the reverse proxy is the only
// source of one.
const codeBadGateway = "BAD_GATEWAY"

// ProxyConfig configures the reverse proxy (SPEC §1, §8).
type ProxyConfig struct {
	// Upstream receives live-key (and public) requests; TestUpstream
	// receives test-key requests, and defaults to Upstream.
	Upstream, TestUpstream *url.URL
	// Routes decides what each request needs; nil means every request
	// needs a valid credential.
	Routes *routes.Table
	// RequireTenant refuses credentials linked to no tenant.
	RequireTenant bool
	// TrustedProxies are the peers whose X-Forwarded-For is kept (and
	// appended to); from anyone else it is replaced by the peer address.
	TrustedProxies []netip.Prefix
	ErrorTemplate  *template.Template
	Logger         *slog.Logger
	// Transport reaches the upstreams; nil means a transport tuned for
	// many concurrent requests to one host.
	Transport http.RoundTripper
}

// NewProxy returns the reverse proxy handler. Each request is authorized by
// the routes table and svc.Verify; then the credential headers and every
// client-sent identity header are removed, the identity headers are added
// and the request is streamed to the upstream of the key's environment.
func NewProxy(svc *latchkey.Service, cfg ProxyConfig) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TestUpstream == nil {
		cfg.TestUpstream = cfg.Upstream
	}
	if cfg.Routes == nil {
		cfg.Routes = routes.Default()
	}
	if cfg.Transport == nil {
		cfg.Transport = upstreamTransport()
	}
	rs := &responder{log: cfg.Logger, tmpl: cfg.ErrorTemplate}
	p := &proxy{
		auth:    &authorizer{svc: svc, table: cfg.Routes, requireTenant: cfg.RequireTenant},
		cfg:     cfg,
		rs:      rs,
		forward: &httputil.ReverseProxy{},
	}
	p.forward.Rewrite = p.rewrite
	p.forward.Transport = cfg.Transport
	p.forward.FlushInterval = -1 // stream: flush every write through
	p.forward.ErrorHandler = p.upstreamError
	p.forward.ErrorLog = slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)

	var h http.Handler = p
	h = recoverPanics(h, rs)
	h = logRequests(h, cfg.Logger)
	h = traceRequests(h)
	return h
}

// upstreamTransport is http.DefaultTransport with room for many idle
// connections to the one upstream host.
func upstreamTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	return t
}

type proxy struct {
	auth    *authorizer
	cfg     ProxyConfig
	rs      *responder
	forward *httputil.ReverseProxy
}

// proxyTarget carries the authorization result from ServeHTTP to rewrite.
type proxyTarget struct {
	upstream *url.URL
	identity *latchkey.Identity // nil on a public route
}

type proxyTargetKey struct{}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, err := p.auth.authorize(r.Context(), r, r.Method, r.Host, r.URL)
	if err != nil {
		p.rs.error(w, r, err)
		return
	}
	t := &proxyTarget{upstream: p.cfg.Upstream, identity: id}
	if id != nil && id.Environment == "test" {
		t.upstream = p.cfg.TestUpstream
	}
	p.forward.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), proxyTargetKey{}, t)))
}

// rewrite builds the upstream request. ReverseProxy has already removed the
// hop-by-hop headers and every incoming Forwarded / X-Forwarded-* header.
func (p *proxy) rewrite(pr *httputil.ProxyRequest) {
	t := pr.In.Context().Value(proxyTargetKey{}).(*proxyTarget)
	pr.SetURL(t.upstream)
	stripClientHeaders(pr.Out.Header)
	trusted := trustedPeer(p.cfg.TrustedProxies, pr.In.RemoteAddr)
	if trusted {
		// A trusted proxy's chain is kept, and the peer appended to it.
		if xff := pr.In.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			pr.Out.Header["X-Forwarded-For"] = append([]string(nil), xff...)
		}
	}
	pr.SetXForwarded()
	if trusted {
		for _, h := range []string{"X-Forwarded-Host", "X-Forwarded-Proto"} {
			if v := pr.In.Header.Get(h); v != "" {
				pr.Out.Header.Set(h, v)
			}
		}
	}
	if info := requestInfoFrom(pr.In.Context()); info.traceID != "" {
		pr.Out.Header.Set("Traceparent", info.traceID)
	}
	if t.identity != nil {
		setIdentity(pr.Out.Header, t.identity)
	}
}

// stripClientHeaders removes what a client must never get to the upstream:
// its credential (Authorization, X-API-KEY) and anything that poses as
// Latchkey's identity (X-Latchkey-*, X-User-Id), in any letter case and
// with "_" for "-", since some servers (CGI, PHP, WSGI) read both alike.
func stripClientHeaders(h http.Header) {
	for name := range h {
		n := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
		if strings.HasPrefix(n, "x-latchkey-") || n == "x-user-id" || n == "authorization" || n == "x-api-key" {
			delete(h, name)
		}
	}
}

// upstreamError answers 502 BAD_GATEWAY in Latchkey's error shape when the
// upstream cannot be reached or fails before its response starts.
func (p *proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		// The client went away; nobody reads this answer.
		w.WriteHeader(499)
		return
	}
	p.rs.error(w, r, &latchkey.Error{Code: codeBadGateway, Message: "The upstream API is unreachable.", Err: err})
}
