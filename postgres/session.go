package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/latchkey/latchkey"
)

// CreateSession stores s; NOT_FOUND if the user does not exist, CONFLICT if
// the ID is taken.
func (db *DB) CreateSession(ctx context.Context, s *latchkey.Session) error {
	_, err := db.pool.Exec(ctx, `
		INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`,
		s.ID[:], s.UserID, ts(s.CreatedAt), ts(s.LastSeenAt), ts(s.ExpiresAt))
	switch {
	case isUniqueViolation(err):
		return conflict(err, map[string]string{"": "session already exists"})
	case isForeignKeyViolation(err):
		return latchkey.NotFound("user")
	}
	return err
}

// Session returns the session with the given ID; NOT_FOUND if none.
func (db *DB) Session(ctx context.Context, id [32]byte) (*latchkey.Session, error) {
	var (
		s       latchkey.Session
		idBytes []byte
	)
	err := db.pool.QueryRow(ctx, `
		SELECT id, user_id, created_at, last_seen_at, expires_at
		FROM sessions WHERE id = $1`, id[:]).
		Scan(&idBytes, &s.UserID, &s.CreatedAt, &s.LastSeenAt, &s.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, latchkey.NotFound("session")
	}
	if err != nil {
		return nil, err
	}
	if s.ID, err = hash(idBytes); err != nil {
		return nil, err
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = s.CreatedAt.UTC(), s.LastSeenAt.UTC(), s.ExpiresAt.UTC()
	return &s, nil
}

// TouchSession moves LastSeenAt forward, never back.
func (db *DB) TouchSession(ctx context.Context, id [32]byte, at time.Time) error {
	_, err := db.pool.Exec(ctx, `
		UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id = $2`,
		ts(at), id[:])
	return err
}

// DeleteSession removes one session; unknown IDs are ignored.
func (db *DB) DeleteSession(ctx context.Context, id [32]byte) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, id[:])
	return err
}

// DeleteUserSessions removes every session of a user.
func (db *DB) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	return db.deleteRows(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
}

// DeleteExpiredSessions removes sessions past their absolute end or idle
// since before idleBefore.
func (db *DB) DeleteExpiredSessions(ctx context.Context, t, idleBefore time.Time) (int, error) {
	return db.deleteRows(ctx,
		`DELETE FROM sessions WHERE expires_at < $1 OR last_seen_at < $2`, ts(t), ts(idleBefore))
}
