package server

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// caddyfile is the documented Caddy setup (README "Forward auth"), with
// this test's addresses filled in, behind global options that keep this
// Caddy unprivileged and inside the test's directory: no admin endpoint,
// no automatic HTTPS, storage and autosave in Dir. forward_auth returns
// any non-2xx answer from Latchkey unchanged (status, Retry-After, JSON
// body), so no second call is needed as with nginx. The @no-* matchers
// remove what Caddy 2.6's copy_headers sends for a header Latchkey did not
// send: the placeholder's text, "{http.reverse_proxy.header.…}".
const caddyfile = `{
	admin off
	auto_https off
	storage file_system {
		root {{.Dir}}/data
	}
}

http://{{.Listen}} {
	@no-key-id header_regexp X-Latchkey-Key-Id ^\{
	@no-owner-id header_regexp X-Latchkey-Owner-Id ^\{
	@no-tenant-id header_regexp X-Latchkey-Tenant-Id ^\{
	@no-environment header_regexp X-Latchkey-Environment ^\{
	@no-permissions header_regexp X-Latchkey-Permissions ^\{
	route {
		request_header -X-Latchkey-Key-Id
		request_header -X-Latchkey-Owner-Id
		request_header -X-Latchkey-Tenant-Id
		request_header -X-Latchkey-Environment
		request_header -X-Latchkey-Permissions
		request_header -X-Latchkey-Replay
		request_header -X_Latchkey_*
		request_header -X-User-Id
		forward_auth {{.Latchkey}} {
			uri /auth/check
			header_up -X-Original-Method
			header_up -X-Original-URI
			copy_headers X-Latchkey-Key-Id X-Latchkey-Owner-Id X-Latchkey-Tenant-Id X-Latchkey-Environment X-Latchkey-Permissions
		}
		request_header @no-key-id -X-Latchkey-Key-Id
		request_header @no-owner-id -X-Latchkey-Owner-Id
		request_header @no-tenant-id -X-Latchkey-Tenant-Id
		request_header @no-environment -X-Latchkey-Environment
		request_header @no-permissions -X-Latchkey-Permissions
		request_header -Authorization
		request_header -X-API-KEY
		reverse_proxy {{.API}}
	}
}
`

// startCaddy runs caddy with caddyfile in front of api, asking latchkey.
// It skips without caddy, except in CI, where caddy is required.
func startCaddy(t *testing.T, latchkeyURL, apiURL string) string {
	t.Helper()
	bin := requiredBinary(t, "caddy", "/usr/bin/caddy", "/usr/local/bin/caddy")
	dir := t.TempDir()
	listen := freeLoopbackAddr(t)
	confPath := filepath.Join(dir, "Caddyfile")
	writeConfig(t, confPath, caddyfile, map[string]any{
		"Dir": dir, "Listen": listen,
		"Latchkey": strings.TrimPrefix(latchkeyURL, "http://"), "API": strings.TrimPrefix(apiURL, "http://"),
	})
	cmd := exec.Command(bin, "run", "--config", confPath, "--adapter", "caddyfile")
	cmd.Dir = dir
	// Caddy's data and config directories follow these; keep them in dir.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	return startFrontProxy(t, cmd, listen, syscall.SIGTERM) // graceful stop
}

func TestCaddyForwardAuth(t *testing.T) {
	e := newLimitedEnv(t, withRoutes(t, testRoutes))
	api := newRecordingAPI(t)
	lastUpstream, upstreamCount := api.last, api.count
	front := startCaddy(t, e.srv.URL, api.URL)

	e.user("u1", "t1")
	send, sendKey := e.key("u1", latchkey.NewKey{Permissions: []string{"messages:send"}, TenantIDs: []string{"t1"}})
	plain, plainKey := e.key("u1", latchkey.NewKey{})
	_, limitedKey := e.key("u1", latchkey.NewKey{RateLimit: &latchkey.RateLimit{Limit: 1, Window: time.Minute}})

	do := func(method, path string, body io.Reader, headers ...string) response {
		t.Helper()
		return sendVia(t, front, method, path, body, headers...)
	}
	// direct asks Latchkey itself, for comparison with what caddy relays.
	direct := func(method, uri string, headers ...string) response {
		return e.check(method, uri, headers...)
	}
	// refused wants Latchkey's own error (status and JSON body) and no
	// call to the upstream.
	refused := func(t *testing.T, status int, code string, method, path string, headers ...string) string {
		t.Helper()
		before := upstreamCount()
		msg := wantError(t, do(method, path, nil, headers...), status, code)
		if upstreamCount() != before {
			t.Fatalf("the refused %s %s reached the upstream", method, path)
		}
		return msg
	}
	wantIdentity := func(t *testing.T, h http.Header) {
		t.Helper()
		for name, want := range map[string]string{
			"X-Latchkey-Key-Id": send.ID, "X-Latchkey-Owner-Id": "u1", "X-Latchkey-Tenant-Id": "t1",
			"X-Latchkey-Environment": "live", "X-Latchkey-Permissions": "messages:send",
		} {
			if v := h.Values(name); len(v) != 1 || v[0] != want {
				t.Errorf("upstream %s = %q, want %q", name, v, want)
			}
		}
	}

	t.Run("allowed: the upstream sees the identity headers, not the key", func(t *testing.T) {
		for _, cred := range [][]string{{"Authorization", "Bearer " + sendKey}, {"X-API-KEY", sendKey}} {
			r := do("POST", "/api/v1/messages/send?x=1", strings.NewReader(`{"text":"hi"}`), cred...)
			if r.status != 200 || !strings.Contains(string(r.body), `"upstream":"api"`) {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			u := lastUpstream()
			wantIdentity(t, u.Header)
			if u.Method != "POST" || u.URL.RequestURI() != "/api/v1/messages/send?x=1" {
				t.Errorf("upstream got %s %s", u.Method, u.URL.RequestURI())
			}
			for _, h := range []string{"Authorization", "X-Api-Key"} {
				if v, ok := u.Header[h]; ok {
					t.Errorf("upstream got %s: %q", h, v)
				}
			}
		}
	})
	t.Run("a header Latchkey does not send is not sent upstream", func(t *testing.T) {
		// Caddy 2.6's copy_headers would send its placeholder's text.
		r := do("GET", "/x", nil, "X-API-KEY", plainKey, "X-Latchkey-Tenant-Id", "t1")
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		h := lastUpstream().Header
		if v, ok := h["X-Latchkey-Tenant-Id"]; ok {
			t.Errorf("upstream X-Latchkey-Tenant-Id = %q", v)
		}
		if h.Get("X-Latchkey-Key-Id") != plain.ID || h.Get("X-Latchkey-Owner-Id") != "u1" || h.Get("X-Latchkey-Permissions") != "" {
			t.Errorf("upstream headers = %v", h)
		}
	})
	t.Run("401 passes through with Latchkey's body", func(t *testing.T) {
		refused(t, 401, latchkey.CodeAuthenticationRequired, "GET", "/api/v1/messages/send-nothing")
		refused(t, 401, latchkey.CodeInvalidAPIKey, "GET", "/x", "X-API-KEY", wellFormed(t, "live"))
		refused(t, 401, latchkey.CodeInvalidAPIKey, "POST", "/api/v1/messages/send", "Authorization", "Bearer "+wellFormed(t, "live"))
	})
	t.Run("403 insufficient permission passes through with Latchkey's body", func(t *testing.T) {
		wantMessage(t, refused(t, 403, latchkey.CodeInsufficientPermission, "GET", "/api/v1/messages", "X-API-KEY", sendKey), "'messages:read'")
	})
	t.Run("403 deny route", func(t *testing.T) {
		refused(t, 403, latchkey.CodeForbidden, "GET", "/internal/metrics", "X-API-KEY", sendKey)
	})
	t.Run("400 passes through with Latchkey's body", func(t *testing.T) {
		refused(t, 400, latchkey.CodeAmbiguousCredentials, "GET", "/x", "X-API-KEY", sendKey, "Authorization", "Bearer "+limitedKey)
	})
	t.Run("429 reaches the client with Retry-After and Latchkey's body", func(t *testing.T) {
		r := do("GET", "/x", nil, "X-API-KEY", limitedKey)
		if r.status != 200 {
			t.Fatalf("first request: %d %s", r.status, r.body)
		}
		before := upstreamCount()
		r = do("GET", "/x", nil, "X-API-KEY", limitedKey)
		wantError(t, r, 429, latchkey.CodeRateLimited)
		if upstreamCount() != before {
			t.Fatal("a rate-limited request reached the upstream")
		}
		// Whatever Latchkey sends with a 429 (Retry-After, RateLimit-*),
		// caddy relays.
		d := direct("GET", "/x", "X-API-KEY", limitedKey)
		for _, h := range []string{"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
			if r.header.Get(h) != d.header.Get(h) {
				t.Errorf("%s: caddy relayed %q, Latchkey sends %q", h, r.header.Get(h), d.header.Get(h))
			}
		}
		if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
			t.Fatalf("Retry-After = %q", ra)
		}
	})
	t.Run("public route needs no key and gets no identity", func(t *testing.T) {
		r := do("GET", "/status", nil, "X-Latchkey-Key-Id", "key_forged", "X-Latchkey-Owner-Id", "admin", "X-User-Id", "admin")
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		for name := range lastUpstream().Header {
			if n := strings.ToLower(name); strings.HasPrefix(n, "x-latchkey-") || n == "x-user-id" {
				t.Errorf("public request reached the upstream with %s: %q", name, lastUpstream().Header[name])
			}
		}
	})
	t.Run("client-sent identity headers never reach the upstream", func(t *testing.T) {
		spoofed := []string{
			"x-latchkey-key-id", "key_forged", "X-LATCHKEY-OWNER-ID", "admin", "X-Latchkey-Tenant-Id", "t-other",
			"X-Latchkey-Permissions", "*", "X-Latchkey-Environment", "test", "X_Latchkey_Key_Id", "key_underscore",
			"X-User-Id", "admin", "X-Latchkey-Replay", "1",
		}
		r := do("POST", "/api/v1/messages/send", nil, append([]string{"X-API-KEY", sendKey}, spoofed...)...)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		h := lastUpstream().Header
		wantIdentity(t, h)
		if h.Get("X-User-Id") != "" || h.Get("X-Latchkey-Replay") != "" {
			t.Fatalf("upstream headers = %v", h)
		}
		for name := range h {
			if strings.Contains(name, "_") {
				t.Errorf("upstream got %s", name)
			}
		}
		// Without a key the spoofed identity gets nowhere.
		refused(t, 401, latchkey.CodeAuthenticationRequired, "POST", "/api/v1/messages/send", spoofed...)
	})
	t.Run("a client cannot pick the rule with forwarded headers", func(t *testing.T) {
		refused(t, 403, latchkey.CodeInsufficientPermission, "GET", "/api/v1/messages", "X-API-KEY", sendKey,
			"X-Forwarded-Uri", "/status", "X-Original-URI", "/status", "X-Forwarded-Method", "GET", "X-Original-Method", "GET")
	})
}

// TestCaddyfileMatchesREADME keeps the tested configuration and the
// documented one the same, but for the addresses.
func TestCaddyfileMatchesREADME(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "```caddy\n")
	if ok {
		block, _, ok = strings.Cut(block, "```")
	}
	if !ok {
		t.Fatal("README.md has no caddy block")
	}
	documented := strings.NewReplacer("api.example.com {", "http://{{.Listen}} {",
		"forward_auth latchkey:8080 {", "forward_auth {{.Latchkey}} {", "reverse_proxy api:8000", "reverse_proxy {{.API}}").Replace(block)
	_, tested, _ := strings.Cut(caddyfile, "}\n\n")
	if documented != tested {
		t.Fatalf("README.md's Caddy configuration:\n%s\ndiffers from the tested one:\n%s", documented, tested)
	}
}
