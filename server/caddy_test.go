package server

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
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
	e := newFrontProxyEnv(t)
	api := newRecordingAPI(t)
	testFrontProxy(t, e, api, startCaddy(t, e.srv.URL, api.URL))
}

// TestCaddyfileMatchesREADME keeps the tested configuration and the
// documented one the same, but for the addresses.
func TestCaddyfileMatchesREADME(t *testing.T) {
	block := readmeBlock(t, "", "caddy")
	documented := strings.NewReplacer("api.example.com {", "http://{{.Listen}} {",
		"forward_auth latchkey:8080 {", "forward_auth {{.Latchkey}} {", "reverse_proxy api:8000", "reverse_proxy {{.API}}").Replace(block)
	_, tested, _ := strings.Cut(caddyfile, "}\n\n")
	if documented != tested {
		t.Fatalf("README.md's Caddy configuration:\n%s\ndiffers from the tested one:\n%s", documented, tested)
	}
}
