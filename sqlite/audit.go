package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
)

var _ latchkey.AuditStore = (*DB)(nil)

const auditColumns = `id, time, actor_kind, actor_id, action, target_id, tenant_id, detail, trace_id`

// AppendAuditEvent stores e; CONFLICT if its ID is taken.
func (db *DB) AppendAuditEvent(ctx context.Context, e *latchkey.AuditEvent) error {
	detail := e.Detail
	if detail == nil {
		detail = map[string]any{}
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	_, err = db.write.ExecContext(ctx, `INSERT INTO audit_events (`+auditColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, micros(e.Time), e.ActorKind, e.ActorID, e.Action, e.TargetID,
		nullString(e.TenantID), string(b), e.TraceID)
	if isUniqueViolation(err) {
		return conflict(err, map[string]string{"": "audit event already exists"})
	}
	return err
}

// AuditEvent returns one event; NOT_FOUND if none.
func (db *DB) AuditEvent(ctx context.Context, id string) (*latchkey.AuditEvent, error) {
	e, err := scanAuditEvent(db.read.QueryRowContext(ctx,
		`SELECT `+auditColumns+` FROM audit_events WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, latchkey.NotFound("audit event")
	}
	return e, err
}

// DeleteAuditEvents removes the events older than before.
func (db *DB) DeleteAuditEvents(ctx context.Context, before time.Time) (int, error) {
	return db.deleteRows(ctx, `DELETE FROM audit_events WHERE time < ?`, micros(before))
}

// ListAuditEvents returns the events f selects, newest first.
func (db *DB) ListAuditEvents(ctx context.Context, f latchkey.AuditFilter) ([]*latchkey.AuditEvent, error) {
	var (
		where []string
		args  []any
	)
	if f.ActionPrefix != "" {
		// A range rather than LIKE, whose wildcards "_" and "%" would need
		// escaping: actions are ASCII, so U+10FFFF sorts after every one.
		where = append(where, `action >= ? AND action < ?`)
		args = append(args, f.ActionPrefix, f.ActionPrefix+"\U0010FFFF")
	}
	if f.ActorKind != "" {
		where = append(where, `actor_kind = ?`)
		args = append(args, f.ActorKind)
	}
	if f.ActorID != "" {
		where = append(where, `actor_id = ?`)
		args = append(args, f.ActorID)
	}
	if f.TargetID != "" {
		where = append(where, `target_id = ?`)
		args = append(args, f.TargetID)
	}
	if f.Before != nil {
		where = append(where, `(time, id) < (?, ?)`)
		args = append(args, micros(f.Before.Time), f.Before.ID)
	}
	query := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY time DESC, id DESC LIMIT ?`
	args = append(args, limit(f.Limit))

	rows, err := db.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return collect(rows, scanAuditEvent)
}

func scanAuditEvent(s scanner) (*latchkey.AuditEvent, error) {
	var (
		e      latchkey.AuditEvent
		at     int64
		tenant sql.NullString
		detail string
	)
	if err := s.Scan(&e.ID, &at, &e.ActorKind, &e.ActorID, &e.Action, &e.TargetID,
		&tenant, &detail, &e.TraceID); err != nil {
		return nil, err
	}
	e.Time = fromMicros(at)
	e.TenantID = tenant.String
	if err := json.Unmarshal([]byte(detail), &e.Detail); err != nil {
		return nil, err
	}
	if e.Detail == nil {
		e.Detail = map[string]any{}
	}
	return &e, nil
}
