package client_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/ratelimit"
)

func TestVerifyKey(t *testing.T) {
	e := newTestEnv(t)
	ctx := t.Context()
	for _, id := range []string{"t1", "t2"} {
		if _, err := e.admin.CreateTenant(ctx, id, "Tenant "+id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.admin.CreateUser(ctx, client.UserCreate{ID: "u1", TenantIDs: []string{"t1", "t2"}}); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	k := e.key("u1", client.KeyCreate{Permissions: []string{"messages:*"}, TenantIDs: []string{"t1", "t2"}, ExpiresAt: &exp})
	verifier := e.verifier()

	t.Run("valid", func(t *testing.T) {
		v, err := verifier.VerifyKey(ctx, k.Key, "messages:send", "")
		if err != nil {
			t.Fatal(err)
		}
		if !v.Valid || v.Code != client.CodeValid || v.KeyID != k.ID || v.OwnerID != "u1" || v.TenantID != "t1" ||
			v.Environment != "live" || !slices.Equal(v.Permissions, []string{"messages:*"}) ||
			v.ExpiresAt == nil || !v.ExpiresAt.Equal(exp) || v.RateLimit != nil || v.TraceID == "" || v.Err() != nil {
			t.Fatalf("verification = %+v", v)
		}
		if !v.HasPermission("messages:read") || v.HasPermission("numbers:write") {
			t.Fatal("HasPermission does not follow the wildcard")
		}
	})
	t.Run("tenant selection", func(t *testing.T) {
		if v, err := verifier.VerifyKey(ctx, k.Key, "", "t2"); err != nil || v.TenantID != "t2" {
			t.Fatalf("%+v, %v", v, err)
		}
	})
	cases := []struct {
		name, key, permission, tenant string
		status                        int
		code, message                 string
	}{
		{"missing permission", k.Key, "numbers:write", "", 403, client.CodeInsufficientPermissions, "Your API key does not have the 'numbers:write' permission."},
		{"unlinked tenant", k.Key, "", "t9", 403, client.CodeTenantNotFound, "Tenant not found for this API key."},
		{"unknown key", "tb_live_" + strings.Repeat("x", 32), "", "", 401, client.CodeInvalidAPIKey, "Invalid API key."},
		{"garbage", "nonsense", "", "", 401, client.CodeInvalidAPIKey, "Invalid API key."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := verifier.VerifyKey(ctx, c.key, c.permission, c.tenant)
			if err != nil {
				t.Fatal(err)
			}
			if v.Valid || v.Code != c.code || v.KeyID != "" || v.HasPermission("messages:send") {
				t.Fatalf("verification = %+v", v)
			}
			ce := wantError(t, v.Err(), c.status, c.code)
			if ce.Message != c.message {
				t.Fatalf("message = %q, want %q", ce.Message, c.message)
			}
		})
	}
	t.Run("disabled and revoked", func(t *testing.T) {
		k2 := e.key("u1", client.KeyCreate{})
		e.as("u1").ToggleKey(ctx, k2.ID)
		if v, _ := verifier.VerifyKey(ctx, k2.Key, "", ""); v.Code != client.CodeKeyDisabled {
			t.Fatalf("code = %s", v.Code)
		}
		e.as("u1").RevokeKey(ctx, k2.ID)
		if v, _ := verifier.VerifyKey(ctx, k2.Key, "", ""); v.Code != client.CodeKeyRevoked {
			t.Fatalf("code = %s", v.Code)
		}
	})
	t.Run("the caller needs keys:verify", func(t *testing.T) {
		c := client.New(e.srv.URL, client.WithRootKey(e.rootKey(latchkey.ScopeAdmin)))
		_, err := c.VerifyKey(ctx, k.Key, "", "")
		wantError(t, err, 403, client.CodeForbidden)
		_, err = client.New(e.srv.URL).VerifyKey(ctx, k.Key, "", "")
		wantError(t, err, 401, client.CodeAuthenticationRequired)
	})
	t.Run("malformed permission is a 400", func(t *testing.T) {
		_, err := verifier.VerifyKey(ctx, k.Key, "messages:*", "")
		wantError(t, err, 400, client.CodeValidationFailed)
	})
	t.Run("empty key is refused locally", func(t *testing.T) {
		if _, err := verifier.VerifyKey(ctx, " ", "", ""); err == nil || client.StatusCode(err) != 0 {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestVerifyKeyRateLimit(t *testing.T) {
	e := newTestEnvWith(t, latchkey.ServiceConfig{Limiter: ratelimit.NewMemory()})
	k := e.key("u1", client.KeyCreate{RateLimit: &client.RateLimit{Limit: 2, Window: time.Minute}})
	verifier := e.verifier()
	v, err := verifier.VerifyKey(t.Context(), k.Key, "", "")
	if err != nil || !v.Valid || v.RateLimit == nil || v.RateLimit.Limit != 2 || v.RateLimit.Remaining != 1 || v.RateLimit.Reset <= 0 {
		t.Fatalf("first: %+v, %v", v, err)
	}
	verifier.VerifyKey(t.Context(), k.Key, "", "")
	v, err = verifier.VerifyKey(t.Context(), k.Key, "", "")
	if err != nil || v.Valid || v.Code != client.CodeRateLimited {
		t.Fatalf("third: %+v, %v", v, err)
	}
	wantError(t, v.Err(), 429, client.CodeRateLimited)
	// Err is what Latchkey answers the key's holder: with when to retry.
	var refusal *client.Error
	if !errors.As(v.Err(), &refusal) || refusal.RetryAfter != v.RateLimit.Reset || refusal.RetryAfter <= 0 {
		t.Fatalf("Err() = %+v, want RetryAfter the limit's reset %+v", refusal, v.RateLimit)
	}
}

// The middleware and VerifyKey admit only what Latchkey really answers for
// a valid key: valid true with code VALID. Anything else is refused, as an
// upstream failure.
func TestVerifyKeyRefusesAnInconsistentAnswer(t *testing.T) {
	for _, body := range []string{
		`{"valid":true,"code":"KEY_REVOKED"}`,
		`{"valid":true}`,
		`{"valid":false,"code":"VALID"}`,
	} {
		fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, body)
		}))
		lk := client.New(fake.URL, client.WithRootKey("x"))
		if v, err := lk.VerifyKey(t.Context(), "tb_live_"+strings.Repeat("a", 32), "", ""); err == nil {
			t.Errorf("%s: VerifyKey = %+v, want an error", body, v)
		}
		a := newAPI(t, lk, client.MiddlewareOptions{})
		wantRefused(t, a.send(t, "GET", "/", "X-API-KEY", "anything"), 503, client.CodeUnavailable)
		if a.calls.Load() != 0 {
			t.Errorf("%s: the request reached the handler", body)
		}
		fake.Close()
	}
}

func TestWhoAmI(t *testing.T) {
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
	k := e.key("u1", client.KeyCreate{Name: "whoami key", Environment: "test", Permissions: []string{"a:b"},
		TenantIDs: []string{"t1", "t2"}, RateLimit: &client.RateLimit{Limit: 10, Window: time.Minute}})
	// WhoAmI authenticates with the key itself: a client without a root key will do.
	c := client.New(e.srv.URL)

	id, err := c.WhoAmI(ctx, k.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	if id.Credential != "api_key" || id.User.ID != "u1" || id.Tenant == nil || *id.Tenant != (client.TenantRef{ID: "t1", Name: "Tenant t1"}) ||
		id.Key.ID != k.ID || id.Key.Name != "whoami key" || id.Key.Environment != "test" || !slices.Equal(id.Key.Permissions, []string{"a:b"}) {
		t.Fatalf("identity = %+v", id)
	}
	if id.RateLimit == nil || id.RateLimit.Limit != 10 || id.RateLimit.Remaining != 9 {
		t.Fatalf("rate limit = %+v", id.RateLimit)
	}
	if id, err = c.WhoAmI(ctx, k.Key, "t2"); err != nil || id.Tenant.ID != "t2" {
		t.Fatalf("tenant t2: %+v, %v", id, err)
	}
	_, err = c.WhoAmI(ctx, k.Key, "t9")
	wantError(t, err, 403, client.CodeTenantNotFound)
	_, err = c.WhoAmI(ctx, "tb_test_"+strings.Repeat("y", 32), "")
	wantError(t, err, 401, client.CodeInvalidAPIKey)

	untenanted := e.key("u2", client.KeyCreate{})
	if id, err = c.WhoAmI(ctx, untenanted.Key, ""); err != nil || id.Tenant != nil || id.RateLimit != nil {
		t.Fatalf("key without tenant or limit: %+v, %v", id, err)
	}
}
