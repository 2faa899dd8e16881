// Package pgtest gives tests a fresh PostgreSQL database of their own.
//
// The server is the one at LATCHKEY_TEST_POSTGRES_URL, by default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable, reached as a
// role that may create databases (scripts/test-deps.sh sets one up). When it
// cannot be reached, tests are skipped, except under CI=true where they
// fail: CI must never pass by testing nothing.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultAdminURL is the server tests use unless LATCHKEY_TEST_POSTGRES_URL
// names another.
const DefaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL is the URL of the database tests connect to in order to create
// and drop their own.
func AdminURL() string {
	if v := os.Getenv("LATCHKEY_TEST_POSTGRES_URL"); v != "" {
		return v
	}
	return DefaultAdminURL
}

var (
	adminOnce sync.Once
	admin     *pgxpool.Pool
	adminErr  error
)

// adminPool connects once per test binary; its connections are left to
// the end of the process.
func adminPool() (*pgxpool.Pool, error) {
	adminOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cfg, err := pgxpool.ParseConfig(AdminURL())
		if err != nil {
			adminErr = err
			return
		}
		cfg.MaxConns = 4
		cfg.ConnConfig.ConnectTimeout = 3 * time.Second
		p, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			adminErr = err
			return
		}
		if err := p.Ping(ctx); err != nil {
			p.Close()
			adminErr = err
			return
		}
		admin = p
	})
	return admin, adminErr
}

// Require skips t (fails it under CI=true) unless the test server answers.
func Require(t testing.TB) {
	t.Helper()
	if _, err := adminPool(); err != nil {
		unavailable(t, err)
	}
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	// The error names host, port and user, never the password.
	if os.Getenv("CI") == "true" {
		t.Fatalf("PostgreSQL is required under CI=true but unreachable: %v (set LATCHKEY_TEST_POSTGRES_URL; scripts/test-deps.sh starts it)", err)
	}
	t.Skipf("PostgreSQL unreachable, skipping: %v (set LATCHKEY_TEST_POSTGRES_URL or run scripts/test-deps.sh)", err)
}

// NewDatabase creates an empty database for t, dropped when t ends, and
// returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return NewDatabaseFrom(t, "")
}

// NewDatabaseFrom is NewDatabase with a copy of template (made by
// NewTemplate) instead of an empty database: copying a migrated schema is
// faster than migrating each time.
func NewDatabaseFrom(t testing.TB, template string) string {
	t.Helper()
	p, err := adminPool()
	if err != nil {
		unavailable(t, err)
	}
	name := randomName("lk_test_")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stmt := `CREATE DATABASE ` + name
	if template != "" {
		stmt += ` TEMPLATE ` + pgx.Identifier{template}.Sanitize()
	}
	if _, err := p.Exec(ctx, stmt); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := p.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return databaseURL(name)
}

// NewTemplate creates a database, runs prepare on its URL (which must close
// every connection it opens) and returns its name for NewDatabaseFrom. The
// returned drop removes it; call it when the tests are done (TestMain).
// With no server to reach it returns "" and a no-op drop, leaving the tests
// themselves to skip or fail.
func NewTemplate(prepare func(url string) error) (name string, drop func(), err error) {
	p, err := adminPool()
	if err != nil {
		return "", func() {}, nil
	}
	name = randomName("lk_template_")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := p.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		return "", nil, err
	}
	drop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		p.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	}
	if err := prepare(databaseURL(name)); err != nil {
		drop()
		return "", nil, err
	}
	return name, drop, nil
}

func randomName(prefix string) string {
	var b [8]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// databaseURL is the admin URL naming another database.
func databaseURL(name string) string {
	u, err := url.Parse(AdminURL())
	if err != nil {
		panic("pgtest: LATCHKEY_TEST_POSTGRES_URL must be a postgres:// URL")
	}
	u.Path = "/" + name
	return u.String()
}
