package storetest

import (
	"testing"

	"github.com/latchkey/latchkey"
)

func testUsers(t *testing.T, open func(t *testing.T) latchkey.Store) {
	runAll(t, open, []behaviour{
		{"create then get returns it with memberships in order", func(t *testing.T, f fixture) {
			f.tenant("t1")
			f.tenant("t2")
			f.tenant("t3")
			in := &latchkey.User{
				ID:           "user-123",
				Email:        "Ada@Example.com",
				PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
				IsAdmin:      true,
				Disabled:     true,
				TenantIDs:    []string{"t3", "t1", "t2"},
				CreatedAt:    base,
			}
			must(t, f.s.CreateUser(t.Context(), in))
			got, err := f.s.User(t.Context(), "user-123")
			must(t, err)
			want := *in
			want.CreatedAt = at(0)
			wantEqual(t, got, &want)
		}},
		{"user without email or tenants round-trips", func(t *testing.T, f fixture) {
			f.user("u1")
			got, err := f.s.User(t.Context(), "u1")
			must(t, err)
			wantEqual(t, got, &latchkey.User{ID: "u1", TenantIDs: []string{}, CreatedAt: at(0)})
		}},
		{"get unknown is NOT_FOUND", func(t *testing.T, f fixture) {
			_, err := f.s.User(t.Context(), "nope")
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"create with unknown tenant is NOT_FOUND and creates nothing", func(t *testing.T, f fixture) {
			f.tenant("t1")
			err := f.s.CreateUser(t.Context(), &latchkey.User{ID: "u1", TenantIDs: []string{"t1", "nope"}, CreatedAt: base})
			wantCode(t, err, latchkey.CodeNotFound)
			_, err = f.s.User(t.Context(), "u1")
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"duplicate id is CONFLICT", func(t *testing.T, f fixture) {
			f.user("u1")
			err := f.s.CreateUser(t.Context(), &latchkey.User{ID: "u1", Email: "x@example.com", CreatedAt: base})
			wantCode(t, err, latchkey.CodeConflict)
		}},
		{"duplicate email in any case is CONFLICT", func(t *testing.T, f fixture) {
			must(t, f.s.CreateUser(t.Context(), &latchkey.User{ID: "u1", Email: "ada@example.com", CreatedAt: base}))
			err := f.s.CreateUser(t.Context(), &latchkey.User{ID: "u2", Email: "ADA@example.COM", CreatedAt: base})
			wantCode(t, err, latchkey.CodeConflict)
			_, err = f.s.User(t.Context(), "u2")
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"many users may have no email", func(t *testing.T, f fixture) {
			f.user("u1")
			f.user("u2")
			_, err := f.s.UserByEmail(t.Context(), "")
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"by email ignores case", func(t *testing.T, f fixture) {
			must(t, f.s.CreateUser(t.Context(), &latchkey.User{ID: "u1", Email: "Ada@Example.com", CreatedAt: base}))
			for _, email := range []string{"Ada@Example.com", "ada@example.com", "ADA@EXAMPLE.COM"} {
				got, err := f.s.UserByEmail(t.Context(), email)
				must(t, err)
				if got.ID != "u1" || got.Email != "Ada@Example.com" {
					t.Fatalf("UserByEmail(%q) = %s <%s>, want u1 <Ada@Example.com>", email, got.ID, got.Email)
				}
			}
			_, err := f.s.UserByEmail(t.Context(), "bob@example.com")
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"list pages in ascending id order with memberships", func(t *testing.T, f fixture) {
			f.tenant("t1")
			f.tenant("t2")
			for _, id := range []string{"u3", "u1", "u4", "u2"} {
				f.user(id, "t2", "t1")
			}
			var got []string
			after := ""
			for range 10 {
				page, err := f.s.ListUsers(t.Context(), latchkey.Page{Limit: 3, After: after})
				must(t, err)
				if len(page) == 0 {
					break
				}
				for _, u := range page {
					wantIDs(t, u.ID+" tenants", u.TenantIDs, []string{"t2", "t1"})
					got = append(got, u.ID)
				}
				after = page[len(page)-1].ID
			}
			wantIDs(t, "listed users", got, []string{"u1", "u2", "u3", "u4"})
		}},
		{"update writes email, password, admin and disabled only", func(t *testing.T, f fixture) {
			f.tenant("t1")
			f.tenant("t2")
			f.user("u1", "t1")
			got, err := f.s.UpdateUser(t.Context(), "u1", func(u *latchkey.User) error {
				u.Email = "new@example.com"
				u.PasswordHash = "hash"
				u.IsAdmin = true
				u.Disabled = true
				u.TenantIDs = []string{"t2"} // memberships change only through Add/RemoveMembership
				u.CreatedAt = base.AddDate(1, 0, 0)
				return nil
			})
			must(t, err)
			want := &latchkey.User{ID: "u1", Email: "new@example.com", PasswordHash: "hash",
				IsAdmin: true, Disabled: true, TenantIDs: []string{"t1"}, CreatedAt: at(0)}
			wantEqual(t, got, want)
			stored, err := f.s.UserByEmail(t.Context(), "NEW@example.com")
			must(t, err)
			wantEqual(t, stored, want)
		}},
		{"update clearing email frees it", func(t *testing.T, f fixture) {
			must(t, f.s.CreateUser(t.Context(), &latchkey.User{ID: "u1", Email: "ada@example.com", CreatedAt: base}))
			_, err := f.s.UpdateUser(t.Context(), "u1", func(u *latchkey.User) error {
				u.Email = ""
				return nil
			})
			must(t, err)
			_, err = f.s.UserByEmail(t.Context(), "ada@example.com")
			wantCode(t, err, latchkey.CodeNotFound)
			must(t, f.s.CreateUser(t.Context(), &latchkey.User{ID: "u2", Email: "ada@example.com", CreatedAt: base}))
		}},
		{"update to a taken email is CONFLICT with no change", func(t *testing.T, f fixture) {
			must(t, f.s.CreateUser(t.Context(), &latchkey.User{ID: "u1", Email: "ada@example.com", CreatedAt: base}))
			must(t, f.s.CreateUser(t.Context(), &latchkey.User{ID: "u2", Email: "bob@example.com", CreatedAt: base}))
			_, err := f.s.UpdateUser(t.Context(), "u2", func(u *latchkey.User) error {
				u.Email = "Ada@Example.com"
				u.IsAdmin = true
				return nil
			})
			wantCode(t, err, latchkey.CodeConflict)
			got, err := f.s.User(t.Context(), "u2")
			must(t, err)
			if got.Email != "bob@example.com" || got.IsAdmin {
				t.Fatalf("user after conflicting update = <%s> admin=%v, want unchanged", got.Email, got.IsAdmin)
			}
		}},
		{"update fn error aborts and is returned", func(t *testing.T, f fixture) {
			f.user("u1")
			_, err := f.s.UpdateUser(t.Context(), "u1", func(u *latchkey.User) error {
				u.IsAdmin = true
				return errBoom
			})
			if err != errBoom {
				t.Fatalf("UpdateUser error = %v, want errBoom itself", err)
			}
			got, err := f.s.User(t.Context(), "u1")
			must(t, err)
			if got.IsAdmin {
				t.Fatal("IsAdmin set by an aborted update")
			}
		}},
		{"update unknown is NOT_FOUND", func(t *testing.T, f fixture) {
			_, err := f.s.UpdateUser(t.Context(), "nope", func(*latchkey.User) error { return nil })
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"delete cascades to memberships and keys", func(t *testing.T, f fixture) {
			f.tenant("t1")
			f.user("u1", "t1")
			f.user("u2", "t1")
			k1 := f.key("k1", "u1", "t1")
			f.key("k2", "u1")
			f.key("k3", "u2", "t1")
			must(t, f.s.DeleteUser(t.Context(), "u1"))
			_, err := f.s.User(t.Context(), "u1")
			wantCode(t, err, latchkey.CodeNotFound)
			for _, id := range []string{"k1", "k2"} {
				_, err := f.s.Key(t.Context(), id)
				wantCode(t, err, latchkey.CodeNotFound)
			}
			_, err = f.s.KeyByHash(t.Context(), k1.Hash)
			wantCode(t, err, latchkey.CodeNotFound)
			keys, err := f.s.ListKeys(t.Context(), latchkey.KeyFilter{Limit: 10})
			must(t, err)
			if len(keys) != 1 || keys[0].ID != "k3" {
				t.Fatalf("ListKeys after delete = %d keys, want only k3", len(keys))
			}
			// The tenant and the ID survive: the ID can be reused from scratch.
			_, err = f.s.Tenant(t.Context(), "t1")
			must(t, err)
			u := f.user("u1")
			got, err := f.s.User(t.Context(), u.ID)
			must(t, err)
			wantIDs(t, "tenants of recreated user", got.TenantIDs, nil)
		}},
		{"delete unknown is NOT_FOUND", func(t *testing.T, f fixture) {
			wantCode(t, f.s.DeleteUser(t.Context(), "nope"), latchkey.CodeNotFound)
		}},
	})
}

func testMemberships(t *testing.T, open func(t *testing.T) latchkey.Store) {
	userTenants := func(t *testing.T, f fixture, id string) []string {
		t.Helper()
		u, err := f.s.User(t.Context(), id)
		must(t, err)
		return u.TenantIDs
	}
	runAll(t, open, []behaviour{
		{"add appends in the order added", func(t *testing.T, f fixture) {
			for _, id := range []string{"t1", "t2", "t3"} {
				f.tenant(id)
			}
			f.user("u1", "t2")
			must(t, f.s.AddMembership(t.Context(), "u1", "t3"))
			must(t, f.s.AddMembership(t.Context(), "u1", "t1"))
			wantIDs(t, "tenants", userTenants(t, f, "u1"), []string{"t2", "t3", "t1"})
		}},
		{"add is idempotent and keeps the original position", func(t *testing.T, f fixture) {
			f.tenant("t1")
			f.tenant("t2")
			f.user("u1", "t1", "t2")
			must(t, f.s.AddMembership(t.Context(), "u1", "t1"))
			must(t, f.s.AddMembership(t.Context(), "u1", "t1"))
			wantIDs(t, "tenants", userTenants(t, f, "u1"), []string{"t1", "t2"})
		}},
		{"add with unknown user or tenant is NOT_FOUND", func(t *testing.T, f fixture) {
			f.tenant("t1")
			f.user("u1")
			wantCode(t, f.s.AddMembership(t.Context(), "nope", "t1"), latchkey.CodeNotFound)
			wantCode(t, f.s.AddMembership(t.Context(), "u1", "nope"), latchkey.CodeNotFound)
			wantIDs(t, "tenants", userTenants(t, f, "u1"), nil)
		}},
		{"remove unlinks the tenant from the user's keys only", func(t *testing.T, f fixture) {
			for _, id := range []string{"t1", "t2", "t3"} {
				f.tenant(id)
			}
			f.user("u1", "t1", "t2", "t3")
			f.user("u2", "t2")
			f.key("k1", "u1", "t1", "t2", "t3")
			f.key("k2", "u1", "t2")
			f.key("k3", "u2", "t2")
			must(t, f.s.RemoveMembership(t.Context(), "u1", "t2"))
			wantIDs(t, "u1 tenants", userTenants(t, f, "u1"), []string{"t1", "t3"})
			wantIDs(t, "k1 tenants", f.keyTenants("k1"), []string{"t1", "t3"})
			wantIDs(t, "k2 tenants", f.keyTenants("k2"), nil)
			wantIDs(t, "u2 tenants", userTenants(t, f, "u2"), []string{"t2"})
			wantIDs(t, "k3 tenants", f.keyTenants("k3"), []string{"t2"})
		}},
		{"remove then add puts the tenant last", func(t *testing.T, f fixture) {
			f.tenant("t1")
			f.tenant("t2")
			f.user("u1", "t1", "t2")
			must(t, f.s.RemoveMembership(t.Context(), "u1", "t1"))
			must(t, f.s.AddMembership(t.Context(), "u1", "t1"))
			wantIDs(t, "tenants", userTenants(t, f, "u1"), []string{"t2", "t1"})
		}},
		{"remove with unknown user or tenant is NOT_FOUND", func(t *testing.T, f fixture) {
			f.tenant("t1")
			f.user("u1", "t1")
			wantCode(t, f.s.RemoveMembership(t.Context(), "nope", "t1"), latchkey.CodeNotFound)
			wantCode(t, f.s.RemoveMembership(t.Context(), "u1", "nope"), latchkey.CodeNotFound)
		}},
		{"remove of a non-membership does nothing", func(t *testing.T, f fixture) {
			f.tenant("t1")
			f.tenant("t2")
			f.user("u1", "t1")
			must(t, f.s.RemoveMembership(t.Context(), "u1", "t2"))
			wantIDs(t, "tenants", userTenants(t, f, "u1"), []string{"t1"})
		}},
	})
}
