package latchkey_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apikey"
)

// TestCachedKeysNeedNoDatabase closes the database under a warm cache: a
// key verified before keeps verifying, and an unknown key seen before is
// still answered INVALID_API_KEY from memory.
func TestCachedKeysNeedNoDatabase(t *testing.T) {
	svc, db, _ := newService(t)
	mustUser(t, svc, "u", "t1")
	ctx := context.Background()
	_, secret, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k", TenantIDs: []string{"t1"}})
	if err != nil {
		t.Fatal(err)
	}
	unknown, _ := apikey.Generate("tb", "live")
	if _, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: secret}); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Verify(ctx, latchkey.VerifyRequest{Credential: unknown.String()})
	wantCode(t, err, latchkey.CodeInvalidAPIKey)

	db.Close()
	for range 3 {
		id, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: secret, TenantID: "t1"})
		if err != nil || id.Tenant.ID != "t1" {
			t.Fatalf("cached key with the database down: %v, %v", id, err)
		}
		_, err = svc.Verify(ctx, latchkey.VerifyRequest{Credential: unknown.String()})
		wantCode(t, err, latchkey.CodeInvalidAPIKey)
	}
	// A key never seen needs the database, which is down: UNAVAILABLE, never 401.
	other, _ := apikey.Generate("tb", "live")
	_, err = svc.Verify(ctx, latchkey.VerifyRequest{Credential: other.String()})
	wantCode(t, err, latchkey.CodeUnavailable)
}

// TestChangesApplyOnTheVeryNextRequest warms the cache, then checks every
// change is visible to the next verification without any wait.
func TestChangesApplyOnTheVeryNextRequest(t *testing.T) {
	svc, _, _ := newService(t)
	mustUser(t, svc, "u", "t1")
	ctx := context.Background()
	changes := []struct {
		name  string
		apply func(id string) error
		code  string
	}{
		{"disable", func(id string) error { _, err := svc.ToggleKey(ctx, "u", id); return err }, latchkey.CodeKeyDisabled},
		{"revoke", func(id string) error { _, err := svc.RevokeKey(ctx, "u", id); return err }, latchkey.CodeKeyRevoked},
		{"delete", func(id string) error { return svc.DeleteKey(ctx, "u", id) }, latchkey.CodeInvalidAPIKey},
		{"rotate", func(id string) error { _, _, err := svc.RotateKey(ctx, "u", id, 0); return err }, latchkey.CodeKeyExpired},
		{"drop permission", func(id string) error {
			_, err := svc.UpdateKey(ctx, "u", id, latchkey.KeyPatch{Permissions: &[]string{}})
			return err
		}, latchkey.CodeInsufficientPermission},
		{"unlink tenant", func(id string) error {
			_, err := svc.UpdateKey(ctx, "u", id, latchkey.KeyPatch{TenantIDs: &[]string{}})
			return err
		}, latchkey.CodeTenantNotFound},
		{"delete owner", func(string) error { return svc.DeleteUser(ctx, "u") }, latchkey.CodeInvalidAPIKey},
	}
	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			if _, err := svc.User(ctx, "u"); err != nil {
				mustUser(t, svc, "u", "t1")
			}
			k, secret, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k", Permissions: []string{"a:b"}, TenantIDs: []string{"t1"}})
			if err != nil {
				t.Fatal(err)
			}
			req := latchkey.VerifyRequest{Credential: secret, Permissions: []string{"a:b"}, TenantID: "t1"}
			for range 3 { // warm
				if _, err := svc.Verify(ctx, req); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.apply(k.ID); err != nil {
				t.Fatal(err)
			}
			_, err = svc.Verify(ctx, req)
			wantCode(t, err, c.code)
		})
	}
}

// TestRevocationRacesWithVerification hammers a key while it is revoked:
// once RevokeKey has returned, no verification may succeed.
func TestRevocationRacesWithVerification(t *testing.T) {
	svc, _, _ := newService(t)
	mustUser(t, svc, "u")
	ctx := context.Background()
	for range 20 {
		k, secret, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k"})
		if err != nil {
			t.Fatal(err)
		}
		var revoked atomic.Bool
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 200 {
					after := revoked.Load()
					_, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: secret})
					if after && err == nil {
						t.Error("a revoked key verified")
						return
					}
				}
			}()
		}
		if _, err := svc.RevokeKey(ctx, "u", k.ID); err != nil {
			t.Fatal(err)
		}
		revoked.Store(true)
		wg.Wait()
	}
}

func TestCachesAreBounded(t *testing.T) {
	_, db, _ := newService(t)
	svc := latchkey.NewService(db, latchkey.ServiceConfig{MaxCachedKeys: 50, MaxUnknownKeys: 100, MaxCachedTokens: 100})
	ctx := context.Background()
	mustUser(t, svc, "u")
	for i := range 1000 {
		k, _ := apikey.Generate("tb", "live")
		svc.AuthenticateKey(ctx, k.String())
		if _, err := svc.TokenRevoked(ctx, fmt.Sprint("jti-", i)); err != nil {
			t.Fatal(err)
		}
	}
	var secrets []string
	for range 120 {
		_, secret, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k"})
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, secret)
		if _, err := svc.AuthenticateKey(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	st := svc.CacheStats()
	if st.Unknown > 100 || st.Keys > 50 || st.Tokens > 100 {
		t.Fatalf("cache holds %+v, bounds are 50 keys, 100 unknown and 100 tokens", st)
	}
	// Evicted keys still verify: they are read again.
	for _, s := range secrets {
		if _, err := svc.AuthenticateKey(ctx, s); err != nil {
			t.Fatalf("evicted key: %v", err)
		}
	}
}

// TestTokenAnswersFollowRevocationAndInvalidateAll: "not revoked" answers
// are cached until the token is revoked through the Service, or until
// everything is dropped (a Change{All} from the feed).
func TestTokenAnswersFollowRevocationAndInvalidateAll(t *testing.T) {
	svc, _, c := newService(t)
	ctx := context.Background()
	for _, jti := range []string{"a", "b"} {
		if revoked, err := svc.TokenRevoked(ctx, jti); err != nil || revoked {
			t.Fatalf("TokenRevoked(%s) = %v, %v", jti, revoked, err)
		}
	}
	if n := svc.CacheStats().Tokens; n != 2 {
		t.Fatalf("cached token answers = %d, want 2", n)
	}
	err := svc.RevokeToken(ctx, &latchkey.RevokedToken{JTI: "a", ClientID: "client_x", ExpiresAt: c.Now().Add(time.Hour), RevokedAt: c.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if revoked, err := svc.TokenRevoked(ctx, "a"); err != nil || !revoked {
		t.Fatalf("TokenRevoked after RevokeToken = %v, %v; want true", revoked, err)
	}
	svc.InvalidateAll()
	if n := svc.CacheStats().Tokens; n != 0 {
		t.Fatalf("cached token answers after InvalidateAll = %d, want 0", n)
	}
}
