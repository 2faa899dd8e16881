package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/latchkey/latchkey"
)

var userConflicts = map[string]string{
	"":            "user already exists",
	"users.email": "email already in use",
}

// userColumns selects a user with its memberships as a JSON array in the
// order they were added.
const userColumns = `u.id, u.email, u.password_hash, u.is_admin, u.disabled, u.created_at,
	(SELECT json_group_array(m.tenant_id ORDER BY m.position)
	 FROM memberships m WHERE m.user_id = u.id)`

// CreateUser stores u and a membership for each of u.TenantIDs; CONFLICT if
// the ID or email is taken, NOT_FOUND if a tenant does not exist.
func (db *DB) CreateUser(ctx context.Context, u *latchkey.User) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `
			INSERT INTO users (id, email, password_hash, is_admin, disabled, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`,
			u.ID, nullString(u.Email), u.PasswordHash, u.IsAdmin, u.Disabled, micros(u.CreatedAt))
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
	return user(ctx, db.read, `u.id = ?`, id)
}

// UserByEmail finds a user by email, ignoring ASCII case; NOT_FOUND if none.
func (db *DB) UserByEmail(ctx context.Context, email string) (*latchkey.User, error) {
	if email == "" {
		return nil, latchkey.NotFound("user")
	}
	// The column's NOCASE collation makes = case-insensitive.
	return user(ctx, db.read, `u.email = ?`, email)
}

func user(ctx context.Context, q querier, where string, arg any) (*latchkey.User, error) {
	u, err := scanUser(q.QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users u WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, latchkey.NotFound("user")
	}
	return u, err
}

// ListUsers returns a page of users in ascending ID order.
func (db *DB) ListUsers(ctx context.Context, p latchkey.Page) ([]*latchkey.User, error) {
	rows, err := db.read.QueryContext(ctx, `
		SELECT `+userColumns+` FROM users u
		WHERE u.id > ?
		ORDER BY u.id
		LIMIT ?`, p.After, limit(p.Limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return collect(rows, scanUser)
}

// UpdateUser applies fn and writes back Email, PasswordHash, IsAdmin and
// Disabled in one transaction.
func (db *DB) UpdateUser(ctx context.Context, id string, fn func(*latchkey.User) error) (*latchkey.User, error) {
	var out *latchkey.User
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		u, err := user(ctx, tx, `u.id = ?`, id)
		if err != nil {
			return err
		}
		if err := fn(u); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `
			UPDATE users SET email = ?, password_hash = ?, is_admin = ?, disabled = ?
			WHERE id = ?`,
			nullString(u.Email), u.PasswordHash, u.IsAdmin, u.Disabled, id)
		if isUniqueViolation(err) {
			return conflict(err, userConflicts)
		}
		if err != nil {
			return err
		}
		out, err = user(ctx, tx, `u.id = ?`, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteUser removes the user; its memberships and keys go with it
// (ON DELETE CASCADE), each key recorded as changed.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if err := recordKeyChanges(ctx, tx,
			`SELECT id FROM api_keys WHERE owner_id = ?`, id); err != nil {
			return err
		}
		return deleteOne(ctx, tx, latchkey.NotFound("user"), `DELETE FROM users WHERE id = ?`, id) // NOT_FOUND rolls the recorded changes back
	})
}

// AddMembership makes the user a member of the tenant, after any tenants it
// already belongs to. It is idempotent.
func (db *DB) AddMembership(ctx context.Context, userID, tenantID string) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if ok, err := exists(ctx, tx, "users", userID); err != nil {
			return err
		} else if !ok {
			return latchkey.NotFound("user")
		}
		return addMembership(ctx, tx, userID, tenantID)
	})
}

// addMembership appends a membership for an existing user; NOT_FOUND if the
// tenant does not exist.
func addMembership(ctx context.Context, tx *sql.Tx, userID, tenantID string) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO memberships (user_id, tenant_id, position)
		SELECT ?1, ?2, coalesce(max(position), 0) + 1 FROM memberships WHERE user_id = ?1
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
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if ok, err := exists(ctx, tx, "users", userID); err != nil {
			return err
		} else if !ok {
			return latchkey.NotFound("user")
		}
		if ok, err := exists(ctx, tx, "tenants", tenantID); err != nil {
			return err
		} else if !ok {
			return latchkey.NotFound("tenant")
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM memberships WHERE user_id = ? AND tenant_id = ?`,
			userID, tenantID); err != nil {
			return err
		}
		// The keys about to be unlinked change.
		if err := recordKeyChanges(ctx, tx, `
			SELECT t.key_id AS id FROM api_key_tenants t
			JOIN api_keys k ON k.id = t.key_id
			WHERE t.tenant_id = ? AND k.owner_id = ?`,
			tenantID, userID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `
			DELETE FROM api_key_tenants
			WHERE tenant_id = ?
			  AND key_id IN (SELECT id FROM api_keys WHERE owner_id = ?)`,
			tenantID, userID)
		return err
	})
}

func scanUser(s scanner) (*latchkey.User, error) {
	var (
		u         latchkey.User
		email     sql.NullString
		createdAt int64
		tenantIDs string
	)
	if err := s.Scan(&u.ID, &email, &u.PasswordHash, &u.IsAdmin, &u.Disabled,
		&createdAt, &tenantIDs); err != nil {
		return nil, err
	}
	u.Email = email.String
	u.CreatedAt = fromMicros(createdAt)
	if err := json.Unmarshal([]byte(tenantIDs), &u.TenantIDs); err != nil {
		return nil, err
	}
	return &u, nil
}
