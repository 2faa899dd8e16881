package latchkey_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/sqlite"
)

func TestSessions(t *testing.T) {
	ctx := t.Context()
	signIn := func(t *testing.T, svc *latchkey.Service, userID string) string {
		t.Helper()
		_, token, err := svc.CreateSession(ctx, userID)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}

	t.Run("a new session signs its user in", func(t *testing.T) {
		svc, _, _ := newService(t)
		mustUser(t, svc, "u1")
		token := signIn(t, svc, "u1")
		if len(token) < 22 { // 128 bits in base64
			t.Fatalf("token %q is too short", token)
		}
		u, _, err := svc.SessionUser(ctx, token)
		if err != nil || u.ID != "u1" {
			t.Fatalf("SessionUser = %v, %v; want u1", u, err)
		}
	})
	t.Run("unknown and empty tokens are refused", func(t *testing.T) {
		svc, _, _ := newService(t)
		for _, tok := range []string{"", "nope", string(make([]byte, 500))} {
			_, _, err := svc.SessionUser(ctx, tok)
			wantCode(t, err, latchkey.CodeAuthenticationRequired)
		}
	})
	t.Run("idle sessions end after the idle timeout", func(t *testing.T) {
		svc, _, clk := newService(t)
		mustUser(t, svc, "u1")
		token := signIn(t, svc, "u1")
		clk.Advance(latchkey.SessionIdleTimeout - time.Minute)
		if _, _, err := svc.SessionUser(ctx, token); err != nil {
			t.Fatalf("just before idle timeout: %v", err)
		}
		// That request moved LastSeenAt, so another idle period is allowed.
		clk.Advance(latchkey.SessionIdleTimeout - time.Minute)
		if _, _, err := svc.SessionUser(ctx, token); err != nil {
			t.Fatalf("active session: %v", err)
		}
		clk.Advance(latchkey.SessionIdleTimeout)
		_, _, err := svc.SessionUser(ctx, token)
		wantCode(t, err, latchkey.CodeAuthenticationRequired)
	})
	t.Run("active sessions end at the absolute lifetime", func(t *testing.T) {
		svc, _, clk := newService(t)
		mustUser(t, svc, "u1")
		token := signIn(t, svc, "u1")
		for elapsed := time.Duration(0); elapsed < latchkey.SessionMaxLifetime-time.Hour; elapsed += 6 * time.Hour {
			if _, _, err := svc.SessionUser(ctx, token); err != nil {
				t.Fatalf("after %v: %v", elapsed, err)
			}
			clk.Advance(6 * time.Hour)
		}
		clk.Advance(time.Hour)
		_, _, err := svc.SessionUser(ctx, token)
		wantCode(t, err, latchkey.CodeAuthenticationRequired)
	})
	t.Run("disabling the user ends its sessions for good", func(t *testing.T) {
		svc, _, _ := newService(t)
		mustUser(t, svc, "u1")
		token := signIn(t, svc, "u1")
		yes, no := true, false
		if _, err := svc.UpdateUser(ctx, "u1", latchkey.UserPatch{Disabled: &yes}); err != nil {
			t.Fatal(err)
		}
		_, _, err := svc.SessionUser(ctx, token)
		wantCode(t, err, latchkey.CodeAuthenticationRequired)
		if _, err := svc.UpdateUser(ctx, "u1", latchkey.UserPatch{Disabled: &no}); err != nil {
			t.Fatal(err)
		}
		_, _, err = svc.SessionUser(ctx, token)
		wantCode(t, err, latchkey.CodeAuthenticationRequired)
	})
	t.Run("a user disabled directly in the store is refused", func(t *testing.T) {
		svc, db, _ := newService(t)
		mustUser(t, svc, "u1")
		token := signIn(t, svc, "u1")
		if _, err := db.UpdateUser(ctx, "u1", func(u *latchkey.User) error { u.Disabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
		_, _, err := svc.SessionUser(ctx, token)
		wantCode(t, err, latchkey.CodeAuthenticationRequired)
	})
	t.Run("deleting the user ends its sessions", func(t *testing.T) {
		svc, _, _ := newService(t)
		mustUser(t, svc, "u1")
		token := signIn(t, svc, "u1")
		if err := svc.DeleteUser(ctx, "u1"); err != nil {
			t.Fatal(err)
		}
		_, _, err := svc.SessionUser(ctx, token)
		wantCode(t, err, latchkey.CodeAuthenticationRequired)
	})
	t.Run("a password change ends the user's sessions", func(t *testing.T) {
		svc, _, _ := newService(t)
		if _, err := svc.CreateUser(ctx, latchkey.NewUser{ID: "u1", Email: "a@example.com", Password: "correct horse battery"}); err != nil {
			t.Fatal(err)
		}
		token := signIn(t, svc, "u1")
		pw := "another long password"
		if _, err := svc.UpdateUser(ctx, "u1", latchkey.UserPatch{Password: &pw}); err != nil {
			t.Fatal(err)
		}
		_, _, err := svc.SessionUser(ctx, token)
		wantCode(t, err, latchkey.CodeAuthenticationRequired)
	})
	t.Run("sign-out ends only that session", func(t *testing.T) {
		svc, _, _ := newService(t)
		mustUser(t, svc, "u1")
		a, b := signIn(t, svc, "u1"), signIn(t, svc, "u1")
		if err := svc.DeleteSession(ctx, a); err != nil {
			t.Fatal(err)
		}
		_, _, err := svc.SessionUser(ctx, a)
		wantCode(t, err, latchkey.CodeAuthenticationRequired)
		if _, _, err := svc.SessionUser(ctx, b); err != nil {
			t.Fatalf("other session: %v", err)
		}
	})
	t.Run("prune removes ended sessions", func(t *testing.T) {
		svc, _, clk := newService(t)
		mustUser(t, svc, "u1")
		signIn(t, svc, "u1")
		clk.Advance(latchkey.SessionIdleTimeout + time.Minute)
		fresh := signIn(t, svc, "u1")
		n, err := svc.PruneSessions(ctx)
		if err != nil || n != 1 {
			t.Fatalf("PruneSessions = %d, %v; want 1", n, err)
		}
		if _, _, err := svc.SessionUser(ctx, fresh); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the token is not stored, only its hash", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "latchkey.db")
		db, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		svc := latchkey.NewService(db, latchkey.ServiceConfig{})
		mustUser(t, svc, "u1")
		token := signIn(t, svc, "u1")
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"latchkey.db", "latchkey.db-wal"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(token)) {
				t.Fatalf("%s contains the session token in plaintext", name)
			}
		}
		h := latchkey.HashSessionToken(token)
		b, _ := os.ReadFile(path)
		if !bytes.Contains(b, h[:]) {
			t.Fatal("the database does not contain the token's hash; did the session land elsewhere?")
		}
	})
}

func TestCSRFToken(t *testing.T) {
	a, b := latchkey.CSRFToken("session-a"), latchkey.CSRFToken("session-b")
	switch {
	case a == b:
		t.Fatal("two sessions share a CSRF token")
	case a == "session-a":
		t.Fatal("the CSRF token is the session token")
	case !latchkey.ValidCSRFToken("session-a", a):
		t.Fatal("own token refused")
	case latchkey.ValidCSRFToken("session-a", b):
		t.Fatal("another session's token accepted")
	case latchkey.ValidCSRFToken("session-a", ""), latchkey.ValidCSRFToken("", latchkey.CSRFToken("")):
		t.Fatal("empty token accepted")
	}
}
