package server

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apikey"
	"github.com/latchkey/latchkey/ratelimit"
	"github.com/latchkey/latchkey/routes"
)

// maxResetSeconds bounds RateLimit-Reset and Retry-After for the tests' one
// minute windows: the limiter counts whole sub-windows (ratelimit.Slots of
// them), so a slot can free up to one sub-window after the window itself.
const maxResetSeconds = 60 + 60/ratelimit.Slots + 1

func wantRateLimitHeaders(t *testing.T, r response, limit, remaining int) {
	t.Helper()
	if got := r.header.Get("RateLimit-Limit"); got != strconv.Itoa(limit) {
		t.Fatalf("RateLimit-Limit = %q, want %d", got, limit)
	}
	if got := r.header.Get("RateLimit-Remaining"); got != strconv.Itoa(remaining) {
		t.Fatalf("RateLimit-Remaining = %q, want %d", got, remaining)
	}
	reset, err := strconv.Atoi(r.header.Get("RateLimit-Reset"))
	if err != nil || reset < 1 || reset > maxResetSeconds {
		t.Fatalf("RateLimit-Reset = %q", r.header.Get("RateLimit-Reset"))
	}
}

func TestRateLimitHeadersAndRetryAfter(t *testing.T) {
	e := newLimitedEnv(t)
	e.user("u1")
	_, secret := e.key("u1", latchkey.NewKey{RateLimit: &latchkey.RateLimit{Limit: 3, Window: time.Minute}})
	_, unlimited := e.key("u1", latchkey.NewKey{})

	r := e.do("GET", "/api/v1/users/me", nil, "X-API-KEY", secret)
	wantStatus(t, r, 200)
	wantRateLimitHeaders(t, r, 3, 2)
	r = e.check("GET", "/anything", "Authorization", "Bearer "+secret)
	wantAllowed(t, r)
	wantRateLimitHeaders(t, r, 3, 1)
	r = e.do("GET", "/api/v1/users/me", nil, "X-API-KEY", secret)
	wantRateLimitHeaders(t, r, 3, 0)

	for _, r := range []response{
		e.do("GET", "/api/v1/users/me", nil, "X-API-KEY", secret),
		e.check("GET", "/anything", "Authorization", "Bearer "+secret),
	} {
		wantError(t, r, 429, latchkey.CodeRateLimited)
		wantRateLimitHeaders(t, r, 3, 0)
		if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 || ra > maxResetSeconds {
			t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
		}
	}
	// A key without a limit carries no RateLimit headers.
	r = e.do("GET", "/api/v1/users/me", nil, "X-API-KEY", unlimited)
	wantStatus(t, r, 200)
	if r.header.Get("RateLimit-Limit") != "" {
		t.Fatalf("unlimited key got RateLimit-Limit %q", r.header.Get("RateLimit-Limit"))
	}
}

func TestProxyRateLimit(t *testing.T) {
	e := newLimitedEnv(t)
	e.user("u1")
	_, secret := e.key("u1", latchkey.NewKey{RateLimit: &latchkey.RateLimit{Limit: 1, Window: time.Minute}})
	up := newUpstream(t, "live")
	u, _ := url.Parse(up.URL)
	tb, err := routes.Parse("routes.yaml", []byte("default: authenticated\n"))
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(NewProxy(e.svc, ProxyConfig{Upstream: u, TestUpstream: u, Routes: tb, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(proxy.Close)
	send := func() *http.Response {
		req, _ := http.NewRequest("GET", proxy.URL+"/v1/things", nil)
		req.Header.Set("X-API-KEY", secret)
		res, err := proxy.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := send(); res.StatusCode != http.StatusTeapot || res.Header.Get("RateLimit-Remaining") != "0" || res.Header.Get("RateLimit-Limit") != "1" {
		t.Fatalf("first: %d %v", res.StatusCode, res.Header)
	}
	if res := send(); res.StatusCode != 429 || res.Header.Get("Retry-After") == "" {
		t.Fatalf("second: %d %v", res.StatusCode, res.Header)
	}
	if up.count() != 1 {
		t.Fatalf("upstream saw %d requests, want 1", up.count())
	}
}

func TestManagementAPIIsLimitedPerUser(t *testing.T) {
	e := newTestEnvWith(t, latchkey.ServiceConfig{Limiter: ratelimit.NewMemory(),
		Limits: latchkey.Limits{Management: latchkey.RateLimit{Limit: 3, Window: time.Minute}}})
	for remaining := 2; remaining >= 0; remaining-- {
		r := e.do("GET", "/api/v1/auth/api-keys", nil, e.as("alice")...)
		wantStatus(t, r, 200)
		wantRateLimitHeaders(t, r, 3, remaining)
	}
	// Every kind of answer carries them, errors included.
	r404 := e.do("GET", "/api/v1/auth/api-keys/key_nope", nil, e.as("carol")...)
	wantError(t, r404, 404, latchkey.CodeNotFound)
	wantRateLimitHeaders(t, r404, 3, 2)
	r := e.do("GET", "/api/v1/auth/api-keys", nil, e.as("alice")...)
	wantError(t, r, 429, latchkey.CodeRateLimited)
	wantRateLimitHeaders(t, r, 3, 0)
	wantStatus(t, e.do("GET", "/api/v1/auth/api-keys", nil, e.as("bob")...), 200)
}

func TestFailedAuthenticationsLimitedPerAddress(t *testing.T) {
	e := newTestEnvWith(t, latchkey.ServiceConfig{Limiter: ratelimit.NewMemory(),
		Limits: latchkey.Limits{FailedAuth: latchkey.RateLimit{Limit: 3, Window: time.Minute}}})
	e.user("u1")
	_, good := e.key("u1", latchkey.NewKey{})
	wantStatus(t, e.do("GET", "/api/v1/users/me", nil, "X-API-KEY", good), 200)
	random := func(env string) string { k, _ := apikey.Generate("tb", env); return k.String() }
	for range 3 {
		wantError(t, e.do("GET", "/api/v1/users/me", nil, "X-API-KEY", random("live")), 401, latchkey.CodeInvalidAPIKey)
	}
	// Over the limit: customer keys and root keys alike are refused
	// before any lookup, on every endpoint.
	wantError(t, e.do("GET", "/api/v1/users/me", nil, "X-API-KEY", random("live")), 429, latchkey.CodeRateLimited)
	wantError(t, e.check("GET", "/x", "X-API-KEY", random("test")), 429, latchkey.CodeRateLimited)
	wantError(t, e.do("GET", "/api/v1/admin/tenants", nil, "Authorization", "Bearer "+random("root")), 429, latchkey.CodeRateLimited)
	// A key this node already verified keeps working.
	wantStatus(t, e.do("GET", "/api/v1/users/me", nil, "X-API-KEY", good), 200)
}

// Behind a trusted proxy, failures are counted against the client the
// proxy names, not the proxy: one client over its limit leaves the others
// theirs. (Verify resolves the address only on a failure or a cache miss.)
func TestFailedChecksLimitedPerForwardedClient(t *testing.T) {
	e := newTestEnvWith(t, latchkey.ServiceConfig{Limiter: ratelimit.NewMemory(),
		Limits: latchkey.Limits{FailedAuth: latchkey.RateLimit{Limit: 2, Window: time.Minute}}},
		func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
	e.user("u1")
	_, good := e.key("u1", latchkey.NewKey{})
	random := func() string { k, _ := apikey.Generate("tb", "live"); return k.String() }
	from := func(client string) []string { return []string{"X-Forwarded-For", client, "X-API-KEY", random()} }
	for range 2 {
		wantError(t, e.check("GET", "/x", from("203.0.113.1")...), 401, latchkey.CodeInvalidAPIKey)
	}
	wantError(t, e.check("GET", "/x", from("203.0.113.1")...), 429, latchkey.CodeRateLimited)
	wantError(t, e.check("GET", "/x", from("203.0.113.2")...), 401, latchkey.CodeInvalidAPIKey)
	// A new key from the limited client is refused before any lookup; a
	// cached one still passes.
	wantAllowed(t, e.check("GET", "/x", "X-Forwarded-For", "203.0.113.2", "X-API-KEY", good))
	wantAllowed(t, e.check("GET", "/x", "X-Forwarded-For", "203.0.113.1", "X-API-KEY", good))
}

func TestRootKeyFailuresCount(t *testing.T) {
	e := newTestEnvWith(t, latchkey.ServiceConfig{Limiter: ratelimit.NewMemory(),
		Limits: latchkey.Limits{FailedAuth: latchkey.RateLimit{Limit: 2, Window: time.Minute}}})
	for range 2 {
		k, _ := apikey.Generate("tb", "root")
		wantError(t, e.do("GET", "/api/v1/admin/tenants", nil, "Authorization", "Bearer "+k.String()), 401, latchkey.CodeInvalidAPIKey)
	}
	k, _ := apikey.Generate("tb", "root")
	wantError(t, e.do("GET", "/api/v1/admin/tenants", nil, "Authorization", "Bearer "+k.String()), 429, latchkey.CodeRateLimited)
}
