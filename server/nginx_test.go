package server

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
	e := newFrontProxyEnv(t)
	api := newRecordingAPI(t)
	testFrontProxy(t, e, api, startNginx(t, e.srv.URL, api.URL))
}
