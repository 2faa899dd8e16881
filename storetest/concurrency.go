package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey"
)

// testConcurrency checks that read-modify-write updates are serialised: a
// store that reads outside the write transaction loses updates here.
func testConcurrency(t *testing.T, open func(t *testing.T) latchkey.Store) {
	const n = 20
	runAll(t, open, []behaviour{
		{"concurrent key updates lose nothing", func(t *testing.T, f fixture) {
			f.user("u1")
			f.key("k1", "u1")
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					_, err := f.s.UpdateKey(t.Context(), "k1", func(k *latchkey.Key) error {
						c, _ := k.Meta["n"].(float64)
						k.Meta["n"] = c + 1
						k.Permissions = append(k.Permissions, fmt.Sprintf("p:%02d", i))
						return nil
					})
					if err != nil {
						t.Errorf("UpdateKey: %v", err)
					}
				})
			}
			wg.Wait()
			k, err := f.s.Key(t.Context(), "k1")
			must(t, err)
			if k.Meta["n"] != float64(n) {
				t.Errorf(`Meta["n"] = %v, want %d`, k.Meta["n"], n)
			}
			if len(k.Permissions) != n {
				t.Errorf("%d permissions, want %d", len(k.Permissions), n)
			}
		}},
		{"concurrent updates and usage do not clobber each other", func(t *testing.T, f fixture) {
			f.user("u1")
			f.key("k1", "u1")
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					_, err := f.s.UpdateKey(t.Context(), "k1", func(k *latchkey.Key) error {
						k.IsActive = !k.IsActive
						return nil
					})
					if err != nil {
						t.Errorf("UpdateKey: %v", err)
					}
				})
				wg.Go(func() {
					err := f.s.AddUsage(t.Context(), []latchkey.Usage{{KeyID: "k1", Count: 1, LastUsedAt: base}})
					if err != nil {
						t.Errorf("AddUsage: %v", err)
					}
				})
			}
			wg.Wait()
			k, err := f.s.Key(t.Context(), "k1")
			must(t, err)
			if k.RequestCount != n {
				t.Errorf("RequestCount = %d, want %d", k.RequestCount, n)
			}
			if !k.IsActive { // n toggles of an active key, n even
				t.Errorf("IsActive = false after %d toggles", n)
			}
		}},
		{"concurrent tenant and user updates lose nothing", func(t *testing.T, f fixture) {
			f.tenant("t1")
			f.user("u1")
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					_, err := f.s.UpdateTenant(t.Context(), "t1", func(tn *latchkey.Tenant) error {
						tn.Name += "x"
						return nil
					})
					if err != nil {
						t.Errorf("UpdateTenant: %v", err)
					}
				})
				wg.Go(func() {
					_, err := f.s.UpdateUser(t.Context(), "u1", func(u *latchkey.User) error {
						u.PasswordHash += "x"
						return nil
					})
					if err != nil {
						t.Errorf("UpdateUser: %v", err)
					}
				})
			}
			wg.Wait()
			tn, err := f.s.Tenant(t.Context(), "t1")
			must(t, err)
			if want := "Tenant t1" + strings.Repeat("x", n); tn.Name != want {
				t.Errorf("tenant name = %q, want %q", tn.Name, want)
			}
			u, err := f.s.User(t.Context(), "u1")
			must(t, err)
			if want := strings.Repeat("x", n); u.PasswordHash != want {
				t.Errorf("password hash = %q, want %q", u.PasswordHash, want)
			}
		}},
		{"concurrent membership adds keep each tenant once", func(t *testing.T, f fixture) {
			var tenants []string
			for i := range 5 {
				tenants = append(tenants, f.tenant(fmt.Sprintf("t%d", i)).ID)
			}
			f.user("u1")
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					if err := f.s.AddMembership(t.Context(), "u1", tenants[i%len(tenants)]); err != nil {
						t.Errorf("AddMembership: %v", err)
					}
				})
			}
			wg.Wait()
			u, err := f.s.User(t.Context(), "u1")
			must(t, err)
			got := slices.Sorted(slices.Values(u.TenantIDs))
			wantIDs(t, "tenants", got, tenants)
		}},
	})
}
