package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

const mePath = "/api/v1/users/me"

func TestWhoAmI(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	e.user("user-123", "123", "124")
	e.user("other", "456")
	k, secret := e.key("user-123", latchkey.NewKey{Name: "My App", Environment: "test", Permissions: []string{"messages:send"}, TenantIDs: []string{"124", "123"}})
	_, untenanted := e.key("user-123", latchkey.NewKey{Name: "no tenant"})

	t.Run("first linked tenant", func(t *testing.T) {
		r := e.do("GET", mePath, nil, "Authorization", "Bearer "+secret)
		wantStatus(t, r, 200)
		want := `{"credential":"api_key","user":{"id":"user-123"},"tenant":{"id":"124","name":"Tenant 124"},` +
			`"key":{"id":"` + k.ID + `","name":"My App","environment":"test","permissions":["messages:send"]}}`
		if got := strings.TrimSpace(string(r.body)); got != want {
			t.Errorf("body = %s\nwant   %s", got, want)
		}
	})

	t.Run("X-TENANT-ID picks a linked tenant", func(t *testing.T) {
		r := e.do("GET", mePath, nil, "X-API-KEY", secret, "X-TENANT-ID", "123")
		wantStatus(t, r, 200)
		if tn := r.object(t)["tenant"]; !jsonEqual(tn, map[string]any{"id": "123", "name": "Tenant 123"}) {
			t.Errorf("tenant = %v", tn)
		}
	})

	t.Run("no tenant", func(t *testing.T) {
		r := e.do("GET", mePath, nil, "X-API-KEY", untenanted)
		wantStatus(t, r, 200)
		if !strings.Contains(string(r.body), `"tenant":null`) {
			t.Errorf("body = %s", r.body)
		}
	})

	before := e.svc.Usage().Pending(k.ID)
	for _, tc := range []struct {
		name    string
		headers []string
		status  int
		code    string
	}{
		{"no credential", nil, 401, latchkey.CodeAuthenticationRequired},
		{"unlinked tenant", []string{"X-API-KEY", secret, "X-TENANT-ID", "456"}, 403, latchkey.CodeTenantNotFound},
		{"unknown tenant", []string{"X-API-KEY", secret, "X-TENANT-ID", "nope"}, 403, latchkey.CodeTenantNotFound},
		{"garbage", []string{"X-API-KEY", "not-a-key"}, 401, latchkey.CodeInvalidAPIKey},
		{"bad checksum", []string{"X-API-KEY", secret[:len(secret)-1] + flip(secret[len(secret)-1])}, 401, latchkey.CodeInvalidAPIKey},
		{"unknown key", []string{"X-API-KEY", wellFormed(t, "live")}, 401, latchkey.CodeInvalidAPIKey},
		{"two keys", []string{"X-API-KEY", secret, "Authorization", "Bearer " + untenanted}, 400, latchkey.CodeAmbiguousCredentials},
		{"root key", []string{"Authorization", "Bearer " + e.root}, 403, latchkey.CodeForbidden},
		{"unknown root key", []string{"Authorization", "Bearer " + wellFormed(t, "root")}, 401, latchkey.CodeInvalidAPIKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, e.do("GET", mePath, nil, tc.headers...), tc.status, tc.code)
		})
	}
	t.Run("key in the query string is ignored", func(t *testing.T) {
		wantError(t, e.do("GET", mePath+"?api_key="+secret, nil), 401, latchkey.CodeAuthenticationRequired)
	})
	if got := e.svc.Usage().Pending(k.ID); got != before {
		t.Errorf("failed requests counted as uses: %d -> %d", before, got)
	}

	t.Run("each success counts as a use", func(t *testing.T) {
		n := e.svc.Usage().Pending(k.ID)
		for range 3 {
			wantStatus(t, e.do("GET", mePath, nil, "X-API-KEY", secret), 200)
		}
		if got := e.svc.Usage().Pending(k.ID); got != n+3 {
			t.Errorf("pending uses = %d, want %d", got, n+3)
		}
		if err := e.svc.Usage().Flush(ctx); err != nil {
			t.Fatal(err)
		}
		r := e.do("GET", keysPath+"/"+k.ID, nil, e.as("user-123")...)
		m := r.object(t)
		if m["requestCount"] != float64(n+3) || m["lastUsedAt"] != rfc3339(start) {
			t.Errorf("usage = %v, %v", m["requestCount"], m["lastUsedAt"])
		}
	})

	t.Run("key states", func(t *testing.T) {
		d, dSecret := e.key("user-123", latchkey.NewKey{})
		if _, err := e.svc.ToggleKey(ctx, "", d.ID); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.do("GET", mePath, nil, "X-API-KEY", dSecret), 401, latchkey.CodeKeyDisabled)

		rv, rvSecret := e.key("user-123", latchkey.NewKey{})
		if _, err := e.svc.RevokeKey(ctx, "", rv.ID); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.do("GET", mePath, nil, "X-API-KEY", rvSecret), 401, latchkey.CodeKeyRevoked)

		exp := e.clock.Now().Add(time.Hour)
		_, xSecret := e.key("user-123", latchkey.NewKey{ExpiresAt: &exp})
		wantStatus(t, e.do("GET", mePath, nil, "X-API-KEY", xSecret), 200)
		e.clock.Advance(time.Hour)
		wantError(t, e.do("GET", mePath, nil, "X-API-KEY", xSecret), 401, latchkey.CodeKeyExpired)

		del, delSecret := e.key("user-123", latchkey.NewKey{})
		if err := e.svc.DeleteKey(ctx, "", del.ID); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.do("GET", mePath, nil, "X-API-KEY", delSecret), 401, latchkey.CodeInvalidAPIKey)
	})
}

func TestWhoAmIRequireTenant(t *testing.T) {
	e := newTestEnv(t, func(c *Config) { c.RequireTenant = true })
	e.user("u1", "t1")
	_, none := e.key("u1", latchkey.NewKey{})
	_, linked := e.key("u1", latchkey.NewKey{TenantIDs: []string{"t1"}})
	msg := wantError(t, e.do("GET", mePath, nil, "X-API-KEY", none), 403, latchkey.CodeAPIKeyNoTenant)
	if msg != "API key is not linked to any tenant." {
		t.Errorf("message = %q", msg)
	}
	wantStatus(t, e.do("GET", mePath, nil, "X-API-KEY", linked), 200)
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}
