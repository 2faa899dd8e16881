package server

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
)

// auditPages follows X-Next-Cursor from path and returns every event.
func (e *testEnv) auditPages(path string) ([]map[string]any, [][]byte) {
	e.t.Helper()
	var events []map[string]any
	var bodies [][]byte
	for range 100 {
		r := e.do("GET", path, nil, e.admin()...)
		wantStatus(e.t, r, http.StatusOK)
		events = append(events, r.array(e.t)...)
		bodies = append(bodies, r.body)
		next := r.header.Get("X-Next-Cursor")
		if next == "" {
			return events, bodies
		}
		link := regexp.MustCompile(`^<([^>]+)>; rel="next"$`).FindStringSubmatch(r.header.Get("Link"))
		if link == nil {
			e.t.Fatalf("X-Next-Cursor without a next Link: %q", r.header.Get("Link"))
		}
		path = link[1]
	}
	e.t.Fatal("more than 100 pages")
	return nil, nil
}

func (e *testEnv) rootID(secret string) string {
	e.t.Helper()
	rk, err := e.svc.AuthenticateRoot(context.Background(), secret)
	if err != nil {
		e.t.Fatal(err)
	}
	return rk.ID
}

func TestAuditLogAPI(t *testing.T) {
	t.Run("admin calls record the root key and the trace ID", func(t *testing.T) {
		e := newTestEnv(t)
		r := e.do("POST", "/api/v1/admin/tenants", map[string]any{"id": "acme", "name": "Acme"}, e.admin()...)
		wantStatus(t, r, http.StatusCreated)
		events, _ := e.auditPages("/api/v1/admin/audit-log?action=tenant.create")
		if len(events) != 1 {
			t.Fatalf("events = %v", events)
		}
		ev := events[0]
		wantFields(t, ev, "id", "time", "actorKind", "actorId", "action", "targetId", "tenantId", "detail", "traceId")
		if ev["actorKind"] != "root_key" || ev["actorId"] != e.rootID(e.root) || ev["targetId"] != "acme" ||
			ev["tenantId"] != "acme" || ev["traceId"] != r.header.Get("X-Trace-Id") {
			t.Fatalf("event = %v, want root key %s and trace %s", ev, e.rootID(e.root), r.header.Get("X-Trace-Id"))
		}
		one := e.do("GET", "/api/v1/admin/audit-log/"+ev["id"].(string), nil, e.admin()...)
		wantStatus(t, one, http.StatusOK)
		if one.object(t)["action"] != "tenant.create" {
			t.Fatalf("GET one = %s", one.body)
		}
		wantError(t, e.do("GET", "/api/v1/admin/audit-log/evt_nope", nil, e.admin()...), 404, latchkey.CodeNotFound)
	})

	t.Run("self-service calls record the user, and the root key acting for it", func(t *testing.T) {
		e := newTestEnv(t)
		r := e.do("POST", "/api/v1/auth/api-keys", map[string]any{"name": "mine"}, e.as("u1")...)
		wantStatus(t, r, http.StatusCreated)
		keyID := r.object(t)["id"].(string)
		events, _ := e.auditPages("/api/v1/admin/audit-log")
		if len(events) < 2 || events[0]["action"] != "key.create" || events[1]["action"] != "user.create" {
			t.Fatalf("events = %v, want key.create then (older) user.create", events)
		}
		root := e.rootID(e.root)
		created, user := events[0], events[1]
		if created["actorKind"] != "user" || created["actorId"] != "u1" || created["targetId"] != keyID ||
			created["detail"].(map[string]any)["via"] != root {
			t.Fatalf("key.create = %v", created)
		}
		if user["actorKind"] != "root_key" || user["actorId"] != root || user["targetId"] != "u1" {
			t.Fatalf("user.create on first use = %v", user)
		}
	})

	t.Run("a trusted proxy's user is the actor", func(t *testing.T) {
		e := newTestEnv(t, func(c *Config) {
			c.TrustUserHeader = true
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
		})
		wantStatus(t, e.do("POST", "/api/v1/auth/api-keys", map[string]any{"name": "mine"}, "X-User-Id", "u2"), http.StatusCreated)
		events, _ := e.auditPages("/api/v1/admin/audit-log?actor=u2")
		if len(events) != 2 {
			t.Fatalf("events by u2 = %v", events)
		}
		for _, ev := range events {
			if ev["actorKind"] != "user" || ev["detail"].(map[string]any)["via"] != "trusted_proxy" {
				t.Fatalf("event = %v", ev)
			}
		}
	})

	t.Run("filters, limit and cursor", func(t *testing.T) {
		e := newTestEnv(t)
		e.user("u1")
		k, _ := e.key("u1", latchkey.NewKey{})
		for range 3 {
			wantStatus(t, e.do("PATCH", "/api/v1/admin/keys/"+k.ID+"/toggle", nil, e.admin()...), http.StatusOK)
		}
		wantStatus(t, e.do("POST", "/api/v1/admin/keys/"+k.ID+"/revoke", nil, e.admin()...), http.StatusOK)

		r := e.do("GET", "/api/v1/admin/audit-log?action=key.&target="+k.ID+"&limit=2", nil, e.admin()...)
		wantStatus(t, r, http.StatusOK)
		page := r.array(t)
		if len(page) != 2 || page[0]["action"] != "key.revoke" || page[1]["action"] != "key.toggle" {
			t.Fatalf("page 1 = %v", page)
		}
		link := r.header.Get("Link")
		for _, want := range []string{"cursor=", "limit=2", "action=key.", "target=" + k.ID, `rel="next"`} {
			if !strings.Contains(link, want) {
				t.Fatalf("Link = %q, want %q in it", link, want)
			}
		}
		events, _ := e.auditPages("/api/v1/admin/audit-log?action=key.&target=" + k.ID + "&limit=2")
		var actions []string
		for _, ev := range events {
			actions = append(actions, ev["action"].(string))
		}
		if got := strings.Join(actions, ","); got != "key.revoke,key.toggle,key.toggle,key.toggle,key.create" {
			t.Fatalf("actions = %s", got)
		}
		admin := e.rootID(e.root)
		if byAdmin, _ := e.auditPages("/api/v1/admin/audit-log?actor=" + admin); len(byAdmin) != 4 {
			t.Fatalf("%d events by the admin root key, want 4", len(byAdmin))
		}
		if system, _ := e.auditPages("/api/v1/admin/audit-log?actorKind=system&action=key."); len(system) != 1 {
			t.Fatalf("%d key events by the system, want 1 (the create)", len(system))
		}
		wantError(t, e.do("GET", "/api/v1/admin/audit-log?limit=0", nil, e.admin()...), 400, latchkey.CodeValidationFailed)
		wantError(t, e.do("GET", "/api/v1/admin/audit-log?cursor=@@", nil, e.admin()...), 400, latchkey.CodeValidationFailed)
		wantError(t, e.do("GET", "/api/v1/admin/audit-log?actorKind=robot", nil, e.admin()...), 400, latchkey.CodeValidationFailed)
	})

	t.Run("admins only", func(t *testing.T) {
		e := newTestEnv(t)
		verify := e.rootKey(latchkey.ScopeVerify)
		manage := e.rootKey(latchkey.ScopeManage)
		e.user("u1")
		_, customer := e.key("u1", latchkey.NewKey{})
		for _, path := range []string{"/api/v1/admin/audit-log", "/api/v1/admin/audit-log/evt_x"} {
			wantError(t, e.do("GET", path, nil), 401, latchkey.CodeAuthenticationRequired)
			wantError(t, e.do("GET", path, nil, "Authorization", "Bearer "+verify), 403, latchkey.CodeForbidden)
			wantError(t, e.do("GET", path, nil, "Authorization", "Bearer "+manage, "X-User-Id", "u1"), 403, latchkey.CodeForbidden)
			wantError(t, e.do("GET", path, nil, "X-API-KEY", customer), 403, latchkey.CodeForbidden)
		}
	})
}

// TestAuditLogHoldsNoSecret issues every kind of secret through the API,
// then reads the whole audit log through the API and the database files'
// bytes: no key, root key, client secret or password is in either.
func TestAuditLogHoldsNoSecret(t *testing.T) {
	e := newTestEnv(t)
	var secrets []string
	secret := func(r response, field string) {
		t.Helper()
		if r.status >= 300 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		s, _ := r.object(t)[field].(string)
		if s == "" || strings.HasSuffix(s, "...") {
			t.Fatalf("no %s in %s", field, r.body)
		}
		secrets = append(secrets, s)
	}
	const pw, pw2 = "correct horse battery", "staple staple staple"
	secrets = append(secrets, pw, pw2, e.root)
	wantStatus(t, e.do("POST", "/api/v1/admin/users", map[string]any{"id": "alice", "email": "alice@example.com", "password": pw}, e.admin()...), 201)
	wantStatus(t, e.do("PATCH", "/api/v1/admin/users/alice", map[string]any{"password": pw2}, e.admin()...), 200)
	r := e.do("POST", "/api/v1/auth/api-keys", map[string]any{"name": "k"}, e.as("alice")...)
	secret(r, "key")
	id := r.object(t)["id"].(string)
	secret(e.do("POST", "/api/v1/auth/api-keys/"+id+"/rotate", map[string]any{"gracePeriod": "1h"}, e.as("alice")...), "key")
	secret(e.do("POST", "/api/v1/admin/users/alice/keys", map[string]any{"name": "k2", "environment": "test"}, e.admin()...), "key")
	secret(e.do("POST", "/api/v1/admin/root-keys", map[string]any{"name": "ci", "scopes": []string{"keys:verify"}}, e.admin()...), "key")
	r = e.do("POST", "/api/v1/admin/oauth-clients", map[string]any{"name": "billing", "scopes": []string{"messages:send"}}, e.admin()...)
	secret(r, "clientSecret")
	client := r.object(t)["clientId"].(string)
	secret(e.do("POST", "/api/v1/admin/oauth-clients/"+client+"/rotate-secret", nil, e.admin()...), "clientSecret")

	events, bodies := e.auditPages("/api/v1/admin/audit-log?limit=3")
	if len(events) < 8 {
		t.Fatalf("only %d events", len(events))
	}
	var files []byte
	for _, name := range []string{e.path, e.path + "-wal"} {
		b, err := os.ReadFile(name)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		files = append(files, b...)
	}
	if !bytes.Contains(files, []byte("oauth_client.rotate_secret")) {
		t.Fatal("the audit log is not in the files read")
	}
	output := bytes.Join(bodies, nil)
	for _, s := range secrets {
		body := s[strings.LastIndex(s, "_")+1:] // for keys, the random part alone
		for what, b := range map[string][]byte{"the audit API": output, "the database": files} {
			if bytes.Contains(b, []byte(s)) || bytes.Contains(b, []byte(body)) {
				t.Errorf("%s holds the secret %.10s…", what, s)
			}
		}
	}
	if !bytes.Contains(output, []byte(`"password"`)) {
		t.Error("the password change is not named in the audit log")
	}
}
