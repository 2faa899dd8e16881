package routes

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const example = `default: authenticated        # authenticated | public | deny
routes:
  - pattern: "POST /api/v1/messages/send"
    permission: messages:send
  - pattern: "GET /api/v1/messages"
    permission: messages:read
  - pattern: "/api/v1/webhooks/"
    permission: webhooks:manage
  - pattern: "GET /status"
    public: true
  - pattern: "POST /api/v1/numbers"
    permissions: [numbers:write]
    environment: live
    tenant: required
  - pattern: "/api/v1/webhooks/public/"
    public: true
  - pattern: "GET /api/v1/messages/{id}"
    permission: messages:read
  - pattern: "/api/v1/admin/"
    deny: true
  - pattern: "GET /exact/{$}"
    permissions: [a:b, c:d]
    permission: a:b
`

func mustParse(t *testing.T, src string) *Table {
	t.Helper()
	tb, err := Parse("routes.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func match(tb *Table, method, uri string) *Rule {
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		panic(err)
	}
	return tb.Match(method, "api.example.com", u)
}

func TestMatchFollowsServeMuxPrecedence(t *testing.T) {
	tb := mustParse(t, example)
	for _, tc := range []struct {
		method, uri string
		pattern     string // "" for the default
		access      Access
	}{
		{"POST", "/api/v1/messages/send", "POST /api/v1/messages/send", Authenticated},
		{"GET", "/api/v1/messages/send", "GET /api/v1/messages/{id}", Authenticated},
		{"GET", "/api/v1/messages", "GET /api/v1/messages", Authenticated},
		{"HEAD", "/api/v1/messages", "GET /api/v1/messages", Authenticated},
		{"DELETE", "/api/v1/messages", "", Authenticated},
		{"GET", "/api/v1/messages?x=1", "GET /api/v1/messages", Authenticated},
		{"GET", "/api/v1/webhooks/", "/api/v1/webhooks/", Authenticated},
		{"DELETE", "/api/v1/webhooks/42", "/api/v1/webhooks/", Authenticated},
		{"GET", "/api/v1/webhooks", "/api/v1/webhooks/", Authenticated},          // the mux redirects /tree to /tree/
		{"GET", "/api/v1/webhooks/public/x", "/api/v1/webhooks/public/", Public}, // longer prefix wins
		{"GET", "/status", "GET /status", Public},
		{"GET", "/status/", "", Authenticated},
		{"POST", "/status", "", Authenticated},
		{"GET", "/api/v1/admin/users", "/api/v1/admin/", Deny},
		{"GET", "/status/../api/v1/admin/users", "/api/v1/admin/", Deny}, // cleaned like the mux does
		{"GET", "//api/v1/admin/users", "/api/v1/admin/", Deny},
		{"GET", "/api/v1/%61dmin/users", "/api/v1/admin/", Deny}, // escapes are decoded per segment
		{"GET", "/exact/", "GET /exact/{$}", Authenticated},
		{"GET", "/exact/more", "", Authenticated},
		{"GET", "/nothing", "", Authenticated},
	} {
		t.Run(tc.method+" "+tc.uri, func(t *testing.T) {
			r := match(tb, tc.method, tc.uri)
			if r.Pattern != tc.pattern || r.Access != tc.access {
				t.Fatalf("rule = %q (%s), want %q (%s)", r.Pattern, r.Access, tc.pattern, tc.access)
			}
		})
	}
}

func TestRuleFields(t *testing.T) {
	tb := mustParse(t, example)
	r := match(tb, "POST", "/api/v1/numbers")
	if !slices.Equal(r.Permissions, []string{"numbers:write"}) || r.Environment != "live" || !r.RequireTenant || r.Line != 11 {
		t.Fatalf("rule = %+v", r)
	}
	r = match(tb, "GET", "/exact/")
	if !slices.Equal(r.Permissions, []string{"a:b", "c:d"}) {
		t.Fatalf("permission and permissions combine, deduplicated: %q", r.Permissions)
	}
	want := []string{"a:b", "c:d", "messages:read", "messages:send", "numbers:write", "webhooks:manage"}
	if got := tb.Permissions(); !slices.Equal(got, want) {
		t.Fatalf("Permissions() = %q, want %q", got, want)
	}
}

func TestDefaults(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want Access
	}{
		{"default: public\n", Public},
		{"default: deny\nroutes: []\n", Deny},
		{"routes:\n  - pattern: /x\n", Authenticated},
		{"default: authenticated\nroutes:\n", Authenticated},
	} {
		tb := mustParse(t, tc.src)
		if r := match(tb, "GET", "/anything"); r.Access != tc.want || r.Pattern != "" {
			t.Fatalf("%q: default rule = %+v, want %s", tc.src, r, tc.want)
		}
	}
	if r := match(Default(), "DELETE", "/x"); r.Access != Authenticated || len(r.Permissions) != 0 {
		t.Fatalf("Default() = %+v", r)
	}
}

func TestHostPatterns(t *testing.T) {
	tb := mustParse(t, "routes:\n  - pattern: \"admin.example.com/\"\n    deny: true\n")
	u, _ := url.Parse("/x")
	if r := tb.Match("GET", "admin.example.com:8443", u); r.Access != Deny {
		t.Fatalf("host with port: %+v", r)
	}
	if r := tb.Match("GET", "api.example.com", u); r.Access != Authenticated {
		t.Fatalf("other host: %+v", r)
	}
}

func TestErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		line      int
		msg       string
	}{
		{"empty", "", 0, "empty"},
		{"comment only", "# nothing\n", 0, "empty"},
		{"not a mapping", "- a\n", 1, "must be a mapping"},
		{"bad yaml", "default: [\n", 1, ""},
		{"tab indentation", "routes:\n\t- pattern: /x\n", 2, ""},
		{"unknown top field", "default: public\nroute: []\n", 2, `unknown field "route"`},
		{"bad default", "default: allow\n", 1, "default must be"},
		{"repeated field", "default: public\ndefault: deny\n", 2, "repeated"},
		{"routes not a list", "routes: /x\n", 1, "must be a list"},
		{"unknown route field", "routes:\n  - pattern: /x\n    permision: a:b\n", 3, `unknown field "permision"`},
		{"missing pattern", "routes:\n  - permission: a:b\n", 2, "no pattern"},
		{"empty pattern", "routes:\n  - pattern: \"\"\n", 2, "must not be empty"},
		{"invalid pattern", "routes:\n  - pattern: /a\n  - pattern: \"GET /x/{id\"\n", 3, "invalid pattern"},
		{"invalid method", "routes:\n  - pattern: \"GET  POST /x\"\n", 2, "invalid pattern"},
		{"no path", "routes:\n  - pattern: \"GET\"\n", 2, "invalid pattern"},
		{"duplicate pattern", "routes:\n  - pattern: /a\n  - pattern: /b\n  - pattern: /a\n", 4, "conflicts with pattern \"/a\" on line 2"},
		{"conflicting patterns", "routes:\n  - pattern: \"GET /a/{x}\"\n  - pattern: \"/a/b\"\n  - pattern: \"/c\"\n", 3, "conflicts with pattern \"GET /a/{x}\" on line 2"},
		{"bad permission", "routes:\n  - pattern: /a\n    permission: \"a b\"\n", 3, "not a permission"},
		{"wildcard permission", "routes:\n  - pattern: /a\n    permissions: [\"a:*\"]\n", 3, "wildcards"},
		{"permissions not a list", "routes:\n  - pattern: /a\n    permissions: a:b\n", 3, "must be a list"},
		{"public not a bool", "routes:\n  - pattern: /a\n    public: yes please\n", 3, "true or false"},
		{"public string", "routes:\n  - pattern: /a\n    public: \"true\"\n", 3, "true or false"},
		{"bad environment", "routes:\n  - pattern: /a\n    environment: prod\n", 3, "live or test"},
		{"bad tenant", "routes:\n  - pattern: /a\n    tenant: yes\n", 3, "required or optional"},
		{"public with permission", "routes:\n  - pattern: /a\n    public: true\n    permission: a:b\n", 4, "cannot require"},
		{"deny with tenant", "routes:\n  - pattern: /a\n    tenant: required\n    deny: true\n", 3, "cannot require"},
		{"public and deny", "routes:\n  - pattern: /a\n    public: true\n    deny: true\n", 2, "both public and deny"},
		{"two documents", "default: public\n---\ndefault: deny\n", 2, "one YAML document"},
		{"route not a mapping", "routes:\n  - /a\n", 2, "must be a mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("routes.yaml", []byte(tc.src))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error = %v, want *Error", err)
			}
			if e.Line != tc.line || !strings.Contains(e.Msg, tc.msg) {
				t.Fatalf("error = %q (line %d), want line %d containing %q", err, e.Line, tc.line, tc.msg)
			}
			if tc.line > 0 && !strings.HasPrefix(err.Error(), "routes.yaml:") {
				t.Fatalf("error %q does not start with the file and line", err)
			}
		})
	}
}

func TestAliasesAndFlowStyle(t *testing.T) {
	tb := mustParse(t, "routes:\n  - {pattern: \"GET /a\", permissions: &p [x:y]}\n  - pattern: /c\n    permissions: *p\n  - {pattern: /b, public: true}\n")
	for _, uri := range []string{"/a", "/c"} {
		if r := match(tb, "GET", uri); !slices.Equal(r.Permissions, []string{"x:y"}) {
			t.Fatalf("%s: %+v", uri, r)
		}
	}
	if r := match(tb, "GET", "/b"); r.Access != Public {
		t.Fatalf("/b: %+v", r)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(path, []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("missing file loaded")
	}
	big := make([]byte, MaxFileBytes+1)
	for i := range big {
		big[i] = '#'
	}
	os.WriteFile(path, big, 0o600)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte("default: deny\nroutes:\n  - pattern: \"GET /{x...}\"\n    public: true\n"))
	f.Add([]byte("routes: [{pattern: /a}, {pattern: /a}]"))
	f.Add([]byte("a: &a [*a, *a]"))
	f.Add([]byte("routes:\n  - pattern: \"example.com/x/{$}\"\n    tenant: required\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		tb, err := Parse("f.yaml", src)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not a *routes.Error", err)
			}
			return
		}
		// Every parsed table answers every request with some rule, and a
		// route's own pattern path (when it has no wildcards) picks a rule.
		for _, r := range tb.Rules() {
			if r.Pattern == "" || r.Line <= 0 {
				t.Fatalf("route without pattern or line: %+v", r)
			}
			if r.Access != Authenticated && (len(r.Permissions) > 0 || r.Environment != "" || r.RequireTenant) {
				t.Fatalf("non-authenticated route with requirements: %+v", r)
			}
		}
		for _, uri := range []string{"/", "/a", "/a/../b", "//x", "/%2e%2e/x"} {
			u, _ := url.ParseRequestURI(uri)
			if tb.Match("GET", "example.com", u) == nil {
				t.Fatalf("no rule for %s", uri)
			}
		}
	})
}
