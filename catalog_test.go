package latchkey_test

import (
	"context"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
)

func TestCheckCatalog(t *testing.T) {
	catalog := []string{"messages:read", "messages:send", "numbers:write", "billing:*"}
	for _, tc := range []struct {
		perm string
		ok   bool
	}{
		{"messages:send", true},
		{"messages:*", true},       // the catalog has permissions under messages:
		{"billing:*", true},        // in the catalog itself
		{"billing:read", false},    // a catalog wildcard is not a family of concrete permissions
		{"numbers:*", true},        // one permission under the prefix is enough
		{"messages:send:*", false}, // nothing under messages:send:
		{"webhooks:*", false},
		{"*", false}, // only when the catalog holds "*"
		{"messages:delete", false},
		{"Messages:send", false},
	} {
		err := latchkey.CheckCatalog(catalog, []string{"messages:read", tc.perm})
		if (err == nil) != tc.ok {
			t.Errorf("%q: error = %v, want allowed=%v", tc.perm, err, tc.ok)
		}
		if err != nil && (latchkey.ErrorCode(err) != latchkey.CodeValidationFailed || !strings.Contains(err.Error(), `"`+tc.perm+`"`)) {
			t.Errorf("%q: error %v does not name the permission", tc.perm, err)
		}
	}
	if err := latchkey.CheckCatalog(append(catalog, "*"), []string{"*"}); err != nil {
		t.Errorf("* in the catalog: %v", err)
	}
	if err := latchkey.CheckCatalog(nil, []string{"*", "any:thing"}); err != nil {
		t.Errorf("empty catalog allows everything: %v", err)
	}
}

func TestCatalogGovernsKeyPermissions(t *testing.T) {
	svc, _, _ := newService(t)
	ctx := context.Background()
	mustUser(t, svc, "u1")

	// No catalog: anything well-formed.
	k, _, err := svc.CreateKey(ctx, "u1", latchkey.NewKey{Name: "k", Permissions: []string{"anything:goes"}})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := svc.CreatePermission(ctx, "messages:send", "Send messages"); err != nil {
		t.Fatal(err)
	}
	// A key created before the catalog keeps its permissions through
	// updates that leave them alone.
	renamed := "renamed"
	if _, err := svc.UpdateKey(ctx, "", k.ID, latchkey.KeyPatch{Name: &renamed}); err != nil {
		t.Fatal(err)
	}
	_, _, err = svc.CreateKey(ctx, "u1", latchkey.NewKey{Name: "k", Permissions: []string{"messages:send", "messages:read"}})
	wantCode(t, err, latchkey.CodeValidationFailed)
	if !strings.Contains(err.Error(), "messages:read") {
		t.Fatalf("error does not name the permission: %v", err)
	}
	if _, _, err := svc.CreateKey(ctx, "u1", latchkey.NewKey{Name: "k", Permissions: []string{"messages:*"}}); err != nil {
		t.Fatalf("wildcard over catalog permissions: %v", err)
	}
	_, err = svc.UpdateKey(ctx, "", k.ID, latchkey.KeyPatch{Permissions: &[]string{"*"}})
	wantCode(t, err, latchkey.CodeValidationFailed)
	if _, err := svc.UpdateKey(ctx, "", k.ID, latchkey.KeyPatch{Permissions: &[]string{"messages:send"}}); err != nil {
		t.Fatal(err)
	}

	_, err = svc.CreatePermission(ctx, "messages:send", "")
	wantCode(t, err, latchkey.CodeConflict)
	_, err = svc.CreatePermission(ctx, "bad perm", "")
	wantCode(t, err, latchkey.CodeValidationFailed)
	_, err = svc.CreatePermission(ctx, "a:b", "line\nbreak")
	wantCode(t, err, latchkey.CodeValidationFailed)

	if err := svc.EnsurePermissions(ctx, []string{"messages:send", "numbers:write"}); err != nil {
		t.Fatal(err)
	}
	ps, err := svc.ListPermissions(ctx)
	if err != nil || len(ps) != 2 || ps[0].Description != "Send messages" || ps[1].Name != "numbers:write" {
		t.Fatalf("catalog = %v, %v", ps, err)
	}
	if err := svc.DeletePermission(ctx, "numbers:write"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, svc.DeletePermission(ctx, "numbers:write"), latchkey.CodeNotFound)
}
