package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
)

var _ latchkey.AuditStore = (*DB)(nil)

const auditColumns = `id, time, actor_kind, actor_id, action, target_id, tenant_id, detail, trace_id`

// AppendAuditEvent stores e; CONFLICT if its ID is taken.
func (db *DB) AppendAuditEvent(ctx context.Context, e *latchkey.AuditEvent) error {
	detail, err := encodeMeta(e.Detail)
	if err != nil {
		return err
	}
	_, err = db.pool.Exec(ctx, `INSERT INTO audit_events (`+auditColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		e.ID, ts(e.Time), e.ActorKind, e.ActorID, e.Action, e.TargetID,
		nullString(e.TenantID), detail, e.TraceID)
	if isUniqueViolation(err) {
		return conflict(err, map[string]string{"": "audit event already exists"})
	}
	return err
}

// AuditEvent returns one event; NOT_FOUND if none.
func (db *DB) AuditEvent(ctx context.Context, id string) (*latchkey.AuditEvent, error) {
	e, err := scanAuditEvent(db.pool.QueryRow(ctx,
		`SELECT `+auditColumns+` FROM audit_events WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, latchkey.NotFound("audit event")
	}
	return e, err
}

// DeleteAuditEvents removes the events older than before.
func (db *DB) DeleteAuditEvents(ctx context.Context, before time.Time) (int, error) {
	return db.deleteRows(ctx, `DELETE FROM audit_events WHERE time < $1`, ts(before))
}

// ListAuditEvents returns the events f selects, newest first.
func (db *DB) ListAuditEvents(ctx context.Context, f latchkey.AuditFilter) ([]*latchkey.AuditEvent, error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.ActionPrefix != "" {
		where = append(where, `starts_with(action, `+arg(f.ActionPrefix)+`)`)
	}
	if f.ActorKind != "" {
		where = append(where, `actor_kind = `+arg(f.ActorKind))
	}
	if f.ActorID != "" {
		where = append(where, `actor_id = `+arg(f.ActorID))
	}
	if f.TargetID != "" {
		where = append(where, `target_id = `+arg(f.TargetID))
	}
	if f.Before != nil {
		where = append(where, `(time, id) < (`+arg(ts(f.Before.Time))+`, `+arg(f.Before.ID)+`)`)
	}
	query := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY time DESC, id DESC LIMIT ` + arg(limit(f.Limit))

	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return collect(rows, scanAuditEvent)
}

func scanAuditEvent(s scanner) (*latchkey.AuditEvent, error) {
	var (
		e      latchkey.AuditEvent
		tenant *string
		detail []byte
	)
	if err := s.Scan(&e.ID, &e.Time, &e.ActorKind, &e.ActorID, &e.Action, &e.TargetID,
		&tenant, &detail, &e.TraceID); err != nil {
		return nil, err
	}
	e.Time = e.Time.UTC()
	if tenant != nil {
		e.TenantID = *tenant
	}
	if err := json.Unmarshal(detail, &e.Detail); err != nil {
		return nil, err
	}
	if e.Detail == nil {
		e.Detail = map[string]any{}
	}
	return &e, nil
}
