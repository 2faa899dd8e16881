package client_test

import (
	"slices"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/client"
)

func TestTenants(t *testing.T) {
	e := newTestEnv(t)
	ctx := t.Context()

	tn, err := e.admin.CreateTenant(ctx, "123", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	if tn.ID != "123" || tn.Name != "Acme" || tn.CreatedAt.IsZero() {
		t.Fatalf("created %+v", tn)
	}
	if got, err := e.admin.GetTenant(ctx, "123"); err != nil || *got != *tn {
		t.Fatalf("GetTenant = %+v, %v", got, err)
	}
	generated, err := e.admin.CreateTenant(ctx, "", "Generated")
	if err != nil || generated.ID == "" {
		t.Fatalf("generated ID: %+v, %v", generated, err)
	}
	_, err = e.admin.CreateTenant(ctx, "123", "Again")
	wantError(t, err, 409, client.CodeConflict)
	_, err = e.admin.CreateTenant(ctx, "x", "")
	wantError(t, err, 400, client.CodeValidationFailed)

	t.Run("list pages in ID order", func(t *testing.T) {
		for _, id := range []string{"a1", "a2", "a3"} {
			if _, err := e.admin.CreateTenant(ctx, id, "T "+id); err != nil {
				t.Fatal(err)
			}
		}
		var all []string
		opts := client.ListOptions{Limit: 2}
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("too many pages")
			}
			page, err := e.admin.ListTenants(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, tn := range page.Items {
				all = append(all, tn.ID)
			}
			if page.NextCursor == "" {
				break
			}
			opts.Cursor = page.NextCursor
		}
		want := []string{"123", "a1", "a2", "a3", generated.ID}
		slices.Sort(want)
		if !slices.Equal(all, want) {
			t.Fatalf("tenants = %v, want %v", all, want)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if err := e.admin.DeleteTenant(ctx, "a3"); err != nil {
			t.Fatal(err)
		}
		_, err := e.admin.GetTenant(ctx, "a3")
		wantError(t, err, 404, client.CodeNotFound)
		wantError(t, e.admin.DeleteTenant(ctx, "a3"), 404, client.CodeNotFound)
	})
}

func TestUsersAndMemberships(t *testing.T) {
	e := newTestEnv(t)
	ctx := t.Context()
	for _, id := range []string{"t1", "t2"} {
		if _, err := e.admin.CreateTenant(ctx, id, "Tenant "+id); err != nil {
			t.Fatal(err)
		}
	}

	u, err := e.admin.CreateUser(ctx, client.UserCreate{ID: "user-123", Email: "u@example.com", Password: "correct horse battery", TenantIDs: []string{"t1"}})
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != "user-123" || u.Email != "u@example.com" || u.IsAdmin || u.Disabled || !slices.Equal(u.TenantIDs, []string{"t1"}) || u.CreatedAt.IsZero() {
		t.Fatalf("created %+v", u)
	}
	if got, err := e.admin.GetUser(ctx, "user-123"); err != nil || got.Email != "u@example.com" {
		t.Fatalf("GetUser = %+v, %v", got, err)
	}
	_, err = e.admin.CreateUser(ctx, client.UserCreate{ID: "user-123"})
	wantError(t, err, 409, client.CodeConflict)

	if u, err = e.admin.AddMembership(ctx, "user-123", "t2"); err != nil || !slices.Equal(u.TenantIDs, []string{"t1", "t2"}) {
		t.Fatalf("AddMembership = %+v, %v", u, err)
	}
	_, err = e.admin.AddMembership(ctx, "user-123", "t9")
	wantError(t, err, 404, client.CodeNotFound)
	if u, err = e.admin.RemoveMembership(ctx, "user-123", "t1"); err != nil || !slices.Equal(u.TenantIDs, []string{"t2"}) {
		t.Fatalf("RemoveMembership = %+v, %v", u, err)
	}

	// The membership is what CreateKey checks tenantIds against.
	if _, err := e.as("user-123").CreateKey(ctx, client.KeyCreate{Name: "k", TenantIDs: []string{"t2"}}); err != nil {
		t.Fatal(err)
	}
	_, err = e.as("user-123").CreateKey(ctx, client.KeyCreate{Name: "k", TenantIDs: []string{"t1"}})
	wantError(t, err, 400, client.CodeValidationFailed)

	if _, err := e.admin.CreateUser(ctx, client.UserCreate{ID: "user-456"}); err != nil {
		t.Fatal(err)
	}
	page, err := e.admin.ListUsers(ctx, client.ListOptions{Limit: 1})
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != "user-123" || page.NextCursor != "user-123" {
		t.Fatalf("ListUsers = %+v, %v", page, err)
	}

	if err := e.admin.DeleteUser(ctx, "user-456"); err != nil {
		t.Fatal(err)
	}
	_, err = e.admin.GetUser(ctx, "user-456")
	wantError(t, err, 404, client.CodeNotFound)
}

func TestAdminNeedsTheAdminScope(t *testing.T) {
	e := newTestEnv(t)
	ctx := t.Context()
	for _, scope := range []string{latchkey.ScopeVerify, latchkey.ScopeManage} {
		c := client.New(e.srv.URL, client.WithRootKey(e.rootKey(scope)))
		_, err := c.CreateTenant(ctx, "t", "T")
		wantError(t, err, 403, client.CodeForbidden)
		_, err = c.ListUsers(ctx, client.ListOptions{})
		wantError(t, err, 403, client.CodeForbidden)
	}
	admin := client.New(e.srv.URL, client.WithRootKey(e.rootKey(latchkey.ScopeAdmin)))
	if _, err := admin.CreateTenant(ctx, "t", "T"); err != nil {
		t.Fatal(err)
	}
}
