package server

import (
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/routes"
)

// testRoutes is SPEC §8's example plus a deny rule and a subtree that
// shows precedence.
const testRoutes = `default: authenticated
routes:
  - pattern: "POST /api/v1/messages/send"
    permission: messages:send
  - pattern: "GET /api/v1/messages"
    permission: messages:read
  - pattern: "/api/v1/webhooks/"
    permission: webhooks:manage
  - pattern: "GET /api/v1/webhooks/health"
    public: true
  - pattern: "GET /status"
    public: true
  - pattern: "POST /api/v1/numbers"
    permissions: [numbers:write]
    environment: live
    tenant: required
  - pattern: "/internal/"
    deny: true
`

func withRoutes(t *testing.T, src string) func(*Config) {
	t.Helper()
	tb, err := routes.Parse("routes.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return func(c *Config) { c.Routes = tb }
}

// check asks /auth/check about method and uri, as nginx does.
func (e *testEnv) check(method, uri string, headers ...string) response {
	e.t.Helper()
	return e.do("GET", "/auth/check", nil, append([]string{"X-Original-Method", method, "X-Original-URI", uri}, headers...)...)
}

func wantAllowed(t *testing.T, r response) {
	t.Helper()
	if r.status != 200 || len(r.body) != 0 {
		t.Fatalf("status = %d, body = %q; want 200 with an empty body", r.status, r.body)
	}
}

func TestForwardAuth(t *testing.T) {
	e := newTestEnv(t, withRoutes(t, testRoutes))
	e.user("u1", "t1", "t2")
	send, sendKey := e.key("u1", latchkey.NewKey{Permissions: []string{"messages:send"}, TenantIDs: []string{"t1", "t2"}})
	_, allKey := e.key("u1", latchkey.NewKey{Permissions: []string{"messages:*", "webhooks:*"}, TenantIDs: []string{"t1"}})
	_, starKey := e.key("u1", latchkey.NewKey{Permissions: []string{"*"}, Environment: "test", TenantIDs: []string{"t2"}})
	_, noneKey := e.key("u1", latchkey.NewKey{})
	bearer := func(k string) []string { return []string{"Authorization", "Bearer " + k} }

	t.Run("allowed: identity headers and an empty body", func(t *testing.T) {
		r := e.check("POST", "/api/v1/messages/send", bearer(sendKey)...)
		wantAllowed(t, r)
		for h, want := range map[string]string{
			"X-Latchkey-Key-Id": send.ID, "X-Latchkey-Owner-Id": "u1", "X-Latchkey-Tenant-Id": "t1",
			"X-Latchkey-Environment": "live", "X-Latchkey-Permissions": "messages:send",
		} {
			if got := r.header.Get(h); got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
		}
	})
	t.Run("X-Forwarded-* as Traefik and Caddy send them", func(t *testing.T) {
		r := e.do("GET", "/auth/check", nil, "X-Forwarded-Method", "POST", "X-Forwarded-Uri", "/api/v1/messages/send?x=1",
			"X-Forwarded-Host", "api.example.com", "X-API-KEY", sendKey)
		wantAllowed(t, r)
	})
	t.Run("X-Forwarded and X-Original must agree", func(t *testing.T) {
		// A client may add the header its proxy does not set: that must
		// never pick the rule.
		r := e.do("GET", "/auth/check", nil, "X-Original-Method", "GET", "X-Original-URI", "/api/v1/messages",
			"X-Forwarded-Uri", "/status", "X-API-KEY", sendKey)
		wantMessage(t, wantError(t, r, 400, latchkey.CodeValidationFailed), "conflicting")
		r = e.do("GET", "/auth/check", nil, "X-Forwarded-Method", "GET", "X-Original-Method", "POST",
			"X-Forwarded-Uri", "/api/v1/messages/send", "X-API-KEY", sendKey)
		wantError(t, r, 400, latchkey.CodeValidationFailed)
		r = e.do("GET", "/auth/check", nil, "X-Forwarded-Uri", "/status", "X-Forwarded-Uri", "/internal/x")
		wantError(t, r, 400, latchkey.CodeValidationFailed)
		// The same value under both names is fine.
		wantAllowed(t, e.do("GET", "/auth/check", nil, "X-Forwarded-Method", "POST", "X-Original-Method", "POST",
			"X-Forwarded-Uri", "/api/v1/messages/send", "X-Original-URI", "/api/v1/messages/send", "X-API-KEY", sendKey))
	})
	t.Run("any method on /auth/check; without forwarded headers its own", func(t *testing.T) {
		wantAllowed(t, e.do("DELETE", "/auth/check", nil, bearer(noneKey)...))
		wantAllowed(t, e.do("POST", "/auth/check", nil, bearer(noneKey)...))
		wantAllowed(t, e.do("POST", "/auth/check", nil, append(bearer(sendKey), "X-Original-URI", "/api/v1/messages/send")...))
	})
	t.Run("missing credential is 401", func(t *testing.T) {
		wantError(t, e.check("POST", "/api/v1/messages/send"), 401, latchkey.CodeAuthenticationRequired)
	})
	t.Run("invalid key is 401", func(t *testing.T) {
		wantError(t, e.check("GET", "/x", bearer(wellFormed(t, "live"))...), 401, latchkey.CodeInvalidAPIKey)
		wantError(t, e.check("GET", "/x", bearer("garbage")...), 401, latchkey.CodeInvalidAPIKey)
	})
	t.Run("root keys are not API keys", func(t *testing.T) {
		wantError(t, e.check("GET", "/x", e.admin()...), 401, latchkey.CodeInvalidAPIKey)
	})
	t.Run("ambiguous credentials are 400", func(t *testing.T) {
		wantError(t, e.check("GET", "/x", "Authorization", "Bearer "+sendKey, "X-API-KEY", allKey), 400, latchkey.CodeAmbiguousCredentials)
	})
	t.Run("keys in the query string are not credentials", func(t *testing.T) {
		wantError(t, e.check("GET", "/x?api_key="+sendKey+"&key="+sendKey), 401, latchkey.CodeAuthenticationRequired)
		wantError(t, e.do("GET", "/auth/check?api_key="+sendKey, nil), 401, latchkey.CodeAuthenticationRequired)
	})
	t.Run("insufficient permission names it", func(t *testing.T) {
		msg := wantError(t, e.check("GET", "/api/v1/messages", bearer(sendKey)...), 403, latchkey.CodeInsufficientPermission)
		wantMessage(t, msg, "Your API key does not have the 'messages:read' permission.")
	})
	t.Run("wildcards", func(t *testing.T) {
		wantAllowed(t, e.check("GET", "/api/v1/messages", bearer(allKey)...))
		wantAllowed(t, e.check("DELETE", "/api/v1/webhooks/7", bearer(allKey)...))
		wantAllowed(t, e.check("GET", "/api/v1/messages", bearer(starKey)...))
		wantError(t, e.check("POST", "/api/v1/numbers", bearer(allKey)...), 403, latchkey.CodeInsufficientPermission)
	})
	t.Run("precedence: most specific pattern wins", func(t *testing.T) {
		r := e.check("GET", "/api/v1/webhooks/health")
		wantAllowed(t, r)
		if r.header.Get("X-Latchkey-Key-Id") != "" {
			t.Fatal("public route carries identity headers")
		}
		wantError(t, e.check("POST", "/api/v1/webhooks/health"), 401, latchkey.CodeAuthenticationRequired)
		wantError(t, e.check("GET", "/api/v1/webhooks/x", bearer(sendKey)...), 403, latchkey.CodeInsufficientPermission)
		// /tree is redirected to /tree/ by a ServeMux, so it gets its rule.
		wantError(t, e.check("GET", "/api/v1/webhooks", bearer(sendKey)...), 403, latchkey.CodeInsufficientPermission)
		// No route matches DELETE /api/v1/messages: the default applies.
		wantAllowed(t, e.check("DELETE", "/api/v1/messages", bearer(noneKey)...))
	})
	t.Run("public route needs no credential and ignores a bad one", func(t *testing.T) {
		wantAllowed(t, e.check("GET", "/status"))
		wantAllowed(t, e.check("HEAD", "/status", bearer("garbage")...))
	})
	t.Run("deny rule is 403 FORBIDDEN even with a valid key", func(t *testing.T) {
		wantError(t, e.check("GET", "/internal/metrics", bearer(starKey)...), 403, latchkey.CodeForbidden)
		wantError(t, e.check("GET", "/internal/"), 403, latchkey.CodeForbidden)
	})
	t.Run("environment: test keys are refused on live routes", func(t *testing.T) {
		wantMessage(t, wantError(t, e.check("POST", "/api/v1/numbers", bearer(starKey)...), 403, latchkey.CodeForbidden), "live")
	})
	t.Run("tenant: required", func(t *testing.T) {
		_, liveNoTenant := e.key("u1", latchkey.NewKey{Permissions: []string{"numbers:write"}})
		_, liveTenant := e.key("u1", latchkey.NewKey{Permissions: []string{"numbers:write"}, TenantIDs: []string{"t2"}})
		wantError(t, e.check("POST", "/api/v1/numbers", bearer(liveNoTenant)...), 403, latchkey.CodeAPIKeyNoTenant)
		r := e.check("POST", "/api/v1/numbers", bearer(liveTenant)...)
		wantAllowed(t, r)
		if r.header.Get("X-Latchkey-Tenant-Id") != "t2" {
			t.Fatalf("tenant = %q", r.header.Get("X-Latchkey-Tenant-Id"))
		}
		// Elsewhere the tenant is optional.
		r = e.check("GET", "/x", bearer(liveNoTenant)...)
		wantAllowed(t, r)
		if _, has := r.header["X-Latchkey-Tenant-Id"]; has {
			t.Fatal("a key without tenant got a tenant header")
		}
	})
	t.Run("X-TENANT-ID selects among the key's tenants", func(t *testing.T) {
		r := e.check("POST", "/api/v1/messages/send", append(bearer(sendKey), "X-Tenant-Id", "t2")...)
		wantAllowed(t, r)
		if r.header.Get("X-Latchkey-Tenant-Id") != "t2" {
			t.Fatalf("tenant = %q", r.header.Get("X-Latchkey-Tenant-Id"))
		}
		e.user("u2", "t3")
		wantError(t, e.check("GET", "/x", append(bearer(sendKey), "X-Tenant-Id", "t3")...), 403, latchkey.CodeTenantNotFound)
		wantError(t, e.check("GET", "/x", append(bearer(sendKey), "X-Tenant-Id", "nope")...), 403, latchkey.CodeTenantNotFound)
	})
	t.Run("disabled, revoked and expired keys", func(t *testing.T) {
		k, secret := e.key("u1", latchkey.NewKey{ExpiresAt: ptrTime(start.Add(time.Hour))})
		wantAllowed(t, e.check("GET", "/x", bearer(secret)...))
		e.clock.Advance(time.Hour)
		wantError(t, e.check("GET", "/x", bearer(secret)...), 401, latchkey.CodeKeyExpired)
		k2, secret2 := e.key("u1", latchkey.NewKey{})
		if _, err := e.svc.ToggleKey(t.Context(), "", k2.ID); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.check("GET", "/x", bearer(secret2)...), 401, latchkey.CodeKeyDisabled)
		if _, err := e.svc.RevokeKey(t.Context(), "", k2.ID); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.check("GET", "/x", bearer(secret2)...), 401, latchkey.CodeKeyRevoked)
		_ = k
	})
	t.Run("ambiguous paths are refused", func(t *testing.T) {
		for _, uri := range []string{"/status/../internal/x", "/status/%2e%2e/internal/x", "/api/v1/webhooks/health/..%2F..%2F..%2Finternal", "//internal/x", "/status\\..\\internal", "/a/./b"} {
			wantError(t, e.check("GET", uri, bearer(starKey)...), 400, latchkey.CodeValidationFailed)
		}
	})
	t.Run("bad forwarded headers are 400", func(t *testing.T) {
		wantError(t, e.check("GET", "http://evil/x", bearer(sendKey)...), 400, latchkey.CodeValidationFailed)
		wantError(t, e.check("GET", "relative", bearer(sendKey)...), 400, latchkey.CodeValidationFailed)
		wantError(t, e.check("G E T", "/x", bearer(sendKey)...), 400, latchkey.CodeValidationFailed)
	})
	t.Run("a successful check counts as a use; a failed one does not", func(t *testing.T) {
		k3, secret := e.key("u1", latchkey.NewKey{})
		wantAllowed(t, e.check("GET", "/x", bearer(secret)...))
		wantAllowed(t, e.check("GET", "/y", bearer(secret)...))
		wantError(t, e.check("GET", "/internal/x", bearer(secret)...), 403, latchkey.CodeForbidden)
		wantError(t, e.check("GET", "/api/v1/messages", bearer(secret)...), 403, latchkey.CodeInsufficientPermission)
		if err := e.svc.Usage().Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if k, err := e.svc.GetKey(t.Context(), "", k3.ID); err != nil || k.RequestCount != 2 {
			t.Fatalf("requestCount = %d (%v), want 2", k.RequestCount, err)
		}
	})
	t.Run("a replay header from an untrusted peer changes nothing", func(t *testing.T) {
		wantAllowed(t, e.check("GET", "/x", append(bearer(noneKey), "X-Latchkey-Replay", "1")...))
	})
	t.Run("an nginx replay that now passes asks for a retry", func(t *testing.T) {
		nginx := newTestEnv(t, withRoutes(t, testRoutes), func(c *Config) {
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
		})
		nginx.user("u1")
		_, key := nginx.key("u1", latchkey.NewKey{})
		r := nginx.check("GET", "/x", append(bearer(key), "X-Latchkey-Replay", "1")...)
		wantError(t, r, 503, latchkey.CodeUnavailable)
		if r.header.Get("Retry-After") != "1" {
			t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
		}
		wantError(t, nginx.check("GET", "/x", "X-Latchkey-Replay", "1"), 401, latchkey.CodeAuthenticationRequired)
	})
}

func ptrTime(t time.Time) *time.Time { return &t }

func TestForwardAuthWithoutRoutesFile(t *testing.T) {
	e := newTestEnv(t)
	e.user("u1")
	_, k := e.key("u1", latchkey.NewKey{})
	wantAllowed(t, e.check("DELETE", "/anything/at/all", "X-API-KEY", k))
	wantError(t, e.check("GET", "/status"), 401, latchkey.CodeAuthenticationRequired)
}

func TestForwardAuthDefaults(t *testing.T) {
	e := newTestEnv(t, withRoutes(t, "default: deny\nroutes:\n  - pattern: \"GET /open\"\n    public: true\n"))
	wantError(t, e.check("GET", "/other"), 403, latchkey.CodeForbidden)
	wantAllowed(t, e.check("GET", "/open"))
	e = newTestEnv(t, withRoutes(t, "default: public\n"))
	wantAllowed(t, e.check("POST", "/other"))
}

// The host a rule names is the one the proxy forwarded, not the check's own.
func TestForwardedHostPicksTheRule(t *testing.T) {
	e := newTestEnv(t, withRoutes(t, "default: public\nroutes:\n  - pattern: \"admin.example.com/\"\n    deny: true\n"))
	wantAllowed(t, e.do("GET", "/auth/check", nil, "X-Forwarded-Uri", "/x", "X-Forwarded-Host", "api.example.com"))
	wantError(t, e.do("GET", "/auth/check", nil, "X-Forwarded-Uri", "/x", "X-Forwarded-Host", "admin.example.com"), 403, latchkey.CodeForbidden)
	wantError(t, e.do("GET", "/auth/check", nil, "X-Forwarded-Uri", "/x", "X-Forwarded-Host", "admin.example.com", "X-Forwarded-Host", "api.example.com"), 400, latchkey.CodeValidationFailed)
}

func TestRequireTenantEverywhere(t *testing.T) {
	e := newTestEnv(t, withRoutes(t, testRoutes), func(c *Config) { c.RequireTenant = true })
	e.user("u1", "t1")
	_, none := e.key("u1", latchkey.NewKey{Permissions: []string{"*"}})
	_, linked := e.key("u1", latchkey.NewKey{Permissions: []string{"*"}, TenantIDs: []string{"t1"}})
	wantError(t, e.check("GET", "/x", "X-API-KEY", none), 403, latchkey.CodeAPIKeyNoTenant)
	wantAllowed(t, e.check("GET", "/x", "X-API-KEY", linked))
	wantAllowed(t, e.check("GET", "/status")) // public routes check no credential
	r := e.do("POST", "/api/v1/keys/verify", map[string]any{"key": none}, e.admin()...)
	wantStatus(t, r, 200)
	if m := r.object(t); m["valid"] != false || m["code"] != latchkey.CodeAPIKeyNoTenant {
		t.Fatalf("verify = %s", r.body)
	}
}

func TestAmbiguousPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/": false, "/a": false, "/a/": false, "/a/b.c": false, "/a%2Fb": false, "/..a/b..": false, "/a%20b": false,
		"/a/../b": true, "/./a": true, "/a/.": true, "/a/..": true, "//a": true, "/a//b": true,
		"/a/%2e%2E/b": true, "/a%2F..%2Fb": true, "/a%2F%2Fb": true, "/a%5Cb": true, "/a\\b": true, "/a%00": true, "a": true,
	} {
		u, err := url.Parse(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := ambiguousPath(u); got != want {
			t.Errorf("ambiguousPath(%q) = %v, want %v", p, got, want)
		}
		if got := ambiguousEscapedPath(u.EscapedPath()); got != want {
			t.Errorf("ambiguousEscapedPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// ambiguousEscapedPath is ambiguousPath by its definition: decode the path
// as sent, then look at its segments. ambiguousPath skips the decoding
// when u.Path already holds it; the fuzz target checks that both agree.
func ambiguousEscapedPath(escaped string) bool {
	dec, err := url.PathUnescape(escaped)
	if err != nil {
		return true
	}
	return ambiguousPath(&url.URL{Path: dec})
}

func FuzzForwardedRequest(f *testing.F) {
	f.Add("GET", "/api/v1/messages?x=1", "api.example.com")
	f.Add("POST", "/a/%2e%2e/b", "")
	f.Add("", "//evil.com/x", "h:80")
	f.Add("G\x00T", "/\x7f", "[::1]:80")
	f.Fuzz(func(t *testing.T, method, uri, host string) {
		r := httptest.NewRequest("GET", "/auth/check", nil)
		r.Header["X-Forwarded-Method"] = []string{method}
		r.Header["X-Forwarded-Uri"] = []string{uri}
		r.Header["X-Forwarded-Host"] = []string{host}
		h := readAuthHeaders(r.Header)
		m, _, u, err := forwardedRequest(r, &h)
		if err != nil {
			if latchkey.ErrorCode(err) != latchkey.CodeValidationFailed {
				t.Fatalf("error %v is not VALIDATION_FAILED", err)
			}
			return
		}
		if !validMethod(m) || u == nil || !strings.HasPrefix(u.EscapedPath(), "/") && u.EscapedPath() != "" {
			t.Fatalf("accepted method %q uri %q as %q %v", method, uri, m, u)
		}
		if u.Host != "" || u.Scheme != "" {
			t.Fatalf("origin-form URI %q parsed with a host or scheme: %v", uri, u)
		}
		// Matching never panics, whatever was accepted.
		routes.Default().Match(m, host, u)
		if got, want := ambiguousPath(u), ambiguousEscapedPath(u.EscapedPath()); got != want {
			t.Fatalf("ambiguousPath(%q) = %v, but the decoded path as sent says %v", uri, got, want)
		}
	})
}
