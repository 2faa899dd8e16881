package storetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apikey"
)

// fullKey returns a key with every field set, times carrying nanoseconds.
func fullKey(t *testing.T, id, ownerID string, tenantIDs ...string) *latchkey.Key {
	k := newKey(t, id, ownerID, tenantIDs...)
	k.Name = "My App API Key"
	k.Environment = apikey.Test
	k.Permissions = []string{"messages:send", "messages:*", "*"}
	k.IsActive = false
	k.ExpiresAt = ptr(base.Add(24*time.Hour + 999))
	k.RevokedAt = ptr(base.Add(time.Hour + 1))
	k.CreatedAt = base
	k.LastUsedAt = ptr(base.Add(time.Minute + 500))
	k.RequestCount = 42
	k.RateLimit = &latchkey.RateLimit{Limit: 100, Window: 90 * time.Second}
	k.Meta = map[string]any{
		"team":   "growth",
		"n":      float64(3),
		"ratio":  0.25,
		"on":     true,
		"none":   nil,
		"tags":   []any{"a", "b"},
		"nested": map[string]any{"x": float64(1), "y": []any{}},
	}
	k.RotatedFrom = "key_old"
	return k
}

// stored returns k as a store returns it: times truncated to the
// microsecond, in UTC.
func stored(k *latchkey.Key) *latchkey.Key {
	c := *k
	trunc := func(p *time.Time) *time.Time {
		if p == nil {
			return nil
		}
		return ptr(p.UTC().Truncate(time.Microsecond))
	}
	c.CreatedAt = k.CreatedAt.UTC().Truncate(time.Microsecond)
	c.ExpiresAt = trunc(k.ExpiresAt)
	c.RevokedAt = trunc(k.RevokedAt)
	c.LastUsedAt = trunc(k.LastUsedAt)
	return &c
}

func testKeys(t *testing.T, open func(t *testing.T) latchkey.Store) {
	runAll(t, open, []behaviour{
		{"create then get by id and hash round-trips every field", func(t *testing.T, f fixture) {
			f.tenant("t1")
			f.tenant("t2")
			f.user("u1", "t1", "t2")
			in := fullKey(t, "k1", "u1", "t2", "t1")
			must(t, f.s.CreateKey(t.Context(), in))
			byID, err := f.s.Key(t.Context(), "k1")
			must(t, err)
			wantEqual(t, byID, stored(in))
			byHash, err := f.s.KeyByHash(t.Context(), in.Hash)
			must(t, err)
			wantEqual(t, byHash, stored(in))
		}},
		{"times round-trip at microsecond precision in UTC", func(t *testing.T, f fixture) {
			f.user("u1")
			paris, err := time.LoadLocation("Europe/Paris")
			if err != nil {
				paris = time.FixedZone("CET", 3600)
			}
			in := newKey(t, "k1", "u1")
			in.CreatedAt = time.Date(2024, 3, 31, 2, 30, 0, 123456789, paris)
			in.ExpiresAt = ptr(time.Date(2999, 12, 31, 23, 59, 59, 999999999, time.UTC))
			in.LastUsedAt = ptr(time.Date(1999, 1, 1, 0, 0, 0, 1000, time.UTC))
			in.RevokedAt = ptr(time.Now()) // carries a monotonic reading
			must(t, f.s.CreateKey(t.Context(), in))
			got, err := f.s.Key(t.Context(), "k1")
			must(t, err)
			want := stored(in)
			for name, pair := range map[string][2]time.Time{
				"CreatedAt":  {got.CreatedAt, want.CreatedAt},
				"ExpiresAt":  {*got.ExpiresAt, *want.ExpiresAt},
				"LastUsedAt": {*got.LastUsedAt, *want.LastUsedAt},
				"RevokedAt":  {*got.RevokedAt, *want.RevokedAt},
			} {
				if !pair[0].Equal(pair[1]) {
					t.Errorf("%s = %v, want %v", name, pair[0], pair[1])
				}
				if pair[0].Location() != time.UTC {
					t.Errorf("%s location = %v, want UTC", name, pair[0].Location())
				}
			}
			if got.LastUsedAt.Nanosecond() != 1000 {
				t.Errorf("LastUsedAt lost its microsecond: %v", got.LastUsedAt)
			}
		}},
		{"unset optional fields come back nil and collections empty", func(t *testing.T, f fixture) {
			f.user("u1")
			in := newKey(t, "k1", "u1")
			in.Permissions, in.TenantIDs, in.Meta = nil, nil, nil
			must(t, f.s.CreateKey(t.Context(), in))
			got, err := f.s.Key(t.Context(), "k1")
			must(t, err)
			if got.ExpiresAt != nil || got.RevokedAt != nil || got.LastUsedAt != nil || got.RateLimit != nil {
				t.Errorf("optional fields = %v %v %v %v, want all nil",
					got.ExpiresAt, got.RevokedAt, got.LastUsedAt, got.RateLimit)
			}
			if got.RotatedFrom != "" {
				t.Errorf("RotatedFrom = %q, want empty", got.RotatedFrom)
			}
			wantIDs(t, "Permissions", got.Permissions, nil)
			wantIDs(t, "TenantIDs", got.TenantIDs, nil)
			if got.Meta == nil || len(got.Meta) != 0 {
				t.Errorf("Meta = %#v, want empty non-nil map", got.Meta)
			}
		}},
		{"tenant link order is preserved and repeats are dropped", func(t *testing.T, f fixture) {
			for _, id := range []string{"t1", "t2", "t3"} {
				f.tenant(id)
			}
			f.user("u1")
			f.key("k1", "u1", "t3", "t1", "t3", "t2")
			wantIDs(t, "TenantIDs", f.keyTenants("k1"), []string{"t3", "t1", "t2"})
		}},
		{"update stores tenant links in the order given, even a reordering", func(t *testing.T, f fixture) {
			// The Service decides the order (links that stay keep their
			// place); a store writes exactly what it is given.
			for _, id := range []string{"t1", "t2", "t3"} {
				f.tenant(id)
			}
			f.user("u1")
			f.key("k1", "u1", "t1", "t2")
			for _, ids := range [][]string{{"t2", "t1"}, {"t3", "t2", "t1"}, {"t1", "t3"}} {
				got, err := f.s.UpdateKey(t.Context(), "k1", func(k *latchkey.Key) error {
					k.TenantIDs = ids
					return nil
				})
				must(t, err)
				wantIDs(t, "returned TenantIDs", got.TenantIDs, ids)
				wantIDs(t, "stored TenantIDs", f.keyTenants("k1"), ids)
			}
		}},
		{"duplicate id is CONFLICT", func(t *testing.T, f fixture) {
			f.user("u1")
			f.key("k1", "u1")
			wantCode(t, f.s.CreateKey(t.Context(), newKey(t, "k1", "u1")), latchkey.CodeConflict)
		}},
		{"duplicate hash is CONFLICT", func(t *testing.T, f fixture) {
			f.user("u1")
			k1 := f.key("k1", "u1")
			k2 := newKey(t, "k2", "u1")
			k2.Hash = k1.Hash
			wantCode(t, f.s.CreateKey(t.Context(), k2), latchkey.CodeConflict)
			_, err := f.s.Key(t.Context(), "k2")
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"unknown owner is NOT_FOUND", func(t *testing.T, f fixture) {
			wantCode(t, f.s.CreateKey(t.Context(), newKey(t, "k1", "nope")), latchkey.CodeNotFound)
		}},
		{"unknown tenant is NOT_FOUND and creates nothing", func(t *testing.T, f fixture) {
			f.tenant("t1")
			f.user("u1", "t1")
			k := newKey(t, "k1", "u1", "t1", "nope")
			wantCode(t, f.s.CreateKey(t.Context(), k), latchkey.CodeNotFound)
			_, err := f.s.Key(t.Context(), "k1")
			wantCode(t, err, latchkey.CodeNotFound)
			_, err = f.s.KeyByHash(t.Context(), k.Hash)
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"unknown id or hash is NOT_FOUND with the API key message", func(t *testing.T, f fixture) {
			_, err := f.s.Key(t.Context(), "nope")
			wantCode(t, err, latchkey.CodeNotFound)
			if got := err.(*latchkey.Error).Message; got != latchkey.ErrKeyNotFound.Message {
				t.Errorf("message = %q, want %q", got, latchkey.ErrKeyNotFound.Message)
			}
			_, err = f.s.KeyByHash(t.Context(), [32]byte{1, 2, 3})
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"update writes every mutable field", func(t *testing.T, f fixture) {
			for _, id := range []string{"t1", "t2", "t3"} {
				f.tenant(id)
			}
			f.user("u1")
			in := f.key("k1", "u1", "t1", "t2")
			next := stored(fullKey(t, "k1", "u1", "t3", "t1"))
			got, err := f.s.UpdateKey(t.Context(), "k1", func(k *latchkey.Key) error {
				k.Name = next.Name
				k.Permissions = next.Permissions
				k.TenantIDs = next.TenantIDs
				k.IsActive = next.IsActive
				k.ExpiresAt = next.ExpiresAt
				k.RevokedAt = next.RevokedAt
				k.RateLimit = next.RateLimit
				k.Meta = next.Meta
				return nil
			})
			must(t, err)
			want := stored(in)
			want.Name = next.Name
			want.Permissions = next.Permissions
			want.TenantIDs = next.TenantIDs
			want.IsActive = next.IsActive
			want.ExpiresAt = next.ExpiresAt
			want.RevokedAt = next.RevokedAt
			want.RateLimit = next.RateLimit
			want.Meta = next.Meta
			wantEqual(t, got, want)
			reread, err := f.s.Key(t.Context(), "k1")
			must(t, err)
			wantEqual(t, reread, want)
		}},
		{"update ignores immutable fields", func(t *testing.T, f fixture) {
			f.user("u1")
			f.user("u2")
			in := f.key("k1", "u1")
			must(t, f.s.AddUsage(t.Context(), []latchkey.Usage{{KeyID: "k1", Count: 5, LastUsedAt: base}}))
			got, err := f.s.UpdateKey(t.Context(), "k1", func(k *latchkey.Key) error {
				k.ID = "other"
				k.Hash = [32]byte{9}
				k.Masked = "changed"
				k.Environment = apikey.Test
				k.OwnerID = "u2"
				k.CreatedAt = base.AddDate(1, 0, 0)
				k.LastUsedAt = nil
				k.RequestCount = 999
				k.RotatedFrom = "changed"
				return nil
			})
			must(t, err)
			want := stored(in)
			want.RequestCount = 5
			want.LastUsedAt = ptr(at(0))
			wantEqual(t, got, want)
			byHash, err := f.s.KeyByHash(t.Context(), in.Hash)
			must(t, err)
			wantEqual(t, byHash, want)
		}},
		{"update clears optional fields", func(t *testing.T, f fixture) {
			f.tenant("t1")
			f.user("u1", "t1")
			in := fullKey(t, "k1", "u1", "t1")
			must(t, f.s.CreateKey(t.Context(), in))
			got, err := f.s.UpdateKey(t.Context(), "k1", func(k *latchkey.Key) error {
				k.ExpiresAt, k.RevokedAt, k.RateLimit = nil, nil, nil
				k.Permissions, k.TenantIDs, k.Meta = nil, nil, nil
				return nil
			})
			must(t, err)
			if got.ExpiresAt != nil || got.RevokedAt != nil || got.RateLimit != nil {
				t.Errorf("cleared fields = %v %v %v, want nil", got.ExpiresAt, got.RevokedAt, got.RateLimit)
			}
			wantIDs(t, "Permissions", got.Permissions, nil)
			wantIDs(t, "TenantIDs", f.keyTenants("k1"), nil)
			if got.Meta == nil || len(got.Meta) != 0 {
				t.Errorf("Meta = %#v, want empty non-nil map", got.Meta)
			}
		}},
		{"update fn error aborts with no change", func(t *testing.T, f fixture) {
			f.tenant("t1")
			f.user("u1", "t1")
			in := f.key("k1", "u1", "t1")
			_, err := f.s.UpdateKey(t.Context(), "k1", func(k *latchkey.Key) error {
				k.Name = "changed"
				k.IsActive = false
				k.TenantIDs = nil
				k.Meta["x"] = "y"
				return errBoom
			})
			if err != errBoom {
				t.Fatalf("UpdateKey error = %v, want errBoom itself", err)
			}
			got, err := f.s.Key(t.Context(), "k1")
			must(t, err)
			wantEqual(t, got, stored(in))
		}},
		{"update to an unknown tenant is NOT_FOUND with no change", func(t *testing.T, f fixture) {
			f.tenant("t1")
			f.user("u1", "t1")
			in := f.key("k1", "u1", "t1")
			_, err := f.s.UpdateKey(t.Context(), "k1", func(k *latchkey.Key) error {
				k.Name = "changed"
				k.TenantIDs = []string{"nope"}
				return nil
			})
			wantCode(t, err, latchkey.CodeNotFound)
			got, err := f.s.Key(t.Context(), "k1")
			must(t, err)
			wantEqual(t, got, stored(in))
		}},
		{"update unknown is NOT_FOUND", func(t *testing.T, f fixture) {
			_, err := f.s.UpdateKey(t.Context(), "nope", func(*latchkey.Key) error {
				t.Error("fn called for unknown key")
				return nil
			})
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"delete removes it and a second delete is NOT_FOUND", func(t *testing.T, f fixture) {
			f.tenant("t1")
			f.user("u1", "t1")
			k := f.key("k1", "u1", "t1")
			f.key("k2", "u1", "t1")
			must(t, f.s.DeleteKey(t.Context(), "k1"))
			_, err := f.s.Key(t.Context(), "k1")
			wantCode(t, err, latchkey.CodeNotFound)
			_, err = f.s.KeyByHash(t.Context(), k.Hash)
			wantCode(t, err, latchkey.CodeNotFound)
			wantCode(t, f.s.DeleteKey(t.Context(), "k1"), latchkey.CodeNotFound)
			// The hash and ID are free again; the other key is untouched.
			must(t, f.s.CreateKey(t.Context(), k))
			wantIDs(t, "k2 tenants", f.keyTenants("k2"), []string{"t1"})
		}},
	})
}
