package client_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/ratelimit"
)

func TestSelfServiceKeys(t *testing.T) {
	e := newTestEnv(t)
	ctx := t.Context()
	if _, err := e.admin.CreateTenant(ctx, "t1", "Tenant One"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.CreateUser(ctx, client.UserCreate{ID: "alice", TenantIDs: []string{"t1"}}); err != nil {
		t.Fatal(err)
	}
	alice, bob := e.as("alice"), e.as("bob")

	t.Run("create returns the full key once", func(t *testing.T) {
		k, err := alice.CreateKey(ctx, client.KeyCreate{
			Name: "My App", Environment: "test", Permissions: []string{"messages:send"},
			TenantIDs: []string{"t1"}, ExpiresIn: 30 * 24 * time.Hour,
			RateLimit: &client.RateLimit{Limit: 100, Window: time.Minute}, Meta: map[string]any{"team": "core"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(k.Key, "tb_test_") || len(k.Key) != len("tb_test_")+32 {
			t.Fatalf("key = %q, want a full test key", client.Mask(k.Key))
		}
		if k.Name != "My App" || k.Environment != "test" || k.OwnerID != "alice" || !k.IsActive ||
			!slices.Equal(k.Permissions, []string{"messages:send"}) || !slices.Equal(k.TenantIDs, []string{"t1"}) ||
			k.ExpiresAt == nil || k.RevokedAt != nil || k.LastUsedAt != nil || k.CreatedAt.IsZero() ||
			k.RateLimit == nil || *k.RateLimit != (client.RateLimit{Limit: 100, Window: time.Minute}) || k.Meta["team"] != "core" {
			t.Fatalf("key = %+v", k)
		}
		if d := time.Until(*k.ExpiresAt); d < 29*24*time.Hour || d > 31*24*time.Hour {
			t.Fatalf("expiresAt = %v, want in 30 days", k.ExpiresAt)
		}
		got, err := alice.GetKey(ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Key != client.Mask(k.Key) || got.ID != k.ID {
			t.Fatalf("GetKey key = %q, want masked %q", got.Key, client.Mask(k.Key))
		}
	})
	t.Run("create with expiresAt", func(t *testing.T) {
		at := time.Date(2099, 1, 2, 3, 4, 5, 0, time.UTC)
		k, err := alice.CreateKey(ctx, client.KeyCreate{Name: "dated", ExpiresAt: &at})
		if err != nil {
			t.Fatal(err)
		}
		if k.ExpiresAt == nil || !k.ExpiresAt.Equal(at) || k.Environment != "live" {
			t.Fatalf("key = %+v", k)
		}
	})
	t.Run("create validation", func(t *testing.T) {
		at := time.Now().Add(time.Hour)
		for name, in := range map[string]client.KeyCreate{
			"no name":            {},
			"expiresAt and In":   {Name: "x", ExpiresAt: &at, ExpiresIn: time.Hour},
			"not a member":       {Name: "x", TenantIDs: []string{"t9"}},
			"bad environment":    {Name: "x", Environment: "prod"},
			"rate limit too low": {Name: "x", RateLimit: &client.RateLimit{Limit: 0, Window: time.Minute}},
		} {
			t.Run(name, func(t *testing.T) {
				_, err := alice.CreateKey(ctx, in)
				wantError(t, err, 400, client.CodeValidationFailed)
			})
		}
	})
	t.Run("another user's key is not found", func(t *testing.T) {
		k := e.key("alice", client.KeyCreate{})
		_, err := bob.GetKey(ctx, k.ID)
		if wantError(t, err, 404, client.CodeNotFound); !client.IsCode(err, client.CodeNotFound) || client.StatusCode(err) != 404 {
			t.Fatalf("IsCode/StatusCode disagree on %v", err)
		}
		for name, call := range map[string]func() error{
			"update": func() error { _, err := bob.UpdateKey(ctx, k.ID, client.KeyPatch{Name: ptr("x")}); return err },
			"toggle": func() error { _, err := bob.ToggleKey(ctx, k.ID); return err },
			"revoke": func() error { _, err := bob.RevokeKey(ctx, k.ID); return err },
			"rotate": func() error { _, err := bob.RotateKey(ctx, k.ID, 0); return err },
			"delete": func() error { return bob.DeleteKey(ctx, k.ID) },
		} {
			wantError(t, call(), 404, client.CodeNotFound)
			_ = name
		}
		if got, err := alice.GetKey(ctx, k.ID); err != nil || !got.IsActive || got.Name != "test key" {
			t.Fatalf("alice's key after bob's attempts: %+v, %v", got, err)
		}
	})
	t.Run("update sets and clears", func(t *testing.T) {
		at := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
		k := e.key("alice", client.KeyCreate{ExpiresAt: &at, RateLimit: &client.RateLimit{Limit: 5, Window: time.Hour}})
		got, err := alice.UpdateKey(ctx, k.ID, client.KeyPatch{
			Name: ptr("renamed"), Permissions: []string{"a:b", "c:*"}, TenantIDs: []string{"t1"},
			Meta: map[string]any{"n": 1.0}, RateLimit: &client.RateLimit{Limit: 10, Window: 30 * 24 * time.Hour},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "renamed" || !slices.Equal(got.Permissions, []string{"a:b", "c:*"}) || !slices.Equal(got.TenantIDs, []string{"t1"}) ||
			got.Meta["n"] != 1.0 || *got.RateLimit != (client.RateLimit{Limit: 10, Window: 30 * 24 * time.Hour}) || !got.ExpiresAt.Equal(at) {
			t.Fatalf("after update: %+v", got)
		}
		got, err = alice.UpdateKey(ctx, k.ID, client.KeyPatch{ClearExpiresAt: true, ClearRateLimit: true, Permissions: []string{}, Meta: map[string]any{}})
		if err != nil {
			t.Fatal(err)
		}
		if got.ExpiresAt != nil || got.RateLimit != nil || len(got.Permissions) != 0 || len(got.Meta) != 0 || got.Name != "renamed" {
			t.Fatalf("after clearing: %+v", got)
		}
		if got, err = alice.UpdateKey(ctx, k.ID, client.KeyPatch{}); err != nil || got.Name != "renamed" {
			t.Fatalf("empty patch: %+v, %v", got, err)
		}
		_, err = alice.UpdateKey(ctx, k.ID, client.KeyPatch{ExpiresAt: &at, ClearExpiresAt: true})
		if err == nil || client.StatusCode(err) != 0 {
			t.Fatalf("contradictory patch: err = %v, want a local error", err)
		}
	})
	t.Run("toggle, revoke, and toggling a revoked key conflicts", func(t *testing.T) {
		k := e.key("alice", client.KeyCreate{})
		got, err := alice.ToggleKey(ctx, k.ID)
		if err != nil || got.IsActive {
			t.Fatalf("toggle: %+v, %v", got, err)
		}
		if got, err = alice.ToggleKey(ctx, k.ID); err != nil || !got.IsActive {
			t.Fatalf("toggle back: %+v, %v", got, err)
		}
		if got, err = alice.RevokeKey(ctx, k.ID); err != nil || got.RevokedAt == nil {
			t.Fatalf("revoke: %+v, %v", got, err)
		}
		_, err = alice.ToggleKey(ctx, k.ID)
		wantError(t, err, 409, client.CodeConflict)
		v, err := e.verifier().VerifyKey(ctx, k.Key, "", "")
		if err != nil || v.Valid || v.Code != client.CodeKeyRevoked {
			t.Fatalf("revoked key verifies as %+v, %v", v, err)
		}
	})
	t.Run("rotate with and without grace", func(t *testing.T) {
		verifier := e.verifier()
		old := e.key("alice", client.KeyCreate{Permissions: []string{"x:y"}})
		next, err := alice.RotateKey(ctx, old.ID, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if next.RotatedFrom != old.ID || next.ID == old.ID || next.Key == old.Key || strings.HasSuffix(next.Key, "...") ||
			!slices.Equal(next.Permissions, []string{"x:y"}) {
			t.Fatalf("rotated = %+v", next)
		}
		for _, secret := range []string{old.Key, next.Key} {
			if v, err := verifier.VerifyKey(ctx, secret, "x:y", ""); err != nil || !v.Valid {
				t.Fatalf("during the grace period: %+v, %v", v, err)
			}
		}
		last, err := alice.RotateKey(ctx, next.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := verifier.VerifyKey(ctx, next.Key, "", ""); err != nil || v.Valid {
			t.Fatalf("key rotated without grace still verifies: %+v, %v", v, err)
		}
		if v, err := verifier.VerifyKey(ctx, last.Key, "", ""); err != nil || !v.Valid {
			t.Fatalf("new key: %+v, %v", v, err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		k := e.key("alice", client.KeyCreate{})
		if err := alice.DeleteKey(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		_, err := alice.GetKey(ctx, k.ID)
		wantError(t, err, 404, client.CodeNotFound)
		wantError(t, alice.DeleteKey(ctx, k.ID), 404, client.CodeNotFound)
	})
	t.Run("empty IDs are refused before any request", func(t *testing.T) {
		if _, err := alice.GetKey(ctx, ""); err == nil || client.StatusCode(err) != 0 {
			t.Fatalf("err = %v", err)
		}
		if err := alice.DeleteKey(ctx, ""); err == nil {
			t.Fatal("DeleteKey(\"\") succeeded")
		}
	})
}

func TestListKeysAndAllKeys(t *testing.T) {
	e := newTestEnv(t)
	ctx := t.Context()
	var ids []string // newest first
	for i := range 5 {
		env := "live"
		if i%2 == 1 {
			env = "test"
		}
		ids = slices.Insert(ids, 0, e.key("carol", client.KeyCreate{Environment: env}).ID)
	}
	carol := e.as("carol")

	page, err := carol.ListKeys(ctx, client.ListKeysOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 || page.NextCursor == "" || page.Items[0].ID != ids[0] || page.Items[1].ID != ids[1] {
		t.Fatalf("first page = %v, next %q", keyIDs(page.Items), page.NextCursor)
	}
	if strings.HasSuffix(page.Items[0].Key, "...") == false {
		t.Fatalf("listed key %q is not masked", page.Items[0].Key)
	}
	page, err = carol.ListKeys(ctx, client.ListKeysOptions{Limit: 2, Cursor: page.NextCursor})
	if err != nil || !slices.Equal(keyIDs(page.Items), ids[2:4]) {
		t.Fatalf("second page = %v, %v", keyIDs(page.Items), err)
	}

	t.Run("AllKeys pages through everything", func(t *testing.T) {
		var got []string
		for k, err := range carol.AllKeys(ctx, client.ListKeysOptions{Limit: 2}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, k.ID)
		}
		if !slices.Equal(got, ids) {
			t.Fatalf("AllKeys = %v, want %v", got, ids)
		}
	})
	t.Run("AllKeys filters by environment", func(t *testing.T) {
		n := 0
		for k, err := range carol.AllKeys(ctx, client.ListKeysOptions{Environment: "test", Limit: 1}) {
			if err != nil || k.Environment != "test" {
				t.Fatalf("%+v, %v", k, err)
			}
			n++
		}
		if n != 2 {
			t.Fatalf("%d test keys, want 2", n)
		}
	})
	t.Run("AllKeys stops when the loop breaks", func(t *testing.T) {
		n := 0
		for range carol.AllKeys(ctx, client.ListKeysOptions{Limit: 2}) {
			if n++; n == 3 {
				break
			}
		}
		if n != 3 {
			t.Fatalf("n = %d", n)
		}
	})
	t.Run("AllKeys yields the error and stops", func(t *testing.T) {
		n := 0
		for k, err := range carol.AllKeys(ctx, client.ListKeysOptions{Limit: 1000}) {
			n++
			if k != nil {
				t.Fatalf("key %v with error %v", k, err)
			}
			wantError(t, err, 400, client.CodeValidationFailed)
		}
		if n != 1 {
			t.Fatalf("yielded %d times, want 1", n)
		}
	})
	t.Run("an empty list", func(t *testing.T) {
		page, err := e.as("nobody").ListKeys(ctx, client.ListKeysOptions{})
		if err != nil || len(page.Items) != 0 || page.NextCursor != "" {
			t.Fatalf("%+v, %v", page, err)
		}
	})
}

func TestCallerErrors(t *testing.T) {
	e := newTestEnv(t)
	ctx := t.Context()
	customer := e.key("dave", client.KeyCreate{})
	wrongRoot := "tb_root_" + strings.Repeat("A", 32) // malformed checksum: INVALID_API_KEY

	cases := []struct {
		name   string
		c      *client.Client
		status int
		code   string
	}{
		{"no credential", client.New(e.srv.URL, client.WithUser("dave")), 401, client.CodeAuthenticationRequired},
		{"no user", e.admin, 401, client.CodeUserIDRequired},
		{"unknown root key", client.New(e.srv.URL, client.WithRootKey(wrongRoot), client.WithUser("dave")), 401, client.CodeInvalidAPIKey},
		{"a customer key", client.New(e.srv.URL, client.WithRootKey(customer.Key), client.WithUser("dave")), 403, client.CodeForbidden},
		{"a verify-only root key", client.New(e.srv.URL, client.WithRootKey(e.rootKey(latchkey.ScopeVerify)), client.WithUser("dave")), 403, client.CodeForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.c.ListKeys(ctx, client.ListKeysOptions{})
			wantError(t, err, c.status, c.code)
			for _, secret := range []string{customer.Key, wrongRoot, e.root} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error %q contains a secret", err)
				}
			}
		})
	}
}

func TestManagementRateLimitIs429WithRetryAfter(t *testing.T) {
	e := newTestEnvWith(t, latchkey.ServiceConfig{Limiter: ratelimit.NewMemory(),
		Limits: latchkey.Limits{Management: latchkey.RateLimit{Limit: 2, Window: time.Minute}}})
	erin := e.as("erin")
	for range 2 {
		if _, err := erin.ListKeys(t.Context(), client.ListKeysOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := erin.CreateKey(t.Context(), client.KeyCreate{Name: "x"})
	ce := wantError(t, err, 429, client.CodeRateLimited)
	if ce.RetryAfter < time.Second || ce.RetryAfter > 2*time.Minute { // the limiter counts in sub-windows: up to W + W/slots
		t.Fatalf("RetryAfter = %v", ce.RetryAfter)
	}
	if !client.IsCode(err, client.CodeRateLimited) {
		t.Fatal("IsCode(err, RATE_LIMITED) = false")
	}
}

func TestTransportErrors(t *testing.T) {
	e := newTestEnv(t)
	c := e.as("frank")

	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := c.ListKeys(ctx, client.ListKeysOptions{})
		if !errors.Is(err, context.Canceled) || client.StatusCode(err) != 0 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("server down", func(t *testing.T) {
		e.srv.Close()
		_, err := c.CreateKey(t.Context(), client.KeyCreate{Name: "x"})
		var ce *client.Error
		if err == nil || errors.As(err, &ce) {
			t.Fatalf("err = %v, want a transport error", err)
		}
		if strings.Contains(err.Error(), e.root) || !strings.Contains(err.Error(), "POST /api/v1/auth/api-keys") {
			t.Fatalf("err = %q", err)
		}
	})
}

func keyIDs(keys []*client.Key) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

func ptr[T any](v T) *T { return &v }
