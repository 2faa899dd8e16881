package server

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// openAPI is the embedded document, decoded generically so the tests can
// walk it the way a client generator would.
func openAPI(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	return doc
}

// httpMethods are the operation keys of an OpenAPI path item.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operations returns the documented operations as "method path".
func operations(doc map[string]any) []string {
	var ops []string
	for path, item := range doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			if slices.Contains(httpMethods, method) {
				ops = append(ops, method+" "+path)
			}
		}
	}
	sort.Strings(ops)
	return ops
}

// resolve follows a local JSON Pointer reference ("#/components/…").
func resolve(doc any, ref string) (any, bool) {
	pointer, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	v := doc
	for _, tok := range strings.Split(pointer, "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return v, true
}

// walk calls fn for every object in v, depth first.
func walk(v any, fn func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		fn(v)
		for _, x := range v {
			walk(x, fn)
		}
	case []any:
		for _, x := range v {
			walk(x, fn)
		}
	}
}

func TestOpenAPIDocumentIsOpenAPI31(t *testing.T) {
	doc := openAPI(t)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf(`"openapi" = %v, want "3.1.0"`, doc["openapi"])
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] != "Latchkey" || info["version"] == "" || info["version"] == nil {
		t.Errorf("info = %v, want title Latchkey and a version", info)
	}
	servers, _ := doc["servers"].([]any)
	if len(servers) != 1 || servers[0].(map[string]any)["url"] != "/" {
		t.Errorf(`servers = %v, want [{"url": "/"}]`, servers)
	}

	ids := map[string]string{}
	for _, op := range operations(doc) {
		method, path, _ := strings.Cut(op, " ")
		o := doc["paths"].(map[string]any)[path].(map[string]any)[method].(map[string]any)
		id, _ := o["operationId"].(string)
		if id == "" {
			t.Errorf("%s: no operationId", op)
		} else if other, dup := ids[id]; dup {
			t.Errorf("%s: operationId %q is also %s's", op, id, other)
		}
		ids[id] = op
		responses, _ := o["responses"].(map[string]any)
		if len(responses) == 0 {
			t.Errorf("%s: no responses", op)
		}
		if _, ok := o["security"]; !ok {
			t.Errorf("%s: no security requirement (use [] for a public operation)", op)
		}
	}
}

func TestOpenAPIReferencesResolve(t *testing.T) {
	doc := openAPI(t)
	used := map[string]bool{}
	walk(doc, func(m map[string]any) {
		ref, ok := m["$ref"].(string)
		if !ok {
			return
		}
		used[ref] = true
		if _, ok := resolve(doc, ref); !ok {
			t.Errorf("$ref %q does not resolve inside the document", ref)
		}
	})

	// Every component is used, so none outlives the route it described.
	components := doc["components"].(map[string]any)
	for _, kind := range []string{"schemas", "responses", "parameters", "headers"} {
		for name := range components[kind].(map[string]any) {
			if ref := "#/components/" + kind + "/" + name; !used[ref] {
				t.Errorf("%s is never referenced", ref)
			}
		}
	}

	// Security requirements name security schemes.
	schemes := components["securitySchemes"].(map[string]any)
	for _, op := range operations(doc) {
		method, path, _ := strings.Cut(op, " ")
		o := doc["paths"].(map[string]any)[path].(map[string]any)[method].(map[string]any)
		for _, req := range o["security"].([]any) {
			for name := range req.(map[string]any) {
				if _, ok := schemes[name]; !ok {
					t.Errorf("%s: security scheme %q is not defined", op, name)
				}
			}
		}
	}
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// TestOpenAPIPathParameters checks that every {name} in a documented path
// is declared as a required path parameter of each of its operations.
func TestOpenAPIPathParameters(t *testing.T) {
	doc := openAPI(t)
	params := func(list any) map[string]bool {
		names := map[string]bool{}
		items, _ := list.([]any)
		for _, p := range items {
			pm := p.(map[string]any)
			if ref, ok := pm["$ref"].(string); ok {
				r, _ := resolve(doc, ref)
				pm, _ = r.(map[string]any)
			}
			if pm["in"] == "path" && pm["required"] == true {
				names[pm["name"].(string)] = true
			}
		}
		return names
	}
	for _, op := range operations(doc) {
		method, path, _ := strings.Cut(op, " ")
		item := doc["paths"].(map[string]any)[path].(map[string]any)
		declared := params(item["parameters"])
		for name := range params(item[method].(map[string]any)["parameters"]) {
			declared[name] = true
		}
		var want []string
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			want = append(want, m[1])
			if !declared[m[1]] {
				t.Errorf("%s: path parameter %q is not declared", op, m[1])
			}
		}
		for name := range declared {
			if !slices.Contains(want, name) {
				t.Errorf("%s: declares path parameter %q that the path does not have", op, name)
			}
		}
	}
}

// methodlessRoutes are the API patterns registered without a method (their
// handlers take every method and answer the wrong ones themselves), with
// the operations the document describes for each.
var methodlessRoutes = map[string][]string{
	"/auth/check":                             {"delete", "get", "head", "options", "patch", "post", "put"},
	"/oauth/token":                            {"post"},
	"/oauth/introspect":                       {"post"},
	"/oauth/revoke":                           {"post"},
	"/.well-known/jwks.json":                  {"get"},
	"/.well-known/oauth-authorization-server": {"get"},
}

type oauthStub struct{}

func (oauthStub) TokenHandler() http.Handler      { return http.NotFoundHandler() }
func (oauthStub) IntrospectHandler() http.Handler { return http.NotFoundHandler() }
func (oauthStub) RevokeHandler() http.Handler     { return http.NotFoundHandler() }
func (oauthStub) JWKSHandler() http.Handler       { return http.NotFoundHandler() }
func (oauthStub) MetadataHandler() http.Handler   { return http.NotFoundHandler() }

// TestOpenAPIDocumentsEveryRoute keeps openapi.json and routes.go in step:
// every API route the server registers is documented, and every documented
// operation reaches the route it describes.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	doc := openAPI(t)
	paths := doc["paths"].(map[string]any)
	env := newTestEnv(t)
	mux := http.NewServeMux()
	registered := addRoutes(mux, env.svc, Config{OAuth: oauthStub{}}, &responder{log: slog.New(slog.DiscardHandler)})
	if len(registered) == 0 {
		t.Fatal("addRoutes reported no routes")
	}

	documented := func(path string) []string {
		var ms []string
		item, _ := paths[path].(map[string]any)
		for m := range item {
			if slices.Contains(httpMethods, m) {
				ms = append(ms, m)
			}
		}
		sort.Strings(ms)
		return ms
	}
	t.Run("every registered route is documented", func(t *testing.T) {
		for _, pattern := range registered {
			method, path, ok := strings.Cut(pattern, " ")
			if !ok {
				path = pattern
				want, known := methodlessRoutes[path]
				if !known {
					t.Errorf("route %q has no method: document its operations and list them in methodlessRoutes", pattern)
					continue
				}
				if got := documented(path); !slices.Equal(got, want) {
					t.Errorf("route %q: documented operations %v, want %v", pattern, got, want)
				}
				continue
			}
			if !slices.Contains(documented(path), strings.ToLower(method)) {
				t.Errorf("route %q is not documented in openapi.json", pattern)
			}
		}
	})
	t.Run("every documented operation is served", func(t *testing.T) {
		for _, op := range operations(doc) {
			method, path, _ := strings.Cut(op, " ")
			target := pathParam.ReplaceAllString(path, "x")
			r := httptest.NewRequest(strings.ToUpper(method), target, nil)
			_, pattern := mux.Handler(r)
			if !slices.Contains(registered, pattern) {
				t.Errorf("%s: no API route serves it (the mux answers with pattern %q)", op, pattern)
				continue
			}
			routePath := pattern
			if _, p, ok := strings.Cut(pattern, " "); ok {
				routePath = p
			}
			if routePath != path {
				t.Errorf("%s is served by route %q, a different path", op, pattern)
			}
		}
	})
}

// TestOpenAPIErrorCodes keeps the Error schema's code enum equal to the
// codes the server can answer with.
func TestOpenAPIErrorCodes(t *testing.T) {
	doc := openAPI(t)
	v, ok := resolve(doc, "#/components/schemas/ErrorCode/enum")
	if !ok {
		t.Fatal("no #/components/schemas/ErrorCode/enum")
	}
	var got []string
	for _, c := range v.([]any) {
		got = append(got, c.(string))
	}
	want := slices.Clone(errorCodes)
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("ErrorCode enum = %v\nerrorCodes     = %v", got, want)
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newTestEnv(t)
	r := e.do("GET", "/openapi.json", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /openapi.json = %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if cc := r.header.Get("Cache-Control"); !strings.HasPrefix(cc, "public") {
		t.Errorf("Cache-Control = %q, want public", cc)
	}
	if r.header.Get("X-Trace-Id") == "" {
		t.Error("no X-Trace-Id")
	}
	if string(r.body) != string(openAPIDocument) {
		t.Error("body is not the embedded document")
	}
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil || doc["openapi"] != "3.1.0" {
		t.Errorf("body does not parse as an OpenAPI 3.1.0 document: %v", err)
	}

	etag := r.header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	for _, inm := range []string{etag, `"other", ` + etag, "W/" + etag, "*"} {
		if r := e.do("GET", "/openapi.json", nil, "If-None-Match", inm); r.status != http.StatusNotModified || len(r.body) != 0 {
			t.Errorf("If-None-Match %s: %d %q, want 304 and no body", inm, r.status, r.body)
		}
	}
	if r := e.do("GET", "/openapi.json", nil, "If-None-Match", `"other"`); r.status != http.StatusOK {
		t.Errorf("If-None-Match with another tag: %d, want 200", r.status)
	}
	if r := e.do("HEAD", "/openapi.json", nil); r.status != http.StatusOK || len(r.body) != 0 {
		t.Errorf("HEAD: %d with %d body bytes, want 200 and none", r.status, len(r.body))
	}
}
