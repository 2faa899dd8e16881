package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/latchkey/latchkey"
)

var tenantConflicts = map[string]string{"": "tenant already exists"}

// CreateTenant stores t; CONFLICT if its ID is taken.
func (db *DB) CreateTenant(ctx context.Context, t *latchkey.Tenant) error {
	_, err := db.write.ExecContext(ctx,
		`INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)`,
		t.ID, t.Name, micros(t.CreatedAt))
	if isUniqueViolation(err) {
		return conflict(err, tenantConflicts)
	}
	return err
}

// Tenant returns the tenant with the given ID; NOT_FOUND if none.
func (db *DB) Tenant(ctx context.Context, id string) (*latchkey.Tenant, error) {
	return tenant(ctx, db.read, id)
}

func tenant(ctx context.Context, q querier, id string) (*latchkey.Tenant, error) {
	t, err := scanTenant(q.QueryRowContext(ctx,
		`SELECT id, name, created_at FROM tenants WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, latchkey.NotFound("tenant")
	}
	return t, err
}

// ListTenants returns a page of tenants in ascending ID order.
func (db *DB) ListTenants(ctx context.Context, p latchkey.Page) ([]*latchkey.Tenant, error) {
	rows, err := db.read.QueryContext(ctx, `
		SELECT id, name, created_at FROM tenants
		WHERE id > ?
		ORDER BY id
		LIMIT ?`, p.After, limit(p.Limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return collect(rows, scanTenant)
}

// UpdateTenant applies fn to the tenant and writes its name back, in one
// transaction.
func (db *DB) UpdateTenant(ctx context.Context, id string, fn func(*latchkey.Tenant) error) (*latchkey.Tenant, error) {
	var out *latchkey.Tenant
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		t, err := tenant(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := fn(t); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE tenants SET name = ? WHERE id = ?`, t.Name, id); err != nil {
			return err
		}
		// Servers cache tenants, which the feed cannot name: all of it.
		if err := recordChange(ctx, tx, changedAll); err != nil {
			return err
		}
		out, err = tenant(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteTenant removes the tenant; its memberships and key links go with it
// (ON DELETE CASCADE).
func (db *DB) DeleteTenant(ctx context.Context, id string) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if err := deleteOne(ctx, tx, latchkey.NotFound("tenant"), `DELETE FROM tenants WHERE id = ?`, id); err != nil {
			return err
		}
		return recordChange(ctx, tx, changedAll)
	})
}

func scanTenant(s scanner) (*latchkey.Tenant, error) {
	var (
		t         latchkey.Tenant
		createdAt int64
	)
	if err := s.Scan(&t.ID, &t.Name, &createdAt); err != nil {
		return nil, err
	}
	t.CreatedAt = fromMicros(createdAt)
	return &t, nil
}
