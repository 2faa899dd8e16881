package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/latchkey/latchkey"
)

var rootKeyConflicts = map[string]string{
	"":               "root key already exists",
	"root_keys.hash": "root key hash already exists",
}

const rootKeyColumns = `id, name, hash, masked, scopes, created_at`

// CreateRootKey stores k; CONFLICT if its ID or hash is taken.
func (db *DB) CreateRootKey(ctx context.Context, k *latchkey.RootKey) error {
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	b, err := json.Marshal(scopes)
	if err != nil {
		return err
	}
	_, err = db.write.ExecContext(ctx, `
		INSERT INTO root_keys (id, name, hash, masked, scopes, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
		k.ID, k.Name, k.Hash[:], k.Masked, string(b), micros(k.CreatedAt))
	if isUniqueViolation(err) {
		return conflict(err, rootKeyConflicts)
	}
	return err
}

// RootKeyByHash returns the root key with the given hash; NOT_FOUND if none.
func (db *DB) RootKeyByHash(ctx context.Context, hash [32]byte) (*latchkey.RootKey, error) {
	k, err := scanRootKey(db.read.QueryRowContext(ctx,
		`SELECT `+rootKeyColumns+` FROM root_keys WHERE hash = ?`, hash[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, latchkey.NotFound("root key")
	}
	return k, err
}

// ListRootKeys returns every root key, oldest first.
func (db *DB) ListRootKeys(ctx context.Context) ([]*latchkey.RootKey, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT `+rootKeyColumns+` FROM root_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return collect(rows, scanRootKey)
}

// DeleteRootKey removes the root key; NOT_FOUND if none. Servers cache root
// keys by hash, which the feed cannot name: the change is to everything.
func (db *DB) DeleteRootKey(ctx context.Context, id string) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if err := deleteOne(ctx, tx, latchkey.NotFound("root key"), `DELETE FROM root_keys WHERE id = ?`, id); err != nil {
			return err
		}
		return recordChange(ctx, tx, changedAll)
	})
}

func scanRootKey(s scanner) (*latchkey.RootKey, error) {
	var (
		k         latchkey.RootKey
		hashBytes []byte
		scopes    string
		createdAt int64
	)
	if err := s.Scan(&k.ID, &k.Name, &hashBytes, &k.Masked, &scopes, &createdAt); err != nil {
		return nil, err
	}
	var err error
	if k.Hash, err = hash(hashBytes); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return nil, err
	}
	k.CreatedAt = fromMicros(createdAt)
	return &k, nil
}
