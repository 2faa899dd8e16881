package server

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/ratelimit"
)

func TestVerifyAPI(t *testing.T) {
	e := newTestEnv(t)
	e.user("u1", "t1", "t2")
	exp := start.Add(48 * time.Hour)
	k, secret := e.key("u1", latchkey.NewKey{Permissions: []string{"messages:*"}, TenantIDs: []string{"t1", "t2"}, ExpiresAt: &exp})
	verifier := []string{"Authorization", "Bearer " + e.rootKey(latchkey.ScopeVerify)}
	verify := func(body any, headers ...string) map[string]any {
		t.Helper()
		r := e.do("POST", "/api/v1/keys/verify", body, headers...)
		wantStatus(t, r, 200)
		m := r.object(t)
		wantFields(t, m, "valid", "code", "keyId", "ownerId", "tenantId", "environment", "permissions", "expiresAt", "ratelimit")
		return m
	}
	invalid := func(t *testing.T, m map[string]any, code string) {
		t.Helper()
		if m["valid"] != false || m["code"] != code {
			t.Fatalf("valid = %v, code = %v; want false, %s", m["valid"], m["code"], code)
		}
		for _, f := range []string{"keyId", "ownerId", "tenantId", "environment", "permissions", "expiresAt", "ratelimit"} {
			if m[f] != nil {
				t.Fatalf("%s = %v on an invalid answer, want null", f, m[f])
			}
		}
	}

	t.Run("valid key", func(t *testing.T) {
		m := verify(map[string]any{"key": secret, "permission": "messages:send"}, verifier...)
		if m["valid"] != true || m["code"] != "VALID" || m["keyId"] != k.ID || m["ownerId"] != "u1" ||
			m["tenantId"] != "t1" || m["environment"] != "live" || m["expiresAt"] != rfc3339(exp) || m["ratelimit"] != nil {
			t.Fatalf("answer = %v", m)
		}
		if p, _ := m["permissions"].([]any); len(p) != 1 || p[0] != "messages:*" {
			t.Fatalf("permissions = %v", m["permissions"])
		}
	})
	t.Run("tenantId selects", func(t *testing.T) {
		if m := verify(map[string]any{"key": secret, "tenantId": "t2"}, verifier...); m["tenantId"] != "t2" {
			t.Fatalf("tenantId = %v", m["tenantId"])
		}
		invalid(t, verify(map[string]any{"key": secret, "tenantId": "t9"}, verifier...), latchkey.CodeTenantNotFound)
	})
	t.Run("missing permission", func(t *testing.T) {
		invalid(t, verify(map[string]any{"key": secret, "permission": "numbers:write"}, verifier...), latchkey.CodeInsufficientPermission)
	})
	t.Run("unknown, malformed and root keys", func(t *testing.T) {
		invalid(t, verify(map[string]any{"key": wellFormed(t, "live")}, verifier...), latchkey.CodeInvalidAPIKey)
		invalid(t, verify(map[string]any{"key": "nonsense"}, verifier...), latchkey.CodeInvalidAPIKey)
		invalid(t, verify(map[string]any{"key": e.root}, verifier...), latchkey.CodeInvalidAPIKey)
	})
	t.Run("disabled, expired and revoked keys", func(t *testing.T) {
		k2, s2 := e.key("u1", latchkey.NewKey{})
		e.svc.ToggleKey(t.Context(), "", k2.ID)
		invalid(t, verify(map[string]any{"key": s2}, verifier...), latchkey.CodeKeyDisabled)
		e.svc.RevokeKey(t.Context(), "", k2.ID)
		invalid(t, verify(map[string]any{"key": s2}, verifier...), latchkey.CodeKeyRevoked)
		soon := start.Add(time.Minute)
		_, s3 := e.key("u1", latchkey.NewKey{ExpiresAt: &soon})
		e.clock.Advance(time.Minute)
		invalid(t, verify(map[string]any{"key": s3}, verifier...), latchkey.CodeKeyExpired)
	})
	t.Run("a successful verification counts as a use", func(t *testing.T) {
		k4, s4 := e.key("u1", latchkey.NewKey{})
		verify(map[string]any{"key": s4}, verifier...)
		invalid(t, verify(map[string]any{"key": s4, "permission": "a:b"}, verifier...), latchkey.CodeInsufficientPermission)
		e.svc.Usage().Flush(t.Context())
		if got, _ := e.svc.GetKey(t.Context(), "", k4.ID); got.RequestCount != 1 {
			t.Fatalf("requestCount = %d, want 1", got.RequestCount)
		}
	})
	t.Run("* root keys may verify too", func(t *testing.T) {
		verify(map[string]any{"key": secret}, e.admin()...)
	})
	t.Run("malformed calls are 400", func(t *testing.T) {
		for _, body := range []any{nil, "", "[]", `{"key": 1}`, `{"key": "x", "extra": 1}`, map[string]any{}, map[string]any{"key": " "},
			map[string]any{"key": secret, "permission": "bad perm"}, map[string]any{"key": secret, "permission": "messages:*"}} {
			wantError(t, e.do("POST", "/api/v1/keys/verify", body, verifier...), 400, latchkey.CodeValidationFailed)
		}
	})
	t.Run("caller authentication", func(t *testing.T) {
		body := map[string]any{"key": secret}
		wantError(t, e.do("POST", "/api/v1/keys/verify", body), 401, latchkey.CodeAuthenticationRequired)
		wantError(t, e.do("POST", "/api/v1/keys/verify", body, "Authorization", "Bearer "+wellFormed(t, "root")), 401, latchkey.CodeInvalidAPIKey)
		wantError(t, e.do("POST", "/api/v1/keys/verify", body, "Authorization", "Bearer "+e.rootKey(latchkey.ScopeAdmin)), 403, latchkey.CodeForbidden)
		wantError(t, e.do("POST", "/api/v1/keys/verify", body, "Authorization", "Bearer "+secret), 403, latchkey.CodeForbidden)
		wantError(t, e.do("GET", "/api/v1/keys/verify", nil, verifier...), 405, codeMethodNotAllowed)
	})
	t.Run("a verify-only root key cannot manage anything", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/v1/admin/tenants"}, {"GET", "/api/v1/admin/keys"}, {"POST", "/api/v1/admin/root-keys"},
			{"GET", "/api/v1/admin/permissions"}, {"POST", "/api/v1/admin/permissions"}, {"DELETE", "/api/v1/admin/permissions/a:b"},
		} {
			wantError(t, e.do(c.method, c.path, map[string]any{}, verifier...), 403, latchkey.CodeForbidden)
		}
		wantError(t, e.do("GET", "/api/v1/auth/api-keys", nil, append(verifier, "X-User-Id", "u1")...), 403, latchkey.CodeForbidden)
		wantError(t, e.do("GET", "/api/v1/users/me", nil, verifier...), 403, latchkey.CodeForbidden)
	})
}

// newLimitedEnv is newTestEnv with a real in-memory rate limiter.
func newLimitedEnv(t *testing.T, opts ...func(*Config)) *testEnv {
	t.Helper()
	return newTestEnvWith(t, latchkey.ServiceConfig{Limiter: ratelimit.NewMemory()}, opts...)
}

func TestVerifyAPIRateLimits(t *testing.T) {
	e := newLimitedEnv(t)
	e.user("u1")
	_, secret := e.key("u1", latchkey.NewKey{RateLimit: &latchkey.RateLimit{Limit: 2, Window: time.Minute}})
	verify := func() map[string]any {
		r := e.do("POST", "/api/v1/keys/verify", map[string]any{"key": secret}, e.admin()...)
		wantStatus(t, r, 200)
		return r.object(t)
	}
	m := verify()
	rl, _ := m["ratelimit"].(map[string]any)
	if m["valid"] != true || rl == nil || rl["limit"] != float64(2) || rl["remaining"] != float64(1) || rl["reset"].(float64) <= 0 || rl["reset"].(float64) > maxResetSeconds {
		t.Fatalf("first answer = %v", m)
	}
	if m = verify(); m["ratelimit"].(map[string]any)["remaining"] != float64(0) {
		t.Fatalf("second answer = %v", m)
	}
	// Refused: the verdict still says when the key may retry.
	m = verify()
	rl, _ = m["ratelimit"].(map[string]any)
	if m["valid"] != false || m["code"] != latchkey.CodeRateLimited || rl == nil || rl["remaining"] != float64(0) || rl["reset"].(float64) <= 0 {
		t.Fatalf("third answer = %v", m)
	}
}
