package server

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// nginxConf is the documented nginx setup (README "Forward auth"), with
// this test's addresses filled in. Latchkey's real status and body reach
// the client: auth_request passes only 401 and 403 through (with nginx's
// own body) and turns anything else, such as 429, into 500; error_page
// sends those three to @latchkey_error, which asks /auth/check again with
// the original method and URI and returns its answer as is.
const nginxConf = `
{{if .Root}}user root;{{end}}
worker_processes 1;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path {{.Dir}}/client_body;
    proxy_temp_path       {{.Dir}}/proxy;
    fastcgi_temp_path     {{.Dir}}/fastcgi;
    uwsgi_temp_path       {{.Dir}}/uwsgi;
    scgi_temp_path        {{.Dir}}/scgi;

    upstream latchkey { server {{.Latchkey}}; keepalive 16; }
    upstream api      { server {{.API}};      keepalive 16; }

    server {
        listen {{.Listen}};

        location / {
            auth_request /_latchkey/check;
            auth_request_set $latchkey_key_id      $upstream_http_x_latchkey_key_id;
            auth_request_set $latchkey_owner_id    $upstream_http_x_latchkey_owner_id;
            auth_request_set $latchkey_tenant_id   $upstream_http_x_latchkey_tenant_id;
            auth_request_set $latchkey_environment $upstream_http_x_latchkey_environment;
            auth_request_set $latchkey_permissions $upstream_http_x_latchkey_permissions;
            error_page 401 403 500 = @latchkey_error;

            # Replace whatever the client sent under these names; an empty
            # value (public route) sends no header at all.
            proxy_set_header X-Latchkey-Key-Id      $latchkey_key_id;
            proxy_set_header X-Latchkey-Owner-Id    $latchkey_owner_id;
            proxy_set_header X-Latchkey-Tenant-Id   $latchkey_tenant_id;
            proxy_set_header X-Latchkey-Environment $latchkey_environment;
            proxy_set_header X-Latchkey-Permissions $latchkey_permissions;
            proxy_set_header X-Latchkey-Replay      "";
            proxy_set_header X-User-Id              "";
            proxy_set_header Authorization          "";
            proxy_set_header X-API-KEY              "";
            proxy_set_header Host                   $host;
            proxy_set_header X-Forwarded-For        $remote_addr;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://api;
        }

        location = /_latchkey/check {
            internal;
            proxy_pass http://latchkey/auth/check;
            proxy_pass_request_body off;
            proxy_set_header Content-Length     "";
            proxy_set_header X-Forwarded-Method $request_method;
            proxy_set_header X-Forwarded-Uri    $request_uri;
            proxy_set_header X-Forwarded-Host   $host;
            proxy_set_header X-Original-Method  $request_method;
            proxy_set_header X-Original-URI     $request_uri;
            proxy_set_header X-Forwarded-For    $remote_addr;
            proxy_set_header X-Latchkey-Replay  "";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }

        location @latchkey_error {
            internal;
            rewrite ^ /auth/check? break;
            proxy_method GET;
            proxy_pass http://latchkey;
            proxy_pass_request_body off;
            proxy_set_header Content-Length     "";
            proxy_set_header X-Forwarded-Method $request_method;
            proxy_set_header X-Forwarded-Uri    $request_uri;
            proxy_set_header X-Forwarded-Host   $host;
            proxy_set_header X-Original-Method  $request_method;
            proxy_set_header X-Original-URI     $request_uri;
            proxy_set_header X-Forwarded-For    $remote_addr;
            proxy_set_header X-Latchkey-Replay  "1";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`

// startNginx runs nginx with nginxConf in front of api, asking latchkey.
// It skips without nginx, except in CI, where nginx is required.
func startNginx(t *testing.T, latchkeyURL, apiURL string) string {
	t.Helper()
	bin := requiredBinary(t, "nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	listen := freeLoopbackAddr(t)
	confPath := filepath.Join(dir, "nginx.conf")
	writeConfig(t, confPath, nginxConf, map[string]any{
		"Root": os.Geteuid() == 0, "Dir": dir, "Listen": listen,
		"Latchkey": strings.TrimPrefix(latchkeyURL, "http://"), "API": strings.TrimPrefix(apiURL, "http://"),
	})
	cmd := exec.Command(bin, "-p", dir, "-c", confPath, "-e", "stderr",
		"-g", "daemon off; pid "+filepath.Join(dir, "nginx.pid")+"; error_log stderr warn;")
	return startFrontProxy(t, cmd, listen, os.Interrupt) // SIGINT: nginx's fast shutdown
}

func TestNginxForwardAuth(t *testing.T) {
	e := newLimitedEnv(t, withRoutes(t, testRoutes))
	api := newRecordingAPI(t)
	lastUpstream, upstreamCount := api.last, api.count
	front := startNginx(t, e.srv.URL, api.URL)

	e.user("u1", "t1")
	send, sendKey := e.key("u1", latchkey.NewKey{Permissions: []string{"messages:send"}, TenantIDs: []string{"t1"}})
	_, limitedKey := e.key("u1", latchkey.NewKey{RateLimit: &latchkey.RateLimit{Limit: 1, Window: time.Minute}})

	do := func(method, path string, body io.Reader, headers ...string) response {
		t.Helper()
		return sendVia(t, front, method, path, body, headers...)
	}
	// direct asks Latchkey itself, for comparison with what nginx relays.
	direct := func(method, uri string, headers ...string) response {
		return e.check(method, uri, headers...)
	}
	wantRelayed := func(t *testing.T, r response, status int, code string) {
		t.Helper()
		wantError(t, r, status, code) // Latchkey's JSON, not nginx's HTML page
	}

	t.Run("allowed: the upstream sees the identity headers, not the key", func(t *testing.T) {
		r := do("POST", "/api/v1/messages/send?x=1", strings.NewReader(`{"text":"hi"}`), "Authorization", "Bearer "+sendKey)
		if r.status != 200 || !strings.Contains(string(r.body), `"upstream":"api"`) {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		u := lastUpstream()
		for h, want := range map[string]string{
			"X-Latchkey-Key-Id": send.ID, "X-Latchkey-Owner-Id": "u1", "X-Latchkey-Tenant-Id": "t1",
			"X-Latchkey-Environment": "live", "X-Latchkey-Permissions": "messages:send", "Authorization": "",
		} {
			if v := u.Header.Get(h); v != want {
				t.Errorf("upstream %s = %q, want %q", h, v, want)
			}
		}
	})
	t.Run("401 passes through with Latchkey's body", func(t *testing.T) {
		before := upstreamCount()
		wantRelayed(t, do("GET", "/api/v1/messages/send-nothing", nil), 401, latchkey.CodeAuthenticationRequired)
		wantRelayed(t, do("GET", "/x", nil, "X-API-KEY", wellFormed(t, "live")), 401, latchkey.CodeInvalidAPIKey)
		if upstreamCount() != before {
			t.Fatal("a refused request reached the upstream")
		}
	})
	t.Run("403 insufficient permission passes through with Latchkey's body", func(t *testing.T) {
		r := do("GET", "/api/v1/messages", nil, "X-API-KEY", sendKey)
		wantMessage(t, wantError(t, r, 403, latchkey.CodeInsufficientPermission), "'messages:read'")
	})
	t.Run("403 deny route", func(t *testing.T) {
		wantRelayed(t, do("GET", "/internal/metrics", nil, "X-API-KEY", sendKey), 403, latchkey.CodeForbidden)
	})
	t.Run("400 (neither 2xx, 401 nor 403) reaches the client as 400", func(t *testing.T) {
		wantRelayed(t, do("GET", "/x", nil, "X-API-KEY", sendKey, "Authorization", "Bearer "+limitedKey), 400, latchkey.CodeAmbiguousCredentials)
	})
	t.Run("429 reaches the client with Retry-After and Latchkey's body", func(t *testing.T) {
		r := do("GET", "/x", nil, "X-API-KEY", limitedKey)
		if r.status != 200 {
			t.Fatalf("first request: %d %s", r.status, r.body)
		}
		r = do("GET", "/x", nil, "X-API-KEY", limitedKey)
		wantRelayed(t, r, 429, latchkey.CodeRateLimited)
		// Whatever Latchkey sends with a 429 (Retry-After, RateLimit-*),
		// nginx relays.
		d := direct("GET", "/x", "X-API-KEY", limitedKey)
		for _, h := range []string{"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
			if r.header.Get(h) != d.header.Get(h) {
				t.Errorf("%s: nginx relayed %q, Latchkey sends %q", h, r.header.Get(h), d.header.Get(h))
			}
		}
		if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
			t.Fatalf("Retry-After = %q", ra)
		}
	})
	t.Run("public route needs no key and gets no identity", func(t *testing.T) {
		r := do("GET", "/status", nil, "X-Latchkey-Key-Id", "key_forged", "X-Latchkey-Owner-Id", "admin")
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		for name := range lastUpstream().Header {
			if strings.HasPrefix(strings.ToLower(name), "x-latchkey-") {
				t.Errorf("public request reached the upstream with %s", name)
			}
		}
	})
	t.Run("client-sent identity headers never reach the upstream", func(t *testing.T) {
		r := do("POST", "/api/v1/messages/send", nil, "X-API-KEY", sendKey,
			"x-latchkey-key-id", "key_forged", "X-LATCHKEY-OWNER-ID", "admin", "X-Latchkey-Tenant-Id", "t-other",
			"X-Latchkey-Permissions", "*", "X-Latchkey-Environment", "test", "X_Latchkey_Key_Id", "key_underscore",
			"X-User-Id", "admin", "X-Latchkey-Replay", "1")
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		h := lastUpstream().Header
		if h.Get("X-Latchkey-Key-Id") != send.ID || h.Get("X-Latchkey-Owner-Id") != "u1" || h.Get("X-Latchkey-Tenant-Id") != "t1" ||
			h.Get("X-Latchkey-Permissions") != "messages:send" || h.Get("X-Latchkey-Environment") != "live" ||
			len(h.Values("X-Latchkey-Key-Id")) != 1 || h.Get("X-User-Id") != "" || h.Get("X-Latchkey-Replay") != "" {
			t.Fatalf("upstream headers = %v", h)
		}
		for name := range h {
			if strings.Contains(name, "_") {
				t.Errorf("upstream got %s", name)
			}
		}
	})
	t.Run("a client cannot pick the rule with forwarded headers", func(t *testing.T) {
		before := upstreamCount()
		r := do("GET", "/api/v1/messages", nil, "X-API-KEY", sendKey,
			"X-Forwarded-Uri", "/status", "X-Original-URI", "/status", "X-Forwarded-Method", "GET", "X-Original-Method", "GET")
		wantRelayed(t, r, 403, latchkey.CodeInsufficientPermission)
		if upstreamCount() != before {
			t.Fatal("the spoofed request reached the upstream")
		}
	})
}
