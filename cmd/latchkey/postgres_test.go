package main

import (
	"encoding/hex"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/postgres/pgtest"
)

// pgPassword is put in the database URL of the tests below when the test
// server's URL has none (its loopback access needs none, so the server
// ignores it): no output may ever show it.
const pgPassword = "hunter22-pg"

// newPostgresEnv returns an environment whose database is a fresh
// PostgreSQL database and whose secret key file exists, and the password
// in the URL.
func newPostgresEnv(t *testing.T) (env, string) {
	t.Helper()
	u, err := neturl.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	password, ok := u.User.Password()
	if !ok {
		password = pgPassword
		u.User = neturl.UserPassword(u.User.Username(), password)
	}
	return env{"LATCHKEY_DATABASE_URL": u.String(), "LATCHKEY_SECRET_KEY_FILE": writeSecretKeyFile(t)}, password
}

// writeSecretKeyFile writes a LATCHKEY_SECRET_KEY_FILE and returns its path.
func writeSecretKeyFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "latchkey.key")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(make([]byte, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func noPassword(t *testing.T, password, where, text string) {
	t.Helper()
	if strings.Contains(text, password) {
		t.Errorf("%s shows the database password:\n%s", where, text)
	}
}

// TestCLIOnPostgres runs the SPEC §2 commands against PostgreSQL.
func TestCLIOnPostgres(t *testing.T) {
	e, password := newPostgresEnv(t)
	var out []result
	do := func(args ...string) result {
		t.Helper()
		r := mustRun(t, e, "", args...)
		out = append(out, r)
		return r
	}
	do("migrate")
	do("migrate") // idempotent
	do("tenants", "create", "--id", "123", "--name", "Acme")
	do("users", "create", "--id", "user-123", "--tenant", "123")
	secret := secretOnly(t, do("keys", "create", "--user", "user-123", "--name", "k", "--tenant", "123").stdout)
	keys := listKeys(t, e, "user-123")
	if len(keys) != 1 || keys[0].RevokedAt != nil {
		t.Fatalf("keys = %+v", keys)
	}
	do("keys", "revoke", keys[0].ID)
	if k := listKeys(t, e, "user-123")[0]; k.RevokedAt == nil {
		t.Errorf("listed key = %+v; want revoked", k)
	}
	secretOnly(t, do("root-keys", "create", "--name", "ci").stdout)
	do("permissions", "create", "messages:send")
	do("oauth-clients", "create", "--name", "worker", "--scopes", "messages:send")
	do("signing-keys", "rotate")

	for _, r := range out {
		noPassword(t, password, "stdout", r.stdout)
		noPassword(t, password, "stderr", r.stderr)
		if strings.Contains(r.stdout, secret) && r.stdout != secret+"\n" {
			t.Errorf("the key shows again: %q", r.stdout)
		}
	}
}

func TestPostgresNeedsTheSecretKeyFile(t *testing.T) {
	e, password := newPostgresEnv(t)
	delete(e, "LATCHKEY_SECRET_KEY_FILE")
	// Commands that do not touch OAuth signing keys work without it.
	mustRun(t, e, "", "users", "create", "--id", "u1")
	for _, args := range [][]string{{"signing-keys", "rotate"}, {"serve", "--addr", "127.0.0.1:0"}} {
		r := mustFail(t, e, "", "LATCHKEY_SECRET_KEY_FILE", args...)
		noPassword(t, password, "error", r.err.Error())
		noPassword(t, password, "stderr", r.stderr)
	}
	t.Run("unreadable or malformed key", func(t *testing.T) {
		open := filepath.Join(t.TempDir(), "open.key")
		os.WriteFile(open, []byte(strings.Repeat("ab", 32)), 0o644)
		mustFail(t, e.with("LATCHKEY_SECRET_KEY_FILE", open), "", "readable by others", "signing-keys", "rotate")
		short := filepath.Join(t.TempDir(), "short.key")
		os.WriteFile(short, []byte("abcd"), 0o600)
		mustFail(t, e.with("LATCHKEY_SECRET_KEY_FILE", short), "", "64 hex digits", "signing-keys", "rotate")
		mustFail(t, e.with("LATCHKEY_SECRET_KEY_FILE", filepath.Join(t.TempDir(), "nope")), "", "LATCHKEY_SECRET_KEY_FILE: cannot read", "users", "create", "--id", "u2")
	})
}

// TestSecretKeyFileWithSQLite: set, the shared key replaces the .kek file
// beside the database.
func TestSecretKeyFileWithSQLite(t *testing.T) {
	e, path := newEnv(t)
	mustRun(t, e.with("LATCHKEY_SECRET_KEY_FILE", writeSecretKeyFile(t)), "", "signing-keys", "rotate")
	if _, err := os.Stat(path + ".kek"); err == nil {
		t.Error("a .kek file was created although LATCHKEY_SECRET_KEY_FILE is set")
	}
}

func TestConfigPostgres(t *testing.T) {
	cfg, err := loadFrom(t, env{"LATCHKEY_DATABASE_URL": "postgres://latchkey:s3cret@db.internal:5432/latchkey?sslmode=require&password=s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database.Driver != "postgres" || !strings.HasPrefix(cfg.Database.URL, "postgres://latchkey:s3cret@") {
		t.Errorf("Database = %+v", cfg.Database.Driver)
	}
	if got, want := cfg.Database.String(), "postgres://latchkey@db.internal:5432/latchkey"; got != want {
		t.Errorf("Database.String() = %q, want %q (no password, no query)", got, want)
	}
	for _, bad := range []string{
		"postgres://latchkey:s3cret@db.internal:port/latchkey",
		"postgresql://latchkey:s3cret@db.internal/latchkey?connect_timeout=soon",
	} {
		_, err := loadFrom(t, env{"LATCHKEY_DATABASE_URL": bad})
		if err == nil || !strings.Contains(err.Error(), "LATCHKEY_DATABASE_URL: not a valid postgres://") {
			t.Errorf("%s: error %v", bad, err)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// TestServeOnPostgres: serve on PostgreSQL answers, is ready, and follows
// a revocation made by the CLI (another process on the same database)
// within SPEC §9's second, through LISTEN/NOTIFY.
func TestServeOnPostgres(t *testing.T) {
	e, password := newPostgresEnv(t)
	mustRun(t, e, "", "users", "create", "--id", "u1")
	secret := secretOnly(t, mustRun(t, e, "", "keys", "create", "--user", "u1", "--name", "k").stdout)
	id := listKeys(t, e, "u1")[0].ID
	srv := startServer(t, e)

	if status, body := request(t, "GET", srv.url+"/readyz", nil, nil); status != http.StatusOK {
		t.Fatalf("/readyz = %d %v", status, body)
	}
	whoami := func() int {
		status, _ := request(t, "GET", srv.url+"/api/v1/users/me", map[string]string{"Authorization": "Bearer " + secret}, nil)
		return status
	}
	// Wait until the server's change feed is up (its cache is trusted and
	// answers), then revoke through the CLI.
	time.Sleep(200 * time.Millisecond)
	if s := whoami(); s != http.StatusOK {
		t.Fatalf("whoami = %d", s)
	}
	start := time.Now()
	mustRun(t, e, "", "keys", "revoke", id)
	for whoami() != http.StatusUnauthorized {
		if time.Since(start) > time.Second {
			t.Fatal("the server still accepts the key 1s after the CLI revoked it")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("revoked by the CLI, refused by the server after %v", time.Since(start).Round(time.Millisecond))

	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
	noPassword(t, password, "serve's log", srv.stderr.String())
	if !strings.Contains(srv.stderr.String(), `"database":"postgres://`) {
		t.Errorf("the listening line does not name the database:\n%s", srv.stderr)
	}
}
