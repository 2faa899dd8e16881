// Package bench holds Latchkey's benchmarks: the load script (load.sh), its
// helper programs (cmd/) and the in-process benchmarks of this package.
package bench

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apikey"
	"github.com/latchkey/latchkey/sqlite"
)

// Seed describes a bulk load of API keys into a Latchkey SQLite database.
type Seed struct {
	Path   string // database file; created and migrated if needed
	N      int    // number of keys
	Owner  string // an existing user ID
	Tenant string // an existing tenant every key is linked to; "" for none
	Prefix string // key prefix; "lk" when empty
	// Secret, when set, receives each generated secret. Otherwise the
	// secrets are thrown away: the store only ever holds their SHA-256.
	Secret func(string)
}

// Run inserts the keys in one transaction with prepared statements: a
// million take seconds, where the API would take hours. The schema is the
// one Latchkey's migrations create (sqlite.Open runs them first) and the
// rows are those sqlite.DB.CreateKey writes. It returns the number of keys
// the store holds afterwards.
func (s Seed) Run(ctx context.Context) (total int, err error) {
	if s.Prefix == "" {
		s.Prefix = "lk"
	}
	db, err := sqlite.Open(s.Path)
	if err != nil {
		return 0, err
	}
	if err := db.Close(); err != nil {
		return 0, err
	}

	// A bulk load: durability matters only at the final commit.
	q := url.Values{"_pragma": {"busy_timeout(5000)", "synchronous(OFF)", "cache_size(-262144)", "foreign_keys(1)"}}
	conn, err := sql.Open("sqlite", "file:"+(&url.URL{Path: s.Path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetMaxOpenConns(1)

	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var owners int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE id = ?`, s.Owner).Scan(&owners); err != nil {
		return 0, err
	}
	if owners == 0 {
		return 0, fmt.Errorf("user %q does not exist; create it first (latchkey users create --id %s)", s.Owner, s.Owner)
	}
	key, err := tx.PrepareContext(ctx, `
		INSERT INTO api_keys (id, hash, masked, name, environment, permissions, owner_id,
			is_active, created_at, request_count, meta)
		VALUES (?, ?, ?, ?, 'live', '[]', ?, 1, ?, 0, '{}')`)
	if err != nil {
		return 0, err
	}
	defer key.Close()
	link, err := tx.PrepareContext(ctx,
		`INSERT INTO api_key_tenants (key_id, tenant_id, position) VALUES (?, ?, 0)`)
	if err != nil {
		return 0, err
	}
	defer link.Close()

	created := time.Now().UnixMicro()
	for i := range s.N {
		k, err := apikey.Generate(s.Prefix, apikey.Live)
		if err != nil {
			return 0, err
		}
		h := k.Hash()
		id := latchkey.NewID("key")
		// Distinct creation times keep the listing indexes realistic.
		if _, err := key.ExecContext(ctx, id, h[:], k.Masked(), fmt.Sprintf("seed %d", i), s.Owner, created-int64(s.N-i)); err != nil {
			return 0, fmt.Errorf("key %d: %w", i, err)
		}
		if s.Tenant != "" {
			if _, err := link.ExecContext(ctx, id, s.Tenant); err != nil {
				return 0, fmt.Errorf("key %d: link tenant %q: %w", i, s.Tenant, err)
			}
		}
		if s.Secret != nil {
			s.Secret(k.String())
		}
	}
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM api_keys`).Scan(&total); err != nil {
		return 0, err
	}
	return total, tx.Commit()
}
