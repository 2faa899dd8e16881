package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/latchkey/latchkey"
)

// CreateSession stores s; NOT_FOUND if the user does not exist, CONFLICT if
// the ID is taken.
func (db *DB) CreateSession(ctx context.Context, s *latchkey.Session) error {
	_, err := db.write.ExecContext(ctx, `
		INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at)
		VALUES (?, ?, ?, ?, ?)`,
		s.ID[:], s.UserID, micros(s.CreatedAt), micros(s.LastSeenAt), micros(s.ExpiresAt))
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
		s                              latchkey.Session
		idBytes                        []byte
		createdAt, lastSeen, expiresAt int64
	)
	err := db.read.QueryRowContext(ctx, `
		SELECT id, user_id, created_at, last_seen_at, expires_at
		FROM sessions WHERE id = ?`, id[:]).
		Scan(&idBytes, &s.UserID, &createdAt, &lastSeen, &expiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, latchkey.NotFound("session")
	}
	if err != nil {
		return nil, err
	}
	if s.ID, err = hash(idBytes); err != nil {
		return nil, err
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMicros(createdAt), fromMicros(lastSeen), fromMicros(expiresAt)
	return &s, nil
}

// TouchSession moves LastSeenAt forward, never back.
func (db *DB) TouchSession(ctx context.Context, id [32]byte, at time.Time) error {
	_, err := db.write.ExecContext(ctx, `
		UPDATE sessions SET last_seen_at = max(last_seen_at, ?) WHERE id = ?`,
		micros(at), id[:])
	return err
}

// DeleteSession removes one session; unknown IDs are ignored.
func (db *DB) DeleteSession(ctx context.Context, id [32]byte) error {
	_, err := db.write.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id[:])
	return err
}

// DeleteUserSessions removes every session of a user.
func (db *DB) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	return db.deleteRows(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
}

// DeleteExpiredSessions removes sessions past their absolute end or idle
// since before idleBefore.
func (db *DB) DeleteExpiredSessions(ctx context.Context, t, idleBefore time.Time) (int, error) {
	return db.deleteRows(ctx,
		`DELETE FROM sessions WHERE expires_at < ? OR last_seen_at < ?`, micros(t), micros(idleBefore))
}
