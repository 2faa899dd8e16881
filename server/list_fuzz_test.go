package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/latchkey/latchkey"
)

// listPaths are the list endpoints whose query strings FuzzListQuery
// feeds: the keys (own and admin, with filters and cursors), the audit
// log, and an ID-ordered admin list.
var listPaths = []string{
	"/api/v1/auth/api-keys",
	"/api/v1/admin/keys",
	auditLogPath,
	"/api/v1/admin/users",
}

// FuzzListQuery sends any query string to the list endpoints (kind picks
// one), in process, over a real SQLite store holding a few keys: the
// answer is a JSON array of at most ?limit= items, with a next-page link
// that leads to a valid page, or 400 VALIDATION_FAILED with a short,
// printable message; never a server error.
func FuzzListQuery(f *testing.F) {
	e := newTestEnv(f)
	e.user("u1", "t1")
	for i := range 3 {
		e.key("u1", latchkey.NewKey{Name: "k" + strconv.Itoa(i), TenantIDs: []string{"t1"}})
	}
	for _, q := range []string{
		"", "limit=1", "limit=2&environment=live", "limit=0", "limit=-1", "limit=101", "limit=1001",
		"limit=9999999999999999999999", "limit=1e2", "limit=%20", "limit=1&limit=2",
		"cursor=", "cursor=!!!", "cursor=eyJ0IjoxfQ", "ownerId=u1&tenantId=t1&limit=1",
		"action=key.&actor=root&actorKind=root_key&target=x", "after=u0&limit=1",
		"environment=%00", "%zz", "a=b;c=d", strings.Repeat("x=1&", 300),
	} {
		for kind := range listPaths {
			f.Add(uint8(kind), q)
		}
	}
	// get sends the query as received: net/http hands a handler the raw
	// query of the request line, however odd.
	get := func(path, query string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		req.URL.RawQuery = query
		req.Header.Set("Authorization", "Bearer "+e.root)
		req.Header.Set("X-User-Id", "u1")
		rec := httptest.NewRecorder()
		e.srv.Config.Handler.ServeHTTP(rec, req)
		return rec
	}
	f.Fuzz(func(t *testing.T, kind uint8, query string) {
		path := listPaths[int(kind)%len(listPaths)]
		rec := get(path, query)
		switch rec.Code {
		case http.StatusOK:
			var items []json.RawMessage
			if err := json.Unmarshal(rec.Body.Bytes(), &items); err != nil {
				t.Fatalf("%s?%q: 200 with a body that is no JSON array: %v", path, query, err)
			}
			q, _ := url.ParseQuery(query) // what it holds, as the handler reads it
			if limit, err := strconv.Atoi(q.Get("limit")); err == nil && len(items) > limit {
				t.Fatalf("%s?%q: %d items, over the limit", path, query, len(items))
			}
			if link := rec.Header().Get("Link"); link != "" {
				next, ok := strings.CutPrefix(link, "<"+path+"?")
				next, _, ok2 := strings.Cut(next, ">")
				if !ok || !ok2 {
					t.Fatalf("%s?%q: malformed Link %q", path, query, link)
				}
				if r := get(path, next); r.Code != http.StatusOK {
					t.Fatalf("%s?%q: the next page (%s) answered %d: %s", path, query, link, r.Code, r.Body)
				}
			}
		case http.StatusBadRequest:
			var body struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("%s?%q: 400 with a body that is no JSON error: %v", path, query, err)
			}
			if body.Error.Code != latchkey.CodeValidationFailed {
				t.Fatalf("%s?%q: 400 %s, want %s", path, query, body.Error.Code, latchkey.CodeValidationFailed)
			}
			if m := body.Error.Message; len(m) > 300 || !utf8.ValidString(m) {
				t.Fatalf("%s?%q: message of %d bytes or invalid UTF-8: %q", path, query, len(m), m)
			}
		default:
			t.Fatalf("%s?%q answered %d: %s", path, query, rec.Code, rec.Body)
		}
	})
}
