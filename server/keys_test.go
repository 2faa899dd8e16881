package server

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

const keysPath = "/api/v1/auth/api-keys"

var (
	fullKeyRE   = regexp.MustCompile(`^tb_(live|test)_[0-9A-Za-z]{32}$`)
	maskedKeyRE = regexp.MustCompile(`^tb_(live|test)_[0-9A-Za-z]{8}\.\.\.$`)
	keyFields   = []string{"id", "name", "key", "environment", "permissions", "tenantIds", "ownerId",
		"isActive", "expiresAt", "revokedAt", "createdAt", "lastUsedAt", "requestCount", "rateLimit", "meta"}
)

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func TestCreateKey(t *testing.T) {
	e := newTestEnv(t)
	e.user("user-123", "123")

	t.Run("every field", func(t *testing.T) {
		r := e.do("POST", keysPath, map[string]any{
			"name": "My App API Key", "environment": "test",
			"permissions": []string{"messages:send", "messages:*", "messages:send"},
			"tenantIds":   []string{"123"},
			"expiresIn":   "30d",
			"rateLimit":   map[string]any{"limit": 100, "window": "1m"},
			"meta":        map[string]any{"team": "growth", "n": 3},
		}, e.as("user-123")...)
		wantStatus(t, r, 201)
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q", cc)
		}
		m := r.object(t)
		wantFields(t, m, keyFields...)
		secret := m["key"].(string)
		if !fullKeyRE.MatchString(secret) || !strings.HasPrefix(secret, "tb_test_") {
			t.Errorf("key = %q, want a full test key", secret)
		}
		if loc := r.header.Get("Location"); loc != keysPath+"/"+m["id"].(string) {
			t.Errorf("Location = %q", loc)
		}
		want := map[string]any{
			"name": "My App API Key", "environment": "test",
			"permissions": []any{"messages:send", "messages:*"}, "tenantIds": []any{"123"},
			"ownerId": "user-123", "isActive": true,
			"expiresAt": rfc3339(start.Add(30 * 24 * time.Hour)), "revokedAt": nil,
			"createdAt": rfc3339(start), "lastUsedAt": nil, "requestCount": float64(0),
			"rateLimit": map[string]any{"limit": float64(100), "window": "1m"},
			"meta":      map[string]any{"team": "growth", "n": float64(3)},
		}
		for k, v := range want {
			if !jsonEqual(m[k], v) {
				t.Errorf("%s = %#v, want %#v", k, m[k], v)
			}
		}
		k, err := e.svc.AuthenticateKey(context.Background(), secret)
		if err != nil || k.ID != m["id"] {
			t.Fatalf("created key does not authenticate: %v", err)
		}
	})

	t.Run("defaults", func(t *testing.T) {
		r := e.do("POST", keysPath, `{"name": "minimal"}`, e.as("user-123")...)
		wantStatus(t, r, 201)
		for _, frag := range []string{`"environment":"live"`, `"permissions":[]`, `"tenantIds":[]`,
			`"expiresAt":null`, `"rateLimit":null`, `"meta":{}`, `"isActive":true`, `"lastUsedAt":null`} {
			if !strings.Contains(string(r.body), frag) {
				t.Errorf("body lacks %s: %s", frag, r.body)
			}
		}
		if strings.Contains(string(r.body), "rotatedFrom") {
			t.Errorf("rotatedFrom present: %s", r.body)
		}
		m := r.object(t)
		secret := m["key"].(string)

		got := e.do("GET", keysPath+"/"+m["id"].(string), nil, e.as("user-123")...)
		wantStatus(t, got, 200)
		g := got.object(t)
		wantFields(t, g, keyFields...)
		masked := g["key"].(string)
		if !maskedKeyRE.MatchString(masked) || masked != secret[:len("tb_live_")+8]+"..." {
			t.Errorf("masked key = %q for %q", masked, secret)
		}
		if strings.Contains(string(got.body), secret) {
			t.Errorf("full key shown again: %s", got.body)
		}
	})

	t.Run("unicode name", func(t *testing.T) {
		name := "Clé 🔑 日本語 \"quoted\" <b>"
		r := e.do("POST", keysPath, map[string]any{"name": name}, e.as("user-123")...)
		wantStatus(t, r, 201)
		if got := r.object(t)["name"]; got != name {
			t.Errorf("name = %q", got)
		}
	})

	t.Run("expiresAt", func(t *testing.T) {
		r := e.do("POST", keysPath, `{"name":"x","expiresAt":"2030-06-01T12:00:00+02:00"}`, e.as("user-123")...)
		wantStatus(t, r, 201)
		if got := r.object(t)["expiresAt"]; got != "2030-06-01T10:00:00Z" {
			t.Errorf("expiresAt = %v", got)
		}
	})
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// badBodies are hostile or invalid create-key bodies and what the 400 says.
var badCreateBodies = []struct {
	name, body, msg string
}{
	{"empty body", ``, "request body is required"},
	{"whitespace body", "  \n ", "request body is required"},
	{"array", `[{"name":"x"}]`, "request body must be a JSON object"},
	{"string", `"name"`, "request body must be a JSON object"},
	{"null", `null`, "request body must be a JSON object"},
	{"number", `42`, "request body must be a JSON object"},
	{"truncated", `{"name":"x"`, "malformed JSON"},
	{"trailing comma", `{"name":"x",}`, "malformed JSON at offset 12"},
	{"single quotes", `{'name':'x'}`, "malformed JSON at offset"},
	{"two objects", `{"name":"x"} {"name":"y"}`, "single JSON object"},
	{"trailing garbage", `{"name":"x"}garbage`, "single JSON object"},
	{"name number", `{"name":1}`, "name must be a string"},
	{"name object", `{"name":{"a":1}}`, "name must be a string"},
	{"unknown field", `{"name":"x","foo":1}`, `unknown field "foo"`},
	{"unknown field case", `{"name":"x","Secret":true}`, `unknown field "Secret"`},
	{"permissions string", `{"name":"x","permissions":"messages:send"}`, "permissions must be an array of strings"},
	{"permissions numbers", `{"name":"x","permissions":[1,2]}`, "permissions must be an array of strings"},
	{"permissions invalid", `{"name":"x","permissions":["messages send"]}`, "not a valid permission"},
	{"permissions empty segment", `{"name":"x","permissions":["messages::send"]}`, "not a valid permission"},
	{"permissions inner star", `{"name":"x","permissions":["*:send"]}`, "not a valid permission"},
	{"permissions empty", `{"name":"x","permissions":[""]}`, "not a valid permission"},
	{"tenantIds object", `{"name":"x","tenantIds":{}}`, "tenantIds must be an array of strings"},
	{"tenantIds not member", `{"name":"x","tenantIds":["456"]}`, "not a member"},
	{"tenantIds unknown", `{"name":"x","tenantIds":["nope"]}`, "not a member"},
	{"environment prod", `{"name":"x","environment":"prod"}`, `environment must be "live" or "test"`},
	{"environment root", `{"name":"x","environment":"root"}`, `environment must be "live" or "test"`},
	{"environment number", `{"name":"x","environment":1}`, "environment must be a string"},
	{"meta array", `{"name":"x","meta":[1]}`, "meta must be an object"},
	{"meta string", `{"name":"x","meta":"x"}`, "meta must be an object"},
	{"rateLimit array", `{"name":"x","rateLimit":[]}`, "rateLimit must be an object"},
	{"rateLimit limit string", `{"name":"x","rateLimit":{"limit":"a","window":"1m"}}`, "rateLimit.limit must be an integer"},
	{"rateLimit limit float", `{"name":"x","rateLimit":{"limit":1.5,"window":"1m"}}`, "rateLimit.limit must be an integer"},
	{"rateLimit limit huge", `{"name":"x","rateLimit":{"limit":1e40,"window":"1m"}}`, "rateLimit.limit must be an integer"},
	{"rateLimit limit zero", `{"name":"x","rateLimit":{"limit":0,"window":"1m"}}`, "rateLimit.limit must be between"},
	{"rateLimit no window", `{"name":"x","rateLimit":{"limit":10}}`, "rateLimit.window is required"},
	{"rateLimit bad window", `{"name":"x","rateLimit":{"limit":10,"window":"forever"}}`, "rateLimit.window: invalid duration"},
	{"rateLimit tiny window", `{"name":"x","rateLimit":{"limit":10,"window":"1ms"}}`, "rateLimit.window must be between"},
	{"rateLimit window number", `{"name":"x","rateLimit":{"limit":10,"window":60}}`, "rateLimit.window must be a string"},
	{"rateLimit unknown field", `{"name":"x","rateLimit":{"limit":10,"window":"1m","burst":3}}`, `unknown field "burst"`},
	{"no name", `{}`, "API key name is required"},
	{"empty name", `{"name":""}`, "API key name is required"},
	{"blank name", `{"name":"   "}`, "API key name is required"},
	{"null name", `{"name":null}`, "API key name is required"},
	{"long name", `{"name":"` + strings.Repeat("a", 101) + `"}`, ""},
	{"NUL in name", `{"name":"a\u0000b"}`, ""},
	{"newline in name", `{"name":"a\nb"}`, ""},
	{"escape in name", `{"name":"\u001b[31mred"}`, ""},
	{"DEL in name", `{"name":"a\u007fb"}`, ""},
	{"huge name", `{"name":"` + strings.Repeat("🔑", 100_000) + `"}`, ""},
	{"expiresAt not a time", `{"name":"x","expiresAt":"tomorrow"}`, "expiresAt must be an RFC 3339 time"},
	{"expiresAt date only", `{"name":"x","expiresAt":"2030-01-01"}`, "expiresAt must be an RFC 3339 time"},
	{"expiresAt number", `{"name":"x","expiresAt":1893456000}`, "expiresAt must be a string"},
	{"expiresAt past", `{"name":"x","expiresAt":"2020-01-01T00:00:00Z"}`, "expiresAt must be in the future"},
	{"both expiries", `{"name":"x","expiresAt":"2030-01-01T00:00:00Z","expiresIn":"1h"}`, "either expiresAt or expiresIn"},
	{"expiresIn negative", `{"name":"x","expiresIn":"-1h"}`, "expiresIn must be at least 1s"},
	{"expiresIn zero", `{"name":"x","expiresIn":"0s"}`, "expiresIn must be at least 1s"},
	{"expiresIn under a second", `{"name":"x","expiresIn":"500ms"}`, "expiresIn must be at least 1s"},
	{"expiresIn words", `{"name":"x","expiresIn":"soon"}`, "expiresIn: invalid duration"},
	{"expiresIn number", `{"name":"x","expiresIn":3600}`, "expiresIn must be a string"},
	{"expiresIn hostile", `{"name":"x","expiresIn":"` + strings.Repeat("9", 10_000) + `d"}`, "expiresIn: invalid duration"},
	{"meta too big", `{"name":"x","meta":{"a":"` + strings.Repeat("x", 17<<10) + `"}}`, "meta must be at most"},
	{"hostile unknown field", `{"name":"x","` + strings.Repeat("f", 10_000) + `":1}`, "unknown field"},
	{"deep nesting", `{"name":"x","meta":{"a":` + strings.Repeat("[", 20_000) + strings.Repeat("]", 20_000) + `}}`, "malformed JSON"},
}

func TestCreateKeyRejectsBadInput(t *testing.T) {
	e := newTestEnv(t)
	e.user("user-123", "123")
	e.user("other", "456")
	for _, tc := range badCreateBodies {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", keysPath, tc.body, e.as("user-123")...)
			msg := wantError(t, r, 400, latchkey.CodeValidationFailed)
			wantMessage(t, msg, tc.msg)
			if len(r.body) > 512 {
				t.Errorf("error body is %d bytes: input echoed?", len(r.body))
			}
		})
	}
	// Nothing was created.
	keys, _, err := e.svc.ListKeys(context.Background(), latchkey.KeyFilter{OwnerID: "user-123"}, "")
	if err != nil || len(keys) != 0 {
		t.Fatalf("keys = %d, err %v", len(keys), err)
	}
}

// oversized is a body just over the 1 MiB limit.
var oversized = `{"name":"` + strings.Repeat("a", 1<<20) + `"}`

func TestBodyOver1MiB(t *testing.T) {
	e := newTestEnv(t)
	e.user("u1")
	for _, tc := range []struct{ method, path string }{
		{"POST", keysPath},
		{"PATCH", keysPath + "/key_x"},
		{"POST", keysPath + "/key_x/rotate"},
		{"POST", "/api/v1/admin/tenants"},
		{"PATCH", "/api/v1/admin/tenants/t1"},
		{"POST", "/api/v1/admin/users"},
		{"PATCH", "/api/v1/admin/users/u1"},
		{"POST", "/api/v1/admin/users/u1/keys"},
		{"PATCH", "/api/v1/admin/keys/key_x"},
		{"POST", "/api/v1/admin/keys/key_x/rotate"},
		{"POST", "/api/v1/admin/root-keys"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := e.do(tc.method, tc.path, oversized, e.as("u1")...)
			wantError(t, r, 413, latchkey.CodePayloadTooLarge)
		})
	}
	// Just under the limit is decoded (and then refused for its content).
	under := `{"name":"` + strings.Repeat("a", 1<<20-20) + `"}`
	r := e.do("POST", keysPath, under, e.as("u1")...)
	wantError(t, r, 400, latchkey.CodeValidationFailed)
}

func TestListKeys(t *testing.T) {
	e := newTestEnv(t)
	e.user("u1")
	e.user("u2")
	for i := 1; i <= 5; i++ {
		e.key("u1", latchkey.NewKey{Name: "k" + string(rune('0'+i))})
		e.clock.Advance(time.Second)
	}
	e.key("u1", latchkey.NewKey{Name: "t1", Environment: "test"})
	e.key("u2", latchkey.NewKey{Name: "other user's"})

	names := func(r response) string {
		var out []string
		for _, m := range r.array(t) {
			wantFields(t, m, keyFields...)
			if !maskedKeyRE.MatchString(m["key"].(string)) {
				t.Errorf("listed key not masked: %v", m["key"])
			}
			out = append(out, m["name"].(string))
		}
		return strings.Join(out, ",")
	}

	t.Run("all, newest first", func(t *testing.T) {
		r := e.do("GET", keysPath, nil, e.as("u1")...)
		wantStatus(t, r, 200)
		if got := names(r); got != "t1,k5,k4,k3,k2,k1" {
			t.Errorf("names = %s", got)
		}
		if r.header.Get("X-Next-Cursor") != "" || r.header.Get("Link") != "" {
			t.Errorf("next page advertised on the last page")
		}
	})

	t.Run("pages", func(t *testing.T) {
		path := keysPath + "?environment=live&limit=2"
		var pages []string
		for path != "" {
			r := e.do("GET", path, nil, e.as("u1")...)
			wantStatus(t, r, 200)
			pages = append(pages, names(r))
			path = ""
			if link := r.header.Get("Link"); link != "" {
				cursor := r.header.Get("X-Next-Cursor")
				m := regexp.MustCompile(`^<(/api/v1/auth/api-keys\?[^>]+)>; rel="next"$`).FindStringSubmatch(link)
				if m == nil {
					t.Fatalf("Link = %q", link)
				}
				u, _ := url.Parse(m[1])
				if u.Query().Get("cursor") != cursor || u.Query().Get("limit") != "2" || u.Query().Get("environment") != "live" {
					t.Fatalf("Link = %q, cursor %q", link, cursor)
				}
				path = m[1]
			}
			if len(pages) > 5 {
				t.Fatal("pagination does not end")
			}
		}
		if got := strings.Join(pages, "|"); got != "k5,k4|k3,k2|k1" {
			t.Errorf("pages = %s", got)
		}
	})

	t.Run("environment", func(t *testing.T) {
		r := e.do("GET", keysPath+"?environment=test", nil, e.as("u1")...)
		wantStatus(t, r, 200)
		if got := names(r); got != "t1" {
			t.Errorf("names = %s", got)
		}
	})

	t.Run("empty list is an array", func(t *testing.T) {
		r := e.do("GET", keysPath, nil, e.as("u3")...)
		wantStatus(t, r, 200)
		if strings.TrimSpace(string(r.body)) != "[]" {
			t.Errorf("body = %s", r.body)
		}
	})

	for _, q := range []string{"limit=0", "limit=101", "limit=abc", "limit=-1", "limit=1.5", "cursor=garbage!", "cursor=" + strings.Repeat("A", 2000), "environment=prod", "environment=root"} {
		t.Run("bad "+q, func(t *testing.T) {
			r := e.do("GET", keysPath+"?"+q, nil, e.as("u1")...)
			wantError(t, r, 400, latchkey.CodeValidationFailed)
		})
	}
}

func TestKeyLifecycle(t *testing.T) {
	e := newTestEnv(t)
	e.user("u1", "123")
	hdr := e.as("u1")
	r := e.do("POST", keysPath, `{"name":"app","permissions":["messages:send"],"tenantIds":["123"]}`, hdr...)
	wantStatus(t, r, 201)
	old := r.object(t)
	id := old["id"].(string)

	t.Run("toggle off and on", func(t *testing.T) {
		r := e.do("PATCH", keysPath+"/"+id+"/toggle", nil, hdr...)
		wantStatus(t, r, 200)
		if m := r.object(t); m["isActive"] != false {
			t.Fatalf("isActive = %v", m["isActive"])
		}
		r = e.do("PATCH", keysPath+"/"+id+"/toggle", nil, hdr...)
		wantStatus(t, r, 200)
		if m := r.object(t); m["isActive"] != true {
			t.Fatalf("isActive = %v", m["isActive"])
		}
	})

	var newID, newSecret string
	t.Run("rotate with grace period", func(t *testing.T) {
		e.clock.Advance(time.Minute)
		r := e.do("POST", keysPath+"/"+id+"/rotate", `{"gracePeriod":"24h"}`, hdr...)
		wantStatus(t, r, 201)
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
		}
		m := r.object(t)
		wantFields(t, m, append(keyFields, "rotatedFrom")...)
		newID, newSecret = m["id"].(string), m["key"].(string)
		if m["rotatedFrom"] != id || newID == id || !fullKeyRE.MatchString(newSecret) {
			t.Fatalf("rotated key = %s", r.body)
		}
		for _, f := range []string{"name", "permissions", "tenantIds", "environment", "ownerId"} {
			if !jsonEqual(m[f], old[f]) {
				t.Errorf("%s = %v, want %v", f, m[f], old[f])
			}
		}
		o := e.do("GET", keysPath+"/"+id, nil, hdr...).object(t)
		if want := rfc3339(e.clock.Now().Add(24 * time.Hour)); o["expiresAt"] != want {
			t.Errorf("old key expiresAt = %v, want %s", o["expiresAt"], want)
		}
	})

	t.Run("rotate without body expires the old key now", func(t *testing.T) {
		r := e.do("POST", keysPath+"/"+newID+"/rotate", nil, hdr...)
		wantStatus(t, r, 201)
		m := r.object(t)
		if m["rotatedFrom"] != newID {
			t.Fatalf("rotatedFrom = %v", m["rotatedFrom"])
		}
		if _, err := e.svc.AuthenticateKey(context.Background(), newSecret); latchkey.ErrorCode(err) != latchkey.CodeKeyExpired {
			t.Errorf("rotated-out key: %v, want KEY_EXPIRED", err)
		}
		newID = m["id"].(string)
	})

	for _, tc := range []struct{ name, body, msg string }{
		{"bad grace", `{"gracePeriod":"later"}`, "gracePeriod: invalid duration"},
		{"negative grace", `{"gracePeriod":"-1h"}`, "gracePeriod must be between"},
		{"grace too long", `{"gracePeriod":"31d"}`, "gracePeriod must be between"},
		{"grace number", `{"gracePeriod":3600}`, "gracePeriod must be a string"},
		{"array body", `[]`, "request body must be a JSON object"},
		{"unknown field", `{"grace":"1h"}`, `unknown field "grace"`},
		{"malformed", `{"gracePeriod":`, "malformed JSON"},
	} {
		t.Run("rotate "+tc.name, func(t *testing.T) {
			r := e.do("POST", keysPath+"/"+newID+"/rotate", tc.body, hdr...)
			wantMessage(t, wantError(t, r, 400, latchkey.CodeValidationFailed), tc.msg)
		})
	}

	var revokedAt any
	t.Run("revoke", func(t *testing.T) {
		e.clock.Advance(time.Hour)
		r := e.do("POST", keysPath+"/"+newID+"/revoke", nil, hdr...)
		wantStatus(t, r, 200)
		m := r.object(t)
		revokedAt = m["revokedAt"]
		if revokedAt != rfc3339(e.clock.Now()) || m["isActive"] != false {
			t.Fatalf("revoked key = %s", r.body)
		}
		e.clock.Advance(time.Hour)
		r = e.do("POST", keysPath+"/"+newID+"/revoke", nil, hdr...)
		wantStatus(t, r, 200)
		if m := r.object(t); m["revokedAt"] != revokedAt {
			t.Errorf("second revoke moved revokedAt to %v", m["revokedAt"])
		}
	})

	t.Run("revoked is permanent", func(t *testing.T) {
		for _, tc := range []struct{ method, path, body string }{
			{"PATCH", keysPath + "/" + newID + "/toggle", ""},
			{"PATCH", keysPath + "/" + newID, `{"name":"again"}`},
			{"POST", keysPath + "/" + newID + "/rotate", ""},
		} {
			r := e.do(tc.method, tc.path, tc.body, hdr...)
			wantError(t, r, 409, latchkey.CodeConflict)
		}
	})

	t.Run("delete", func(t *testing.T) {
		r := e.do("DELETE", keysPath+"/"+newID, nil, hdr...)
		wantStatus(t, r, 200)
		if got := strings.TrimSpace(string(r.body)); got != `{"message":"API key deleted successfully"}` {
			t.Errorf("body = %s", got)
		}
		r = e.do("GET", keysPath+"/"+newID, nil, hdr...)
		if msg := wantError(t, r, 404, latchkey.CodeNotFound); msg != "API key not found" {
			t.Errorf("message = %q", msg)
		}
		r = e.do("DELETE", keysPath+"/"+newID, nil, hdr...)
		wantError(t, r, 404, latchkey.CodeNotFound)
	})
}

func TestUpdateKey(t *testing.T) {
	e := newTestEnv(t)
	e.user("u1", "123", "124")
	e.user("u2", "456")
	hdr := e.as("u1")
	r := e.do("POST", keysPath, `{"name":"app","expiresAt":"2030-01-01T00:00:00Z","rateLimit":{"limit":10,"window":"1h"},"meta":{"a":1},"permissions":["a:b"]}`, hdr...)
	wantStatus(t, r, 201)
	path := keysPath + "/" + r.object(t)["id"].(string)

	steps := []struct {
		name, body string
		want       map[string]any
	}{
		{"empty object changes nothing", `{}`, map[string]any{
			"name": "app", "expiresAt": "2030-01-01T00:00:00Z",
			"rateLimit": map[string]any{"limit": 10, "window": "1h"}, "meta": map[string]any{"a": 1}}},
		{"name only", `{"name":"  renamed  "}`, map[string]any{
			"name": "renamed", "expiresAt": "2030-01-01T00:00:00Z", "rateLimit": map[string]any{"limit": 10, "window": "1h"}}},
		{"null expiresAt clears it", `{"expiresAt":null}`, map[string]any{
			"expiresAt": nil, "rateLimit": map[string]any{"limit": 10, "window": "1h"}}},
		{"null rateLimit clears it", `{"rateLimit":null}`, map[string]any{"rateLimit": nil, "expiresAt": nil}},
		{"set both", `{"expiresAt":"2031-02-03T04:05:06Z","rateLimit":{"limit":5,"window":"30s"}}`, map[string]any{
			"expiresAt": "2031-02-03T04:05:06Z", "rateLimit": map[string]any{"limit": 5, "window": "30s"}}},
		{"window in days", `{"rateLimit":{"limit":5,"window":"86400s"}}`, map[string]any{
			"rateLimit": map[string]any{"limit": 5, "window": "1d"}}},
		{"permissions", `{"permissions":["x:*","y:z"]}`, map[string]any{"permissions": []any{"x:*", "y:z"}}},
		{"null permissions empties them", `{"permissions":null}`, map[string]any{"permissions": []any{}}},
		{"tenants", `{"tenantIds":["124","123","124"]}`, map[string]any{"tenantIds": []any{"124", "123"}}},
		{"tenants emptied", `{"tenantIds":[]}`, map[string]any{"tenantIds": []any{}}},
		{"meta replaced", `{"meta":{"b":"c"}}`, map[string]any{"meta": map[string]any{"b": "c"}}},
		{"null meta empties it", `{"meta":null}`, map[string]any{"meta": map[string]any{}}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := e.do("PATCH", path, s.body, hdr...)
			wantStatus(t, r, 200)
			m := r.object(t)
			wantFields(t, m, keyFields...)
			for k, v := range s.want {
				if !jsonEqual(m[k], v) {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
		})
	}

	for _, tc := range []struct{ name, body, msg string }{
		{"empty body", ``, "request body is required"},
		{"array", `[]`, "request body must be a JSON object"},
		{"malformed", `{"name":}`, "malformed JSON at offset 8"},
		{"unknown field", `{"isActive":false}`, `unknown field "isActive"`},
		{"null name", `{"name":null}`, "name must be a string, not null"},
		{"empty name", `{"name":""}`, "API key name is required"},
		{"name number", `{"name":5}`, "name must be a string"},
		{"control characters", `{"name":"a\u0007b"}`, ""},
		{"permissions object", `{"permissions":{}}`, "permissions must be an array of strings"},
		{"bad permission", `{"permissions":["no spaces"]}`, "not a valid permission"},
		{"other user's tenant", `{"tenantIds":["456"]}`, "not a member"},
		{"expiresAt garbage", `{"expiresAt":"never"}`, "expiresAt must be an RFC 3339 time"},
		{"expiresAt past", `{"expiresAt":"2001-01-01T00:00:00Z"}`, "expiresAt must be in the future"},
		{"expiresAt bool", `{"expiresAt":true}`, "expiresAt must be a string"},
		{"rateLimit without window", `{"rateLimit":{"limit":5}}`, "rateLimit.window is required"},
		{"rateLimit unknown field", `{"rateLimit":{"limit":5,"window":"1m","x":1}}`, `unknown field "x"`},
		{"rateLimit limit string", `{"rateLimit":{"limit":"5","window":"1m"}}`, "rateLimit.limit must be an integer"},
		{"rateLimit string", `{"rateLimit":"5/m"}`, "rateLimit must be an object"},
		{"meta array", `{"meta":[]}`, "meta must be an object"},
	} {
		t.Run("rejects "+tc.name, func(t *testing.T) {
			r := e.do("PATCH", path, tc.body, hdr...)
			wantMessage(t, wantError(t, r, 400, latchkey.CodeValidationFailed), tc.msg)
		})
	}
}

func TestKeysOfOtherUsersAreNotFound(t *testing.T) {
	e := newTestEnv(t)
	e.user("alice")
	e.user("bob")
	k, _ := e.key("alice", latchkey.NewKey{Name: "alice's"})
	for _, tc := range []struct{ method, path, body string }{
		{"GET", keysPath + "/" + k.ID, ""},
		{"PATCH", keysPath + "/" + k.ID, `{"name":"mine now"}`},
		{"PATCH", keysPath + "/" + k.ID, `{"tenantIds":[]}`},
		{"PATCH", keysPath + "/" + k.ID + "/toggle", ""},
		{"POST", keysPath + "/" + k.ID + "/revoke", ""},
		{"POST", keysPath + "/" + k.ID + "/rotate", `{"gracePeriod":"1h"}`},
		{"DELETE", keysPath + "/" + k.ID, ""},
	} {
		t.Run(tc.method+" "+strings.TrimPrefix(tc.path, keysPath+"/"+k.ID), func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.body, e.as("bob")...)
			if msg := wantError(t, r, 404, latchkey.CodeNotFound); msg != "API key not found" {
				t.Errorf("message = %q", msg)
			}
			// A key that does not exist at all looks the same.
			missing := strings.Replace(tc.path, k.ID, "key_doesnotexist", 1)
			r2 := e.do(tc.method, missing, tc.body, e.as("bob")...)
			if msg := wantError(t, r2, 404, latchkey.CodeNotFound); msg != "API key not found" {
				t.Errorf("message = %q", msg)
			}
		})
	}
	r := e.do("GET", keysPath, nil, e.as("bob")...)
	if strings.TrimSpace(string(r.body)) != "[]" {
		t.Errorf("bob lists %s", r.body)
	}
	got, err := e.svc.GetKey(context.Background(), "alice", k.ID)
	if err != nil || got.Name != "alice's" || !got.IsActive || got.RevokedAt != nil || got.ExpiresAt != nil {
		t.Fatalf("alice's key changed: %+v, %v", got, err)
	}
}

func TestUpdateKeyKeepsTenantLinkOrder(t *testing.T) {
	e := newTestEnv(t)
	e.user("alice", "t1", "t3")
	hdr := e.as("alice")
	r := e.do("POST", keysPath, `{"name":"app","tenantIds":["t3","t1"]}`, hdr...)
	wantStatus(t, r, 201)
	m := r.object(t)
	path, secret := keysPath+"/"+m["id"].(string), m["key"].(string)
	if !jsonEqual(m["tenantIds"], []any{"t3", "t1"}) {
		t.Fatalf("created with tenantIds %v, want the request's order", m["tenantIds"])
	}
	defaultTenant := func(t *testing.T) any {
		t.Helper()
		r := e.do("GET", mePath, nil, "X-API-KEY", secret)
		wantStatus(t, r, 200)
		return r.object(t)["tenant"].(map[string]any)["id"]
	}
	if got := defaultTenant(t); got != "t3" {
		t.Fatalf("default tenant = %v, want t3", got)
	}

	for _, s := range []struct {
		name, body string
		want       []any
	}{
		{"unlink t3", `{"tenantIds":["t1"]}`, []any{"t1"}},
		{"relinking t3 appends it", `{"tenantIds":["t3","t1"]}`, []any{"t1", "t3"}},
		{"another order changes nothing", `{"tenantIds":["t3","t1"]}`, []any{"t1", "t3"}},
	} {
		t.Run(s.name, func(t *testing.T) {
			r := e.do("PATCH", path, s.body, hdr...)
			wantStatus(t, r, 200)
			if got := r.object(t)["tenantIds"]; !jsonEqual(got, s.want) {
				t.Fatalf("tenantIds = %v, want %v", got, s.want)
			}
			if got := e.do("GET", path, nil, hdr...).object(t)["tenantIds"]; !jsonEqual(got, s.want) {
				t.Fatalf("read back tenantIds = %v, want %v", got, s.want)
			}
			if got := defaultTenant(t); got != s.want[0] {
				t.Fatalf("default tenant = %v, want the first linked, %v", got, s.want[0])
			}
		})
	}
}

// SPEC §9: expiry takes effect on the very next request, and expiresAt is
// shown in whole seconds, so a key must be refused from the second shown.
func TestKeyExpiresAtTheSecondShown(t *testing.T) {
	e := newTestEnv(t)
	e.user("u1")
	hdr := e.as("u1")
	e.clock.Advance(700 * time.Millisecond) // 03:04:05.7
	for _, tc := range []struct {
		name, create, patch, shown string
	}{
		{"expiresIn", `{"name":"a","expiresIn":"2s"}`, "", "2026-01-02T03:04:07Z"},
		{"expiresAt with a fraction", `{"name":"b","expiresAt":"2026-01-02T03:04:08.999Z"}`, "", "2026-01-02T03:04:08Z"},
		{"expiresAt patched with a fraction", `{"name":"c"}`, `{"expiresAt":"2026-01-02T03:04:09.5Z"}`, "2026-01-02T03:04:09Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := e.clock.Now()
			defer func() { e.clock.Advance(now.Sub(e.clock.Now())) }()
			r := e.do("POST", keysPath, tc.create, hdr...)
			wantStatus(t, r, 201)
			m := r.object(t)
			secret := m["key"].(string)
			if tc.patch != "" {
				r = e.do("PATCH", keysPath+"/"+m["id"].(string), tc.patch, hdr...)
				wantStatus(t, r, 200)
				m = r.object(t)
			}
			if m["expiresAt"] != tc.shown {
				t.Fatalf("expiresAt = %v, want %s", m["expiresAt"], tc.shown)
			}
			shown, _ := time.Parse(time.RFC3339, tc.shown)
			e.clock.Advance(shown.Add(-time.Millisecond).Sub(e.clock.Now()))
			wantStatus(t, e.do("GET", mePath, nil, "X-API-KEY", secret), 200)
			e.clock.Advance(time.Millisecond)
			wantError(t, e.do("GET", mePath, nil, "X-API-KEY", secret), 401, latchkey.CodeKeyExpired)
		})
	}
}
