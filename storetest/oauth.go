package storetest

import (
	"crypto/sha256"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

func testOAuth(t *testing.T, open func(t *testing.T) latchkey.Store) {
	t.Run("Clients", func(t *testing.T) { testOAuthClients(t, open) })
	t.Run("SigningKeys", func(t *testing.T) { testSigningKeys(t, open) })
	t.Run("RevokedTokens", func(t *testing.T) { testRevokedTokens(t, open) })
}

func newOAuthClient(id, tenantID string, scopes ...string) *latchkey.OAuthClient {
	if scopes == nil {
		scopes = []string{}
	}
	return &latchkey.OAuthClient{
		ID:         id,
		Name:       "client " + id,
		SecretHash: sha256.Sum256([]byte("secret of " + id)),
		Scopes:     scopes,
		TenantID:   tenantID,
		CreatedAt:  base,
	}
}

func storedClient(c *latchkey.OAuthClient) *latchkey.OAuthClient {
	out := *c
	out.CreatedAt = c.CreatedAt.UTC().Truncate(time.Microsecond)
	out.Scopes = slices.Clone(c.Scopes)
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	return &out
}

func testOAuthClients(t *testing.T, open func(t *testing.T) latchkey.Store) {
	runAll(t, open, []behaviour{
		{"create then get round-trips", func(t *testing.T, f fixture) {
			f.tenant("t1")
			in := newOAuthClient("c1", "t1", "messages:send", "billing:*")
			must(t, f.s.CreateOAuthClient(t.Context(), in))
			got, err := f.s.OAuthClient(t.Context(), "c1")
			must(t, err)
			wantEqual(t, got, storedClient(in))
			if got.CreatedAt.Location() != time.UTC {
				t.Errorf("CreatedAt location = %v, want UTC", got.CreatedAt.Location())
			}
		}},
		{"no tenant and no scopes come back empty", func(t *testing.T, f fixture) {
			in := newOAuthClient("c1", "")
			in.Scopes = nil
			must(t, f.s.CreateOAuthClient(t.Context(), in))
			got, err := f.s.OAuthClient(t.Context(), "c1")
			must(t, err)
			if got.TenantID != "" {
				t.Errorf("TenantID = %q, want empty", got.TenantID)
			}
			wantIDs(t, "Scopes", got.Scopes, nil)
		}},
		{"disabled round-trips", func(t *testing.T, f fixture) {
			in := newOAuthClient("c1", "", "a")
			in.Disabled = true
			must(t, f.s.CreateOAuthClient(t.Context(), in))
			got, err := f.s.OAuthClient(t.Context(), "c1")
			must(t, err)
			wantEqual(t, got, storedClient(in))
		}},
		{"get unknown is NOT_FOUND", func(t *testing.T, f fixture) {
			_, err := f.s.OAuthClient(t.Context(), "nope")
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"duplicate id is CONFLICT", func(t *testing.T, f fixture) {
			must(t, f.s.CreateOAuthClient(t.Context(), newOAuthClient("c1", "", "a")))
			other := newOAuthClient("c1", "", "b")
			other.Name = "other"
			wantCode(t, f.s.CreateOAuthClient(t.Context(), other), latchkey.CodeConflict)
			got, err := f.s.OAuthClient(t.Context(), "c1")
			must(t, err)
			if got.Name != "client c1" {
				t.Errorf("Name = %q after conflicting create, want unchanged", got.Name)
			}
		}},
		{"unknown tenant is NOT_FOUND and stores nothing", func(t *testing.T, f fixture) {
			wantCode(t, f.s.CreateOAuthClient(t.Context(), newOAuthClient("c1", "nope", "a")), latchkey.CodeNotFound)
			_, err := f.s.OAuthClient(t.Context(), "c1")
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"list pages in ascending id order", func(t *testing.T, f fixture) {
			for _, id := range []string{"c", "a", "e", "b", "d"} {
				must(t, f.s.CreateOAuthClient(t.Context(), newOAuthClient(id, "", "x")))
			}
			var got []string
			after := ""
			for range 10 {
				page, err := f.s.ListOAuthClients(t.Context(), latchkey.Page{Limit: 2, After: after})
				must(t, err)
				if len(page) > 2 {
					t.Fatalf("page of %d clients, limit 2", len(page))
				}
				if len(page) == 0 {
					break
				}
				for _, c := range page {
					got = append(got, c.ID)
				}
				after = page[len(page)-1].ID
			}
			wantIDs(t, "listed clients", got, []string{"a", "b", "c", "d", "e"})
		}},
		{"list of empty store is empty and non-nil", func(t *testing.T, f fixture) {
			got, err := f.s.ListOAuthClients(t.Context(), latchkey.Page{Limit: 10})
			must(t, err)
			if got == nil || len(got) != 0 {
				t.Fatalf("ListOAuthClients = %#v, want empty non-nil", got)
			}
		}},
		{"update writes name, secret, scopes and disabled only", func(t *testing.T, f fixture) {
			f.tenant("t1")
			f.tenant("t2")
			in := newOAuthClient("c1", "t1", "a")
			must(t, f.s.CreateOAuthClient(t.Context(), in))
			newHash := sha256.Sum256([]byte("new secret"))
			got, err := f.s.UpdateOAuthClient(t.Context(), "c1", func(c *latchkey.OAuthClient) error {
				c.Name = "renamed"
				c.SecretHash = newHash
				c.Scopes = []string{"b", "c"}
				c.Disabled = true
				c.TenantID = "t2"           // not written
				c.CreatedAt = at(time.Hour) // not written
				return nil
			})
			must(t, err)
			want := storedClient(in)
			want.Name, want.SecretHash, want.Scopes, want.Disabled = "renamed", newHash, []string{"b", "c"}, true
			wantEqual(t, got, want)
			again, err := f.s.OAuthClient(t.Context(), "c1")
			must(t, err)
			wantEqual(t, again, want)
		}},
		{"update error from fn aborts it", func(t *testing.T, f fixture) {
			in := newOAuthClient("c1", "", "a")
			must(t, f.s.CreateOAuthClient(t.Context(), in))
			_, err := f.s.UpdateOAuthClient(t.Context(), "c1", func(c *latchkey.OAuthClient) error {
				c.Name = "changed"
				return errBoom
			})
			if err != errBoom {
				t.Fatalf("UpdateOAuthClient error = %v, want the error fn returned", err)
			}
			got, err := f.s.OAuthClient(t.Context(), "c1")
			must(t, err)
			wantEqual(t, got, storedClient(in))
		}},
		{"update unknown is NOT_FOUND", func(t *testing.T, f fixture) {
			_, err := f.s.UpdateOAuthClient(t.Context(), "nope", func(*latchkey.OAuthClient) error { return nil })
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"delete removes it and a second delete is NOT_FOUND", func(t *testing.T, f fixture) {
			must(t, f.s.CreateOAuthClient(t.Context(), newOAuthClient("c1", "", "a")))
			must(t, f.s.DeleteOAuthClient(t.Context(), "c1"))
			_, err := f.s.OAuthClient(t.Context(), "c1")
			wantCode(t, err, latchkey.CodeNotFound)
			wantCode(t, f.s.DeleteOAuthClient(t.Context(), "c1"), latchkey.CodeNotFound)
		}},
		{"deleting the tenant deletes its clients", func(t *testing.T, f fixture) {
			f.tenant("t1")
			must(t, f.s.CreateOAuthClient(t.Context(), newOAuthClient("c1", "t1", "a")))
			must(t, f.s.CreateOAuthClient(t.Context(), newOAuthClient("c2", "", "a")))
			must(t, f.s.DeleteTenant(t.Context(), "t1"))
			_, err := f.s.OAuthClient(t.Context(), "c1")
			wantCode(t, err, latchkey.CodeNotFound)
			if _, err := f.s.OAuthClient(t.Context(), "c2"); err != nil {
				t.Fatalf("client without a tenant: %v", err)
			}
		}},
	})
}

func newSigningKey(id string, createdAt time.Time) *latchkey.SigningKey {
	return &latchkey.SigningKey{
		ID:         id,
		Algorithm:  "ES256",
		PublicKey:  []byte("public " + id),
		PrivateKey: []byte("sealed " + id),
		CreatedAt:  createdAt,
	}
}

func signingKeyIDs(keys []*latchkey.SigningKey) []string {
	ids := []string{}
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	return ids
}

func testSigningKeys(t *testing.T, open func(t *testing.T) latchkey.Store) {
	runAll(t, open, []behaviour{
		{"empty store has no keys", func(t *testing.T, f fixture) {
			keys, err := f.s.SigningKeys(t.Context())
			must(t, err)
			wantIDs(t, "keys", signingKeyIDs(keys), nil)
		}},
		{"init on an empty store stores the key as active", func(t *testing.T, f fixture) {
			in := newSigningKey("k1", base)
			got, err := f.s.InitSigningKey(t.Context(), in)
			must(t, err)
			want := *in
			want.CreatedAt = at(0)
			wantEqual(t, got, &want)
			keys, err := f.s.SigningKeys(t.Context())
			must(t, err)
			if len(keys) != 1 {
				t.Fatalf("%d keys, want 1", len(keys))
			}
			wantEqual(t, keys[0], &want)
		}},
		{"init keeps an existing active key", func(t *testing.T, f fixture) {
			first, err := f.s.InitSigningKey(t.Context(), newSigningKey("k1", base))
			must(t, err)
			got, err := f.s.InitSigningKey(t.Context(), newSigningKey("k2", base.Add(time.Hour)))
			must(t, err)
			wantEqual(t, got, first)
			keys, err := f.s.SigningKeys(t.Context())
			must(t, err)
			wantIDs(t, "keys", signingKeyIDs(keys), []string{"k1"})
		}},
		{"concurrent inits agree on one key", func(t *testing.T, f fixture) {
			var wg sync.WaitGroup
			got := make([]string, 8)
			for i := range got {
				wg.Go(func() {
					k, err := f.s.InitSigningKey(t.Context(), newSigningKey(string(rune('a'+i)), base))
					if err != nil {
						t.Errorf("InitSigningKey: %v", err)
						return
					}
					got[i] = k.ID
				})
			}
			wg.Wait()
			for _, id := range got {
				if id != got[0] {
					t.Fatalf("inits returned different active keys: %q", got)
				}
			}
			keys, err := f.s.SigningKeys(t.Context())
			must(t, err)
			if len(keys) != 1 {
				t.Fatalf("%d keys stored, want 1", len(keys))
			}
		}},
		{"rotate retires the active key and lists newest first", func(t *testing.T, f fixture) {
			_, err := f.s.InitSigningKey(t.Context(), newSigningKey("k1", base))
			must(t, err)
			must(t, f.s.RotateSigningKey(t.Context(), newSigningKey("k2", base.Add(time.Hour))))
			must(t, f.s.RotateSigningKey(t.Context(), newSigningKey("k3", base.Add(2*time.Hour))))
			keys, err := f.s.SigningKeys(t.Context())
			must(t, err)
			wantIDs(t, "keys", signingKeyIDs(keys), []string{"k3", "k2", "k1"})
			if keys[0].RetiredAt != nil {
				t.Errorf("active key RetiredAt = %v, want nil", keys[0].RetiredAt)
			}
			if keys[1].RetiredAt == nil || !keys[1].RetiredAt.Equal(at(2*time.Hour)) {
				t.Errorf("k2 RetiredAt = %v, want %v", keys[1].RetiredAt, at(2*time.Hour))
			}
			if keys[2].RetiredAt == nil || !keys[2].RetiredAt.Equal(at(time.Hour)) {
				t.Errorf("k1 RetiredAt = %v, want %v", keys[2].RetiredAt, at(time.Hour))
			}
			// Init now keeps k3.
			got, err := f.s.InitSigningKey(t.Context(), newSigningKey("k4", base.Add(3*time.Hour)))
			must(t, err)
			if got.ID != "k3" {
				t.Errorf("InitSigningKey after rotation = %s, want k3", got.ID)
			}
		}},
		{"the active key lists first even when created at the same instant", func(t *testing.T, f fixture) {
			_, err := f.s.InitSigningKey(t.Context(), newSigningKey("k2", base))
			must(t, err)
			must(t, f.s.RotateSigningKey(t.Context(), newSigningKey("k1", base)))
			must(t, f.s.RotateSigningKey(t.Context(), newSigningKey("k0", base)))
			keys, err := f.s.SigningKeys(t.Context())
			must(t, err)
			if keys[0].ID != "k0" || keys[0].RetiredAt != nil {
				t.Fatalf("first key = %s (retired %v), want the active k0", keys[0].ID, keys[0].RetiredAt)
			}
		}},
		{"rotate on an empty store just stores the key", func(t *testing.T, f fixture) {
			must(t, f.s.RotateSigningKey(t.Context(), newSigningKey("k1", base)))
			keys, err := f.s.SigningKeys(t.Context())
			must(t, err)
			wantIDs(t, "keys", signingKeyIDs(keys), []string{"k1"})
			if keys[0].RetiredAt != nil {
				t.Errorf("RetiredAt = %v, want nil", keys[0].RetiredAt)
			}
		}},
		{"rotate to a duplicate id is CONFLICT and keeps the active key", func(t *testing.T, f fixture) {
			_, err := f.s.InitSigningKey(t.Context(), newSigningKey("k1", base))
			must(t, err)
			wantCode(t, f.s.RotateSigningKey(t.Context(), newSigningKey("k1", base.Add(time.Hour))), latchkey.CodeConflict)
			keys, err := f.s.SigningKeys(t.Context())
			must(t, err)
			if len(keys) != 1 || keys[0].RetiredAt != nil {
				t.Fatalf("after a failed rotation: %d keys, RetiredAt %v; want k1 still active", len(keys), keys[0].RetiredAt)
			}
		}},
		{"delete removes only keys retired before the time", func(t *testing.T, f fixture) {
			_, err := f.s.InitSigningKey(t.Context(), newSigningKey("k1", base))
			must(t, err)
			must(t, f.s.RotateSigningKey(t.Context(), newSigningKey("k2", base.Add(time.Hour))))   // k1 retired at +1h
			must(t, f.s.RotateSigningKey(t.Context(), newSigningKey("k3", base.Add(2*time.Hour)))) // k2 retired at +2h
			n, err := f.s.DeleteSigningKeys(t.Context(), base.Add(90*time.Minute))
			must(t, err)
			if n != 1 {
				t.Errorf("deleted %d keys, want 1", n)
			}
			keys, err := f.s.SigningKeys(t.Context())
			must(t, err)
			wantIDs(t, "keys", signingKeyIDs(keys), []string{"k3", "k2"})
			n, err = f.s.DeleteSigningKeys(t.Context(), base.Add(100*time.Hour))
			must(t, err)
			if n != 1 {
				t.Errorf("deleted %d keys, want 1", n)
			}
			keys, err = f.s.SigningKeys(t.Context())
			must(t, err)
			wantIDs(t, "keys", signingKeyIDs(keys), []string{"k3"})
		}},
	})
}

func testRevokedTokens(t *testing.T, open func(t *testing.T) latchkey.Store) {
	revoked := func(f fixture, jti string) bool {
		f.t.Helper()
		ok, err := f.s.TokenRevoked(f.ctx(), jti)
		must(f.t, err)
		return ok
	}
	runAll(t, open, []behaviour{
		{"unknown jti is not revoked", func(t *testing.T, f fixture) {
			if revoked(f, "nope") {
				t.Fatal("TokenRevoked = true for an unknown jti")
			}
		}},
		{"revoke then revoked, twice is fine", func(t *testing.T, f fixture) {
			tok := &latchkey.RevokedToken{JTI: "j1", ClientID: "c1", ExpiresAt: base.Add(time.Hour), RevokedAt: base}
			must(t, f.s.RevokeToken(t.Context(), tok))
			must(t, f.s.RevokeToken(t.Context(), tok))
			if !revoked(f, "j1") {
				t.Fatal("TokenRevoked = false after RevokeToken")
			}
			if revoked(f, "j2") {
				t.Fatal("another jti is revoked too")
			}
		}},
		{"prune removes only entries that expired before the time", func(t *testing.T, f fixture) {
			for i, d := range []time.Duration{time.Minute, time.Hour, 2 * time.Hour} {
				must(t, f.s.RevokeToken(t.Context(), &latchkey.RevokedToken{
					JTI: string(rune('a' + i)), ClientID: "c1", ExpiresAt: base.Add(d), RevokedAt: base,
				}))
			}
			n, err := f.s.PruneRevokedTokens(t.Context(), base.Add(90*time.Minute))
			must(t, err)
			if n != 2 {
				t.Errorf("pruned %d entries, want 2", n)
			}
			if revoked(f, "a") || revoked(f, "b") || !revoked(f, "c") {
				t.Errorf("after pruning: a %v b %v c %v, want only c", revoked(f, "a"), revoked(f, "b"), revoked(f, "c"))
			}
		}},
	})
}
