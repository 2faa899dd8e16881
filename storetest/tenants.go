package storetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

func testTenants(t *testing.T, open func(t *testing.T) latchkey.Store) {
	runAll(t, open, []behaviour{
		{"create then get returns it", func(t *testing.T, f fixture) {
			in := &latchkey.Tenant{ID: "123", Name: "Acme", CreatedAt: base}
			must(t, f.s.CreateTenant(t.Context(), in))
			got, err := f.s.Tenant(t.Context(), "123")
			must(t, err)
			wantEqual(t, got, &latchkey.Tenant{ID: "123", Name: "Acme", CreatedAt: at(0)})
			if got.CreatedAt.Location() != time.UTC {
				t.Errorf("CreatedAt location = %v, want UTC", got.CreatedAt.Location())
			}
		}},
		{"get unknown is NOT_FOUND", func(t *testing.T, f fixture) {
			_, err := f.s.Tenant(t.Context(), "nope")
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"duplicate id is CONFLICT", func(t *testing.T, f fixture) {
			f.tenant("t1")
			err := f.s.CreateTenant(t.Context(), &latchkey.Tenant{ID: "t1", Name: "Other", CreatedAt: base})
			wantCode(t, err, latchkey.CodeConflict)
			got, err := f.s.Tenant(t.Context(), "t1")
			must(t, err)
			if got.Name != "Tenant t1" {
				t.Errorf("Name = %q after conflicting create, want unchanged", got.Name)
			}
		}},
		{"list pages in ascending id order", func(t *testing.T, f fixture) {
			for _, id := range []string{"c", "a", "e", "b", "d"} {
				f.tenant(id)
			}
			var got []string
			after := ""
			for range 10 {
				page, err := f.s.ListTenants(t.Context(), latchkey.Page{Limit: 2, After: after})
				must(t, err)
				if len(page) > 2 {
					t.Fatalf("page of %d tenants, limit 2", len(page))
				}
				if len(page) == 0 {
					break
				}
				for _, tn := range page {
					got = append(got, tn.ID)
				}
				after = page[len(page)-1].ID
			}
			wantIDs(t, "listed tenants", got, []string{"a", "b", "c", "d", "e"})
		}},
		{"list of empty store is empty", func(t *testing.T, f fixture) {
			got, err := f.s.ListTenants(t.Context(), latchkey.Page{Limit: 10})
			must(t, err)
			if len(got) != 0 {
				t.Fatalf("ListTenants = %d tenants, want 0", len(got))
			}
		}},
		{"update applies fn and persists name", func(t *testing.T, f fixture) {
			f.tenant("t1")
			got, err := f.s.UpdateTenant(t.Context(), "t1", func(tn *latchkey.Tenant) error {
				tn.Name = "Renamed"
				return nil
			})
			must(t, err)
			want := &latchkey.Tenant{ID: "t1", Name: "Renamed", CreatedAt: at(0)}
			wantEqual(t, got, want)
			stored, err := f.s.Tenant(t.Context(), "t1")
			must(t, err)
			wantEqual(t, stored, want)
		}},
		{"update fn error aborts and is returned as is", func(t *testing.T, f fixture) {
			f.tenant("t1")
			_, err := f.s.UpdateTenant(t.Context(), "t1", func(tn *latchkey.Tenant) error {
				tn.Name = "Renamed"
				return errBoom
			})
			if err != errBoom {
				t.Fatalf("UpdateTenant error = %v, want errBoom itself", err)
			}
			got, err := f.s.Tenant(t.Context(), "t1")
			must(t, err)
			if got.Name != "Tenant t1" {
				t.Fatalf("Name = %q after aborted update, want unchanged", got.Name)
			}
		}},
		{"update unknown is NOT_FOUND without calling fn", func(t *testing.T, f fixture) {
			_, err := f.s.UpdateTenant(t.Context(), "nope", func(*latchkey.Tenant) error {
				t.Error("fn called for unknown tenant")
				return nil
			})
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"delete removes it and a second delete is NOT_FOUND", func(t *testing.T, f fixture) {
			f.tenant("t1")
			must(t, f.s.DeleteTenant(t.Context(), "t1"))
			_, err := f.s.Tenant(t.Context(), "t1")
			wantCode(t, err, latchkey.CodeNotFound)
			wantCode(t, f.s.DeleteTenant(t.Context(), "t1"), latchkey.CodeNotFound)
		}},
		{"delete unlinks keys and memberships", func(t *testing.T, f fixture) {
			f.tenant("t1")
			f.tenant("t2")
			f.tenant("t3")
			f.user("u1", "t1", "t2", "t3")
			f.key("k1", "u1", "t1", "t2", "t3")
			must(t, f.s.DeleteTenant(t.Context(), "t2"))
			wantIDs(t, "key tenants", f.keyTenants("k1"), []string{"t1", "t3"})
			u, err := f.s.User(t.Context(), "u1")
			must(t, err)
			wantIDs(t, "user tenants", u.TenantIDs, []string{"t1", "t3"})
			keys, err := f.s.ListKeys(t.Context(), latchkey.KeyFilter{TenantID: "t2", Limit: 10})
			must(t, err)
			if len(keys) != 0 {
				t.Fatalf("ListKeys(deleted tenant) = %d keys, want 0", len(keys))
			}
			// The tenant ID can be reused, and starts with no links.
			f.tenant("t2")
			wantIDs(t, "key tenants", f.keyTenants("k1"), []string{"t1", "t3"})
		}},
	})
}
