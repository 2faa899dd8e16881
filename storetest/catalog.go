package storetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

func testCatalog(t *testing.T, open func(t *testing.T) latchkey.Store) {
	names := func(t *testing.T, f fixture) []string {
		t.Helper()
		ps, err := f.s.ListPermissions(t.Context())
		must(t, err)
		out := []string{}
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	runAll(t, open, []behaviour{
		{"empty catalog lists empty, not nil", func(t *testing.T, f fixture) {
			wantIDs(t, "catalog", names(t, f), nil)
		}},
		{"create then list round-trips in name order", func(t *testing.T, f fixture) {
			b := &latchkey.Permission{Name: "messages:send", Description: "Send messages ✓", CreatedAt: base}
			a := &latchkey.Permission{Name: "messages:*", CreatedAt: base.Add(time.Second)}
			must(t, f.s.CreatePermission(t.Context(), b))
			must(t, f.s.CreatePermission(t.Context(), a))
			ps, err := f.s.ListPermissions(t.Context())
			must(t, err)
			if len(ps) != 2 {
				t.Fatalf("listed %d permissions, want 2", len(ps))
			}
			wantEqual(t, ps[0], &latchkey.Permission{Name: "messages:*", Description: "", CreatedAt: at(time.Second)})
			wantEqual(t, ps[1], &latchkey.Permission{Name: "messages:send", Description: "Send messages ✓", CreatedAt: at(0)})
		}},
		{"duplicate name is CONFLICT", func(t *testing.T, f fixture) {
			must(t, f.s.CreatePermission(t.Context(), &latchkey.Permission{Name: "a:b", CreatedAt: base}))
			wantCode(t, f.s.CreatePermission(t.Context(), &latchkey.Permission{Name: "a:b", CreatedAt: base}), latchkey.CodeConflict)
		}},
		{"names are case-sensitive", func(t *testing.T, f fixture) {
			must(t, f.s.CreatePermission(t.Context(), &latchkey.Permission{Name: "a:b", CreatedAt: base}))
			must(t, f.s.CreatePermission(t.Context(), &latchkey.Permission{Name: "A:B", CreatedAt: base}))
			wantIDs(t, "catalog", names(t, f), []string{"A:B", "a:b"})
		}},
		{"ensure adds the missing and keeps existing descriptions", func(t *testing.T, f fixture) {
			must(t, f.s.CreatePermission(t.Context(), &latchkey.Permission{Name: "a:b", Description: "kept", CreatedAt: base}))
			must(t, f.s.EnsurePermissions(t.Context(), []*latchkey.Permission{
				{Name: "a:b", Description: "ignored", CreatedAt: base.Add(time.Hour)},
				{Name: "c:d", CreatedAt: base},
				{Name: "c:d", CreatedAt: base},
			}))
			ps, err := f.s.ListPermissions(t.Context())
			must(t, err)
			if len(ps) != 2 || ps[0].Description != "kept" || !ps[0].CreatedAt.Equal(at(0)) || ps[1].Name != "c:d" {
				t.Fatalf("catalog after ensure = %+v, %+v", ps[0], ps[len(ps)-1])
			}
			must(t, f.s.EnsurePermissions(t.Context(), nil))
		}},
		{"delete removes one; unknown is NOT_FOUND", func(t *testing.T, f fixture) {
			must(t, f.s.CreatePermission(t.Context(), &latchkey.Permission{Name: "a:b", CreatedAt: base}))
			must(t, f.s.CreatePermission(t.Context(), &latchkey.Permission{Name: "c:d", CreatedAt: base}))
			must(t, f.s.DeletePermission(t.Context(), "a:b"))
			wantIDs(t, "catalog", names(t, f), []string{"c:d"})
			wantCode(t, f.s.DeletePermission(t.Context(), "a:b"), latchkey.CodeNotFound)
		}},
		{"deleting a permission leaves keys holding it alone", func(t *testing.T, f fixture) {
			must(t, f.s.CreatePermission(t.Context(), &latchkey.Permission{Name: "a:b", CreatedAt: base}))
			f.user("u1")
			k := newKey(t, "k1", "u1")
			k.Permissions = []string{"a:b"}
			must(t, f.s.CreateKey(t.Context(), k))
			must(t, f.s.DeletePermission(t.Context(), "a:b"))
			got, err := f.s.Key(t.Context(), "k1")
			must(t, err)
			wantIDs(t, "Permissions", got.Permissions, []string{"a:b"})
		}},
	})
}
