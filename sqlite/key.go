package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
)

var keyConflicts = map[string]string{
	"":              "API key already exists",
	"api_keys.hash": "API key hash already exists",
}

// keyColumns selects a key with its tenants as a JSON array in link order.
const keyColumns = `k.id, k.hash, k.masked, k.name, k.environment, k.permissions,
	k.owner_id, k.is_active, k.expires_at, k.revoked_at, k.created_at,
	k.last_used_at, k.request_count, k.rate_limit, k.rate_limit_window_ns,
	k.meta, k.rotated_from,
	(SELECT json_group_array(t.tenant_id ORDER BY t.position)
	 FROM api_key_tenants t WHERE t.key_id = k.id)`

// CreateKey stores k and its tenant links; CONFLICT if its ID or hash is
// taken, NOT_FOUND if its owner or one of its tenants does not exist.
func (db *DB) CreateKey(ctx context.Context, k *latchkey.Key) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error { return createKey(ctx, tx, k) })
}

func createKey(ctx context.Context, tx *sql.Tx, k *latchkey.Key) error {
	if ok, err := exists(ctx, tx, "users", k.OwnerID); err != nil {
		return err
	} else if !ok {
		return latchkey.NotFound("user")
	}
	permissions, meta, err := encodeKeyJSON(k)
	if err != nil {
		return err
	}
	limit, window := encodeRateLimit(k.RateLimit)
	_, err = tx.ExecContext(ctx, `
		INSERT INTO api_keys (
			id, hash, masked, name, environment, permissions, owner_id, is_active,
			expires_at, revoked_at, created_at, last_used_at, request_count,
			rate_limit, rate_limit_window_ns, meta, rotated_from
		) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Hash[:], k.Masked, k.Name, k.Environment, permissions, k.OwnerID, k.IsActive,
		nullMicros(k.ExpiresAt), nullMicros(k.RevokedAt), micros(k.CreatedAt),
		nullMicros(k.LastUsedAt), k.RequestCount,
		limit, window, meta, nullString(k.RotatedFrom))
	if isUniqueViolation(err) {
		return conflict(err, keyConflicts)
	}
	if err != nil {
		return err
	}
	return linkTenants(ctx, tx, k.ID, k.TenantIDs)
}

// linkTenants replaces the key's tenant links with tenantIDs, in order.
func linkTenants(ctx context.Context, tx *sql.Tx, keyID string, tenantIDs []string) error {
	if _, err := tx.ExecContext(ctx,
		`DELETE FROM api_key_tenants WHERE key_id = ?`, keyID); err != nil {
		return err
	}
	for i, tenantID := range dedupe(tenantIDs) {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO api_key_tenants (key_id, tenant_id, position) VALUES (?, ?, ?)`,
			keyID, tenantID, i)
		if isForeignKeyViolation(err) {
			return latchkey.NotFound("tenant")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Key returns the key with the given ID; NOT_FOUND if none.
func (db *DB) Key(ctx context.Context, id string) (*latchkey.Key, error) {
	return key(ctx, db.read, `k.id = ?`, id)
}

// KeyByHash returns the key with the given hash; NOT_FOUND if none.
func (db *DB) KeyByHash(ctx context.Context, hash [32]byte) (*latchkey.Key, error) {
	k, err := scanKey(db.keyByHash.QueryRowContext(ctx, hash[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, latchkey.ErrKeyNotFound
	}
	return k, err
}

func key(ctx context.Context, q querier, where string, arg any) (*latchkey.Key, error) {
	k, err := scanKey(q.QueryRowContext(ctx,
		`SELECT `+keyColumns+` FROM api_keys k WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, latchkey.ErrKeyNotFound
	}
	return k, err
}

// ListKeys returns the keys f selects, newest first: descending CreatedAt,
// then descending ID, so that f.Before is an exact keyset cursor.
func (db *DB) ListKeys(ctx context.Context, f latchkey.KeyFilter) ([]*latchkey.Key, error) {
	// Conditions are added only when used, so that SQLite can pick the
	// (owner_id, created_at, id) index.
	var (
		where []string
		args  []any
	)
	if f.OwnerID != "" {
		where = append(where, `k.owner_id = ?`)
		args = append(args, f.OwnerID)
	}
	if f.Environment != "" {
		where = append(where, `k.environment = ?`)
		args = append(args, f.Environment)
	}
	if f.TenantID != "" {
		where = append(where, `EXISTS (SELECT 1 FROM api_key_tenants t
			WHERE t.key_id = k.id AND t.tenant_id = ?)`)
		args = append(args, f.TenantID)
	}
	if f.Before != nil {
		where = append(where, `(k.created_at, k.id) < (?, ?)`)
		args = append(args, micros(f.Before.CreatedAt), f.Before.ID)
	}
	query := `SELECT ` + keyColumns + ` FROM api_keys k`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY k.created_at DESC, k.id DESC LIMIT ?`
	args = append(args, limit(f.Limit))

	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return collect(rows, scanKey)
}

// UpdateKey applies fn and writes back the key's mutable fields in one
// transaction.
func (db *DB) UpdateKey(ctx context.Context, id string, fn func(*latchkey.Key) error) (*latchkey.Key, error) {
	var out *latchkey.Key
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		k, err := key(ctx, tx, `k.id = ?`, id)
		if err != nil {
			return err
		}
		if err := fn(k); err != nil {
			return err
		}
		if err := updateKey(ctx, tx, id, k); err != nil {
			return err
		}
		out, err = key(ctx, tx, `k.id = ?`, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// updateKey writes k's mutable fields to the key with the given ID and
// records the change; every other field of k is ignored.
func updateKey(ctx context.Context, tx *sql.Tx, id string, k *latchkey.Key) error {
	permissions, meta, err := encodeKeyJSON(k)
	if err != nil {
		return err
	}
	limit, window := encodeRateLimit(k.RateLimit)
	if _, err := tx.ExecContext(ctx, `
		UPDATE api_keys SET
			name = ?, permissions = ?, is_active = ?, expires_at = ?, revoked_at = ?,
			rate_limit = ?, rate_limit_window_ns = ?, meta = ?
		WHERE id = ?`,
		k.Name, permissions, k.IsActive, nullMicros(k.ExpiresAt), nullMicros(k.RevokedAt),
		limit, window, meta, id); err != nil {
		return err
	}
	if err := linkTenants(ctx, tx, id, k.TenantIDs); err != nil {
		return err
	}
	return recordChange(ctx, tx, id)
}

// RotateKey, in one transaction, applies fn to the key, writes the old key
// back as UpdateKey does and creates the replacement fn returns.
func (db *DB) RotateKey(ctx context.Context, id string, fn func(old *latchkey.Key) (*latchkey.Key, error)) (*latchkey.Key, error) {
	var out *latchkey.Key
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		old, err := key(ctx, tx, `k.id = ?`, id)
		if err != nil {
			return err
		}
		next, err := fn(old)
		if err != nil {
			return err
		}
		if next == nil {
			return errors.New("sqlite: RotateKey: fn returned no replacement key")
		}
		if err := updateKey(ctx, tx, id, old); err != nil {
			return err
		}
		if err := createKey(ctx, tx, next); err != nil {
			return err
		}
		out, err = key(ctx, tx, `k.id = ?`, next.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteKey removes the key and its tenant links; NOT_FOUND if none.
func (db *DB) DeleteKey(ctx context.Context, id string) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if err := deleteOne(ctx, tx, latchkey.ErrKeyNotFound, `DELETE FROM api_keys WHERE id = ?`, id); err != nil {
			return err
		}
		return recordChange(ctx, tx, id)
	})
}

// AddUsage applies the whole batch in one transaction. Counts are added in
// SQL, not read and written back, and last_used_at only moves forward.
func (db *DB) AddUsage(ctx context.Context, batch []latchkey.Usage) error {
	if len(batch) == 0 {
		return nil
	}
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `
			UPDATE api_keys SET
				request_count = request_count + ?1,
				last_used_at = CASE
					WHEN last_used_at IS NULL OR last_used_at < ?2 THEN ?2
					ELSE last_used_at
				END
			WHERE id = ?3`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, u := range batch {
			// A zero time carries no information: add the count only.
			var lastUsed sql.NullInt64
			if !u.LastUsedAt.IsZero() {
				lastUsed = sql.NullInt64{Int64: micros(u.LastUsedAt), Valid: true}
			}
			// Unknown IDs update no row, which is what the contract asks.
			if _, err := stmt.ExecContext(ctx, u.Count, lastUsed, u.KeyID); err != nil {
				return err
			}
		}
		return nil
	})
}

func encodeKeyJSON(k *latchkey.Key) (permissions, meta string, err error) {
	p := k.Permissions
	if p == nil {
		p = []string{}
	}
	pb, err := json.Marshal(p)
	if err != nil {
		return "", "", err
	}
	m := k.Meta
	if m == nil {
		m = map[string]any{}
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return "", "", err
	}
	return string(pb), string(mb), nil
}

func encodeRateLimit(rl *latchkey.RateLimit) (limit, window sql.NullInt64) {
	if rl == nil {
		return limit, window
	}
	return sql.NullInt64{Int64: int64(rl.Limit), Valid: true},
		sql.NullInt64{Int64: int64(rl.Window), Valid: true}
}

func scanKey(s scanner) (*latchkey.Key, error) {
	var (
		k                    latchkey.Key
		hashBytes            []byte
		permissions, meta    string
		tenantIDs            string
		rotatedFrom          sql.NullString
		createdAt            int64
		expiresAt, revokedAt sql.NullInt64
		lastUsedAt           sql.NullInt64
		limit, window        sql.NullInt64
	)
	if err := s.Scan(&k.ID, &hashBytes, &k.Masked, &k.Name, &k.Environment, &permissions,
		&k.OwnerID, &k.IsActive, &expiresAt, &revokedAt, &createdAt,
		&lastUsedAt, &k.RequestCount, &limit, &window,
		&meta, &rotatedFrom, &tenantIDs); err != nil {
		return nil, err
	}
	var err error
	if k.Hash, err = hash(hashBytes); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(permissions), &k.Permissions); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tenantIDs), &k.TenantIDs); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(meta), &k.Meta); err != nil {
		return nil, err
	}
	k.ExpiresAt = fromNullMicros(expiresAt)
	k.RevokedAt = fromNullMicros(revokedAt)
	k.CreatedAt = fromMicros(createdAt)
	k.LastUsedAt = fromNullMicros(lastUsedAt)
	if limit.Valid {
		k.RateLimit = &latchkey.RateLimit{Limit: int(limit.Int64), Window: time.Duration(window.Int64)}
	}
	k.RotatedFrom = rotatedFrom.String
	return &k, nil
}
