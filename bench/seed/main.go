// Command seed fills a Latchkey SQLite database with many API keys, fast,
// so the load benchmark can compare verification with 1 key and with
// 1,000,000 keys in the store (bench/load.sh, KEYS=…).
//
// It opens the database through sqlite.Open first, so the schema is the one
// Latchkey's migrations create, then inserts every key in one transaction
// with prepared statements. The secrets are generated with apikey.Generate
// and thrown away: only their SHA-256 is stored, as Latchkey does.
//
//	go run ./bench/seed -db /tmp/lk.db -user bench -n 1000000
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apikey"
	"github.com/latchkey/latchkey/sqlite"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "seed:", err)
		os.Exit(1)
	}
}

func run() error {
	path := flag.String("db", "", "SQLite database file (created and migrated if needed)")
	n := flag.Int("n", 1_000_000, "number of keys to insert")
	user := flag.String("user", "", "owner of the keys: an existing user ID (required)")
	tenant := flag.String("tenant", "", "link every key to this existing tenant (optional)")
	prefix := flag.String("prefix", "lk", "key prefix")
	flag.Parse()
	if *path == "" || *user == "" {
		flag.Usage()
		return fmt.Errorf("-db and -user are required")
	}

	// The schema comes from Latchkey's own migrations.
	db, err := sqlite.Open(*path)
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}

	// A bulk load on a scratch database: durability is not needed until
	// the final commit, and foreign keys are checked once, explicitly.
	q := url.Values{"_pragma": {"busy_timeout(5000)", "synchronous(OFF)", "cache_size(-262144)", "foreign_keys(1)"}}
	conn, err := sql.Open("sqlite", "file:"+(&url.URL{Path: *path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)

	ctx := context.Background()
	start := time.Now()
	if err := insert(ctx, conn, *n, *user, *tenant, *prefix); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seed: inserted %d keys in %s\n", *n, time.Since(start).Round(time.Millisecond))
	// stdout: how many keys the store holds now, for the caller's report.
	var total int
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM api_keys`).Scan(&total); err != nil {
		return err
	}
	fmt.Println(total)
	return nil
}

func insert(ctx context.Context, conn *sql.DB, n int, user, tenant, prefix string) (err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var ok int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE id = ?`, user).Scan(&ok); err != nil {
		return err
	}
	if ok == 0 {
		return fmt.Errorf("user %q does not exist; create it first (latchkey users create --id %s)", user, user)
	}
	key, err := tx.PrepareContext(ctx, `
		INSERT INTO api_keys (id, hash, masked, name, environment, permissions, owner_id,
			is_active, created_at, request_count, meta)
		VALUES (?, ?, ?, ?, 'live', '[]', ?, 1, ?, 0, '{}')`)
	if err != nil {
		return err
	}
	defer key.Close()
	link, err := tx.PrepareContext(ctx,
		`INSERT INTO api_key_tenants (key_id, tenant_id, position) VALUES (?, ?, 0)`)
	if err != nil {
		return err
	}
	defer link.Close()

	created := time.Now().UTC().Add(-time.Hour).UnixMicro()
	for i := range n {
		k, err := apikey.Generate(prefix, apikey.Live)
		if err != nil {
			return err
		}
		h := k.Hash()
		id := latchkey.NewID("key")
		// Distinct creation times keep the list indexes realistic.
		if _, err := key.ExecContext(ctx, id, h[:], k.Masked(), fmt.Sprintf("seed %d", i), user, created+int64(i)); err != nil {
			return fmt.Errorf("key %d: %w", i, err)
		}
		if tenant != "" {
			if _, err := link.ExecContext(ctx, id, tenant); err != nil {
				return fmt.Errorf("key %d: link tenant %q: %w", i, tenant, err)
			}
		}
	}
	return tx.Commit()
}
