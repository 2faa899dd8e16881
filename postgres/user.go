package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
)

var userConflicts = map[string]string{
	"":                "user already exists",
	"users_email_key": "email already in use",
}

// userColumns selects a user with its memberships in the order they were
// added.
const userColumns = `u.id, u.email, u.password_hash, u.is_admin, u.disabled, u.created_at,
	ARRAY(SELECT m.tenant_id FROM memberships m WHERE m.user_id = u.id ORDER BY m.position)`

// CreateUser stores u and a membership for each of u.TenantIDs; CONFLICT if
// the ID or email is taken, NOT_FOUND if a tenant does not exist.
func (db *DB) CreateUser(ctx context.Context, u *latchkey.User) error {
	return db.writeTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO users (id, email, password_hash, is_admin, disabled, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			u.ID, nullString(u.Email), u.PasswordHash, u.IsAdmin, u.Disabled, ts(u.CreatedAt))
		if isUniqueViolation(err) {
			return conflict(err, userConflicts)
		}
		if err != nil {
			return err
		}
		for _, tenantID := range dedupe(u.TenantIDs) {
			if err := addMembership(ctx, tx, u.ID, tenantID); err != nil {
				return err
			}
		}
		return nil
	})
}

// User returns the user with the given ID; NOT_FOUND if none.
func (db *DB) User(ctx context.Context, id string) (*latchkey.User, error) {
	return user(ctx, db.pool, `u.id = $1`, id)
}

// UserByEmail finds a user by email, ignoring case; NOT_FOUND if none.
func (db *DB) UserByEmail(ctx context.Context, email string) (*latchkey.User, error) {
	if email == "" {
		return nil, latchkey.NotFound("user")
	}
	// The same expression as the unique index users_email_key, which it uses.
	return user(ctx, db.pool, `lower(u.email) = lower($1)`, email)
}

func user(ctx context.Context, q querier, where string, arg any) (*latchkey.User, error) {
	u, err := scanUser(q.QueryRow(ctx,
		`SELECT `+userColumns+` FROM users u WHERE `+where, arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, latchkey.NotFound("user")
	}
	return u, err
}

// ListUsers returns a page of users in ascending ID order.
func (db *DB) ListUsers(ctx context.Context, p latchkey.Page) ([]*latchkey.User, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT `+userColumns+` FROM users u
		WHERE u.id > $1
		ORDER BY u.id
		LIMIT $2`, p.After, limit(p.Limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return collect(rows, scanUser)
}

// UpdateUser applies fn to the user, locked, and writes back Email,
// PasswordHash, IsAdmin and Disabled in one transaction.
func (db *DB) UpdateUser(ctx context.Context, id string, fn func(*latchkey.User) error) (*latchkey.User, error) {
	var out *latchkey.User
	err := db.writeTx(ctx, func(tx pgx.Tx) error {
		u, err := user(ctx, tx, `u.id = $1 FOR NO KEY UPDATE OF u`, id)
		if err != nil {
			return err
		}
		if err := fn(u); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
			UPDATE users SET email = $1, password_hash = $2, is_admin = $3, disabled = $4
			WHERE id = $5`,
			nullString(u.Email), u.PasswordHash, u.IsAdmin, u.Disabled, id)
		if isUniqueViolation(err) {
			return conflict(err, userConflicts)
		}
		if err != nil {
			return err
		}
		out, err = user(ctx, tx, `u.id = $1`, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteUser removes the user; its memberships, sessions and keys go with
// it (ON DELETE CASCADE). Every node drops the user's keys from its cache.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	return db.writeTx(ctx, func(tx pgx.Tx) error {
		// Notified first, while the keys still exist; nothing is sent
		// unless the transaction commits.
		if _, err := tx.Exec(ctx,
			`SELECT pg_notify($1, id) FROM api_keys WHERE owner_id = $2`,
			channel, id); err != nil {
			return err
		}
		return deleteOne(ctx, tx, latchkey.NotFound("user"), `DELETE FROM users WHERE id = $1`, id)
	})
}

// AddMembership makes the user a member of the tenant, after any tenants it
// already belongs to. It is idempotent.
func (db *DB) AddMembership(ctx context.Context, userID, tenantID string) error {
	return db.writeTx(ctx, func(tx pgx.Tx) error {
		// The lock serialises membership changes of one user, so that
		// concurrent adds get distinct positions.
		if ok, err := lockRow(ctx, tx, "users", userID); err != nil {
			return err
		} else if !ok {
			return latchkey.NotFound("user")
		}
		return addMembership(ctx, tx, userID, tenantID)
	})
}

// addMembership appends a membership for an existing user; NOT_FOUND if the
// tenant does not exist.
func addMembership(ctx context.Context, tx pgx.Tx, userID, tenantID string) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO memberships (user_id, tenant_id, position)
		SELECT $1, $2, coalesce(max(position), 0) + 1 FROM memberships WHERE user_id = $1
		ON CONFLICT (user_id, tenant_id) DO NOTHING`,
		userID, tenantID)
	if isForeignKeyViolation(err) {
		return latchkey.NotFound("tenant")
	}
	return err
}

// RemoveMembership ends the membership and unlinks the tenant from every key
// the user owns. Removing a membership that does not exist does nothing;
// NOT_FOUND if the user or the tenant does not exist.
func (db *DB) RemoveMembership(ctx context.Context, userID, tenantID string) error {
	return db.writeTx(ctx, func(tx pgx.Tx) error {
		if ok, err := lockRow(ctx, tx, "users", userID); err != nil {
			return err
		} else if !ok {
			return latchkey.NotFound("user")
		}
		if ok, err := exists(ctx, tx, "tenants", tenantID); err != nil {
			return err
		} else if !ok {
			return latchkey.NotFound("tenant")
		}
		if _, err := tx.Exec(ctx,
			`DELETE FROM memberships WHERE user_id = $1 AND tenant_id = $2`,
			userID, tenantID); err != nil {
			return err
		}
		// The unlinked keys change on every node.
		_, err := tx.Exec(ctx, `
			WITH unlinked AS (
				DELETE FROM api_key_tenants
				WHERE tenant_id = $1
				  AND key_id IN (SELECT id FROM api_keys WHERE owner_id = $2)
				RETURNING key_id
			)
			SELECT pg_notify($3, key_id) FROM unlinked`,
			tenantID, userID, channel)
		return err
	})
}

func scanUser(s scanner) (*latchkey.User, error) {
	var (
		u     latchkey.User
		email *string
	)
	if err := s.Scan(&u.ID, &email, &u.PasswordHash, &u.IsAdmin, &u.Disabled,
		&u.CreatedAt, &u.TenantIDs); err != nil {
		return nil, err
	}
	if email != nil {
		u.Email = *email
	}
	u.CreatedAt = u.CreatedAt.UTC()
	u.TenantIDs = strs(u.TenantIDs)
	return &u, nil
}
