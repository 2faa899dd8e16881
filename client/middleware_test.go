package client_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/ratelimit"
)

// api is a customer-facing API behind the middleware. Its handler answers
// with the identity the middleware put in the context.
type api struct {
	srv   *httptest.Server
	calls atomic.Int64 // requests that reached the handler
}

func newAPI(t *testing.T, lk *client.Client, opts client.MiddlewareOptions) *api {
	t.Helper()
	a := &api{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		id, ok := client.IdentityFrom(r.Context())
		if !ok {
			http.Error(w, "no identity", 500)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"keyId": id.KeyID, "ownerId": id.OwnerID, "tenantId": id.TenantID,
			"environment": id.Environment, "permissions": id.Permissions})
	})
	a.srv = httptest.NewServer(lk.Middleware(opts)(h))
	t.Cleanup(a.srv.Close)
	return a
}

type apiResponse struct {
	status int
	header http.Header
	body   map[string]any
}

// send calls the API; headers are name, value pairs.
func (a *api) send(t *testing.T, method, path string, headers ...string) apiResponse {
	t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := apiResponse{status: res.StatusCode, header: res.Header}
	if err := json.Unmarshal(b, &r.body); err != nil {
		t.Fatalf("%d answer is not a JSON object: %s", res.StatusCode, b)
	}
	return r
}

// wantRefused checks a refusal has Latchkey's status and default error body.
func wantRefused(t *testing.T, r apiResponse, status int, code string) {
	t.Helper()
	errObj, _ := r.body["error"].(map[string]any)
	if r.status != status || errObj == nil || errObj["code"] != code {
		t.Fatalf("answer = %d %v, want %d %s", r.status, r.body, status, code)
	}
	if r.body["success"] != false || r.body["statusCode"] != float64(status) || errObj["message"] == "" {
		t.Fatalf("not Latchkey's error body: %v", r.body)
	}
	trace, _ := r.body["traceId"].(string)
	if len(trace) != 55 || r.header.Get("X-Trace-Id") != trace {
		t.Fatalf("traceId = %q, X-Trace-Id = %q", trace, r.header.Get("X-Trace-Id"))
	}
	if r.header.Get("Content-Type") != "application/json" || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("Content-Type = %q, X-Content-Type-Options = %q, want Latchkey's",
			r.header.Get("Content-Type"), r.header.Get("X-Content-Type-Options"))
	}
}

func TestMiddleware(t *testing.T) {
	e := newTestEnvWith(t, latchkey.ServiceConfig{Limiter: ratelimit.NewMemory()})
	ctx := t.Context()
	for _, id := range []string{"t1", "t2"} {
		if _, err := e.admin.CreateTenant(ctx, id, "Tenant "+id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.admin.CreateUser(ctx, client.UserCreate{ID: "u1", TenantIDs: []string{"t1", "t2"}}); err != nil {
		t.Fatal(err)
	}
	sender := e.key("u1", client.KeyCreate{Permissions: []string{"messages:send"}, TenantIDs: []string{"t1", "t2"}})
	reader := e.key("u1", client.KeyCreate{Permissions: []string{"messages:read"}})
	revoked := e.key("u1", client.KeyCreate{Permissions: []string{"*"}})
	e.as("u1").RevokeKey(ctx, revoked.ID)
	other := e.key("u1", client.KeyCreate{Permissions: []string{"*"}})

	a := newAPI(t, e.verifier(), client.MiddlewareOptions{Permission: "messages:send"})

	t.Run("allowed, identity in context", func(t *testing.T) {
		for _, h := range [][]string{
			{"Authorization", "Bearer " + sender.Key},
			{"Authorization", "bearer " + sender.Key},
			{"X-API-KEY", sender.Key},
			{"Authorization", "Bearer " + sender.Key, "X-API-KEY", sender.Key}, // the same key twice is fine
		} {
			r := a.send(t, "POST", "/v1/messages", h...)
			if r.status != 200 || r.body["keyId"] != sender.ID || r.body["ownerId"] != "u1" || r.body["tenantId"] != "t1" || r.body["environment"] != "live" {
				t.Fatalf("%v: %d %v", h[0], r.status, r.body)
			}
		}
	})
	t.Run("X-TENANT-ID picks the tenant", func(t *testing.T) {
		r := a.send(t, "POST", "/v1/messages", "X-API-KEY", sender.Key, "X-Tenant-Id", "t2")
		if r.status != 200 || r.body["tenantId"] != "t2" {
			t.Fatalf("%d %v", r.status, r.body)
		}
		wantRefused(t, a.send(t, "POST", "/v1/messages", "X-API-KEY", sender.Key, "X-Tenant-Id", "t9"), 403, client.CodeTenantNotFound)
		r = a.send(t, "POST", "/v1/messages", "X-API-KEY", sender.Key, "X-Tenant-Id", "t2", "X-Tenant-Id", " t2 ")
		if r.status != 200 || r.body["tenantId"] != "t2" {
			t.Fatalf("the same tenant twice: %d %v", r.status, r.body)
		}
	})

	before := a.calls.Load()
	refusals := []struct {
		name    string
		headers []string
		status  int
		code    string
	}{
		{"no credential", nil, 401, client.CodeAuthenticationRequired},
		{"another scheme is no credential", []string{"Authorization", "Basic dXNlcjpwYXNz"}, 401, client.CodeAuthenticationRequired},
		{"unknown key", []string{"X-API-KEY", "tb_live_" + strings.Repeat("z", 32)}, 401, client.CodeInvalidAPIKey},
		{"oversized credential", []string{"X-API-KEY", strings.Repeat("k", 9000)}, 401, client.CodeInvalidAPIKey},
		{"revoked key", []string{"X-API-KEY", revoked.Key}, 401, client.CodeKeyRevoked},
		{"missing permission", []string{"X-API-KEY", reader.Key}, 403, client.CodeInsufficientPermissions},
		{"two different keys", []string{"Authorization", "Bearer " + sender.Key, "X-API-KEY", other.Key}, 400, client.CodeAmbiguousCredentials},
		{"two different bearer keys", []string{"Authorization", "Bearer " + sender.Key, "Authorization", "Bearer " + other.Key}, 400, client.CodeAmbiguousCredentials},
		{"two different tenants", []string{"X-API-KEY", sender.Key, "X-Tenant-Id", "t1", "X-Tenant-Id", "t2"}, 400, client.CodeValidationFailed},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			r := a.send(t, "POST", "/v1/messages", c.headers...)
			wantRefused(t, r, c.status, c.code)
			if c.code == client.CodeInsufficientPermissions {
				if msg := r.body["error"].(map[string]any)["message"]; msg != "Your API key does not have the 'messages:send' permission." {
					t.Fatalf("message = %q", msg)
				}
			}
		})
	}
	if n := a.calls.Load() - before; n != 0 {
		t.Fatalf("%d refused requests reached the handler", n)
	}

	t.Run("permission per request", func(t *testing.T) {
		perRoute := newAPI(t, e.verifier(), client.MiddlewareOptions{PermissionFunc: func(r *http.Request) string {
			if r.Method == http.MethodGet {
				return "messages:read"
			}
			return "messages:send"
		}})
		if r := perRoute.send(t, "GET", "/v1/messages", "X-API-KEY", reader.Key); r.status != 200 {
			t.Fatalf("GET with reader: %d %v", r.status, r.body)
		}
		wantRefused(t, perRoute.send(t, "POST", "/v1/messages", "X-API-KEY", reader.Key), 403, client.CodeInsufficientPermissions)
	})
	t.Run("an incoming traceparent is kept", func(t *testing.T) {
		const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
		tp := "00-" + trace + "-00f067aa0ba902b7-01"
		for _, h := range [][]string{
			{"X-API-KEY", reader.Key}, // refused by Latchkey
			{},                        // refused by the middleware itself
		} {
			r := a.send(t, "POST", "/v1/messages", append(h, "Traceparent", tp)...)
			if got, _ := r.body["traceId"].(string); !strings.HasPrefix(got, "00-"+trace+"-") {
				t.Fatalf("traceId = %q, want trace %s", got, trace)
			}
		}
	})
}

// The handler sees the identity headers Latchkey's proxy sends, never ones
// a client made up, under any spelling.
func TestMiddlewareIdentityHeaders(t *testing.T) {
	e := newTestEnv(t)
	k := e.key("u1", client.KeyCreate{Permissions: []string{"a:b", "c:*"}})
	var seen http.Header
	h := e.verifier().Middleware(client.MiddlewareOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-API-KEY", k.Key)
	req.Header.Set("X-Latchkey-Owner-Id", "admin")
	req.Header["X_latchkey_owner_id"] = []string{"admin"}
	req.Header.Set("X-Latchkey-Tenant-Id", "t-spoofed")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	want := http.Header{
		"X-Api-Key":              {k.Key},
		"X-Latchkey-Key-Id":      {k.ID},
		"X-Latchkey-Owner-Id":    {"u1"},
		"X-Latchkey-Environment": {"live"},
		"X-Latchkey-Permissions": {"a:b,c:*"},
	}
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("the handler saw %v, want %v", seen, want)
	}
}

func TestMiddlewareRateLimit(t *testing.T) {
	e := newTestEnvWith(t, latchkey.ServiceConfig{Limiter: ratelimit.NewMemory()})
	k := e.key("u1", client.KeyCreate{RateLimit: &client.RateLimit{Limit: 2, Window: time.Minute}})
	unlimited := e.key("u1", client.KeyCreate{})
	a := newAPI(t, e.verifier(), client.MiddlewareOptions{RetryAfter: 7 * time.Second})

	for remaining := 1; remaining >= 0; remaining-- {
		r := a.send(t, "GET", "/", "X-API-KEY", k.Key)
		if r.status != 200 || r.header.Get("RateLimit-Limit") != "2" || r.header.Get("RateLimit-Remaining") != strconv.Itoa(remaining) {
			t.Fatalf("%d %v", r.status, r.header)
		}
		if reset, err := strconv.Atoi(r.header.Get("RateLimit-Reset")); err != nil || reset < 1 || reset > 2*60 { // the limiter counts in sub-windows
			t.Fatalf("RateLimit-Reset = %q", r.header.Get("RateLimit-Reset"))
		}
	}
	// Latchkey says when a retry can pass; the configured fallback (7s)
	// is not used then.
	r := a.send(t, "GET", "/", "X-API-KEY", k.Key)
	wantRefused(t, r, 429, client.CodeRateLimited)
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 8 || ra > 2*60 || r.header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("Retry-After = %q, RateLimit-Remaining = %q", r.header.Get("Retry-After"), r.header.Get("RateLimit-Remaining"))
	}
	if r := a.send(t, "GET", "/", "X-API-KEY", unlimited.Key); r.status != 200 || r.header.Get("RateLimit-Limit") != "" {
		t.Fatalf("unlimited key: %d %v", r.status, r.header)
	}
}

func TestMiddlewareFailsClosed(t *testing.T) {
	t.Run("Latchkey stopped: 503", func(t *testing.T) {
		e := newTestEnv(t)
		k := e.key("u1", client.KeyCreate{})
		var cause error
		a := newAPI(t, e.verifier(), client.MiddlewareOptions{ErrorHandler: func(w http.ResponseWriter, r *http.Request, err *client.Error) {
			cause = err.Err
			client.WriteError(w, err)
		}})
		if r := a.send(t, "GET", "/", "X-API-KEY", k.Key); r.status != 200 {
			t.Fatalf("while up: %d", r.status)
		}
		e.srv.Close()
		r := a.send(t, "GET", "/", "X-API-KEY", k.Key)
		wantRefused(t, r, 503, client.CodeUnavailable)
		if cause == nil || strings.Contains(cause.Error(), k.Key) {
			t.Fatalf("cause = %v", cause)
		}
		if a.calls.Load() != 1 {
			t.Fatalf("handler ran %d times, want 1", a.calls.Load())
		}
	})
	t.Run("Latchkey too slow: 503", func(t *testing.T) {
		release := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		defer slow.Close()
		defer close(release) // before Close, which waits for the handler
		a := newAPI(t, client.New(slow.URL, client.WithRootKey("x")), client.MiddlewareOptions{Timeout: 50 * time.Millisecond})
		wantRefused(t, a.send(t, "GET", "/", "X-API-KEY", "anything"), 503, client.CodeUnavailable)
	})
	t.Run("Latchkey answering 503: 503", func(t *testing.T) {
		down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			client.WriteError(w, &client.Error{StatusCode: 503, Code: client.CodeUnavailable, Message: "Database unreachable",
				TraceID: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", RetryAfter: 3 * time.Second})
		}))
		defer down.Close()
		a := newAPI(t, client.New(down.URL, client.WithRootKey("x")), client.MiddlewareOptions{})
		r := a.send(t, "GET", "/", "X-API-KEY", "anything")
		wantRefused(t, r, 503, client.CodeUnavailable)
		if r.header.Get("Retry-After") != "3" {
			t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
		}
	})
	t.Run("a root key without keys:verify: 500", func(t *testing.T) {
		e := newTestEnv(t)
		k := e.key("u1", client.KeyCreate{})
		var cause error
		a := newAPI(t, client.New(e.srv.URL, client.WithRootKey(e.rootKey(latchkey.ScopeAdmin))), client.MiddlewareOptions{
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err *client.Error) {
				cause = err.Err
				client.WriteError(w, err)
			}})
		r := a.send(t, "GET", "/", "X-API-KEY", k.Key)
		wantRefused(t, r, 500, client.CodeInternal)
		if !client.IsCode(cause, client.CodeForbidden) {
			t.Fatalf("cause = %v, want Latchkey's FORBIDDEN", cause)
		}
		if msg := r.body["error"].(map[string]any)["message"]; msg != "Internal server error" {
			t.Fatalf("the cause leaked to the client: %q", msg)
		}
	})
}

func TestIdentityFrom(t *testing.T) {
	if _, ok := client.IdentityFrom(t.Context()); ok {
		t.Fatal("identity in an empty context")
	}
	v := &client.Verification{Valid: true, KeyID: "key_1"}
	got, ok := client.IdentityFrom(client.ContextWithIdentity(t.Context(), v))
	if !ok || got != v {
		t.Fatalf("IdentityFrom = %v, %v", got, ok)
	}
}
