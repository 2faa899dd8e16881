package server

import (
	"testing"

	"github.com/latchkey/latchkey"
)

func TestPermissionCatalog(t *testing.T) {
	e := newTestEnv(t)
	e.user("u1")

	r := e.do("GET", "/api/v1/admin/permissions", nil, e.admin()...)
	wantStatus(t, r, 200)
	if len(r.array(t)) != 0 {
		t.Fatalf("empty catalog = %s", r.body)
	}
	// An empty catalog allows any well-formed permission.
	wantStatus(t, e.do("POST", "/api/v1/auth/api-keys", map[string]any{"name": "k", "permissions": []string{"any:thing"}}, e.as("u1")...), 201)

	r = e.do("POST", "/api/v1/admin/permissions", map[string]any{"name": "messages:send", "description": "Send messages"}, e.admin()...)
	wantStatus(t, r, 201)
	m := r.object(t)
	wantFields(t, m, "name", "description", "createdAt")
	if m["name"] != "messages:send" || m["description"] != "Send messages" || r.header.Get("Location") != "/api/v1/admin/permissions/messages:send" {
		t.Fatalf("created %v at %q", m, r.header.Get("Location"))
	}
	wantStatus(t, e.do("POST", "/api/v1/admin/permissions", map[string]any{"name": "messages:read"}, e.admin()...), 201)
	wantError(t, e.do("POST", "/api/v1/admin/permissions", map[string]any{"name": "messages:read"}, e.admin()...), 409, latchkey.CodeConflict)
	wantError(t, e.do("POST", "/api/v1/admin/permissions", map[string]any{"name": "no spaces"}, e.admin()...), 400, latchkey.CodeValidationFailed)
	wantError(t, e.do("POST", "/api/v1/admin/permissions", map[string]any{"name": "a:b", "desc": "x"}, e.admin()...), 400, latchkey.CodeValidationFailed)

	r = e.do("GET", "/api/v1/admin/permissions", nil, e.admin()...)
	if a := r.array(t); len(a) != 2 || a[0]["name"] != "messages:read" || a[1]["name"] != "messages:send" {
		t.Fatalf("catalog = %s", r.body)
	}

	create := func(perms ...string) response {
		return e.do("POST", "/api/v1/auth/api-keys", map[string]any{"name": "k", "permissions": perms}, e.as("u1")...)
	}
	t.Run("keys may only hold catalog permissions", func(t *testing.T) {
		wantStatus(t, create("messages:send"), 201)
		msg := wantError(t, create("messages:send", "numbers:write"), 400, latchkey.CodeValidationFailed)
		wantMessage(t, msg, `"numbers:write"`)
	})
	t.Run("prefix wildcards need a catalog permission under the prefix", func(t *testing.T) {
		wantStatus(t, create("messages:*"), 201)
		wantMessage(t, wantError(t, create("numbers:*"), 400, latchkey.CodeValidationFailed), `"numbers:*"`)
	})
	t.Run("* needs * in the catalog", func(t *testing.T) {
		wantMessage(t, wantError(t, create("*"), 400, latchkey.CodeValidationFailed), `"*"`)
		wantStatus(t, e.do("POST", "/api/v1/admin/permissions", map[string]any{"name": "*"}, e.admin()...), 201)
		wantStatus(t, create("*"), 201)
		wantStatus(t, e.do("DELETE", "/api/v1/admin/permissions/%2A", nil, e.admin()...), 200)
	})
	t.Run("updates are checked too", func(t *testing.T) {
		r := create("messages:send")
		id := r.object(t)["id"].(string)
		wantError(t, e.do("PATCH", "/api/v1/auth/api-keys/"+id, map[string]any{"permissions": []string{"x:y"}}, e.as("u1")...), 400, latchkey.CodeValidationFailed)
		wantStatus(t, e.do("PATCH", "/api/v1/admin/keys/"+id, map[string]any{"permissions": []string{"messages:read"}}, e.admin()...), 200)
		wantError(t, e.do("PATCH", "/api/v1/admin/keys/"+id, map[string]any{"permissions": []string{"x:y"}}, e.admin()...), 400, latchkey.CodeValidationFailed)
	})
	t.Run("delete by name, colons in the path segment", func(t *testing.T) {
		r := e.do("DELETE", "/api/v1/admin/permissions/messages:read", nil, e.admin()...)
		wantStatus(t, r, 200)
		if r.object(t)["message"] != "Permission deleted successfully" {
			t.Fatalf("body = %s", r.body)
		}
		wantError(t, e.do("DELETE", "/api/v1/admin/permissions/messages:read", nil, e.admin()...), 404, latchkey.CodeNotFound)
		wantError(t, create("messages:read"), 400, latchkey.CodeValidationFailed)
	})
	t.Run("admin only", func(t *testing.T) {
		wantError(t, e.do("GET", "/api/v1/admin/permissions", nil), 401, latchkey.CodeAuthenticationRequired)
		_, k := e.key("u1", latchkey.NewKey{Permissions: []string{"messages:send"}})
		wantError(t, e.do("GET", "/api/v1/admin/permissions", nil, "X-API-KEY", k), 403, latchkey.CodeForbidden)
	})
}
