package server

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
)

// adminRoutes is every admin route with a plausible body.
var adminRoutes = []struct{ method, path, body string }{
	{"POST", "/api/v1/admin/tenants", `{"name":"x"}`},
	{"GET", "/api/v1/admin/tenants", ""},
	{"GET", "/api/v1/admin/tenants/t1", ""},
	{"PATCH", "/api/v1/admin/tenants/t1", `{"name":"x"}`},
	{"DELETE", "/api/v1/admin/tenants/t1", ""},
	{"POST", "/api/v1/admin/users", `{}`},
	{"GET", "/api/v1/admin/users", ""},
	{"GET", "/api/v1/admin/users/u1", ""},
	{"PATCH", "/api/v1/admin/users/u1", `{}`},
	{"DELETE", "/api/v1/admin/users/u1", ""},
	{"PUT", "/api/v1/admin/users/u1/tenants/t1", ""},
	{"DELETE", "/api/v1/admin/users/u1/tenants/t1", ""},
	{"GET", "/api/v1/admin/keys", ""},
	{"POST", "/api/v1/admin/users/u1/keys", `{"name":"x"}`},
	{"GET", "/api/v1/admin/keys/key_x", ""},
	{"PATCH", "/api/v1/admin/keys/key_x", `{}`},
	{"DELETE", "/api/v1/admin/keys/key_x", ""},
	{"PATCH", "/api/v1/admin/keys/key_x/toggle", ""},
	{"POST", "/api/v1/admin/keys/key_x/revoke", ""},
	{"POST", "/api/v1/admin/keys/key_x/rotate", ""},
	{"POST", "/api/v1/admin/root-keys", `{"name":"x","scopes":["*"]}`},
	{"GET", "/api/v1/admin/root-keys", ""},
	{"DELETE", "/api/v1/admin/root-keys/root_x", ""},
	{"GET", "/api/v1/admin/audit-log", ""},
	{"GET", "/api/v1/admin/audit-log/evt_x", ""},
}

func TestAdminAuthentication(t *testing.T) {
	e := newTestEnv(t)
	e.user("u1")
	_, customer := e.key("u1", latchkey.NewKey{})
	manage := e.rootKey(latchkey.ScopeManage, latchkey.ScopeVerify)
	for _, rt := range adminRoutes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			wantError(t, e.do(rt.method, rt.path, rt.body), 401, latchkey.CodeAuthenticationRequired)
			wantError(t, e.do(rt.method, rt.path, rt.body, "X-API-KEY", "junk"), 401, latchkey.CodeInvalidAPIKey)
			wantError(t, e.do(rt.method, rt.path, rt.body, "X-API-KEY", wellFormed(t, "root")), 401, latchkey.CodeInvalidAPIKey)
			wantMessage(t, wantError(t, e.do(rt.method, rt.path, rt.body, "X-API-KEY", customer), 403, latchkey.CodeForbidden), "admin")
			wantMessage(t, wantError(t, e.do(rt.method, rt.path, rt.body, "X-API-KEY", manage), 403, latchkey.CodeForbidden), "'admin' scope")
			wantError(t, e.do(rt.method, rt.path, rt.body, "X-API-KEY", manage, "Authorization", "Bearer "+e.root), 400, latchkey.CodeAmbiguousCredentials)
		})
	}
	t.Run("admin scope is enough", func(t *testing.T) {
		admin := e.rootKey(latchkey.ScopeAdmin)
		wantStatus(t, e.do("GET", "/api/v1/admin/users", nil, "X-API-KEY", admin), 200)
	})
}

func TestAdminTenants(t *testing.T) {
	e := newTestEnv(t)
	hdr := e.admin()
	const base = "/api/v1/admin/tenants"

	r := e.do("POST", base, `{"id":"123","name":"Acme"}`, hdr...)
	wantStatus(t, r, 201)
	if got := strings.TrimSpace(string(r.body)); got != `{"id":"123","name":"Acme","createdAt":"`+rfc3339(start)+`"}` {
		t.Errorf("body = %s", got)
	}
	if loc := r.header.Get("Location"); loc != base+"/123" {
		t.Errorf("Location = %q", loc)
	}
	r = e.do("POST", base, `{"name":"Generated"}`, hdr...)
	wantStatus(t, r, 201)
	if id := r.object(t)["id"].(string); !strings.HasPrefix(id, "ten_") {
		t.Errorf("generated id = %q", id)
	}
	e.do("POST", base, `{"id":"200","name":"Third"}`, hdr...)

	wantError(t, e.do("POST", base, `{"id":"123","name":"Again"}`, hdr...), 409, latchkey.CodeConflict)
	wantError(t, e.do("POST", base, `{"id":"bad id","name":"x"}`, hdr...), 400, latchkey.CodeValidationFailed)
	wantError(t, e.do("POST", base, `{"id":"x"}`, hdr...), 400, latchkey.CodeValidationFailed)
	wantError(t, e.do("POST", base, `{"id":"x","name":"a\u0000"}`, hdr...), 400, latchkey.CodeValidationFailed)
	wantMessage(t, wantError(t, e.do("POST", base, `{"id":7,"name":"x"}`, hdr...), 400, latchkey.CodeValidationFailed), "id must be a string")

	r = e.do("GET", base+"?limit=2", nil, hdr...)
	wantStatus(t, r, 200)
	list := r.array(t)
	if len(list) != 2 || list[0]["id"] != "123" || list[1]["id"] != "200" {
		t.Fatalf("page 1 = %s", r.body)
	}
	if link := r.header.Get("Link"); link != `</api/v1/admin/tenants?after=200&limit=2>; rel="next"` {
		t.Errorf("Link = %q", link)
	}
	r = e.do("GET", base+"?after=200&limit=2", nil, hdr...)
	if list := r.array(t); len(list) != 1 || !strings.HasPrefix(list[0]["id"].(string), "ten_") {
		t.Fatalf("page 2 = %s", r.body)
	}
	wantError(t, e.do("GET", base+"?limit=0", nil, hdr...), 400, latchkey.CodeValidationFailed)
	wantError(t, e.do("GET", base+"?limit=x", nil, hdr...), 400, latchkey.CodeValidationFailed)

	r = e.do("GET", base+"/123", nil, hdr...)
	wantStatus(t, r, 200)
	wantFields(t, r.object(t), "id", "name", "createdAt")
	wantError(t, e.do("GET", base+"/nope", nil, hdr...), 404, latchkey.CodeNotFound)

	r = e.do("PATCH", base+"/123", `{"name":"Acme Inc"}`, hdr...)
	wantStatus(t, r, 200)
	if r.object(t)["name"] != "Acme Inc" {
		t.Errorf("rename: %s", r.body)
	}
	r = e.do("PATCH", base+"/123", `{}`, hdr...)
	wantStatus(t, r, 200)
	if r.object(t)["name"] != "Acme Inc" {
		t.Errorf("empty patch: %s", r.body)
	}
	wantMessage(t, wantError(t, e.do("PATCH", base+"/123", `{"name":null}`, hdr...), 400, latchkey.CodeValidationFailed), "name must be a string, not null")
	wantError(t, e.do("PATCH", base+"/123", `{"name":""}`, hdr...), 400, latchkey.CodeValidationFailed)
	wantError(t, e.do("PATCH", base+"/123", `{"id":"456"}`, hdr...), 400, latchkey.CodeValidationFailed)
	wantError(t, e.do("PATCH", base+"/nope", `{"name":"x"}`, hdr...), 404, latchkey.CodeNotFound)

	r = e.do("DELETE", base+"/123", nil, hdr...)
	wantStatus(t, r, 200)
	if got := strings.TrimSpace(string(r.body)); got != `{"message":"Tenant deleted successfully"}` {
		t.Errorf("body = %s", got)
	}
	wantError(t, e.do("GET", base+"/123", nil, hdr...), 404, latchkey.CodeNotFound)
	wantError(t, e.do("DELETE", base+"/123", nil, hdr...), 404, latchkey.CodeNotFound)
}

func TestAdminUsers(t *testing.T) {
	e := newTestEnv(t)
	hdr := e.admin()
	const base = "/api/v1/admin/users"
	ctx := context.Background()
	for _, id := range []string{"t1", "t2"} {
		if _, err := e.svc.CreateTenant(ctx, id, "T "+id); err != nil {
			t.Fatal(err)
		}
	}
	const password = "correct horse battery staple"

	r := e.do("POST", base, `{"id":"user-123","email":"Ann@Example.com","password":"`+password+`","isAdmin":true,"tenantIds":["t2","t1"]}`, hdr...)
	wantStatus(t, r, 201)
	want := `{"id":"user-123","email":"ann@example.com","isAdmin":true,"disabled":false,"tenantIds":["t2","t1"],"createdAt":"` + rfc3339(start) + `"}`
	if got := strings.TrimSpace(string(r.body)); got != want {
		t.Errorf("body = %s\nwant   %s", got, want)
	}
	if _, err := e.svc.CheckPassword(ctx, "ann@example.com", password); err != nil {
		t.Errorf("password not set: %v", err)
	}

	r = e.do("POST", base, `{}`, hdr...)
	wantStatus(t, r, 201)
	m := r.object(t)
	if !strings.HasPrefix(m["id"].(string), "user_") || m["email"] != nil || !jsonEqual(m["tenantIds"], []any{}) {
		t.Errorf("generated user = %s", r.body)
	}

	for _, tc := range []struct{ name, body, msg string }{
		{"duplicate id", `{"id":"user-123"}`, ""},
		{"password without email", `{"id":"p","password":"long enough password"}`, "email is required"},
		{"bad email", `{"id":"p","email":"not an email"}`, "not a valid address"},
		{"unknown tenant", `{"id":"p","tenantIds":["nope"]}`, "does not exist"},
		{"bad id", `{"id":"a/b"}`, "id must be"},
		{"isAdmin string", `{"isAdmin":"yes"}`, "isAdmin must be a boolean"},
		{"tenantIds string", `{"tenantIds":"t1"}`, "tenantIds must be an array of strings"},
		{"unknown field", `{"passwordHash":"x"}`, `unknown field "passwordHash"`},
	} {
		t.Run("create rejects "+tc.name, func(t *testing.T) {
			r := e.do("POST", base, tc.body, hdr...)
			if tc.name == "duplicate id" {
				wantError(t, r, 409, latchkey.CodeConflict)
				return
			}
			wantMessage(t, wantError(t, r, 400, latchkey.CodeValidationFailed), tc.msg)
		})
	}

	r = e.do("GET", base, nil, hdr...)
	wantStatus(t, r, 200)
	if list := r.array(t); len(list) != 2 {
		t.Errorf("users = %s", r.body)
	}
	r = e.do("GET", base+"/user-123", nil, hdr...)
	wantStatus(t, r, 200)
	wantFields(t, r.object(t), "id", "email", "isAdmin", "disabled", "tenantIds", "createdAt")
	wantError(t, e.do("GET", base+"/nope", nil, hdr...), 404, latchkey.CodeNotFound)

	r = e.do("PATCH", base+"/user-123", `{"isAdmin":false,"disabled":true,"password":"another long password"}`, hdr...)
	wantStatus(t, r, 200)
	if m := r.object(t); m["isAdmin"] != false || m["disabled"] != true {
		t.Errorf("patched = %s", r.body)
	}
	r = e.do("PATCH", base+"/user-123", `{"email":"new@example.com","disabled":false}`, hdr...)
	wantStatus(t, r, 200)
	if m := r.object(t); m["email"] != "new@example.com" || m["disabled"] != false {
		t.Errorf("patched = %s", r.body)
	}
	if _, err := e.svc.CheckPassword(ctx, "new@example.com", "another long password"); err != nil {
		t.Errorf("new password: %v", err)
	}
	wantMessage(t, wantError(t, e.do("PATCH", base+"/user-123", `{"isAdmin":null}`, hdr...), 400, latchkey.CodeValidationFailed), "isAdmin must be a boolean, not null")
	wantMessage(t, wantError(t, e.do("PATCH", base+"/user-123", `{"disabled":"no"}`, hdr...), 400, latchkey.CodeValidationFailed), "disabled must be a boolean")
	wantError(t, e.do("PATCH", base+"/user-123", `{"tenantIds":[]}`, hdr...), 400, latchkey.CodeValidationFailed)
	wantError(t, e.do("PATCH", base+"/nope", `{"isAdmin":true}`, hdr...), 404, latchkey.CodeNotFound)

	t.Run("memberships", func(t *testing.T) {
		r := e.do("DELETE", base+"/user-123/tenants/t2", nil, hdr...)
		wantStatus(t, r, 200)
		if tids := r.object(t)["tenantIds"]; !jsonEqual(tids, []any{"t1"}) {
			t.Errorf("tenantIds = %v", tids)
		}
		r = e.do("PUT", base+"/user-123/tenants/t2", nil, hdr...)
		wantStatus(t, r, 200)
		if tids := r.object(t)["tenantIds"]; !jsonEqual(tids, []any{"t1", "t2"}) {
			t.Errorf("tenantIds = %v", tids)
		}
		wantStatus(t, e.do("PUT", base+"/user-123/tenants/t2", nil, hdr...), 200)
		wantError(t, e.do("PUT", base+"/user-123/tenants/nope", nil, hdr...), 404, latchkey.CodeNotFound)
		wantError(t, e.do("PUT", base+"/nope/tenants/t1", nil, hdr...), 404, latchkey.CodeNotFound)
	})

	t.Run("email can be removed", func(t *testing.T) {
		r := e.do("PATCH", base+"/user-123", `{"email":null}`, hdr...)
		wantStatus(t, r, 200)
		if !strings.Contains(string(r.body), `"email":null`) {
			t.Errorf("body = %s", r.body)
		}
	})

	t.Run("delete removes the user's keys", func(t *testing.T) {
		k, _ := e.key("user-123", latchkey.NewKey{})
		r := e.do("DELETE", base+"/user-123", nil, hdr...)
		wantStatus(t, r, 200)
		if got := strings.TrimSpace(string(r.body)); got != `{"message":"User deleted successfully"}` {
			t.Errorf("body = %s", got)
		}
		wantError(t, e.do("GET", "/api/v1/admin/keys/"+k.ID, nil, hdr...), 404, latchkey.CodeNotFound)
		wantError(t, e.do("GET", base+"/user-123", nil, hdr...), 404, latchkey.CodeNotFound)
	})

	e.srv.Close()
	if strings.Contains(e.logs.String(), password) || strings.Contains(e.logs.String(), "another long password") {
		t.Error("password in the logs")
	}
}

func TestAdminKeys(t *testing.T) {
	e := newTestEnv(t)
	hdr := e.admin()
	e.user("u1", "t1")
	e.user("u2", "t2")

	r := e.do("POST", "/api/v1/admin/users/u1/keys", `{"name":"ops","tenantIds":["t1"],"environment":"test"}`, hdr...)
	wantStatus(t, r, 201)
	m := r.object(t)
	wantFields(t, m, keyFields...)
	if m["ownerId"] != "u1" || !fullKeyRE.MatchString(m["key"].(string)) || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("created = %s", r.body)
	}
	id := m["id"].(string)
	if loc := r.header.Get("Location"); loc != "/api/v1/admin/keys/"+id {
		t.Errorf("Location = %q", loc)
	}
	wantError(t, e.do("POST", "/api/v1/admin/users/nobody/keys", `{"name":"x"}`, hdr...), 404, latchkey.CodeNotFound)
	wantMessage(t, wantError(t, e.do("POST", "/api/v1/admin/users/u1/keys", `{"name":"x","tenantIds":["t2"]}`, hdr...), 400, latchkey.CodeValidationFailed), "not a member")

	for i := 0; i < 3; i++ {
		e.key("u2", latchkey.NewKey{TenantIDs: []string{"t2"}})
	}

	ids := func(r response) []string {
		var out []string
		for _, k := range r.array(t) {
			out = append(out, k["ownerId"].(string))
		}
		return out
	}
	r = e.do("GET", "/api/v1/admin/keys", nil, hdr...)
	wantStatus(t, r, 200)
	if got := ids(r); len(got) != 4 {
		t.Errorf("all keys: %v", got)
	}
	r = e.do("GET", "/api/v1/admin/keys?ownerId=u1", nil, hdr...)
	if got := ids(r); len(got) != 1 || got[0] != "u1" {
		t.Errorf("ownerId=u1: %v", got)
	}
	r = e.do("GET", "/api/v1/admin/keys?tenantId=t2&limit=2", nil, hdr...)
	if got := ids(r); len(got) != 2 || got[0] != "u2" {
		t.Errorf("tenantId=t2: %v", got)
	}
	link := regexp.MustCompile(`^</api/v1/admin/keys\?cursor=[^&]+&limit=2&tenantId=t2>; rel="next"$`)
	if l := r.header.Get("Link"); !link.MatchString(l) {
		t.Errorf("Link = %q", l)
	}
	r = e.do("GET", "/api/v1/admin/keys?environment=test", nil, hdr...)
	if got := ids(r); len(got) != 1 {
		t.Errorf("environment=test: %v", got)
	}
	wantError(t, e.do("GET", "/api/v1/admin/keys?environment=staging", nil, hdr...), 400, latchkey.CodeValidationFailed)
	wantError(t, e.do("GET", "/api/v1/admin/keys?cursor=%00", nil, hdr...), 400, latchkey.CodeValidationFailed)

	path := "/api/v1/admin/keys/" + id
	r = e.do("GET", path, nil, hdr...)
	wantStatus(t, r, 200)
	if !maskedKeyRE.MatchString(r.object(t)["key"].(string)) {
		t.Errorf("admin read shows %s", r.body)
	}
	r = e.do("PATCH", path, `{"name":"renamed by admin","tenantIds":[]}`, hdr...)
	wantStatus(t, r, 200)
	if m := r.object(t); m["name"] != "renamed by admin" || !jsonEqual(m["tenantIds"], []any{}) {
		t.Errorf("patched = %s", r.body)
	}
	r = e.do("PATCH", path+"/toggle", nil, hdr...)
	wantStatus(t, r, 200)
	r = e.do("POST", path+"/rotate", `{"gracePeriod":"1h"}`, hdr...)
	wantStatus(t, r, 201)
	rotated := r.object(t)
	if rotated["rotatedFrom"] != id || rotated["isActive"] != false {
		t.Errorf("rotated = %s", r.body)
	}
	r = e.do("POST", path+"/revoke", nil, hdr...)
	wantStatus(t, r, 200)
	if r.object(t)["revokedAt"] == nil {
		t.Errorf("revoked = %s", r.body)
	}
	r = e.do("DELETE", path, nil, hdr...)
	wantStatus(t, r, 200)
	if got := strings.TrimSpace(string(r.body)); got != `{"message":"API key deleted successfully"}` {
		t.Errorf("body = %s", got)
	}
	for _, rt := range []struct{ method, path string }{{"GET", path}, {"PATCH", path + "/toggle"}, {"POST", path + "/revoke"}, {"DELETE", path}} {
		if msg := wantError(t, e.do(rt.method, rt.path, nil, hdr...), 404, latchkey.CodeNotFound); msg != "API key not found" {
			t.Errorf("%s %s: message %q", rt.method, rt.path, msg)
		}
	}
}

func TestAdminRootKeys(t *testing.T) {
	e := newTestEnv(t)
	hdr := e.admin()
	const base = "/api/v1/admin/root-keys"

	r := e.do("POST", base, `{"name":"verifier","scopes":["keys:verify","admin","admin"]}`, hdr...)
	wantStatus(t, r, 201)
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
	}
	m := r.object(t)
	wantFields(t, m, "id", "name", "key", "scopes", "createdAt")
	secret := m["key"].(string)
	if !regexp.MustCompile(`^tb_root_[0-9A-Za-z]{32}$`).MatchString(secret) || !jsonEqual(m["scopes"], []any{"keys:verify", "admin"}) {
		t.Fatalf("created = %s", r.body)
	}
	wantStatus(t, e.do("GET", base, nil, "X-API-KEY", secret), 200)

	r = e.do("GET", base, nil, hdr...)
	wantStatus(t, r, 200)
	list := r.array(t)
	if len(list) != 2 || strings.Contains(string(r.body), secret) || strings.Contains(string(r.body), e.root) {
		t.Fatalf("list = %s", r.body)
	}
	for _, k := range list {
		wantFields(t, k, "id", "name", "key", "scopes", "createdAt")
		if !regexp.MustCompile(`^tb_root_[0-9A-Za-z]{8}\.\.\.$`).MatchString(k["key"].(string)) {
			t.Errorf("listed key = %v", k["key"])
		}
	}

	wantMessage(t, wantError(t, e.do("POST", base, `{"name":"x","scopes":["superuser"]}`, hdr...), 400, latchkey.CodeValidationFailed), "superuser")
	wantMessage(t, wantError(t, e.do("POST", base, `{"name":"x"}`, hdr...), 400, latchkey.CodeValidationFailed), "scopes")
	wantMessage(t, wantError(t, e.do("POST", base, `{"name":"x","scopes":"*"}`, hdr...), 400, latchkey.CodeValidationFailed), "scopes must be an array of strings")
	wantError(t, e.do("POST", base, `{"scopes":["*"]}`, hdr...), 400, latchkey.CodeValidationFailed)

	r = e.do("DELETE", base+"/"+m["id"].(string), nil, hdr...)
	wantStatus(t, r, 200)
	if got := strings.TrimSpace(string(r.body)); got != `{"message":"Root key deleted successfully"}` {
		t.Errorf("body = %s", got)
	}
	wantError(t, e.do("GET", base, nil, "X-API-KEY", secret), 401, latchkey.CodeInvalidAPIKey)
	wantError(t, e.do("DELETE", base+"/"+m["id"].(string), nil, hdr...), 404, latchkey.CodeNotFound)
}

// TestHostileBodies sends the same malformed bodies to every endpoint that
// reads one.
func TestHostileBodies(t *testing.T) {
	e := newTestEnv(t)
	e.user("u1")
	k, _ := e.key("u1", latchkey.NewKey{})
	if _, err := e.svc.CreateTenant(context.Background(), "t1", "T"); err != nil {
		t.Fatal(err)
	}
	endpoints := []struct {
		method, path string
		optional     bool // an empty body is fine
	}{
		{"POST", keysPath, false},
		{"PATCH", keysPath + "/" + k.ID, false},
		{"POST", keysPath + "/" + k.ID + "/rotate", true},
		{"POST", "/api/v1/admin/tenants", false},
		{"PATCH", "/api/v1/admin/tenants/t1", false},
		{"POST", "/api/v1/admin/users", false},
		{"PATCH", "/api/v1/admin/users/u1", false},
		{"POST", "/api/v1/admin/users/u1/keys", false},
		{"PATCH", "/api/v1/admin/keys/" + k.ID, false},
		{"POST", "/api/v1/admin/keys/" + k.ID + "/rotate", true},
		{"POST", "/api/v1/admin/root-keys", false},
	}
	bodies := []struct{ name, body, msg string }{
		{"array", `[]`, "request body must be a JSON object"},
		{"array of objects", `[{}]`, "request body must be a JSON object"},
		{"string", `"x"`, "request body must be a JSON object"},
		{"truncated", `{"`, "malformed JSON"},
		{"not JSON", `name=x`, "request body must be a JSON object"},
		{"trailing data", `{} []`, "single JSON object"},
		{"unknown field", `{"` + strings.Repeat("z", 5000) + `":1}`, `unknown field "zzzz`},
		{"control bytes", "{\x00}", "malformed JSON"},
		{"invalid UTF-8 key", "{\"\xff\xfe\":1}", "unknown field"},
	}
	for _, ep := range endpoints {
		for _, b := range bodies {
			t.Run(ep.method+" "+ep.path+" "+b.name, func(t *testing.T) {
				r := e.do(ep.method, ep.path, b.body, e.as("u1")...)
				wantMessage(t, wantError(t, r, 400, latchkey.CodeValidationFailed), b.msg)
				if len(r.body) > 400 {
					t.Errorf("error body of %d bytes", len(r.body))
				}
			})
		}
		t.Run(ep.method+" "+ep.path+" empty", func(t *testing.T) {
			r := e.do(ep.method, ep.path, "", e.as("u1")...)
			if ep.optional {
				wantStatus(t, r, 201)
				return
			}
			wantMessage(t, wantError(t, r, 400, latchkey.CodeValidationFailed), "request body is required")
		})
	}
}
