package storetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apikey"
)

func newRootKey(t *testing.T, id string, createdAt time.Time, scopes ...string) *latchkey.RootKey {
	t.Helper()
	g, err := apikey.Generate("lk", apikey.Root)
	must(t, err)
	return &latchkey.RootKey{
		ID:        id,
		Name:      "root " + id,
		Hash:      g.Hash(),
		Masked:    g.Masked(),
		Scopes:    scopes,
		CreatedAt: createdAt,
	}
}

func storedRoot(k *latchkey.RootKey) *latchkey.RootKey {
	c := *k
	c.CreatedAt = k.CreatedAt.UTC().Truncate(time.Microsecond)
	if c.Scopes == nil {
		c.Scopes = []string{}
	}
	return &c
}

func testRootKeys(t *testing.T, open func(t *testing.T) latchkey.Store) {
	runAll(t, open, []behaviour{
		{"create then get by hash round-trips", func(t *testing.T, f fixture) {
			in := newRootKey(t, "rk1", base, latchkey.ScopeVerify, latchkey.ScopeManage)
			must(t, f.s.CreateRootKey(t.Context(), in))
			got, err := f.s.RootKeyByHash(t.Context(), in.Hash)
			must(t, err)
			wantEqual(t, got, storedRoot(in))
		}},
		{"no scopes come back empty", func(t *testing.T, f fixture) {
			in := newRootKey(t, "rk1", base)
			must(t, f.s.CreateRootKey(t.Context(), in))
			got, err := f.s.RootKeyByHash(t.Context(), in.Hash)
			must(t, err)
			wantIDs(t, "Scopes", got.Scopes, nil)
		}},
		{"unknown hash is NOT_FOUND", func(t *testing.T, f fixture) {
			_, err := f.s.RootKeyByHash(t.Context(), [32]byte{1})
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"duplicate id or hash is CONFLICT", func(t *testing.T, f fixture) {
			in := newRootKey(t, "rk1", base, latchkey.ScopeAll)
			must(t, f.s.CreateRootKey(t.Context(), in))
			wantCode(t, f.s.CreateRootKey(t.Context(), newRootKey(t, "rk1", base)), latchkey.CodeConflict)
			sameHash := newRootKey(t, "rk2", base)
			sameHash.Hash = in.Hash
			wantCode(t, f.s.CreateRootKey(t.Context(), sameHash), latchkey.CodeConflict)
			keys, err := f.s.ListRootKeys(t.Context())
			must(t, err)
			if len(keys) != 1 {
				t.Fatalf("ListRootKeys = %d keys after conflicts, want 1", len(keys))
			}
		}},
		{"list is oldest first", func(t *testing.T, f fixture) {
			var want []string
			for _, c := range []struct {
				id string
				d  time.Duration
			}{{"rk-b", 2}, {"rk-c", 0}, {"rk-a", 1}} {
				must(t, f.s.CreateRootKey(t.Context(), newRootKey(t, c.id, base.Add(c.d*time.Hour), latchkey.ScopeAll)))
			}
			want = []string{"rk-c", "rk-a", "rk-b"}
			keys, err := f.s.ListRootKeys(t.Context())
			must(t, err)
			var got []string
			for _, k := range keys {
				got = append(got, k.ID)
			}
			wantIDs(t, "root keys", got, want)
		}},
		{"list of empty store is empty", func(t *testing.T, f fixture) {
			keys, err := f.s.ListRootKeys(t.Context())
			must(t, err)
			if len(keys) != 0 {
				t.Fatalf("ListRootKeys = %d keys, want 0", len(keys))
			}
		}},
		{"delete removes it and a second delete is NOT_FOUND", func(t *testing.T, f fixture) {
			in := newRootKey(t, "rk1", base, latchkey.ScopeAll)
			must(t, f.s.CreateRootKey(t.Context(), in))
			must(t, f.s.DeleteRootKey(t.Context(), "rk1"))
			_, err := f.s.RootKeyByHash(t.Context(), in.Hash)
			wantCode(t, err, latchkey.CodeNotFound)
			wantCode(t, f.s.DeleteRootKey(t.Context(), "rk1"), latchkey.CodeNotFound)
		}},
	})
}
