package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
)

var keyConflicts = map[string]string{
	"":                  "API key already exists",
	"api_keys_hash_key": "API key hash already exists",
}

// keyColumns selects a key with its tenants in link order.
const keyColumns = `k.id, k.hash, k.masked, k.name, k.environment, k.permissions,
	k.owner_id, k.is_active, k.expires_at, k.revoked_at, k.created_at,
	k.last_used_at, k.request_count, k.rate_limit, k.rate_limit_window_ns,
	k.meta, k.rotated_from,
	ARRAY(SELECT t.tenant_id FROM api_key_tenants t WHERE t.key_id = k.id ORDER BY t.position)`

// CreateKey stores k and its tenant links; CONFLICT if its ID or hash is
// taken, NOT_FOUND if its owner or one of its tenants does not exist.
func (db *DB) CreateKey(ctx context.Context, k *latchkey.Key) error {
	return db.writeTx(ctx, func(tx pgx.Tx) error { return createKey(ctx, tx, k) })
}

func createKey(ctx context.Context, tx pgx.Tx, k *latchkey.Key) error {
	if ok, err := exists(ctx, tx, "users", k.OwnerID); err != nil {
		return err
	} else if !ok {
		return latchkey.NotFound("user")
	}
	meta, err := encodeMeta(k.Meta)
	if err != nil {
		return err
	}
	limit, window := encodeRateLimit(k.RateLimit)
	_, err = tx.Exec(ctx, `
		INSERT INTO api_keys (
			id, hash, masked, name, environment, permissions, owner_id, is_active,
			expires_at, revoked_at, created_at, last_used_at, request_count,
			rate_limit, rate_limit_window_ns, meta, rotated_from
		) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		k.ID, k.Hash[:], k.Masked, k.Name, k.Environment, strs(k.Permissions), k.OwnerID, k.IsActive,
		nullTS(k.ExpiresAt), nullTS(k.RevokedAt), ts(k.CreatedAt),
		nullTS(k.LastUsedAt), k.RequestCount,
		limit, window, meta, nullString(k.RotatedFrom))
	switch {
	case isUniqueViolation(err):
		return conflict(err, keyConflicts)
	case isForeignKeyViolation(err): // the owner went meanwhile
		return latchkey.NotFound("user")
	case err != nil:
		return err
	}
	return linkTenants(ctx, tx, k.ID, k.TenantIDs)
}

// linkTenants replaces the key's tenant links with tenantIDs, in order.
func linkTenants(ctx context.Context, tx pgx.Tx, keyID string, tenantIDs []string) error {
	if _, err := tx.Exec(ctx,
		`DELETE FROM api_key_tenants WHERE key_id = $1`, keyID); err != nil {
		return err
	}
	ids := dedupe(tenantIDs)
	if len(ids) == 0 {
		return nil
	}
	// One statement for all links; WITH ORDINALITY numbers them in order.
	_, err := tx.Exec(ctx, `
		INSERT INTO api_key_tenants (key_id, tenant_id, position)
		SELECT $1, t.id, t.n - 1 FROM unnest($2::text[]) WITH ORDINALITY AS t(id, n)`,
		keyID, ids)
	if isForeignKeyViolation(err) {
		return latchkey.NotFound("tenant")
	}
	return err
}

// Key returns the key with the given ID; NOT_FOUND if none.
func (db *DB) Key(ctx context.Context, id string) (*latchkey.Key, error) {
	return key(ctx, db.pool, `k.id = $1`, id)
}

// KeyByHash returns the key with the given hash; NOT_FOUND if none. It
// runs on every verification that misses the cache: one indexed query, its
// statement prepared once per connection by pgx.
func (db *DB) KeyByHash(ctx context.Context, hash [32]byte) (*latchkey.Key, error) {
	return key(ctx, db.pool, `k.hash = $1`, hash[:])
}

func key(ctx context.Context, q querier, where string, arg any) (*latchkey.Key, error) {
	k, err := scanKey(q.QueryRow(ctx,
		`SELECT `+keyColumns+` FROM api_keys k WHERE `+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, latchkey.ErrKeyNotFound
	}
	return k, err
}

// ListKeys returns the keys f selects, newest first: descending CreatedAt,
// then descending ID, so that f.Before is an exact keyset cursor.
func (db *DB) ListKeys(ctx context.Context, f latchkey.KeyFilter) ([]*latchkey.Key, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.OwnerID != "" {
		where = append(where, `k.owner_id = `+arg(f.OwnerID))
	}
	if f.Environment != "" {
		where = append(where, `k.environment = `+arg(f.Environment))
	}
	if f.TenantID != "" {
		where = append(where, `EXISTS (SELECT 1 FROM api_key_tenants t
			WHERE t.key_id = k.id AND t.tenant_id = `+arg(f.TenantID)+`)`)
	}
	if f.Before != nil {
		where = append(where, `(k.created_at, k.id) < (`+arg(ts(f.Before.CreatedAt))+`, `+arg(f.Before.ID)+`)`)
	}
	query := `SELECT ` + keyColumns + ` FROM api_keys k`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY k.created_at DESC, k.id DESC LIMIT ` + arg(limit(f.Limit))

	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return collect(rows, scanKey)
}

// lockedKey reads the key for update: the row stays locked until the
// transaction ends, so concurrent read-modify-writes on any node run one
// after the other.
func lockedKey(ctx context.Context, tx pgx.Tx, id string) (*latchkey.Key, error) {
	return key(ctx, tx, `k.id = $1 FOR NO KEY UPDATE OF k`, id)
}

// UpdateKey applies fn to the key, locked, and writes back its mutable
// fields in one transaction; every node drops the key from its cache.
func (db *DB) UpdateKey(ctx context.Context, id string, fn func(*latchkey.Key) error) (*latchkey.Key, error) {
	var out *latchkey.Key
	err := db.writeTx(ctx, func(tx pgx.Tx) error {
		k, err := lockedKey(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := fn(k); err != nil {
			return err
		}
		if err := updateKey(ctx, tx, id, k); err != nil {
			return err
		}
		out, err = key(ctx, tx, `k.id = $1`, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// updateKey writes k's mutable fields to the key with the given ID and
// notifies the change; every other field of k is ignored.
func updateKey(ctx context.Context, tx pgx.Tx, id string, k *latchkey.Key) error {
	meta, err := encodeMeta(k.Meta)
	if err != nil {
		return err
	}
	limit, window := encodeRateLimit(k.RateLimit)
	if _, err := tx.Exec(ctx, `
		UPDATE api_keys SET
			name = $1, permissions = $2, is_active = $3, expires_at = $4, revoked_at = $5,
			rate_limit = $6, rate_limit_window_ns = $7, meta = $8
		WHERE id = $9`,
		k.Name, strs(k.Permissions), k.IsActive, nullTS(k.ExpiresAt), nullTS(k.RevokedAt),
		limit, window, meta, id); err != nil {
		return err
	}
	if err := linkTenants(ctx, tx, id, k.TenantIDs); err != nil {
		return err
	}
	return notify(ctx, tx, id)
}

// RotateKey, in one transaction, applies fn to the key, locked, writes the
// old key back as UpdateKey does and creates the replacement fn returns.
func (db *DB) RotateKey(ctx context.Context, id string, fn func(old *latchkey.Key) (*latchkey.Key, error)) (*latchkey.Key, error) {
	var out *latchkey.Key
	err := db.writeTx(ctx, func(tx pgx.Tx) error {
		old, err := lockedKey(ctx, tx, id)
		if err != nil {
			return err
		}
		next, err := fn(old)
		if err != nil {
			return err
		}
		if next == nil {
			return errors.New("postgres: RotateKey: fn returned no replacement key")
		}
		if err := updateKey(ctx, tx, id, old); err != nil {
			return err
		}
		if err := createKey(ctx, tx, next); err != nil {
			return err
		}
		out, err = key(ctx, tx, `k.id = $1`, next.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteKey removes the key and its tenant links; NOT_FOUND if none.
func (db *DB) DeleteKey(ctx context.Context, id string) error {
	return db.writeTx(ctx, func(tx pgx.Tx) error {
		if err := deleteOne(ctx, tx, latchkey.ErrKeyNotFound, `DELETE FROM api_keys WHERE id = $1`, id); err != nil {
			return err
		}
		return notify(ctx, tx, id)
	})
}

// AddUsage applies the whole batch in one transaction. Counts are added in
// SQL (request_count + n), never read and written back, and last_used_at
// only moves forward, so increments from every node add up exactly.
func (db *DB) AddUsage(ctx context.Context, batch []latchkey.Usage) error {
	if len(batch) == 0 {
		return nil
	}
	// One row per key: the counts summed, the latest time kept.
	type sum struct {
		n    int64
		last time.Time
	}
	sums := make(map[string]*sum, len(batch))
	for _, u := range batch {
		s := sums[u.KeyID]
		if s == nil {
			s = &sum{}
			sums[u.KeyID] = s
		}
		s.n += u.Count
		if u.LastUsedAt.After(s.last) {
			s.last = u.LastUsedAt
		}
	}
	// Sorted, so that two nodes flushing overlapping batches lock the rows
	// in the same order and never deadlock.
	ids := make([]string, 0, len(sums))
	for id := range sums {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	counts := make([]int64, len(ids))
	lasts := make([]*time.Time, len(ids))
	for i, id := range ids {
		counts[i] = sums[id].n
		if t := sums[id].last; !t.IsZero() { // a zero time carries no information
			lasts[i] = nullTS(&t)
		}
	}
	return db.writeTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			SELECT 1 FROM api_keys WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE`,
			ids); err != nil {
			return err
		}
		// Unknown IDs join no row, which is what the contract asks.
		_, err := tx.Exec(ctx, `
			UPDATE api_keys k SET
				request_count = k.request_count + u.n,
				last_used_at = GREATEST(k.last_used_at, u.last)
			FROM unnest($1::text[], $2::bigint[], $3::timestamptz[]) AS u(id, n, last)
			WHERE k.id = u.id`,
			ids, counts, lasts)
		return err
	})
}

func encodeMeta(m map[string]any) ([]byte, error) {
	if m == nil {
		m = map[string]any{}
	}
	return json.Marshal(m)
}

func encodeRateLimit(rl *latchkey.RateLimit) (limit, window *int64) {
	if rl == nil {
		return nil, nil
	}
	l, w := int64(rl.Limit), int64(rl.Window)
	return &l, &w
}

func scanKey(s scanner) (*latchkey.Key, error) {
	var (
		k             latchkey.Key
		hashBytes     []byte
		meta          []byte
		rotatedFrom   *string
		limit, window *int64
	)
	if err := s.Scan(&k.ID, &hashBytes, &k.Masked, &k.Name, &k.Environment, &k.Permissions,
		&k.OwnerID, &k.IsActive, &k.ExpiresAt, &k.RevokedAt, &k.CreatedAt,
		&k.LastUsedAt, &k.RequestCount, &limit, &window,
		&meta, &rotatedFrom, &k.TenantIDs); err != nil {
		return nil, err
	}
	var err error
	if k.Hash, err = hash(hashBytes); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(meta, &k.Meta); err != nil {
		return nil, err
	}
	if k.Meta == nil {
		k.Meta = map[string]any{}
	}
	k.Permissions = strs(k.Permissions)
	k.TenantIDs = strs(k.TenantIDs)
	k.CreatedAt = k.CreatedAt.UTC()
	k.ExpiresAt = utc(k.ExpiresAt)
	k.RevokedAt = utc(k.RevokedAt)
	k.LastUsedAt = utc(k.LastUsedAt)
	if limit != nil && window != nil {
		k.RateLimit = &latchkey.RateLimit{Limit: int(*limit), Window: time.Duration(*window)}
	}
	if rotatedFrom != nil {
		k.RotatedFrom = *rotatedFrom
	}
	return &k, nil
}
