package latchkey

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"time"
)

// Session is a signed-in dashboard user. The token the browser holds is
// never stored: ID is its SHA-256, so a copy of the database cannot be
// replayed as a cookie.
type Session struct {
	ID         [32]byte // SHA-256 of the session token
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time // moved forward at most once per SessionTouchInterval
	ExpiresAt  time.Time // absolute end: CreatedAt + SessionMaxLifetime
}

// SessionStore persists dashboard sessions. Deleting a user deletes its
// sessions.
type SessionStore interface {
	// CreateSession stores s; NOT_FOUND if the user does not exist,
	// CONFLICT if the ID is taken.
	CreateSession(ctx context.Context, s *Session) error
	// Session returns the session with the given ID; NOT_FOUND if none.
	Session(ctx context.Context, id [32]byte) (*Session, error)
	// TouchSession moves LastSeenAt forward (never back); unknown IDs are
	// ignored.
	TouchSession(ctx context.Context, id [32]byte, at time.Time) error
	// DeleteSession removes one session; unknown IDs are ignored.
	DeleteSession(ctx context.Context, id [32]byte) error
	// DeleteUserSessions removes every session of a user and returns how
	// many it removed.
	DeleteUserSessions(ctx context.Context, userID string) (int, error)
	// DeleteExpiredSessions removes the sessions whose ExpiresAt is before
	// t or whose LastSeenAt is before idleBefore, and returns how many.
	DeleteExpiredSessions(ctx context.Context, t, idleBefore time.Time) (int, error)
}

// Session lifetimes. A session ends after SessionIdleTimeout without a
// request, and SessionMaxLifetime after sign-in whatever happens: a stolen
// cookie is useful for a bounded time, and a working day of use never
// meets the idle limit.
const (
	SessionIdleTimeout = 12 * time.Hour
	SessionMaxLifetime = 7 * 24 * time.Hour
	// SessionTouchInterval bounds how often a request writes LastSeenAt,
	// so browsing does not cost a database write per page.
	SessionTouchInterval = time.Minute
)

// ErrNoSession is the answer to any session token that does not name a
// live session of an enabled user.
var ErrNoSession = &Error{Code: CodeAuthenticationRequired, Message: "Your session has ended; please sign in again."}

// sessionTokenBytes is the entropy of a session token: 256 bits.
const sessionTokenBytes = 32

// HashSessionToken returns the stored ID of a session token.
func HashSessionToken(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// CreateSession signs userID in and returns the session with its token,
// which only the browser keeps.
func (s *Service) CreateSession(ctx context.Context, userID string) (*Session, string, error) {
	var b [sessionTokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", err
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	now := s.Now()
	sess := &Session{
		ID:         HashSessionToken(token),
		UserID:     userID,
		CreatedAt:  now,
		LastSeenAt: now,
		ExpiresAt:  now.Add(SessionMaxLifetime),
	}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return nil, "", err
	}
	return sess, token, nil
}

// SessionUser returns the user a session token signs in, checking on every
// call that the session has neither expired nor idled out and that the
// user still exists and is enabled. Any failure is ErrNoSession, except
// UNAVAILABLE when the database cannot answer.
func (s *Service) SessionUser(ctx context.Context, token string) (*User, *Session, error) {
	if token == "" || len(token) > 128 {
		return nil, nil, ErrNoSession
	}
	id := HashSessionToken(token)
	sess, err := s.store.Session(ctx, id)
	if err != nil {
		return nil, nil, lookupError(err, ErrNoSession)
	}
	if subtle.ConstantTimeCompare(sess.ID[:], id[:]) != 1 {
		return nil, nil, ErrNoSession
	}
	now := s.Now()
	if !now.Before(sess.ExpiresAt) || !now.Before(sess.LastSeenAt.Add(SessionIdleTimeout)) {
		// Best effort: an expired session is refused either way.
		_ = s.store.DeleteSession(ctx, id)
		return nil, nil, ErrNoSession
	}
	u, err := s.store.User(ctx, sess.UserID)
	if err != nil {
		return nil, nil, lookupError(err, ErrNoSession)
	}
	if u.Disabled {
		_, _ = s.store.DeleteUserSessions(ctx, u.ID)
		return nil, nil, ErrNoSession
	}
	if now.Sub(sess.LastSeenAt) >= SessionTouchInterval {
		if err := s.store.TouchSession(ctx, id, now); err != nil {
			return nil, nil, lookupError(err, ErrNoSession)
		}
		sess.LastSeenAt = now
	}
	return u, sess, nil
}

// DeleteSession signs a session token out; an unknown token is a no-op.
func (s *Service) DeleteSession(ctx context.Context, token string) error {
	return s.store.DeleteSession(ctx, HashSessionToken(token))
}

// DeleteUserSessions signs a user out everywhere.
func (s *Service) DeleteUserSessions(ctx context.Context, userID string) error {
	_, err := s.store.DeleteUserSessions(ctx, userID)
	return err
}

// PruneSessions removes sessions that can no longer be used.
func (s *Service) PruneSessions(ctx context.Context) (int, error) {
	now := s.Now()
	return s.store.DeleteExpiredSessions(ctx, now, now.Add(-SessionIdleTimeout))
}

// CSRFToken returns the anti-CSRF token of a session: an HMAC of a fixed
// label keyed by the session token. It is tied to the session, needs no
// storage, and cannot be computed by a page that cannot read the (HttpOnly)
// cookie.
func CSRFToken(sessionToken string) string {
	m := hmac.New(sha256.New, []byte(sessionToken))
	m.Write([]byte("latchkey csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ValidCSRFToken reports, in constant time, whether presented is the CSRF
// token of sessionToken.
func ValidCSRFToken(sessionToken, presented string) bool {
	if sessionToken == "" || presented == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(CSRFToken(sessionToken)), []byte(presented)) == 1
}
