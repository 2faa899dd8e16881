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
