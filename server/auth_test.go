package server

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apikey"
)

func TestCredential(t *testing.T) {
	const k1, k2 = "tb_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "tb_live_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	for _, tc := range []struct {
		name    string
		headers []string
		want    string
		err     string
	}{
		{"none", nil, "", ""},
		{"bearer", []string{"Authorization", "Bearer " + k1}, k1, ""},
		{"bearer any case", []string{"Authorization", "bEaReR " + k1}, k1, ""},
		{"bearer extra spaces", []string{"Authorization", "Bearer   " + k1 + "  "}, k1, ""},
		{"x-api-key", []string{"X-API-KEY", k1}, k1, ""},
		{"x-api-key lower case", []string{"x-api-key", k1}, k1, ""},
		{"same value twice", []string{"Authorization", "Bearer " + k1, "X-API-KEY", k1}, k1, ""},
		{"different values", []string{"Authorization", "Bearer " + k1, "X-API-KEY", k2}, "", latchkey.CodeAmbiguousCredentials},
		{"two different bearer headers", []string{"Authorization", "Bearer " + k1, "Authorization", "Bearer " + k2}, "", latchkey.CodeAmbiguousCredentials},
		{"two different x-api-key headers", []string{"X-API-KEY", k1, "X-API-KEY", k2}, "", latchkey.CodeAmbiguousCredentials},
		{"basic is not a credential", []string{"Authorization", "Basic dXNlcjpwYXNz"}, "", ""},
		{"basic plus x-api-key", []string{"Authorization", "Basic dXNlcjpwYXNz", "X-API-KEY", k1}, k1, ""},
		{"bearer without value", []string{"Authorization", "Bearer"}, "", ""},
		{"bearer blank", []string{"Authorization", "Bearer    "}, "", ""},
		{"empty x-api-key", []string{"X-API-KEY", ""}, "", ""},
		{"bare token", []string{"Authorization", k1}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/?api_key="+k2, nil)
			for i := 0; i < len(tc.headers); i += 2 {
				r.Header.Add(tc.headers[i], tc.headers[i+1])
			}
			got, err := credential(r)
			if code := latchkey.ErrorCode(err); code != tc.err {
				t.Fatalf("error = %v, want code %q", err, tc.err)
			}
			if got != tc.want {
				t.Fatalf("credential = %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzCredential(f *testing.F) {
	f.Add("Bearer tb_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "tb_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	f.Add("bearer x", "y")
	f.Add("Basic abc", "")
	f.Add("", "k")
	f.Add("Bearer", " ")
	f.Add("Bearer \t a \t", "a")
	f.Fuzz(func(t *testing.T, auth, apiKey string) {
		r := httptest.NewRequest("GET", "/", nil)
		if auth != "" {
			r.Header["Authorization"] = []string{auth}
		}
		if apiKey != "" {
			r.Header["X-Api-Key"] = []string{apiKey}
		}
		got, err := credential(r)

		var bearer string
		if scheme, rest, ok := strings.Cut(strings.TrimSpace(auth), " "); ok && strings.EqualFold(scheme, "bearer") {
			bearer = strings.TrimSpace(rest)
		}
		key := strings.TrimSpace(apiKey)
		switch {
		case bearer != "" && key != "" && bearer != key:
			if latchkey.ErrorCode(err) != latchkey.CodeAmbiguousCredentials || got != "" {
				t.Fatalf("(%q, %q) = %q, %v; want AMBIGUOUS_CREDENTIALS", auth, apiKey, got, err)
			}
		case err != nil:
			t.Fatalf("(%q, %q): unexpected error %v", auth, apiKey, err)
		case bearer != "" && got != bearer, bearer == "" && got != key:
			t.Fatalf("(%q, %q) = %q", auth, apiKey, got)
		}
		if got != strings.TrimSpace(got) {
			t.Fatalf("credential %q not trimmed", got)
		}
	})
}

func TestSelfServiceUserContext(t *testing.T) {
	e := newTestEnv(t)
	e.user("existing")
	_, customerKey := e.key("existing", latchkey.NewKey{Name: "customer"})
	disabled, disabledKey := e.key("existing", latchkey.NewKey{Name: "off"})
	if _, err := e.svc.ToggleKey(context.Background(), "", disabled.ID); err != nil {
		t.Fatal(err)
	}
	verifyOnly := e.rootKey(latchkey.ScopeVerify)
	adminOnly := e.rootKey(latchkey.ScopeAdmin)
	manage := e.rootKey(latchkey.ScopeManage)
	unknownRoot := wellFormed(t, "root")

	for _, tc := range []struct {
		name    string
		headers []string
		status  int
		code    string
		msg     string
	}{
		{"no credential", nil, 401, latchkey.CodeAuthenticationRequired, "Missing API key."},
		{"bare x-user-id is not trusted by default", []string{"X-User-Id", "existing"}, 401, latchkey.CodeAuthenticationRequired, ""},
		{"root key without x-user-id", []string{"Authorization", "Bearer " + e.root}, 401, latchkey.CodeUserIDRequired, "User ID is required"},
		{"root key lacking keys:manage", []string{"Authorization", "Bearer " + verifyOnly, "X-User-Id", "existing"}, 403, latchkey.CodeForbidden, "keys:manage"},
		{"admin scope is not keys:manage", []string{"X-API-KEY", adminOnly, "X-User-Id", "existing"}, 403, latchkey.CodeForbidden, ""},
		{"unknown root key", []string{"Authorization", "Bearer " + unknownRoot, "X-User-Id", "existing"}, 401, latchkey.CodeInvalidAPIKey, "Invalid API key."},
		{"garbage credential", []string{"Authorization", "Bearer hunter2", "X-User-Id", "existing"}, 401, latchkey.CodeInvalidAPIKey, ""},
		{"customer key", []string{"Authorization", "Bearer " + customerKey}, 403, latchkey.CodeForbidden, "API keys cannot manage keys"},
		{"customer key with x-user-id", []string{"X-API-KEY", customerKey, "X-User-Id", "existing"}, 403, latchkey.CodeForbidden, "API keys cannot manage keys"},
		{"disabled customer key", []string{"X-API-KEY", disabledKey}, 403, latchkey.CodeForbidden, ""},
		{"unknown customer key", []string{"X-API-KEY", wellFormed(t, "live")}, 401, latchkey.CodeInvalidAPIKey, ""},
		{"two credentials", []string{"Authorization", "Bearer " + e.root, "X-API-KEY", manage, "X-User-Id", "existing"}, 400, latchkey.CodeAmbiguousCredentials, ""},
		{"bad x-user-id", []string{"Authorization", "Bearer " + e.root, "X-User-Id", "no spaces allowed"}, 400, latchkey.CodeValidationFailed, "x-user-id"},
		{"long x-user-id", []string{"Authorization", "Bearer " + e.root, "X-User-Id", strings.Repeat("u", 129)}, 400, latchkey.CodeValidationFailed, "x-user-id"},
		{"root key for existing user", []string{"Authorization", "Bearer " + e.root, "X-User-Id", "existing"}, 200, "", ""},
		{"keys:manage root key via X-API-KEY", []string{"X-API-KEY", manage, "X-User-Id", "existing"}, 200, "", ""},
		{"same root key in both headers", []string{"Authorization", "Bearer " + manage, "X-API-KEY", manage, "X-User-Id", "existing"}, 200, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", keysPath, nil, tc.headers...)
			if tc.status == 200 {
				wantStatus(t, r, 200)
				if n := len(r.array(t)); n != 2 {
					t.Errorf("listed %d keys, want 2", n)
				}
				return
			}
			msg := wantError(t, r, tc.status, tc.code)
			wantMessage(t, msg, tc.msg)
		})
	}

	t.Run("x-user-id is created on first use", func(t *testing.T) {
		r := e.do("POST", keysPath, `{"name":"first"}`, e.as("newcomer@example.com")...)
		wantStatus(t, r, 201)
		if owner := r.object(t)["ownerId"]; owner != "newcomer@example.com" {
			t.Errorf("ownerId = %v", owner)
		}
		if _, err := e.svc.User(context.Background(), "newcomer@example.com"); err != nil {
			t.Errorf("user not created: %v", err)
		}
	})

	t.Run("disabled user", func(t *testing.T) {
		disabled := true
		if _, err := e.svc.UpdateUser(context.Background(), "existing", latchkey.UserPatch{Disabled: &disabled}); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.do("GET", keysPath, nil, e.as("existing")...), 403, latchkey.CodeForbidden)
	})
}

// wellFormed returns a valid key of env that no store knows.
func wellFormed(t *testing.T, env string) string {
	t.Helper()
	k, err := apikey.Generate("tb", env)
	if err != nil {
		t.Fatal(err)
	}
	return k.String()
}

func TestTrustedUserHeader(t *testing.T) {
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	trusted := newTestEnv(t, func(c *Config) { c.TrustUserHeader, c.TrustedProxies = true, loopback })

	r := trusted.do("POST", keysPath, `{"name":"via proxy"}`, "X-User-Id", "proxied-user")
	wantStatus(t, r, 201)
	if owner := r.object(t)["ownerId"]; owner != "proxied-user" {
		t.Errorf("ownerId = %v", owner)
	}
	r = trusted.do("GET", keysPath, nil, "X-User-Id", "proxied-user")
	wantStatus(t, r, 200)
	if n := len(r.array(t)); n != 1 {
		t.Errorf("listed %d keys", n)
	}
	wantError(t, trusted.do("GET", keysPath, nil), 401, latchkey.CodeUserIDRequired)
	wantError(t, trusted.do("GET", keysPath, nil, "X-User-Id", "bad id!"), 400, latchkey.CodeValidationFailed)
	// A credential still takes precedence and is checked.
	wantError(t, trusted.do("GET", keysPath, nil, "X-User-Id", "proxied-user", "Authorization", "Bearer nope"), 401, latchkey.CodeInvalidAPIKey)

	elsewhere := newTestEnv(t, func(c *Config) {
		c.TrustUserHeader, c.TrustedProxies = true, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	wantError(t, elsewhere.do("GET", keysPath, nil, "X-User-Id", "proxied-user"), 401, latchkey.CodeAuthenticationRequired)

	notEnabled := newTestEnv(t, func(c *Config) { c.TrustedProxies = loopback })
	wantError(t, notEnabled.do("GET", keysPath, nil, "X-User-Id", "proxied-user"), 401, latchkey.CodeAuthenticationRequired)
	wantError(t, notEnabled.do("GET", keysPath, nil), 401, latchkey.CodeAuthenticationRequired)
}

// Two different values for a header that names whom a request acts for, or
// which tenant, are refused: which one counts would otherwise depend on
// the order a client and a proxy wrote them. The same value twice is fine.
func TestConflictingIdentityHeaders(t *testing.T) {
	e := newTestEnv(t)
	e.user("u1", "t1", "t2")
	_, secret := e.key("u1", latchkey.NewKey{TenantIDs: []string{"t1", "t2"}})

	r := e.do("GET", "/api/v1/auth/api-keys", nil, append(e.as("u1"), "X-User-Id", "u2")...)
	wantError(t, r, 400, latchkey.CodeValidationFailed)
	if !strings.Contains(string(r.body), "X-User-Id") {
		t.Errorf("message does not name the header: %s", r.body)
	}
	wantStatus(t, e.do("GET", "/api/v1/auth/api-keys", nil, append(e.as("u1"), "X-User-Id", " u1 ")...), 200)

	wantError(t, e.do("GET", "/api/v1/users/me", nil, "X-API-KEY", secret, "X-Tenant-Id", "t1", "X-Tenant-Id", "t2"), 400, latchkey.CodeValidationFailed)
	wantError(t, e.check("GET", "/x", "X-API-KEY", secret, "X-Tenant-Id", "t2", "X-Tenant-Id", "t1"), 400, latchkey.CodeValidationFailed)
	r = e.check("GET", "/x", "X-API-KEY", secret, "X-Tenant-Id", "t2", "X-Tenant-Id", "t2")
	wantAllowed(t, r)
	if got := r.header.Get(HeaderTenantID); got != "t2" {
		t.Errorf("tenant = %q, want t2", got)
	}
}
