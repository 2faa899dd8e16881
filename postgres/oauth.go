package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
)

var oauthClientConflicts = map[string]string{"": "OAuth client already exists"}

const oauthClientColumns = `id, name, secret_hash, scopes, tenant_id, disabled, created_at`

// CreateOAuthClient stores c; CONFLICT if its ID is taken, NOT_FOUND if its
// tenant does not exist.
func (db *DB) CreateOAuthClient(ctx context.Context, c *latchkey.OAuthClient) error {
	_, err := db.pool.Exec(ctx, `
		INSERT INTO oauth_clients (`+oauthClientColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		c.ID, c.Name, c.SecretHash[:], strs(c.Scopes), nullString(c.TenantID), c.Disabled, ts(c.CreatedAt))
	switch {
	case isUniqueViolation(err):
		return conflict(err, oauthClientConflicts)
	case isForeignKeyViolation(err):
		return &latchkey.Error{Code: latchkey.CodeNotFound, Message: "tenant not found", Err: err}
	}
	return err
}

// OAuthClient returns the client with the given ID; NOT_FOUND if none.
func (db *DB) OAuthClient(ctx context.Context, id string) (*latchkey.OAuthClient, error) {
	return oauthClient(ctx, db.pool, id, "")
}

func oauthClient(ctx context.Context, q querier, id, lock string) (*latchkey.OAuthClient, error) {
	c, err := scanOAuthClient(q.QueryRow(ctx,
		`SELECT `+oauthClientColumns+` FROM oauth_clients WHERE id = $1 `+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, latchkey.NotFound("OAuth client")
	}
	return c, err
}

// ListOAuthClients returns a page of clients in ascending ID order.
func (db *DB) ListOAuthClients(ctx context.Context, p latchkey.Page) ([]*latchkey.OAuthClient, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT `+oauthClientColumns+` FROM oauth_clients
		WHERE id > $1
		ORDER BY id
		LIMIT $2`, p.After, limit(p.Limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return collect(rows, scanOAuthClient)
}

// UpdateOAuthClient applies fn to the client, locked, and writes back the
// mutable fields in one transaction. Nodes cache clients, which the feed
// cannot name: the change notified is to everything.
func (db *DB) UpdateOAuthClient(ctx context.Context, id string, fn func(*latchkey.OAuthClient) error) (*latchkey.OAuthClient, error) {
	var out *latchkey.OAuthClient
	err := db.writeTx(ctx, func(tx pgx.Tx) error {
		c, err := oauthClient(ctx, tx, id, "FOR NO KEY UPDATE")
		if err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			UPDATE oauth_clients SET name = $1, secret_hash = $2, scopes = $3, disabled = $4
			WHERE id = $5`,
			c.Name, c.SecretHash[:], strs(c.Scopes), c.Disabled, id); err != nil {
			return err
		}
		if err := notify(ctx, tx, changedAll); err != nil {
			return err
		}
		out, err = oauthClient(ctx, tx, id, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteOAuthClient removes the client; NOT_FOUND if none.
func (db *DB) DeleteOAuthClient(ctx context.Context, id string) error {
	return db.writeTx(ctx, func(tx pgx.Tx) error {
		if err := deleteOne(ctx, tx, latchkey.NotFound("OAuth client"), `DELETE FROM oauth_clients WHERE id = $1`, id); err != nil {
			return err
		}
		return notify(ctx, tx, changedAll)
	})
}

func scanOAuthClient(s scanner) (*latchkey.OAuthClient, error) {
	var (
		c         latchkey.OAuthClient
		hashBytes []byte
		tenantID  *string
	)
	if err := s.Scan(&c.ID, &c.Name, &hashBytes, &c.Scopes, &tenantID, &c.Disabled, &c.CreatedAt); err != nil {
		return nil, err
	}
	var err error
	if c.SecretHash, err = hash(hashBytes); err != nil {
		return nil, err
	}
	c.Scopes = strs(c.Scopes)
	if tenantID != nil {
		c.TenantID = *tenantID
	}
	c.CreatedAt = c.CreatedAt.UTC()
	return &c, nil
}

// ---- Signing keys ----

const signingKeyColumns = `id, algorithm, public_key, private_key, created_at, retired_at`

// lockSigningKeys serialises changes to the signing keys across nodes (two
// nodes starting on an empty database must agree on one key) while letting
// readers through.
func lockSigningKeys(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `LOCK TABLE oauth_signing_keys IN EXCLUSIVE MODE`)
	return err
}

func insertSigningKey(ctx context.Context, tx pgx.Tx, k *latchkey.SigningKey) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO oauth_signing_keys (`+signingKeyColumns+`)
		VALUES ($1, $2, $3, $4, $5, NULL)`,
		k.ID, k.Algorithm, k.PublicKey, k.PrivateKey, ts(k.CreatedAt))
	if isUniqueViolation(err) {
		return conflict(err, map[string]string{"": "signing key already exists"})
	}
	return err
}

func activeSigningKey(ctx context.Context, q querier) (*latchkey.SigningKey, error) {
	k, err := scanSigningKey(q.QueryRow(ctx,
		`SELECT `+signingKeyColumns+` FROM oauth_signing_keys WHERE retired_at IS NULL`))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, latchkey.NotFound("signing key")
	}
	return k, err
}

// InitSigningKey stores k as the active key unless there is one already,
// and returns the active key.
func (db *DB) InitSigningKey(ctx context.Context, k *latchkey.SigningKey) (*latchkey.SigningKey, error) {
	var out *latchkey.SigningKey
	err := db.writeTx(ctx, func(tx pgx.Tx) error {
		if err := lockSigningKeys(ctx, tx); err != nil {
			return err
		}
		var err error
		out, err = activeSigningKey(ctx, tx)
		if latchkey.ErrorCode(err) != latchkey.CodeNotFound {
			return err
		}
		if err := insertSigningKey(ctx, tx, k); err != nil {
			return err
		}
		out, err = activeSigningKey(ctx, tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RotateSigningKey retires the active key at k.CreatedAt and stores k as
// the active key, in one transaction.
func (db *DB) RotateSigningKey(ctx context.Context, k *latchkey.SigningKey) error {
	return db.writeTx(ctx, func(tx pgx.Tx) error {
		if err := lockSigningKeys(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx,
			`UPDATE oauth_signing_keys SET retired_at = $1 WHERE retired_at IS NULL`,
			ts(k.CreatedAt)); err != nil {
			return err
		}
		return insertSigningKey(ctx, tx, k)
	})
}

// SigningKeys returns every stored key: the active one, then the retired
// ones, most recently retired first.
func (db *DB) SigningKeys(ctx context.Context) ([]*latchkey.SigningKey, error) {
	rows, err := db.pool.Query(ctx,
		`SELECT `+signingKeyColumns+` FROM oauth_signing_keys
		ORDER BY retired_at IS NOT NULL, retired_at DESC, created_at DESC, id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return collect(rows, scanSigningKey)
}

// DeleteSigningKeys removes the keys retired before t.
func (db *DB) DeleteSigningKeys(ctx context.Context, retiredBefore time.Time) (int, error) {
	return db.deleteRows(ctx,
		`DELETE FROM oauth_signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1`,
		ts(retiredBefore))
}

func scanSigningKey(s scanner) (*latchkey.SigningKey, error) {
	var k latchkey.SigningKey
	if err := s.Scan(&k.ID, &k.Algorithm, &k.PublicKey, &k.PrivateKey, &k.CreatedAt, &k.RetiredAt); err != nil {
		return nil, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.RetiredAt = utc(k.RetiredAt)
	return &k, nil
}

// ---- Revoked tokens ----

// RevokeToken adds t to the deny-list; a second revocation keeps the first.
// Nodes cache "not revoked" answers, which the feed cannot name: the
// change notified is to everything.
func (db *DB) RevokeToken(ctx context.Context, t *latchkey.RevokedToken) error {
	return db.writeTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO oauth_revoked_tokens (jti, client_id, expires_at, revoked_at)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (jti) DO NOTHING`,
			t.JTI, t.ClientID, ts(t.ExpiresAt), ts(t.RevokedAt)); err != nil {
			return err
		}
		return notify(ctx, tx, changedAll)
	})
}

// TokenRevoked reports whether the token with this jti is on the deny-list.
func (db *DB) TokenRevoked(ctx context.Context, jti string) (bool, error) {
	var ok bool
	err := db.pool.QueryRow(ctx,
		`SELECT EXISTS (SELECT 1 FROM oauth_revoked_tokens WHERE jti = $1)`, jti).Scan(&ok)
	return ok, err
}

// PruneRevokedTokens removes the entries of tokens that expired before t.
func (db *DB) PruneRevokedTokens(ctx context.Context, expiredBefore time.Time) (int, error) {
	return db.deleteRows(ctx,
		`DELETE FROM oauth_revoked_tokens WHERE expires_at < $1`, ts(expiredBefore))
}
