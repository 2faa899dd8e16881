package sqlite_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apikey"
	"github.com/latchkey/latchkey/sqlite"
	"github.com/latchkey/latchkey/storetest"
)

func open(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) latchkey.Store {
		return open(t, filepath.Join(t.TempDir(), "latchkey.db"))
	})
}

// TestChangeFeed runs the change feed suite with two handles on one file:
// a server and the CLI beside it.
func TestChangeFeed(t *testing.T) {
	storetest.RunChangeFeed(t, func(t *testing.T) (latchkey.Store, latchkey.Store) {
		path := filepath.Join(t.TempDir(), "latchkey.db")
		return open(t, path), open(t, path)
	})
}

// TestCLIRevocationReachesServer: `latchkey keys revoke` beside a running
// server. The server's Service has the key cached; the CLI's handle revokes
// it; the server refuses it within a few poll intervals.
func TestCLIRevocationReachesServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	server, cli := open(t, path), open(t, path)
	storetest.RevocationPropagates(t, server, cli, 500*time.Millisecond)
}

func TestMigrateIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	tenant := &latchkey.Tenant{ID: "t1", Name: "Acme", CreatedAt: time.Now()}
	if err := db.CreateTenant(t.Context(), tenant); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// Opening again migrates again, and must neither fail nor lose data.
	db = open(t, path)
	if _, err := db.Tenant(t.Context(), "t1"); err != nil {
		t.Fatalf("tenant after reopening: %v", err)
	}
}

func TestOpenTwiceAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	a := open(t, path)
	b := open(t, path) // like `latchkey migrate` while the server runs
	if err := a.CreateTenant(t.Context(), &latchkey.Tenant{ID: "t1", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Tenant(t.Context(), "t1"); err != nil {
		t.Fatalf("tenant written by one handle, read by the other: %v", err)
	}
}

func TestOpenEscapesPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?with#odd%chars")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "latchkey.db")
	open(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not created at %q: %v", path, err)
	}
}

func TestPragmas(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "latchkey.db"))
	// Every connection of both pools must carry the pragmas, so check them
	// on several connections held at once.
	for _, pool := range []string{"read", "write"} {
		conns := sqlite.Conns(t, db, pool)
		for i, c := range conns {
			for _, p := range []struct{ pragma, want string }{
				{"journal_mode", "wal"},
				{"foreign_keys", "1"},
				{"busy_timeout", "5000"},
				{"synchronous", "1"}, // NORMAL
			} {
				var got string
				if err := c.QueryRowContext(t.Context(), "PRAGMA "+p.pragma).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != p.want {
					t.Errorf("%s connection %d: %s = %s, want %s", pool, i, p.pragma, got, p.want)
				}
			}
		}
	}
}

// TestNoSecretAtRest writes keys and root keys, then searches the raw bytes
// of the database and its WAL for the secrets.
func TestNoSecretAtRest(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "latchkey.db")
	db := open(t, path)
	ctx := t.Context()
	if err := db.CreateUser(ctx, &latchkey.User{ID: "u1", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for i, env := range []string{apikey.Live, apikey.Test} {
		k, err := apikey.Generate("lk", env)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, k.String())
		err = db.CreateKey(ctx, &latchkey.Key{
			ID: "k" + env, Hash: k.Hash(), Masked: k.Masked(), Name: "key", Environment: env,
			OwnerID: "u1", IsActive: true, CreatedAt: time.Now().Add(time.Duration(i)),
		})
		if err != nil {
			t.Fatal(err)
		}
		// The masked form is stored: it must be there, or the test would
		// prove nothing about where the bytes end up.
		if !containsInFiles(t, dir, k.Masked()) {
			t.Fatalf("masked key %q not found in the database files: test is blind", k.Masked())
		}
	}
	rk, err := apikey.Generate("lk", apikey.Root)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, rk.String())
	err = db.CreateRootKey(ctx, &latchkey.RootKey{
		ID: "rk1", Name: "root", Hash: rk.Hash(), Masked: rk.Masked(),
		Scopes: []string{latchkey.ScopeAll}, CreatedAt: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}

	check := func(when string) {
		for _, s := range secrets {
			// The body alone is secret enough: look for it too, in case a
			// prefix were stored apart from it.
			body := s[len(s)-32:]
			for _, needle := range []string{s, body} {
				if containsInFiles(t, dir, needle) {
					t.Errorf("%s: secret %q found in the database files", when, needle)
				}
			}
		}
	}
	check("with the WAL")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	check("after checkpoint")
}

// containsInFiles reports whether any file in dir (the database, -wal, -shm)
// contains s.
func containsInFiles(t *testing.T, dir, s string) bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

func BenchmarkKeyByHash(b *testing.B) {
	db := open(b, filepath.Join(b.TempDir(), "latchkey.db"))
	ctx := b.Context()
	if err := db.CreateTenant(ctx, &latchkey.Tenant{ID: "t1", Name: "Acme"}); err != nil {
		b.Fatal(err)
	}
	if err := db.CreateUser(ctx, &latchkey.User{ID: "u1", TenantIDs: []string{"t1"}}); err != nil {
		b.Fatal(err)
	}
	var hashes [][32]byte
	for i := range 1000 {
		k, err := apikey.Generate("lk", apikey.Live)
		if err != nil {
			b.Fatal(err)
		}
		hashes = append(hashes, k.Hash())
		err = db.CreateKey(ctx, &latchkey.Key{
			ID: fmt.Sprintf("k%d", i), Hash: k.Hash(), Masked: k.Masked(),
			Name: "bench", Environment: apikey.Live, Permissions: []string{"messages:send"},
			TenantIDs: []string{"t1"}, OwnerID: "u1", IsActive: true,
			CreatedAt: time.Now(), Meta: map[string]any{"team": "growth"},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := db.KeyByHash(ctx, hashes[i%len(hashes)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func TestExpiriesRoundedByMigration(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "latchkey.db"))
	storetest.ExpiriesRoundedByMigration(t, db, func() {
		sqlite.Unmigrate(t, db, "0007_whole_second_expiries.sql")
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}
