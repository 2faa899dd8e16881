package sqlite

import (
	"database/sql"
	"testing"
)

// Conns holds and returns distinct connections from one of db's pools,
// "read" (several) or "write" (its only one), released when t ends.
func Conns(t testing.TB, db *DB, pool string) []*sql.Conn {
	t.Helper()
	p, n := db.read, 3
	if pool == "write" {
		p, n = db.write, 1
	}
	var conns []*sql.Conn
	for range n {
		c, err := p.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	return conns
}

// Unmigrate forgets that migration name ("0007_….sql") was applied, so the
// next Migrate applies it again, to data written as before it.
func Unmigrate(t testing.TB, db *DB, name string) {
	t.Helper()
	if _, err := db.write.ExecContext(t.Context(), `DELETE FROM schema_migrations WHERE name = ?`, "migrations/"+name); err != nil {
		t.Fatal(err)
	}
}
