// Package postgres is Latchkey's store for several nodes: a latchkey.Store
// on PostgreSQL through pgx and its connection pool.
//
// Read-modify-write updates (UpdateKey, RotateKey, UpdateTenant, …) lock the
// row with SELECT … FOR NO KEY UPDATE inside their transaction, so
// concurrent updates from any node serialise on the row and none is lost.
// Every mutation that changes what a cached credential means also sends a
// NOTIFY in its transaction, delivered to every node's WatchChanges exactly
// when it commits.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/latchkey/latchkey"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a Latchkey store in a PostgreSQL database.
type DB struct {
	pool *pgxpool.Pool
	// listen configures the dedicated connection of WatchChanges, which
	// must not come from the pool: it stays in LISTEN for the node's life.
	listen *pgx.ConnConfig
}

var (
	_ latchkey.Store         = (*DB)(nil)
	_ latchkey.ChangeWatcher = (*DB)(nil)
)

// Defaults applied unless the URL sets them. During an outage queries must
// fail fast, so that readiness turns 503 and callers get UNAVAILABLE,
// rather than wait: PostgreSQL refuses connections at once when it is down
// on a reachable host, and connectTimeout bounds the unreachable case.
const (
	connectTimeout   = 2 * time.Second // connect_timeout
	pingTimeout      = 2 * time.Second // pool_ping_timeout: liveness check of an idle pooled connection
	statementTimeout = "30s"           // statement_timeout: no statement holds locks or a connection longer
)

// Open connects to the database at url (postgres://…), applying any
// pending migrations. Settings that pgx reads from the URL (pool_max_conns,
// connect_timeout, sslmode, statement_timeout, …) override the defaults.
// Errors never repeat the URL, which may hold a password.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	if err := ValidateURL(rawURL); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, err // unreachable: ValidateURL parsed it
	}
	cc := cfg.ConnConfig
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = connectTimeout
	}
	if _, ok := cc.RuntimeParams["statement_timeout"]; !ok {
		cc.RuntimeParams["statement_timeout"] = statementTimeout
	}
	if _, ok := cc.RuntimeParams["application_name"]; !ok {
		cc.RuntimeParams["application_name"] = "latchkey"
	}
	if cfg.PingTimeout == 0 {
		cfg.PingTimeout = pingTimeout
	}
	// pgx's default (max(4, CPUs)) is sized for a CPU-bound client; a
	// node's connections mostly wait on the network.
	if !hasParam(rawURL, "pool_max_conns") {
		cfg.MaxConns = int32(max(10, 4*runtime.NumCPU()))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := &DB{pool: pool, listen: cc.Copy()}
	if err := db.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// migrationLock is the advisory lock key under which nodes migrate, so
// that several starting at once apply each migration exactly once.
const migrationLock = 0x6c61746368 // "latch"

// Migrate applies, in name order, every embedded migration not yet recorded
// in schema_migrations, each in its own transaction under an advisory lock.
// It is idempotent and safe to run from several nodes at once.
func (db *DB) Migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if err := db.migrate(ctx, name); err != nil {
			return fmt.Errorf("postgres: migration %s: %w", name, err)
		}
	}
	return nil
}

func (db *DB) migrate(ctx context.Context, name string) error {
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		// A migration may take longer than a statement normally may, and
		// waiting for another node's migration is expected.
		if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			CREATE TABLE IF NOT EXISTS schema_migrations (
				name       text COLLATE "C" PRIMARY KEY,
				applied_at timestamptz NOT NULL
			)`); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx,
			`SELECT count(*) FROM schema_migrations WHERE name = $1`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		// No arguments: pgx sends it by the simple protocol, which runs
		// several statements.
		if _, err := tx.Exec(ctx, string(body)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx,
			`INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)`, name, time.Now())
		return err
	})
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.pool.Ping(ctx) }

// Close closes every pooled connection.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// writeTx runs fn in a transaction, committing if it returns nil. The error
// fn returns is passed through unchanged. A deadlock, which PostgreSQL
// breaks by failing one transaction, retries the whole of fn a few times.
func (db *DB) writeTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, db.pool, fn)
		if attempt < 4 && isRetryable(err) {
			continue
		}
		return err
	}
}

// querier is what *pgxpool.Pool and pgx.Tx have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// deleteRows runs a DELETE and returns how many rows it removed.
func (db *DB) deleteRows(ctx context.Context, query string, args ...any) (int, error) {
	tag, err := db.pool.Exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// deleteOne runs a DELETE meant for one row and returns notFound when it
// matched none.
func deleteOne(ctx context.Context, q querier, notFound error, sql string, args ...any) error {
	tag, err := q.Exec(ctx, sql, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return notFound
	}
	return nil
}

// scanner is what pgx.Row and pgx.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// collect scans every remaining row with scan. No rows is an empty slice,
// never nil, as the stores promise.
func collect[T any](rows pgx.Rows, scan func(scanner) (*T, error)) ([]*T, error) {
	out := []*T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// hasParam reports whether the connection string sets name.
func hasParam(connString, name string) bool {
	if u, err := url.Parse(connString); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		return u.Query().Has(name)
	}
	return strings.Contains(connString, name+"=") // keyword=value form
}

// exists reports whether table has a row with the given id. table is
// always a constant from this package.
func exists(ctx context.Context, q querier, table, id string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+table+` WHERE id = $1)`, id).Scan(&ok)
	return ok, err
}

// lockRow locks the row of table with the given id until the transaction
// ends, so that read-modify-writes of it (or of what hangs off it, such as
// a user's memberships) run one at a time across every node. It reports
// whether the row exists. NO KEY UPDATE leaves foreign-key checks of other
// rows pointing at it free to proceed.
func lockRow(ctx context.Context, tx pgx.Tx, table, id string) (bool, error) {
	var n int
	err := tx.QueryRow(ctx,
		`SELECT count(*) FROM (SELECT 1 FROM `+table+` WHERE id = $1 FOR NO KEY UPDATE) x`, id).Scan(&n)
	return n > 0, err
}

// PostgreSQL error codes this package handles.
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeDeadlockDetected     = "40P01"
	codeSerializationFailure = "40001"
)

func pgError(err error) *pgconn.PgError {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

func isUniqueViolation(err error) bool {
	pe := pgError(err)
	return pe != nil && pe.Code == codeUniqueViolation
}

func isForeignKeyViolation(err error) bool {
	pe := pgError(err)
	return pe != nil && pe.Code == codeForeignKeyViolation
}

func isRetryable(err error) bool {
	pe := pgError(err)
	return pe != nil && (pe.Code == codeDeadlockDetected || pe.Code == codeSerializationFailure)
}

// conflict turns a unique violation into a CONFLICT error, its message
// picked from messages by the violated constraint's name; "" is the default.
func conflict(err error, messages map[string]string) *latchkey.Error {
	msg := messages[""]
	if pe := pgError(err); pe != nil {
		if m, ok := messages[pe.ConstraintName]; ok {
			msg = m
		}
	}
	return &latchkey.Error{Code: latchkey.CodeConflict, Message: msg, Err: err}
}

// Times are stored as timestamptz, whose precision is the microsecond; the
// Go side truncates (PostgreSQL would round) and reads back in UTC.

func ts(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

func nullTS(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// strings returns v, or an empty slice for nil: pgx sends a nil slice as
// NULL, and the array columns are NOT NULL.
func strs(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// hash copies a 32-byte bytea into a [32]byte.
func hash(b []byte) ([32]byte, error) {
	var h [32]byte
	if len(b) != len(h) {
		return h, fmt.Errorf("postgres: hash is %d bytes, want %d", len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}

// limit turns a page size into a SQL LIMIT; NULL is no limit, which is what
// a size of zero or less gets.
func limit(n int) *int {
	if n <= 0 {
		return nil
	}
	return &n
}

// dedupe returns ids without repeats, keeping the first occurrence of each.
func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// ValidateURL reports whether url is a database URL Open can use, without
// connecting. The error never repeats the URL, which may hold a password.
func ValidateURL(rawURL string) error {
	if _, err := pgxpool.ParseConfig(rawURL); err != nil {
		return errors.New("not a valid postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?PARAMS] URL (value not shown: it may hold a password)")
	}
	return nil
}
