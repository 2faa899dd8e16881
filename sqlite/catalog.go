package sqlite

import (
	"context"
	"database/sql"

	"github.com/latchkey/latchkey"
)

var permissionConflicts = map[string]string{"": "permission already exists"}

// CreatePermission stores p; CONFLICT if its name is taken.
func (db *DB) CreatePermission(ctx context.Context, p *latchkey.Permission) error {
	_, err := db.write.ExecContext(ctx,
		`INSERT INTO permissions (name, description, created_at) VALUES (?, ?, ?)`,
		p.Name, p.Description, micros(p.CreatedAt))
	if isUniqueViolation(err) {
		return conflict(err, permissionConflicts)
	}
	return err
}

// EnsurePermissions inserts the permissions that do not exist yet, in one
// transaction.
func (db *DB) EnsurePermissions(ctx context.Context, ps []*latchkey.Permission) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		for _, p := range ps {
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO permissions (name, description, created_at) VALUES (?, ?, ?)
				 ON CONFLICT (name) DO NOTHING`,
				p.Name, p.Description, micros(p.CreatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListPermissions returns the catalog in name order.
func (db *DB) ListPermissions(ctx context.Context) ([]*latchkey.Permission, error) {
	rows, err := db.read.QueryContext(ctx,
		`SELECT name, description, created_at FROM permissions ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []*latchkey.Permission{}
	for rows.Next() {
		var (
			p         latchkey.Permission
			createdAt int64
		)
		if err := rows.Scan(&p.Name, &p.Description, &createdAt); err != nil {
			return nil, err
		}
		p.CreatedAt = fromMicros(createdAt)
		out = append(out, &p)
	}
	return out, rows.Err()
}

// DeletePermission removes one catalog entry; NOT_FOUND if none.
func (db *DB) DeletePermission(ctx context.Context, name string) error {
	return deleteOne(ctx, db.write, latchkey.NotFound("permission"), `DELETE FROM permissions WHERE name = ?`, name)
}
