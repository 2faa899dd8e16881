package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"sync"
	"text/template"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/clientaddr"
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
		auth:    &authorizer{svc: svc, table: cfg.Routes, requireTenant: cfg.RequireTenant, trustedProxies: cfg.TrustedProxies},
		cfg:     cfg,
		rs:      rs,
		forward: &httputil.ReverseProxy{},
	}
	p.forward.Rewrite = p.rewrite
	p.forward.Transport = cfg.Transport
	// FlushInterval stays 0: ReverseProxy already flushes every write of a
	// response without Content-Length and of text/event-stream, which is
	// what streams. Forcing -1 for every response cost a timer, a goroutine
	// and a separate write of the headers per request (bench/load.sh).
	p.forward.BufferPool = copyBuffers
	p.forward.ErrorHandler = p.upstreamError
	p.forward.ErrorLog = slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)

	return &observer{next: p, rs: rs, trusted: cfg.TrustedProxies}
}

// upstreamTransport is http.DefaultTransport with room for many idle
// connections to the one upstream host.
func upstreamTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	// Pass the client's Accept-Encoding through and the upstream's encoding
	// back untouched, rather than asking for gzip and decompressing here.
	t.DisableCompression = true
	return t
}

// copyBuffers lends ReverseProxy the 32 KiB buffer it copies each response
// body through, instead of allocating one per request.
var copyBuffers = &bufferPool{pool: sync.Pool{New: func() any { return new([32 << 10]byte) }}}

type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte { return b.pool.Get().(*[32 << 10]byte)[:] }
func (b *bufferPool) Put(p []byte) {
	if cap(p) == 32<<10 {
		b.pool.Put((*[32 << 10]byte)(p[:32<<10]))
	}
}

type proxy struct {
	auth    *authorizer
	cfg     ProxyConfig
	rs      *responder
	forward *httputil.ReverseProxy
}

// proxyTarget carries the authorization result from ServeHTTP to rewrite.
type proxyTarget struct {
	upstream    *url.URL
	identity    *latchkey.Identity // nil on a public route
	traceparent string             // the request's, sent on to the upstream
}

type proxyTargetKey struct{}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := infoOf(w)
	info.routine = true // see requestInfo.routine
	h := readAuthHeaders(r.Header)
	id, err := p.auth.authorize(r, &h, info, r.Method, r.Host, r.URL)
	if err != nil {
		p.rs.error(w, r, err)
		return
	}
	t := &proxyTarget{upstream: p.cfg.Upstream, identity: id, traceparent: info.traceID}
	if id != nil {
		if id.Environment == "test" {
			t.upstream = p.cfg.TestUpstream
		}
		setRateLimit(w.Header(), id.Limit)
	}
	p.forward.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), proxyTargetKey{}, t)))
}

// rewrite builds the upstream request. ReverseProxy has already removed the
// hop-by-hop headers and every incoming Forwarded / X-Forwarded-* header.
func (p *proxy) rewrite(pr *httputil.ProxyRequest) {
	t := pr.In.Context().Value(proxyTargetKey{}).(*proxyTarget)
	pr.SetURL(t.upstream)
	stripClientHeaders(pr.Out.Header)
	trusted := clientaddr.TrustedPeer(pr.In.RemoteAddr, p.cfg.TrustedProxies)
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
	if t.traceparent != "" {
		pr.Out.Header.Set("Traceparent", t.traceparent)
	}
	if t.identity != nil {
		setIdentity(pr.Out.Header, t.identity, new([5]string))
	}
}

// stripClientHeaders removes what a client must never get to the upstream:
// its credential (Authorization, X-API-KEY) and anything that poses as
// Latchkey's identity (X-Latchkey-*, X-User-Id), in any letter case and
// with "_" for "-", since some servers (CGI, PHP, WSGI) read both alike.
func stripClientHeaders(h http.Header) {
	for name := range h {
		if clientOnlyHeader(name) {
			delete(h, name)
		}
	}
}

// clientOnlyHeader reports whether name is one stripClientHeaders removes.
// It runs for every header of every proxied request, so it compares in
// place instead of building a lowercased copy of each name.
func clientOnlyHeader(name string) bool {
	return headerNameIs(name, "authorization") || headerNameIs(name, "x-api-key") ||
		headerNameIs(name, "x-user-id") ||
		len(name) >= len("x-latchkey-") && headerNameIs(name[:len("x-latchkey-")], "x-latchkey-")
}

// headerNameIs compares a header name with a lowercase name that uses "-",
// ignoring case and treating "_" as "-".
func headerNameIs(name, lower string) bool {
	if len(name) != len(lower) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
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
