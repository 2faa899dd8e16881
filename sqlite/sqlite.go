// Package sqlite is Latchkey's single-node store: a latchkey.Store backed by
// one SQLite file through modernc.org/sqlite (pure Go, no cgo).
//
// Writes go through a pool of exactly one connection whose transactions begin
// IMMEDIATE, so read-modify-write updates in this process never interleave
// and never fail to upgrade a read lock; a busy timeout covers other processes
// (the CLI) writing the same file. Reads use a separate read-only pool, which
// WAL mode lets run alongside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a Latchkey store in one SQLite file.
type DB struct {
	write *sql.DB // one connection; every transaction is BEGIN IMMEDIATE
	read  *sql.DB // query_only connections

	// keyByHash is prepared once: it runs on every key verification.
	keyByHash *sql.Stmt
}

var _ latchkey.Store = (*DB)(nil)

// pragmas are set on every pooled connection, through the DSN.
var pragmas = []string{
	"busy_timeout(5000)",
	"journal_mode(WAL)",
	"foreign_keys(1)",
	"synchronous(NORMAL)",
}

// Open opens (creating if needed) the database file at path and applies any
// pending migrations.
func Open(path string) (*DB, error) {
	// SQLite decodes %XX in URI filenames, so escaping keeps '?' and '#' in
	// path from being read as the start of the query.
	name := "file:" + (&url.URL{Path: path}).EscapedPath()
	q := url.Values{"_pragma": pragmas}

	wq := cloneValues(q)
	wq.Set("_txlock", "immediate")
	write, err := sql.Open("sqlite", name+"?"+wq.Encode())
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	rq := cloneValues(q)
	rq.Add("_pragma", "query_only(1)")
	read, err := sql.Open("sqlite", name+"?"+rq.Encode())
	if err != nil {
		write.Close()
		return nil, err
	}
	n := max(4, runtime.NumCPU())
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)

	db := &DB{write: write, read: read}
	// Migrate before the read pool connects, so the writer is the one that
	// creates the file and switches it to WAL.
	if err := db.Migrate(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	db.keyByHash, err = read.Prepare(`SELECT ` + keyColumns + ` FROM api_keys k WHERE k.hash = ?`)
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func cloneValues(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// Migrate applies, in name order, every embedded migration not yet recorded
// in schema_migrations, each in its own transaction. It is idempotent and
// safe to run from several processes at once.
func (db *DB) Migrate(ctx context.Context) error {
	if _, err := db.write.ExecContext(ctx, `
		CREATE TABLE IF NOT EXISTS schema_migrations (
			name       TEXT    PRIMARY KEY,
			applied_at INTEGER NOT NULL
		) STRICT`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if err := db.migrate(ctx, name); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", name, err)
		}
	}
	return nil
}

func (db *DB) migrate(ctx context.Context, name string) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		// Checked inside the (immediate) transaction so that two processes
		// migrating at once cannot both apply the same file.
		var n int
		if err := tx.QueryRowContext(ctx,
			`SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`,
			name, time.Now().UnixMicro())
		return err
	})
}

// Ping reports whether both pools can reach the database file.
func (db *DB) Ping(ctx context.Context) error {
	for _, p := range []*sql.DB{db.read, db.write} {
		if _, err := p.ExecContext(ctx, `SELECT 1 FROM schema_migrations LIMIT 1`); err != nil {
			return err
		}
	}
	return nil
}

// Close closes both pools. The writer closes last so that SQLite can
// checkpoint the WAL into the main file.
func (db *DB) Close() error {
	var err error
	if db.keyByHash != nil {
		err = db.keyByHash.Close()
	}
	return errors.Join(err, db.read.Close(), db.write.Close())
}

// writeTx runs fn in a write transaction, committing if it returns nil. The
// error fn returns is passed through unchanged.
func (db *DB) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// deleteRows runs a DELETE and returns how many rows it removed.
func (db *DB) deleteRows(ctx context.Context, query string, args ...any) (int, error) {
	res, err := db.write.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// deleteOne runs a DELETE meant for one row and returns notFound when it
// matched none.
func deleteOne(ctx context.Context, q querier, notFound error, query string, args ...any) error {
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound
	}
	return nil
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// collect scans every remaining row with scan. No rows is an empty slice,
// never nil, as the stores promise.
func collect[T any](rows *sql.Rows, scan func(scanner) (*T, error)) ([]*T, error) {
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

// exists reports whether table has a row with the given id. table is always
// a constant from this package.
func exists(ctx context.Context, q querier, table, id string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE id = ?`, id).Scan(&n)
	return n > 0, err
}

// errorCode returns the extended SQLite result code of err, or 0.
func errorCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

func isUniqueViolation(err error) bool {
	c := errorCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func isForeignKeyViolation(err error) bool {
	return errorCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// conflict turns a unique violation into a CONFLICT error. SQLite names the
// violated columns ("UNIQUE constraint failed: users.email"), which picks the
// message from messages; "" is the default.
func conflict(err error, messages map[string]string) *latchkey.Error {
	msg := messages[""]
	for column, m := range messages {
		if column != "" && strings.Contains(err.Error(), column) {
			msg = m
		}
	}
	return &latchkey.Error{Code: latchkey.CodeConflict, Message: msg, Err: err}
}

// Times are stored as unix microseconds; reading one back gives UTC.

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMicros(n.Int64)
	return &t
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// hash copies a 32-byte BLOB into a [32]byte.
func hash(b []byte) ([32]byte, error) {
	var h [32]byte
	if len(b) != len(h) {
		return h, fmt.Errorf("sqlite: hash is %d bytes, want %d", len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}

// limit turns a page size into a SQL LIMIT; SQLite reads a negative LIMIT as
// no limit, which is what a size of zero or less gets.
func limit(n int) int {
	if n <= 0 {
		return -1
	}
	return n
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
