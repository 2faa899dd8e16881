package latchkey_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
)

var clientSecretPattern = regexp.MustCompile(`^[a-z0-9]{1,12}_secret_[0-9A-Za-z]{32}$`)

func TestCreateOAuthClient(t *testing.T) {
	svc, db, _ := newService(t)
	ctx := context.Background()
	if _, err := svc.CreateTenant(ctx, "t1", "Acme"); err != nil {
		t.Fatal(err)
	}
	c, secret, err := svc.CreateOAuthClient(ctx, latchkey.NewOAuthClient{
		Name: "  Worker ", Scopes: []string{"messages:send", "billing:*", "messages:send"}, TenantID: "t1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !clientSecretPattern.MatchString(secret) || !strings.HasPrefix(secret, "tb_secret_") {
		t.Errorf("secret %q does not have the documented format", secret)
	}
	if !latchkey.WellFormedClientSecret(secret) {
		t.Errorf("issued secret fails its own checksum")
	}
	if !strings.HasPrefix(c.ID, "client_") || c.Name != "Worker" || c.TenantID != "t1" ||
		!slices.Equal(c.Scopes, []string{"messages:send", "billing:*"}) || c.Disabled {
		t.Errorf("client = %+v", c)
	}
	if c.SecretHash != latchkey.HashClientSecret(secret) {
		t.Error("stored hash is not the SHA-256 of the secret")
	}
	stored, err := db.OAuthClient(ctx, c.ID)
	if err != nil || stored.SecretHash != c.SecretHash {
		t.Fatalf("stored: %+v %v", stored, err)
	}

	got, err := svc.AuthenticateOAuthClient(ctx, c.ID, secret)
	if err != nil || got.ID != c.ID {
		t.Fatalf("AuthenticateOAuthClient: %v", err)
	}
	_, other, _ := svc.CreateOAuthClient(ctx, latchkey.NewOAuthClient{Name: "other", Scopes: []string{"a"}})
	for _, bad := range []struct{ id, secret string }{
		{c.ID, other},
		{c.ID, withLastChanged(secret)},
		{c.ID, ""},
		{c.ID, strings.Repeat("x", 10000)},
		{"client_nope", secret},
		{"", secret},
		{c.ID + "\x00", secret},
	} {
		_, err := svc.AuthenticateOAuthClient(ctx, bad.id, bad.secret)
		if err != latchkey.ErrInvalidClient {
			t.Errorf("AuthenticateOAuthClient(%.20q, %.20q) = %v, want ErrInvalidClient", bad.id, bad.secret, err)
		}
	}
}

func TestCreateOAuthClientValidation(t *testing.T) {
	svc, _, _ := newService(t)
	ctx := context.Background()
	for _, in := range []latchkey.NewOAuthClient{
		{Name: "", Scopes: []string{"a"}},
		{Name: "x", Scopes: nil},
		{Name: "x", Scopes: []string{"not a scope"}},
		{Name: "x", Scopes: []string{`a"b`}},
		{Name: "x", Scopes: []string{"a"}, TenantID: "missing"},
		{Name: "x", Scopes: []string{"a"}, TenantID: "bad id!"},
		{Name: strings.Repeat("n", 101), Scopes: []string{"a"}},
	} {
		_, _, err := svc.CreateOAuthClient(ctx, in)
		wantCode(t, err, latchkey.CodeValidationFailed)
	}
}

func TestOAuthClientLifecycle(t *testing.T) {
	svc, _, _ := newService(t)
	ctx := context.Background()
	c, secret, err := svc.CreateOAuthClient(ctx, latchkey.NewOAuthClient{Name: "w", Scopes: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}

	name, scopes, yes := "renamed", []string{"b", "c:*"}, true
	u, err := svc.UpdateOAuthClient(ctx, c.ID, latchkey.OAuthClientPatch{Name: &name, Scopes: &scopes, Disabled: &yes})
	if err != nil || u.Name != "renamed" || !slices.Equal(u.Scopes, scopes) || !u.Disabled || u.SecretHash != c.SecretHash {
		t.Fatalf("update: %+v %v", u, err)
	}
	empty := []string{}
	_, err = svc.UpdateOAuthClient(ctx, c.ID, latchkey.OAuthClientPatch{Scopes: &empty})
	wantCode(t, err, latchkey.CodeValidationFailed)
	_, err = svc.UpdateOAuthClient(ctx, "client_nope", latchkey.OAuthClientPatch{Name: &name})
	wantCode(t, err, latchkey.CodeNotFound)

	// A disabled client still authenticates; the token endpoint refuses it.
	if _, err := svc.AuthenticateOAuthClient(ctx, c.ID, secret); err != nil {
		t.Fatalf("disabled client authentication: %v", err)
	}

	_, fresh, err := svc.RotateOAuthClientSecret(ctx, c.ID)
	if err != nil || fresh == secret {
		t.Fatalf("rotate: %v", err)
	}
	if _, err := svc.AuthenticateOAuthClient(ctx, c.ID, secret); err != latchkey.ErrInvalidClient {
		t.Errorf("old secret after rotation: %v", err)
	}
	if _, err := svc.AuthenticateOAuthClient(ctx, c.ID, fresh); err != nil {
		t.Errorf("new secret: %v", err)
	}
	_, _, err = svc.RotateOAuthClientSecret(ctx, "client_nope")
	wantCode(t, err, latchkey.CodeNotFound)

	list, err := svc.ListOAuthClients(ctx, latchkey.Page{})
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	if err := svc.DeleteOAuthClient(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, svc.DeleteOAuthClient(ctx, c.ID), latchkey.CodeNotFound)
	if _, err := svc.AuthenticateOAuthClient(ctx, c.ID, fresh); err != latchkey.ErrInvalidClient {
		t.Errorf("deleted client: %v", err)
	}
}

func TestWellFormedClientSecret(t *testing.T) {
	for _, s := range []string{
		"", "lk_secret_", "lk_live_0000000000000000000000000000000",
		"LK_secret_00000000000000000000000000000000",
		"lk_secret_0000000000000000000000000000000!",
		"toolongprefix1_secret_00000000000000000000000000000000",
		"lk_secret_00000000000000000000000000000000", // checksum wrong
	} {
		if latchkey.WellFormedClientSecret(s) {
			t.Errorf("WellFormedClientSecret(%q) = true", s)
		}
	}
}

func TestGrantedScopes(t *testing.T) {
	got := latchkey.GrantedScopes([]string{"messages:*", "billing:read"}, []string{"messages:send", "billing:write", "billing:read", "messages:send"})
	if !slices.Equal(got, []string{"messages:send", "billing:read"}) {
		t.Fatalf("GrantedScopes = %v", got)
	}
}

// withLastChanged returns s with its last character replaced by another one
// (a fixed replacement would leave one secret in 62 unchanged).
func withLastChanged(s string) string {
	last := "0"
	if strings.HasSuffix(s, last) {
		last = "1"
	}
	return s[:len(s)-1] + last
}
