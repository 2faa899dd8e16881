package oauth_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/oauth"
)

// countingStore counts the reads a token verification may make.
type countingStore struct {
	latchkey.Store
	tokenRevoked atomic.Int64
	oauthClient  atomic.Int64
}

func (s *countingStore) TokenRevoked(ctx context.Context, jti string) (bool, error) {
	s.tokenRevoked.Add(1)
	return s.Store.TokenRevoked(ctx, jti)
}

func (s *countingStore) OAuthClient(ctx context.Context, id string) (*latchkey.OAuthClient, error) {
	s.oauthClient.Add(1)
	return s.Store.OAuthClient(ctx, id)
}

// node is another Latchkey on e's database: its own Service (and so its
// own cache) over store, verifying the tokens e issues.
func (e *env) node(store latchkey.Store) *latchkey.Service {
	e.t.Helper()
	svc := latchkey.NewService(store, latchkey.ServiceConfig{KeyPrefix: "lk", Now: e.clock.Now})
	srv, err := oauth.New(e.t.Context(), svc, store, oauth.Config{Issuer: e.url, KeyEncryptionKey: e.kek})
	if err != nil {
		e.t.Fatal(err)
	}
	svc.SetTokenVerifier(srv)
	return svc
}

func nodeVerifyCode(t *testing.T, svc *latchkey.Service, tok string) string {
	t.Helper()
	_, err := svc.Verify(t.Context(), latchkey.VerifyRequest{Credential: tok})
	return latchkey.ErrorCode(err)
}

// TestTokenChangesApplyOnTheVeryNextRequest warms the cache with a token,
// then checks each way of stopping it is seen by the next verification on
// this node, without any wait.
func TestTokenChangesApplyOnTheVeryNextRequest(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	yes := true
	for _, c := range []struct {
		name string
		stop func(id, secret, tok string)
	}{
		{"revoke the token", func(id, secret, tok string) {
			if res := e.post("/oauth/revoke", "token="+tok, "Authorization", basic(id, secret)); res.status != http.StatusOK {
				t.Fatalf("revoke: %d %s", res.status, res.raw)
			}
		}},
		{"disable the client", func(id, _, _ string) {
			if _, err := e.svc.UpdateOAuthClient(ctx, id, latchkey.OAuthClientPatch{Disabled: &yes}); err != nil {
				t.Fatal(err)
			}
		}},
		{"delete the client", func(id, _, _ string) {
			if err := e.svc.DeleteOAuthClient(ctx, id); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, secret := e.client("svc", "", "a")
			tok := e.token(id, secret)
			for range 3 {
				if code := e.verifyCode(tok); code != "" {
					t.Fatalf("warming: %s", code)
				}
			}
			c.stop(id, secret, tok)
			if code := e.verifyCode(tok); code != latchkey.CodeInvalidAPIKey {
				t.Fatalf("next verification: %q, want %s", code, latchkey.CodeInvalidAPIKey)
			}
		})
	}
}

// TestRepeatedTokenVerificationReadsNoDatabase: the deny-list answer and
// the client are read once, then served from memory.
func TestRepeatedTokenVerificationReadsNoDatabase(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client("svc", "", "a")
	tok := e.token(id, secret)
	store := &countingStore{Store: e.db}
	svc := e.node(store)

	if code := nodeVerifyCode(t, svc, tok); code != "" {
		t.Fatal(code)
	}
	if store.tokenRevoked.Load() != 1 || store.oauthClient.Load() != 1 {
		t.Fatalf("first verification read the deny-list %d and the client %d times, want 1 and 1",
			store.tokenRevoked.Load(), store.oauthClient.Load())
	}
	for range 5 {
		if code := nodeVerifyCode(t, svc, tok); code != "" {
			t.Fatal(code)
		}
	}
	if n, m := store.tokenRevoked.Load()-1, store.oauthClient.Load()-1; n != 0 || m != 0 {
		t.Fatalf("repeated verifications read the deny-list %d and the client %d times, want 0", n, m)
	}
}

// TestTokenChangesReachOtherNodes: a node sharing the database file drops
// its cached answers when the change feed reports a revocation or a
// disabled client made elsewhere.
func TestTokenChangesReachOtherNodes(t *testing.T) {
	e := newEnv(t)
	db, err := openDB(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	other := e.node(db)
	ctx, cancel := context.WithCancel(context.Background())
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		other.WatchChanges(ctx)
	}()
	t.Cleanup(func() { cancel(); <-watching })

	refusedByOther := func(t *testing.T, tok string) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for nodeVerifyCode(t, other, tok) != latchkey.CodeInvalidAPIKey {
			if time.Now().After(deadline) {
				t.Fatal("the other node still accepts the token 2s after the change")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	yes := true
	for _, c := range []struct {
		name string
		stop func(id, secret, tok string)
	}{
		{"revoked token", func(id, secret, tok string) {
			if res := e.post("/oauth/revoke", "token="+tok, "Authorization", basic(id, secret)); res.status != http.StatusOK {
				t.Fatalf("revoke: %d %s", res.status, res.raw)
			}
		}},
		{"disabled client", func(id, _, _ string) {
			if _, err := e.svc.UpdateOAuthClient(t.Context(), id, latchkey.OAuthClientPatch{Disabled: &yes}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, secret := e.client("svc", "", "a")
			tok := e.token(id, secret)
			for range 3 { // cached on the other node
				if code := nodeVerifyCode(t, other, tok); code != "" {
					t.Fatalf("other node before the change: %s", code)
				}
			}
			c.stop(id, secret, tok)
			refusedByOther(t, tok)
		})
	}
}
