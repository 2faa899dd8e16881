package storetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

func testRotateKey(t *testing.T, open func(t *testing.T) latchkey.Store) {
	// setup creates key k1 for user u1 in tenants t2, t1.
	setup := func(f fixture) *latchkey.Key {
		f.t.Helper()
		f.tenant("t1")
		f.tenant("t2")
		f.user("u1", "t1", "t2")
		k := fullKey(f.t, "k1", "u1", "t2", "t1")
		k.RevokedAt = nil
		k.IsActive = true
		must(f.t, f.s.CreateKey(f.ctx(), k))
		return stored(k)
	}
	replacement := func(t *testing.T, old *latchkey.Key) *latchkey.Key {
		next := newKey(t, "k2", old.OwnerID, old.TenantIDs...)
		next.Permissions = old.Permissions
		next.RotatedFrom = old.ID
		next.CreatedAt = base.Add(time.Hour)
		return next
	}
	unchanged := func(t *testing.T, f fixture, old *latchkey.Key, next *latchkey.Key) {
		t.Helper()
		got, err := f.s.Key(t.Context(), old.ID)
		must(t, err)
		wantEqual(t, got, old)
		_, err = f.s.Key(t.Context(), next.ID)
		wantCode(t, err, latchkey.CodeNotFound)
		_, err = f.s.KeyByHash(t.Context(), next.Hash)
		if next.Hash != old.Hash {
			wantCode(t, err, latchkey.CodeNotFound)
		}
	}

	runAll(t, open, []behaviour{
		{"updates the old key and creates the replacement", func(t *testing.T, f fixture) {
			old := setup(f)
			var next *latchkey.Key
			got, err := f.s.RotateKey(t.Context(), "k1", func(k *latchkey.Key) (*latchkey.Key, error) {
				wantEqual(t, k, old)
				k.ExpiresAt = ptr(base.Add(24 * time.Hour))
				k.Name = "old name"
				next = replacement(t, k)
				return next, nil
			})
			must(t, err)
			wantEqual(t, got, stored(next))
			byHash, err := f.s.KeyByHash(t.Context(), next.Hash)
			must(t, err)
			wantEqual(t, byHash, stored(next))
			wantOld := *old
			wantOld.ExpiresAt = ptr(at(24 * time.Hour))
			wantOld.Name = "old name"
			gotOld, err := f.s.Key(t.Context(), "k1")
			must(t, err)
			wantEqual(t, gotOld, &wantOld)
		}},
		{"fn error applies neither change", func(t *testing.T, f fixture) {
			old := setup(f)
			var next *latchkey.Key
			_, err := f.s.RotateKey(t.Context(), "k1", func(k *latchkey.Key) (*latchkey.Key, error) {
				k.ExpiresAt = ptr(base)
				k.IsActive = false
				next = replacement(t, k)
				return next, errBoom
			})
			if err != errBoom {
				t.Fatalf("RotateKey error = %v, want errBoom itself", err)
			}
			unchanged(t, f, old, next)
		}},
		{"replacement with a taken hash is CONFLICT and applies neither change", func(t *testing.T, f fixture) {
			old := setup(f)
			var next *latchkey.Key
			_, err := f.s.RotateKey(t.Context(), "k1", func(k *latchkey.Key) (*latchkey.Key, error) {
				k.ExpiresAt = ptr(base)
				next = replacement(t, k)
				next.Hash = k.Hash
				return next, nil
			})
			wantCode(t, err, latchkey.CodeConflict)
			unchanged(t, f, old, next)
		}},
		{"replacement with a taken id is CONFLICT and applies neither change", func(t *testing.T, f fixture) {
			old := setup(f)
			var next *latchkey.Key
			_, err := f.s.RotateKey(t.Context(), "k1", func(k *latchkey.Key) (*latchkey.Key, error) {
				k.ExpiresAt = ptr(base)
				next = replacement(t, k)
				next.ID = k.ID
				return next, nil
			})
			wantCode(t, err, latchkey.CodeConflict)
			got, err := f.s.Key(t.Context(), "k1")
			must(t, err)
			wantEqual(t, got, old)
			_, err = f.s.KeyByHash(t.Context(), next.Hash)
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"replacement with an unknown tenant is NOT_FOUND and applies neither change", func(t *testing.T, f fixture) {
			old := setup(f)
			var next *latchkey.Key
			_, err := f.s.RotateKey(t.Context(), "k1", func(k *latchkey.Key) (*latchkey.Key, error) {
				k.ExpiresAt = ptr(base)
				next = replacement(t, k)
				next.TenantIDs = []string{"nope"}
				return next, nil
			})
			wantCode(t, err, latchkey.CodeNotFound)
			unchanged(t, f, old, next)
		}},
		{"unknown id is NOT_FOUND", func(t *testing.T, f fixture) {
			_, err := f.s.RotateKey(t.Context(), "nope", func(*latchkey.Key) (*latchkey.Key, error) {
				t.Error("fn called for unknown key")
				return nil, errBoom
			})
			wantCode(t, err, latchkey.CodeNotFound)
		}},
	})
}
