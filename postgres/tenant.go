package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
)

var tenantConflicts = map[string]string{"": "tenant already exists"}

// CreateTenant stores t; CONFLICT if its ID is taken.
func (db *DB) CreateTenant(ctx context.Context, t *latchkey.Tenant) error {
	_, err := db.pool.Exec(ctx,
		`INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)`,
		t.ID, t.Name, ts(t.CreatedAt))
	if isUniqueViolation(err) {
		return conflict(err, tenantConflicts)
	}
	return err
}

// Tenant returns the tenant with the given ID; NOT_FOUND if none.
func (db *DB) Tenant(ctx context.Context, id string) (*latchkey.Tenant, error) {
	return tenant(ctx, db.pool, id, "")
}

// tenant reads a tenant; lock is "" or a locking clause such as
// "FOR NO KEY UPDATE".
func tenant(ctx context.Context, q querier, id, lock string) (*latchkey.Tenant, error) {
	t, err := scanTenant(q.QueryRow(ctx,
		`SELECT id, name, created_at FROM tenants WHERE id = $1 `+lock, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, latchkey.NotFound("tenant")
	}
	return t, err
}

// ListTenants returns a page of tenants in ascending ID order.
func (db *DB) ListTenants(ctx context.Context, p latchkey.Page) ([]*latchkey.Tenant, error) {
	rows, err := db.pool.Query(ctx, `
		SELECT id, name, created_at FROM tenants
		WHERE id > $1
		ORDER BY id
		LIMIT $2`, p.After, limit(p.Limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return collect(rows, scanTenant)
}

// UpdateTenant applies fn to the tenant, locked, and writes its name back,
// in one transaction. Nodes cache tenants: every node drops its cache.
func (db *DB) UpdateTenant(ctx context.Context, id string, fn func(*latchkey.Tenant) error) (*latchkey.Tenant, error) {
	var out *latchkey.Tenant
	err := db.writeTx(ctx, func(tx pgx.Tx) error {
		t, err := tenant(ctx, tx, id, "FOR NO KEY UPDATE")
		if err != nil {
			return err
		}
		if err := fn(t); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx,
			`UPDATE tenants SET name = $1 WHERE id = $2`, t.Name, id); err != nil {
			return err
		}
		if err := notify(ctx, tx, changedAll); err != nil {
			return err
		}
		out, err = tenant(ctx, tx, id, "")
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteTenant removes the tenant; its memberships, key links and OAuth
// clients go with it (ON DELETE CASCADE).
func (db *DB) DeleteTenant(ctx context.Context, id string) error {
	return db.writeTx(ctx, func(tx pgx.Tx) error {
		if err := deleteOne(ctx, tx, latchkey.NotFound("tenant"), `DELETE FROM tenants WHERE id = $1`, id); err != nil {
			return err
		}
		return notify(ctx, tx, changedAll)
	})
}

func scanTenant(s scanner) (*latchkey.Tenant, error) {
	var t latchkey.Tenant
	if err := s.Scan(&t.ID, &t.Name, &t.CreatedAt); err != nil {
		return nil, err
	}
	t.CreatedAt = t.CreatedAt.UTC()
	return &t, nil
}
