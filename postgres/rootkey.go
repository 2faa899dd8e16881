package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
)

var rootKeyConflicts = map[string]string{
	"":                   "root key already exists",
	"root_keys_hash_key": "root key hash already exists",
}

const rootKeyColumns = `id, name, hash, masked, scopes, created_at`

// CreateRootKey stores k; CONFLICT if its ID or hash is taken.
func (db *DB) CreateRootKey(ctx context.Context, k *latchkey.RootKey) error {
	_, err := db.pool.Exec(ctx, `
		INSERT INTO root_keys (id, name, hash, masked, scopes, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.Name, k.Hash[:], k.Masked, strs(k.Scopes), ts(k.CreatedAt))
	if isUniqueViolation(err) {
		return conflict(err, rootKeyConflicts)
	}
	return err
}

// RootKeyByHash returns the root key with the given hash; NOT_FOUND if none.
func (db *DB) RootKeyByHash(ctx context.Context, hash [32]byte) (*latchkey.RootKey, error) {
	k, err := scanRootKey(db.pool.QueryRow(ctx,
		`SELECT `+rootKeyColumns+` FROM root_keys WHERE hash = $1`, hash[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, latchkey.NotFound("root key")
	}
	return k, err
}

// ListRootKeys returns every root key, oldest first.
func (db *DB) ListRootKeys(ctx context.Context) ([]*latchkey.RootKey, error) {
	rows, err := db.pool.Query(ctx,
		`SELECT `+rootKeyColumns+` FROM root_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return collect(rows, scanRootKey)
}

// DeleteRootKey removes the root key; NOT_FOUND if none. Nodes cache root
// keys by hash, not ID: every node drops its whole cache.
func (db *DB) DeleteRootKey(ctx context.Context, id string) error {
	return db.writeTx(ctx, func(tx pgx.Tx) error {
		if err := deleteOne(ctx, tx, latchkey.NotFound("root key"), `DELETE FROM root_keys WHERE id = $1`, id); err != nil {
			return err
		}
		return notify(ctx, tx, changedAll)
	})
}

func scanRootKey(s scanner) (*latchkey.RootKey, error) {
	var (
		k         latchkey.RootKey
		hashBytes []byte
	)
	if err := s.Scan(&k.ID, &k.Name, &hashBytes, &k.Masked, &k.Scopes, &k.CreatedAt); err != nil {
		return nil, err
	}
	var err error
	if k.Hash, err = hash(hashBytes); err != nil {
		return nil, err
	}
	k.Scopes = strs(k.Scopes)
	k.CreatedAt = k.CreatedAt.UTC()
	return &k, nil
}
