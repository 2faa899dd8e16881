package postgres

import (
	"testing"
	"time"
)

// SetListenTimings shortens the listener's liveness check for t.
func SetListenTimings(t testing.TB, ping, timeout time.Duration) {
	oldPing, oldTimeout := listenPing, listenPingTimeout
	listenPing, listenPingTimeout = ping, timeout
	t.Cleanup(func() { listenPing, listenPingTimeout = oldPing, oldTimeout })
}

// Unmigrate forgets that migration name ("0003_….sql") was applied, so the
// next Migrate applies it again, to data written as before it.
func Unmigrate(t testing.TB, db *DB, name string) {
	t.Helper()
	if _, err := db.pool.Exec(t.Context(), `DELETE FROM schema_migrations WHERE name = $1`, "migrations/"+name); err != nil {
		t.Fatal(err)
	}
}
