package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/apikey"
)

const e2eRoutes = `default: authenticated
routes:
  - pattern: "POST /api/v1/messages/send"
    permission: messages:send
  - pattern: "GET /api/v1/messages"
    permission: messages:read
  - pattern: "GET /status"
    public: true
  - pattern: "/admin/"
    deny: true
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// proxyAddr finds the address in the "proxy listening" log line.
func proxyAddr(logs string) string {
	for _, line := range strings.Split(logs, "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "proxy listening" {
			return rec.Addr
		}
	}
	return ""
}

func TestServeWithRoutesAndProxy(t *testing.T) {
	var hits, slowHits atomic.Int64
	slow := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/slow" {
			slowHits.Add(1)
			<-slow
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{
			"keyId": r.Header.Get("X-Latchkey-Key-Id"), "env": r.Header.Get("X-Latchkey-Environment"),
			"auth": r.Header.Get("Authorization"), "path": r.URL.Path, "upstream": "live",
		})
	}))
	defer up.Close()
	sandbox := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"upstream": "test", "env": r.Header.Get("X-Latchkey-Environment")})
	}))
	defer sandbox.Close()

	root, _ := apikey.Generate("lk", apikey.Root)
	e, _ := newEnv(t)
	e = e.with("LATCHKEY_ROOT_KEY", root.String(), "LATCHKEY_ROUTES", writeFile(t, "routes.yaml", e2eRoutes),
		"LATCHKEY_PROXY_ADDR", "127.0.0.1:0", "LATCHKEY_UPSTREAM", up.URL, "LATCHKEY_TEST_UPSTREAM", sandbox.URL)
	s := startServer(t, e)
	if strings.Contains(s.stderr.String(), "not implemented") {
		t.Fatalf("a proxy setting is still reported as inactive:\n%s", s.stderr)
	}
	prx := "http://" + proxyAddr(s.stderr.String())
	if prx == "http://" {
		t.Fatalf("no proxy listening line:\n%s", s.stderr)
	}
	admin := map[string]string{"Authorization": "Bearer " + root.String()}

	// The routes file's permissions joined the catalog.
	resp, err := http.DefaultClient.Do(mustRequest(t, "GET", s.url+"/api/v1/admin/permissions", admin))
	if err != nil {
		t.Fatal(err)
	}
	var catalog []map[string]any
	json.NewDecoder(resp.Body).Decode(&catalog)
	resp.Body.Close()
	if len(catalog) != 2 || catalog[0]["name"] != "messages:read" || catalog[1]["name"] != "messages:send" {
		t.Fatalf("catalog = %v", catalog)
	}

	id, secret := createKey(t, s.url, root.String(), "user-1")
	bearer := map[string]string{"Authorization": "Bearer " + secret}

	t.Run("proxy", func(t *testing.T) {
		status, body := request(t, "POST", prx+"/api/v1/messages/send", bearer, map[string]string{"text": "hi"})
		if status != 200 || body["keyId"] != id || body["auth"] != "" || body["upstream"] != "live" {
			t.Fatalf("proxied: %d %v", status, body)
		}
		before := hits.Load()
		status, body = request(t, "GET", prx+"/api/v1/messages", bearer, nil)
		if status != 403 || body["error"].(map[string]any)["code"] != "INSUFFICIENT_PERMISSIONS" || hits.Load() != before {
			t.Fatalf("refused: %d %v", status, body)
		}
		if status, _ := request(t, "GET", prx+"/admin/x", bearer, nil); status != 403 {
			t.Fatalf("deny: %d", status)
		}
		if status, _ := request(t, "GET", prx+"/status", nil, nil); status != 200 {
			t.Fatalf("public: %d", status)
		}
	})
	t.Run("test keys reach the sandbox", func(t *testing.T) {
		status, body := request(t, "POST", s.url+"/api/v1/auth/api-keys",
			map[string]string{"Authorization": "Bearer " + root.String(), "x-user-id": "user-1"},
			map[string]any{"name": "sandbox", "environment": "test"})
		if status != 201 {
			t.Fatalf("create test key: %d %v", status, body)
		}
		status, body = request(t, "GET", prx+"/anything", map[string]string{"X-API-KEY": body["key"].(string)}, nil)
		if status != 200 || body["upstream"] != "test" || body["env"] != "test" {
			t.Fatalf("test key: %d %v", status, body)
		}
	})
	t.Run("forward auth uses the same routes", func(t *testing.T) {
		check := func(method, uri string, h map[string]string) int {
			hdr := map[string]string{"X-Original-Method": method, "X-Original-URI": uri}
			for k, v := range h {
				hdr[k] = v
			}
			resp, err := http.DefaultClient.Do(mustRequest(t, "GET", s.url+"/auth/check", hdr))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if got := check("POST", "/api/v1/messages/send", bearer); got != 200 {
			t.Fatalf("allowed: %d", got)
		}
		if got := check("GET", "/api/v1/messages", bearer); got != 403 {
			t.Fatalf("insufficient: %d", got)
		}
		if got := check("GET", "/status", nil); got != 200 {
			t.Fatalf("public: %d", got)
		}
		if got := check("GET", "/x", nil); got != 401 {
			t.Fatalf("missing: %d", got)
		}
	})
	t.Run("shutdown waits for in-flight proxied requests", func(t *testing.T) {
		done := make(chan int, 1)
		go func() {
			resp, err := http.DefaultClient.Do(mustRequest(t, "GET", prx+"/slow", bearer))
			if err != nil {
				done <- -1
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			done <- resp.StatusCode
		}()
		deadline := time.Now().Add(5 * time.Second)
		for slowHits.Load() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("slow request never reached the upstream")
			}
			time.Sleep(10 * time.Millisecond)
		}
		stopped := make(chan error, 1)
		go func() { stopped <- s.stop(t) }()
		time.Sleep(200 * time.Millisecond)
		close(slow)
		if code := <-done; code != 200 {
			t.Fatalf("in-flight proxied request got %d", code)
		}
		if err := <-stopped; err != nil {
			t.Fatalf("serve: %v", err)
		}
	})
}

func mustRequest(t *testing.T, method, url string, header map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req
}

func TestServeRefusesAnInvalidRoutesFile(t *testing.T) {
	e, _ := newEnv(t)
	path := writeFile(t, "routes.yaml", "default: authenticated\nroutes:\n  - pattern: \"GET /a\"\n  - pattern: \"GET /a\"\n")
	r := runCLI(t, e.with("LATCHKEY_ROUTES", path), "", "serve", "--addr", "127.0.0.1:0")
	if r.err == nil || !strings.Contains(r.err.Error(), "routes.yaml:4:") || !strings.Contains(r.err.Error(), "conflicts") {
		t.Fatalf("serve: %v", r.err)
	}
	path = writeFile(t, "bad.yaml", "default: authenticated\nroutes:\n  - pattern: /x\n    permision: a:b\n")
	r = runCLI(t, e.with("LATCHKEY_ROUTES", path), "", "serve", "--addr", "127.0.0.1:0")
	if r.err == nil || !strings.Contains(r.err.Error(), "bad.yaml:4: unknown field \"permision\"") {
		t.Fatalf("serve: %v", r.err)
	}
}

func TestPermissionsCommands(t *testing.T) {
	e, _ := newEnv(t)
	r := mustRun(t, e, "", "permissions", "list")
	if r.stdout != "" || !strings.Contains(r.stderr, "empty") {
		t.Fatalf("empty list: %q %q", r.stdout, r.stderr)
	}
	r = mustRun(t, e, "", "permissions", "create", "messages:send", "--description", "Send messages")
	if r.stdout != "messages:send\n" {
		t.Fatalf("create stdout = %q", r.stdout)
	}
	mustRun(t, e, "", "permissions", "create", "messages:read")
	mustFail(t, e, "", "already exists", "permissions", "create", "messages:read")
	mustFail(t, e, "", "not a valid permission", "permissions", "create", "bad perm")
	mustFail(t, e, "", "exactly one", "permissions", "create")
	r = mustRun(t, e, "", "permissions", "list")
	if !strings.Contains(r.stdout, "messages:read") || !strings.Contains(r.stdout, "Send messages") {
		t.Fatalf("list = %q", r.stdout)
	}
	r = mustRun(t, e, "", "permissions", "list", "--json")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var p struct{ Name, Description string }
	if len(lines) != 2 || json.Unmarshal([]byte(lines[1]), &p) != nil || p.Name != "messages:send" || p.Description != "Send messages" {
		t.Fatalf("json = %q", r.stdout)
	}
	// The catalog now governs keys made by the CLI too.
	mustRun(t, e, "", "users", "create", "--id", "u1")
	mustFail(t, e, "", "not in the permission catalog", "keys", "create", "--user", "u1", "--name", "k", "--permissions", "numbers:write")
	mustRun(t, e, "", "keys", "create", "--user", "u1", "--name", "k", "--permissions", "messages:*")
}
