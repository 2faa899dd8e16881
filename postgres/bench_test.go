package postgres_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/postgres/pgtest"
	"github.com/latchkey/latchkey/sqlite"
)

// BenchmarkVerify compares key verification on SQLite and PostgreSQL:
//   - hit: the key is in the node's cache, the store is not read;
//   - miss: the cache holds one key and the verifications cycle through
//     256, so each one reads its key from the store (KeyByHash);
//   - miss-parallel: the same from GOMAXPROCS goroutines at once.
//
// go test -run '^$' -bench Verify ./postgres/
func BenchmarkVerify(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) latchkey.Store
	}{
		{"sqlite", func(b *testing.B) latchkey.Store {
			db, err := sqlite.Open(filepath.Join(b.TempDir(), "latchkey.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			return db
		}},
		{"postgres", func(b *testing.B) latchkey.Store {
			return open(b, pgtest.NewDatabaseFrom(b, migrated))
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			store := st.open(b)
			svc := latchkey.NewService(store, latchkey.ServiceConfig{})
			ctx := context.Background()
			if _, err := svc.CreateTenant(ctx, "t1", "Acme"); err != nil {
				b.Fatal(err)
			}
			if _, err := svc.CreateUser(ctx, latchkey.NewUser{ID: "u1", TenantIDs: []string{"t1"}}); err != nil {
				b.Fatal(err)
			}
			const keys = 256
			reqs := make([]latchkey.VerifyRequest, keys)
			for i := range reqs {
				_, secret, err := svc.CreateKey(ctx, "u1", latchkey.NewKey{
					Name: "bench", Permissions: []string{"messages:*"}, TenantIDs: []string{"t1"},
					Meta: map[string]any{"team": "growth"},
				})
				if err != nil {
					b.Fatal(err)
				}
				reqs[i] = latchkey.VerifyRequest{Credential: secret, Permissions: []string{"messages:send"}}
			}
			verify := func(b *testing.B, svc *latchkey.Service, req latchkey.VerifyRequest) {
				if _, err := svc.Verify(ctx, req); err != nil {
					b.Error(err)
					b.FailNow()
				}
			}
			b.Run("hit", func(b *testing.B) {
				verify(b, svc, reqs[0])
				b.ReportAllocs()
				for b.Loop() {
					verify(b, svc, reqs[0])
				}
			})
			// A cache of one key, verifications cycling through many:
			// every one reads its key from the store.
			tiny := latchkey.NewService(store, latchkey.ServiceConfig{MaxCachedKeys: 1})
			b.Run("miss", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					verify(b, tiny, reqs[i%keys])
					i++
				}
			})
			b.Run("miss-parallel", func(b *testing.B) {
				b.ReportAllocs()
				var next atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					i := int(next.Add(keys / 8))
					for pb.Next() {
						if _, err := tiny.Verify(ctx, reqs[i%keys]); err != nil {
							b.Error(err)
							return
						}
						i++
					}
				})
			})
		})
	}
}
