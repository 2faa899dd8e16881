package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/latchkey/latchkey"
)

var oauthClientConflicts = map[string]string{"": "OAuth client already exists"}

const oauthClientColumns = `id, name, secret_hash, scopes, tenant_id, disabled, created_at`

// CreateOAuthClient stores c; CONFLICT if its ID is taken, NOT_FOUND if its
// tenant does not exist.
func (db *DB) CreateOAuthClient(ctx context.Context, c *latchkey.OAuthClient) error {
	scopes, err := jsonArray(c.Scopes)
	if err != nil {
		return err
	}
	_, err = db.write.ExecContext(ctx, `
		INSERT INTO oauth_clients (`+oauthClientColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, c.SecretHash[:], scopes, nullString(c.TenantID), c.Disabled, micros(c.CreatedAt))
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
	return oauthClient(ctx, db.read, id)
}

func oauthClient(ctx context.Context, q querier, id string) (*latchkey.OAuthClient, error) {
	c, err := scanOAuthClient(q.QueryRowContext(ctx,
		`SELECT `+oauthClientColumns+` FROM oauth_clients WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, latchkey.NotFound("OAuth client")
	}
	return c, err
}

// ListOAuthClients returns a page of clients in ascending ID order.
func (db *DB) ListOAuthClients(ctx context.Context, p latchkey.Page) ([]*latchkey.OAuthClient, error) {
	rows, err := db.read.QueryContext(ctx, `
		SELECT `+oauthClientColumns+` FROM oauth_clients
		WHERE id > ?
		ORDER BY id
		LIMIT ?`, p.After, limit(p.Limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return collect(rows, scanOAuthClient)
}

// UpdateOAuthClient applies fn and writes back the mutable fields in one
// transaction.
func (db *DB) UpdateOAuthClient(ctx context.Context, id string, fn func(*latchkey.OAuthClient) error) (*latchkey.OAuthClient, error) {
	var out *latchkey.OAuthClient
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		c, err := oauthClient(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return err
		}
		scopes, err := jsonArray(c.Scopes)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE oauth_clients SET name = ?, secret_hash = ?, scopes = ?, disabled = ?
			WHERE id = ?`,
			c.Name, c.SecretHash[:], scopes, c.Disabled, id); err != nil {
			return err
		}
		// Servers cache clients, which the feed cannot name: all of it.
		if err := recordChange(ctx, tx, changedAll); err != nil {
			return err
		}
		out, err = oauthClient(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteOAuthClient removes the client; NOT_FOUND if none.
func (db *DB) DeleteOAuthClient(ctx context.Context, id string) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if err := deleteOne(ctx, tx, latchkey.NotFound("OAuth client"), `DELETE FROM oauth_clients WHERE id = ?`, id); err != nil {
			return err
		}
		return recordChange(ctx, tx, changedAll)
	})
}

func scanOAuthClient(s scanner) (*latchkey.OAuthClient, error) {
	var (
		c         latchkey.OAuthClient
		hashBytes []byte
		scopes    string
		tenantID  sql.NullString
		createdAt int64
	)
	if err := s.Scan(&c.ID, &c.Name, &hashBytes, &scopes, &tenantID, &c.Disabled, &createdAt); err != nil {
		return nil, err
	}
	var err error
	if c.SecretHash, err = hash(hashBytes); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &c.Scopes); err != nil {
		return nil, err
	}
	if c.Scopes == nil {
		c.Scopes = []string{}
	}
	c.TenantID = tenantID.String
	c.CreatedAt = fromMicros(createdAt)
	return &c, nil
}

func jsonArray(v []string) (string, error) {
	if v == nil {
		v = []string{}
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// ---- Signing keys ----

const signingKeyColumns = `id, algorithm, public_key, private_key, created_at, retired_at`

func insertSigningKey(ctx context.Context, tx *sql.Tx, k *latchkey.SigningKey) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO oauth_signing_keys (`+signingKeyColumns+`)
		VALUES (?, ?, ?, ?, ?, NULL)`,
		k.ID, k.Algorithm, k.PublicKey, k.PrivateKey, micros(k.CreatedAt))
	if isUniqueViolation(err) {
		return conflict(err, map[string]string{"": "signing key already exists"})
	}
	return err
}

func activeSigningKey(ctx context.Context, q querier) (*latchkey.SigningKey, error) {
	k, err := scanSigningKey(q.QueryRowContext(ctx,
		`SELECT `+signingKeyColumns+` FROM oauth_signing_keys WHERE retired_at IS NULL`))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, latchkey.NotFound("signing key")
	}
	return k, err
}

// InitSigningKey stores k as the active key unless there is one already,
// and returns the active key.
func (db *DB) InitSigningKey(ctx context.Context, k *latchkey.SigningKey) (*latchkey.SigningKey, error) {
	var out *latchkey.SigningKey
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
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
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`UPDATE oauth_signing_keys SET retired_at = ? WHERE retired_at IS NULL`,
			micros(k.CreatedAt)); err != nil {
			return err
		}
		return insertSigningKey(ctx, tx, k)
	})
}

// SigningKeys returns every stored key: the active one, then the retired
// ones, most recently retired first.
func (db *DB) SigningKeys(ctx context.Context) ([]*latchkey.SigningKey, error) {
	rows, err := db.read.QueryContext(ctx,
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
		`DELETE FROM oauth_signing_keys WHERE retired_at IS NOT NULL AND retired_at < ?`,
		micros(retiredBefore))
}

func scanSigningKey(s scanner) (*latchkey.SigningKey, error) {
	var (
		k         latchkey.SigningKey
		createdAt int64
		retiredAt sql.NullInt64
	)
	if err := s.Scan(&k.ID, &k.Algorithm, &k.PublicKey, &k.PrivateKey, &createdAt, &retiredAt); err != nil {
		return nil, err
	}
	k.CreatedAt = fromMicros(createdAt)
	k.RetiredAt = fromNullMicros(retiredAt)
	return &k, nil
}

// ---- Revoked tokens ----

// RevokeToken adds t to the deny-list; a second revocation keeps the first.
// Servers cache "not revoked" answers, which the feed cannot name: the
// change is to everything.
func (db *DB) RevokeToken(ctx context.Context, t *latchkey.RevokedToken) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO oauth_revoked_tokens (jti, client_id, expires_at, revoked_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (jti) DO NOTHING`,
			t.JTI, t.ClientID, micros(t.ExpiresAt), micros(t.RevokedAt)); err != nil {
			return err
		}
		return recordChange(ctx, tx, changedAll)
	})
}

// TokenRevoked reports whether the token with this jti is on the deny-list.
func (db *DB) TokenRevoked(ctx context.Context, jti string) (bool, error) {
	var n int
	err := db.read.QueryRowContext(ctx,
		`SELECT count(*) FROM oauth_revoked_tokens WHERE jti = ?`, jti).Scan(&n)
	return n > 0, err
}

// PruneRevokedTokens removes the entries of tokens that expired before t.
func (db *DB) PruneRevokedTokens(ctx context.Context, expiredBefore time.Time) (int, error) {
	return db.deleteRows(ctx,
		`DELETE FROM oauth_revoked_tokens WHERE expires_at < ?`, micros(expiredBefore))
}
