package storetest

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// newSession returns a session of userID whose ID is the hash of token.
func newSession(token, userID string, created time.Time) *latchkey.Session {
	return &latchkey.Session{
		ID:         sha256.Sum256([]byte(token)),
		UserID:     userID,
		CreatedAt:  created,
		LastSeenAt: created,
		ExpiresAt:  created.Add(7 * 24 * time.Hour),
	}
}

func storedSession(s *latchkey.Session) *latchkey.Session {
	c := *s
	c.CreatedAt = s.CreatedAt.UTC().Truncate(time.Microsecond)
	c.LastSeenAt = s.LastSeenAt.UTC().Truncate(time.Microsecond)
	c.ExpiresAt = s.ExpiresAt.UTC().Truncate(time.Microsecond)
	return &c
}

func testSessions(t *testing.T, open func(t *testing.T) latchkey.Store) {
	runAll(t, open, []behaviour{
		{"create then get round-trips", func(t *testing.T, f fixture) {
			f.user("u1")
			in := newSession("t1", "u1", base)
			must(t, f.s.CreateSession(f.ctx(), in))
			got, err := f.s.Session(f.ctx(), in.ID)
			must(t, err)
			wantEqual(t, got, storedSession(in))
		}},
		{"unknown ID is NOT_FOUND", func(t *testing.T, f fixture) {
			_, err := f.s.Session(f.ctx(), sha256.Sum256([]byte("nope")))
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"unknown user is NOT_FOUND", func(t *testing.T, f fixture) {
			err := f.s.CreateSession(f.ctx(), newSession("t1", "ghost", base))
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"same ID twice is CONFLICT", func(t *testing.T, f fixture) {
			f.user("u1")
			must(t, f.s.CreateSession(f.ctx(), newSession("t1", "u1", base)))
			wantCode(t, f.s.CreateSession(f.ctx(), newSession("t1", "u1", base)), latchkey.CodeConflict)
		}},
		{"touch moves last seen forward, never back", func(t *testing.T, f fixture) {
			f.user("u1")
			s := newSession("t1", "u1", base)
			must(t, f.s.CreateSession(f.ctx(), s))
			must(t, f.s.TouchSession(f.ctx(), s.ID, base.Add(time.Hour)))
			must(t, f.s.TouchSession(f.ctx(), s.ID, base.Add(time.Minute)))
			got, err := f.s.Session(f.ctx(), s.ID)
			must(t, err)
			if want := at(time.Hour); !got.LastSeenAt.Equal(want) {
				t.Fatalf("LastSeenAt = %v, want %v", got.LastSeenAt, want)
			}
			must(t, f.s.TouchSession(f.ctx(), sha256.Sum256([]byte("nope")), base))
		}},
		{"delete removes one session", func(t *testing.T, f fixture) {
			f.user("u1")
			a, b := newSession("a", "u1", base), newSession("b", "u1", base)
			must(t, f.s.CreateSession(f.ctx(), a))
			must(t, f.s.CreateSession(f.ctx(), b))
			must(t, f.s.DeleteSession(f.ctx(), a.ID))
			must(t, f.s.DeleteSession(f.ctx(), a.ID)) // unknown: no-op
			_, err := f.s.Session(f.ctx(), a.ID)
			wantCode(t, err, latchkey.CodeNotFound)
			_, err = f.s.Session(f.ctx(), b.ID)
			must(t, err)
		}},
		{"delete user sessions removes only that user's", func(t *testing.T, f fixture) {
			f.user("u1")
			f.user("u2")
			for _, tok := range []string{"a", "b"} {
				must(t, f.s.CreateSession(f.ctx(), newSession(tok, "u1", base)))
			}
			other := newSession("c", "u2", base)
			must(t, f.s.CreateSession(f.ctx(), other))
			n, err := f.s.DeleteUserSessions(f.ctx(), "u1")
			must(t, err)
			if n != 2 {
				t.Fatalf("DeleteUserSessions removed %d, want 2", n)
			}
			_, err = f.s.Session(f.ctx(), other.ID)
			must(t, err)
		}},
		{"deleting the user deletes its sessions", func(t *testing.T, f fixture) {
			f.user("u1")
			s := newSession("a", "u1", base)
			must(t, f.s.CreateSession(f.ctx(), s))
			must(t, f.s.DeleteUser(f.ctx(), "u1"))
			_, err := f.s.Session(f.ctx(), s.ID)
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"delete expired removes past-end and idle sessions", func(t *testing.T, f fixture) {
			f.user("u1")
			live := newSession("live", "u1", base)
			ended := newSession("ended", "u1", base)
			ended.ExpiresAt = base.Add(time.Hour)
			idle := newSession("idle", "u1", base.Add(-time.Hour))
			for _, s := range []*latchkey.Session{live, ended, idle} {
				must(t, f.s.CreateSession(f.ctx(), s))
			}
			n, err := f.s.DeleteExpiredSessions(f.ctx(), base.Add(2*time.Hour), base.Add(-time.Minute))
			must(t, err)
			if n != 2 {
				t.Fatalf("DeleteExpiredSessions removed %d, want 2", n)
			}
			_, err = f.s.Session(f.ctx(), live.ID)
			must(t, err)
		}},
	})
}
