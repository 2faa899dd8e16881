package latchkey_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apikey"
	"github.com/latchkey/latchkey/sqlite"
)

// clock is a settable time source shared by a test and its service.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

func newService(t testing.TB) (*latchkey.Service, *sqlite.DB, *clock) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "latchkey.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	return latchkey.NewService(db, latchkey.ServiceConfig{KeyPrefix: "tb", Now: c.Now}), db, c
}

func mustUser(t testing.TB, svc *latchkey.Service, id string, tenants ...string) *latchkey.User {
	t.Helper()
	ctx := context.Background()
	for _, tid := range tenants {
		if _, err := svc.Tenant(ctx, tid); err != nil {
			if _, err := svc.CreateTenant(ctx, tid, "Tenant "+tid); err != nil {
				t.Fatal(err)
			}
		}
	}
	u, err := svc.CreateUser(ctx, latchkey.NewUser{ID: id, TenantIDs: tenants})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := latchkey.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

func TestCreateKeyIssuesWellFormedSecret(t *testing.T) {
	svc, _, _ := newService(t)
	mustUser(t, svc, "user-1", "t1", "t2")
	ctx := context.Background()
	k, secret, err := svc.CreateKey(ctx, "user-1", latchkey.NewKey{
		Name: "My App", Environment: "test", Permissions: []string{"messages:send", "messages:send", "billing:*"},
		TenantIDs: []string{"t2", "t1", "t2"}, RateLimit: &latchkey.RateLimit{Limit: 10, Window: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := apikey.Parse(secret)
	if err != nil {
		t.Fatalf("issued secret %q does not parse: %v", secret, err)
	}
	if parsed.Prefix != "tb" || parsed.Environment != "test" || k.Hash != parsed.Hash() || k.Masked != parsed.Masked() {
		t.Fatalf("key record does not match its secret: %+v", k)
	}
	if strings.Join(k.Permissions, ",") != "messages:send,billing:*" || strings.Join(k.TenantIDs, ",") != "t2,t1" {
		t.Fatalf("permissions %v / tenants %v not deduplicated in order", k.Permissions, k.TenantIDs)
	}
	got, err := svc.AuthenticateKey(ctx, secret)
	if err != nil || got.ID != k.ID {
		t.Fatalf("AuthenticateKey = %v, %v", got, err)
	}
}

func TestCreateKeyValidation(t *testing.T) {
	svc, _, c := newService(t)
	mustUser(t, svc, "user-1", "t1")
	mustUser(t, svc, "user-2", "t2")
	past := c.Now().Add(-time.Hour)
	cases := map[string]latchkey.NewKey{
		"missing name":          {},
		"blank name":            {Name: "   "},
		"long name":             {Name: strings.Repeat("n", 101)},
		"control chars in name": {Name: "a\x1bb"},
		"bad environment":       {Name: "k", Environment: "root"},
		"bad permission":        {Name: "k", Permissions: []string{"messages send"}},
		"foreign tenant":        {Name: "k", TenantIDs: []string{"t2"}},
		"unknown tenant":        {Name: "k", TenantIDs: []string{"nope"}},
		"expiry in the past":    {Name: "k", ExpiresAt: &past},
		"zero rate limit":       {Name: "k", RateLimit: &latchkey.RateLimit{Limit: 0, Window: time.Minute}},
		"tiny window":           {Name: "k", RateLimit: &latchkey.RateLimit{Limit: 1, Window: time.Millisecond}},
		"huge meta":             {Name: "k", Meta: map[string]any{"x": strings.Repeat("m", 20000)}},
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := svc.CreateKey(context.Background(), "user-1", in)
			wantCode(t, err, latchkey.CodeValidationFailed)
		})
	}
	t.Run("unknown owner", func(t *testing.T) {
		_, _, err := svc.CreateKey(context.Background(), "ghost", latchkey.NewKey{Name: "k"})
		wantCode(t, err, latchkey.CodeNotFound)
	})
}

func TestAuthenticateKeyStates(t *testing.T) {
	svc, _, c := newService(t)
	mustUser(t, svc, "u")
	ctx := context.Background()
	create := func() (*latchkey.Key, string) {
		k, s, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k"})
		if err != nil {
			t.Fatal(err)
		}
		return k, s
	}

	_, err := svc.AuthenticateKey(ctx, "tb_live_garbage")
	wantCode(t, err, latchkey.CodeInvalidAPIKey)

	unknown, _ := apikey.Generate("tb", "live")
	_, err = svc.AuthenticateKey(ctx, unknown.String())
	wantCode(t, err, latchkey.CodeInvalidAPIKey)

	_, rootSecret, err := svc.CreateRootKey(ctx, "root", []string{"*"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.AuthenticateKey(ctx, rootSecret)
	wantCode(t, err, latchkey.CodeInvalidAPIKey)

	disabled, disabledSecret := create()
	if _, err := svc.ToggleKey(ctx, "u", disabled.ID); err != nil {
		t.Fatal(err)
	}
	_, err = svc.AuthenticateKey(ctx, disabledSecret)
	wantCode(t, err, latchkey.CodeKeyDisabled)

	revoked, revokedSecret := create()
	if _, err := svc.RevokeKey(ctx, "u", revoked.ID); err != nil {
		t.Fatal(err)
	}
	_, err = svc.AuthenticateKey(ctx, revokedSecret)
	wantCode(t, err, latchkey.CodeKeyRevoked)
	_, err = svc.ToggleKey(ctx, "u", revoked.ID)
	wantCode(t, err, latchkey.CodeConflict)

	expiring, expiringSecret := create()
	soon := c.Now().Add(time.Minute)
	if _, err := svc.UpdateKey(ctx, "u", expiring.ID, latchkey.KeyPatch{SetExpiresAt: true, ExpiresAt: &soon}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateKey(ctx, expiringSecret); err != nil {
		t.Fatalf("key before expiry: %v", err)
	}
	c.Advance(time.Minute)
	_, err = svc.AuthenticateKey(ctx, expiringSecret)
	wantCode(t, err, latchkey.CodeKeyExpired)

	deleted, deletedSecret := create()
	if err := svc.DeleteKey(ctx, "u", deleted.ID); err != nil {
		t.Fatal(err)
	}
	_, err = svc.AuthenticateKey(ctx, deletedSecret)
	wantCode(t, err, latchkey.CodeInvalidAPIKey)
}

func TestOtherUsersKeysAreNotFound(t *testing.T) {
	svc, _, _ := newService(t)
	mustUser(t, svc, "alice")
	mustUser(t, svc, "bob")
	ctx := context.Background()
	k, _, err := svc.CreateKey(ctx, "alice", latchkey.NewKey{Name: "alice's"})
	if err != nil {
		t.Fatal(err)
	}
	name := "pwned"
	checks := map[string]error{}
	_, checks["get"] = svc.GetKey(ctx, "bob", k.ID)
	_, checks["update"] = svc.UpdateKey(ctx, "bob", k.ID, latchkey.KeyPatch{Name: &name})
	_, checks["toggle"] = svc.ToggleKey(ctx, "bob", k.ID)
	_, checks["revoke"] = svc.RevokeKey(ctx, "bob", k.ID)
	_, _, checks["rotate"] = svc.RotateKey(ctx, "bob", k.ID, 0)
	checks["delete"] = svc.DeleteKey(ctx, "bob", k.ID)
	for op, err := range checks {
		if latchkey.ErrorCode(err) != latchkey.CodeNotFound {
			t.Errorf("%s of another user's key: %v, want NOT_FOUND", op, err)
		}
	}
	after, err := svc.GetKey(ctx, "alice", k.ID)
	if err != nil || after.Name != "alice's" || !after.IsActive || after.RevokedAt != nil {
		t.Fatalf("alice's key changed: %+v, %v", after, err)
	}
	// An admin (owner "") reaches any key.
	if _, err := svc.GetKey(ctx, "", k.ID); err != nil {
		t.Fatal(err)
	}
}

func TestRotateKeepsSettingsAndExpiresOldKeyAfterGrace(t *testing.T) {
	svc, _, c := newService(t)
	mustUser(t, svc, "u", "t1")
	ctx := context.Background()
	old, oldSecret, err := svc.CreateKey(ctx, "u", latchkey.NewKey{
		Name: "prod", Environment: "test", Permissions: []string{"a:b"}, TenantIDs: []string{"t1"},
		RateLimit: &latchkey.RateLimit{Limit: 5, Window: time.Second}, Meta: map[string]any{"team": "x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	next, nextSecret, err := svc.RotateKey(ctx, "u", old.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if next.ID == old.ID || nextSecret == oldSecret || next.RotatedFrom != old.ID {
		t.Fatalf("rotation did not issue a new linked key: %+v", next)
	}
	if next.Name != "prod" || next.Environment != "test" || next.Permissions[0] != "a:b" || next.TenantIDs[0] != "t1" ||
		*next.RateLimit != *old.RateLimit || next.Meta["team"] != "x" {
		t.Fatalf("rotation lost settings: %+v", next)
	}
	if _, err := svc.AuthenticateKey(ctx, oldSecret); err != nil {
		t.Fatalf("old key inside grace period: %v", err)
	}
	c.Advance(time.Hour)
	_, err = svc.AuthenticateKey(ctx, oldSecret)
	wantCode(t, err, latchkey.CodeKeyExpired)
	if _, err := svc.AuthenticateKey(ctx, nextSecret); err != nil {
		t.Fatalf("new key: %v", err)
	}

	// Grace 0: the old key stops at once.
	third, _, err := svc.RotateKey(ctx, "u", next.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.AuthenticateKey(ctx, nextSecret)
	wantCode(t, err, latchkey.CodeKeyExpired)
	if third.RotatedFrom != next.ID {
		t.Fatalf("rotatedFrom = %q", third.RotatedFrom)
	}

	_, _, err = svc.RotateKey(ctx, "u", third.ID, -time.Second)
	wantCode(t, err, latchkey.CodeValidationFailed)
	if _, err := svc.RevokeKey(ctx, "u", third.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err = svc.RotateKey(ctx, "u", third.ID, 0)
	wantCode(t, err, latchkey.CodeConflict)
}

func TestResolveTenant(t *testing.T) {
	svc, _, _ := newService(t)
	mustUser(t, svc, "u", "t1", "t2")
	mustUser(t, svc, "other", "t3")
	ctx := context.Background()
	linked := []string{"t2", "t1"}
	cases := []struct {
		requested string
		want      string
		code      string
	}{
		{"", "t2", ""},
		{"t1", "t1", ""},
		{"t3", "", latchkey.CodeTenantNotFound},
		{"missing", "", latchkey.CodeTenantNotFound},
	}
	for _, c := range cases {
		tn, err := svc.ResolveTenant(ctx, linked, c.requested)
		if c.code != "" {
			wantCode(t, err, c.code)
			continue
		}
		if err != nil || tn.ID != c.want {
			t.Errorf("ResolveTenant(%q) = %v, %v; want %s", c.requested, tn, err, c.want)
		}
	}
	if tn, err := svc.ResolveTenant(ctx, nil, ""); tn != nil || err != nil {
		t.Errorf("no linked tenants: %v, %v; want nil, nil", tn, err)
	}
}

func TestRootKeys(t *testing.T) {
	svc, _, _ := newService(t)
	ctx := context.Background()
	rk, secret, err := svc.CreateRootKey(ctx, "ci", []string{"keys:verify"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.AuthenticateRoot(ctx, secret)
	if err != nil || got.ID != rk.ID || !got.HasScope("keys:verify") || got.HasScope("admin") {
		t.Fatalf("AuthenticateRoot = %+v, %v", got, err)
	}
	_, _, err = svc.CreateRootKey(ctx, "bad", []string{"keys:everything"})
	wantCode(t, err, latchkey.CodeValidationFailed)
	_, _, err = svc.CreateRootKey(ctx, "none", nil)
	wantCode(t, err, latchkey.CodeValidationFailed)

	if err := svc.EnsureRootKey(ctx, "lk_root_short"); err == nil || strings.Contains(err.Error(), "lk_root_short") {
		t.Fatalf("malformed LATCHKEY_ROOT_KEY: %v (must fail without echoing the value)", err)
	}
	env, _ := apikey.Generate("lk", "root")
	for range 2 { // idempotent
		if err := svc.EnsureRootKey(ctx, env.String()); err != nil {
			t.Fatal(err)
		}
	}
	envKey, err := svc.AuthenticateRoot(ctx, env.String())
	if err != nil || !envKey.HasScope("admin") {
		t.Fatalf("LATCHKEY_ROOT_KEY not usable: %v", err)
	}
	roots, _ := svc.ListRootKeys(ctx)
	if len(roots) != 2 {
		t.Fatalf("%d root keys, want 2", len(roots))
	}
}

func TestBootstrapOnlyOnce(t *testing.T) {
	svc, _, _ := newService(t)
	ctx := context.Background()
	b, err := svc.BootstrapIfEmpty(ctx, "")
	if err != nil || b == nil || b.RootKey == "" || b.AdminPassword == "" {
		t.Fatalf("first start: %+v, %v", b, err)
	}
	if _, err := svc.AuthenticateRoot(ctx, b.RootKey); err != nil {
		t.Fatalf("bootstrap root key: %v", err)
	}
	if u, err := svc.CheckPassword(ctx, b.AdminEmail, b.AdminPassword); err != nil || !u.IsAdmin {
		t.Fatalf("admin login: %+v, %v", u, err)
	}
	again, err := svc.BootstrapIfEmpty(ctx, "")
	if err != nil || again != nil {
		t.Fatalf("second start bootstrapped again: %+v, %v", again, err)
	}
}

func TestBootstrapWithEnvRootKey(t *testing.T) {
	svc, _, _ := newService(t)
	ctx := context.Background()
	if _, err := svc.BootstrapIfEmpty(ctx, "tb_root_nope"); err == nil {
		t.Fatal("malformed root key accepted")
	}
	if users, _ := svc.ListUsers(ctx, latchkey.Page{}); len(users) != 0 {
		t.Fatal("a refused start still created the admin user")
	}
	env, _ := apikey.Generate("tb", "root")
	b, err := svc.BootstrapIfEmpty(ctx, env.String())
	if err != nil || b == nil || b.RootKey != "" {
		t.Fatalf("bootstrap with env root key: %+v, %v", b, err)
	}
	if _, err := svc.AuthenticateRoot(ctx, env.String()); err != nil {
		t.Fatal(err)
	}
}

func TestCheckPassword(t *testing.T) {
	svc, _, _ := newService(t)
	ctx := context.Background()
	if _, err := svc.CreateUser(ctx, latchkey.NewUser{ID: "p", Email: "P@Example.com", Password: "hunter2hunter2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CheckPassword(ctx, "p@example.com", "hunter2hunter2"); err != nil {
		t.Fatalf("right password: %v", err)
	}
	for _, c := range [][2]string{{"p@example.com", "wrong-password"}, {"nobody@example.com", "hunter2hunter2"}} {
		if _, err := svc.CheckPassword(ctx, c[0], c[1]); err == nil {
			t.Errorf("CheckPassword(%q) succeeded", c[0])
		}
	}
	_, err := svc.CreateUser(ctx, latchkey.NewUser{ID: "q", Password: "hunter2hunter2"})
	wantCode(t, err, latchkey.CodeValidationFailed)
	_, err = svc.CreateUser(ctx, latchkey.NewUser{ID: "r", Email: "not an email"})
	wantCode(t, err, latchkey.CodeValidationFailed)
	_, err = svc.CreateUser(ctx, latchkey.NewUser{ID: "s", Email: "s@example.com", Password: "short"})
	wantCode(t, err, latchkey.CodeValidationFailed)
}

// TestUsageCounterIsExactUnderConcurrency records uses of 100 keys from 16
// goroutines while flushes run: none may be lost or counted twice, and each
// key keeps the time of its own latest use.
func TestUsageCounterIsExactUnderConcurrency(t *testing.T) {
	svc, _, c := newService(t)
	mustUser(t, svc, "u")
	ctx := context.Background()
	keys := make([]*latchkey.Key, 100)
	for i := range keys {
		k, _, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: fmt.Sprintf("k%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	const workers, perWorker = 16, 500
	concurrently(workers, perWorker, func(w, i int) bool {
		n := w*perWorker + i // use n is of key n % len(keys), at n µs
		svc.Usage().Record(keys[n%len(keys)].ID, c.Now().Add(time.Duration(n)*time.Microsecond))
		if i%100 == 0 {
			if err := svc.Usage().Flush(ctx); err != nil {
				t.Error(err)
			}
		}
		return true
	})
	if err := svc.Usage().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	const uses = workers * perWorker
	for j, k := range keys {
		got, err := svc.GetKey(ctx, "u", k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.RequestCount != uses/int64(len(keys)) {
			t.Fatalf("key %d: requestCount = %d, want %d", j, got.RequestCount, uses/len(keys))
		}
		wantLast := c.Now().Add(time.Duration(uses-len(keys)+j) * time.Microsecond)
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(wantLast) {
			t.Fatalf("key %d: lastUsedAt = %v, want %v", j, got.LastUsedAt, wantLast)
		}
	}
}

// concurrently runs use(w, i) for i in [0, perWorker) on each of workers
// goroutines at once; a worker stops early when use returns false.
func concurrently(workers, perWorker int, use func(w, i int) bool) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				if !use(w, i) {
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestVerifiedUsesAreExactUnderConcurrency counts uses the way the hot path
// does (a cached key's own counter, without a lock) while flushes run and
// the cache entry is replaced under the workers, so uses land in several
// counters for one key: none may be lost or counted twice.
func TestVerifiedUsesAreExactUnderConcurrency(t *testing.T) {
	svc, _, c := newService(t)
	mustUser(t, svc, "u")
	ctx := context.Background()
	k, secret, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	const workers, perWorker = 8, 500
	concurrently(workers, perWorker, func(w, i int) bool {
		if _, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: secret}); err != nil {
			t.Error(err)
			return false
		}
		switch {
		case i%100 == 0:
			if err := svc.Usage().Flush(ctx); err != nil {
				t.Error(err)
			}
		case w == 0 && i%50 == 25:
			svc.InvalidateKey(k.ID) // the next check caches a new record
		}
		return true
	})
	if n := svc.Usage().Pending(k.ID); n == 0 {
		t.Error("no uses pending before the last flush: Pending does not see the hot path's counters")
	}
	if err := svc.Usage().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := svc.Usage().Pending(k.ID); n != 0 {
		t.Errorf("pending after the last flush = %d, want 0", n)
	}
	got, err := svc.GetKey(ctx, "u", k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.RequestCount != workers*perWorker {
		t.Fatalf("requestCount = %d, want %d", got.RequestCount, workers*perWorker)
	}
	wantLast := c.Now().UTC().Truncate(time.Microsecond)
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(wantLast) {
		t.Fatalf("lastUsedAt = %v, want %v", got.LastUsedAt, wantLast)
	}
}

// TestUsageCounterKeepsBatchWhenStoreFails closes the database under the
// counter (a real failure) and checks nothing recorded is lost.
func TestUsageCounterKeepsBatchWhenStoreFails(t *testing.T) {
	svc, db, _ := newService(t)
	ctx := context.Background()
	mustUser(t, svc, "u")
	k, _, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	svc.Usage().Record(k.ID, time.Now())
	svc.Usage().Record(k.ID, time.Now())
	db.Close()
	if err := svc.Usage().Flush(ctx); err == nil {
		t.Fatal("flush to a closed database succeeded")
	}
	svc.Usage().Record(k.ID, time.Now())
	if n := svc.Usage().Pending(k.ID); n != 3 {
		t.Fatalf("pending uses after a failed flush = %d, want 3", n)
	}
}

func TestVerify(t *testing.T) {
	svc, _, _ := newService(t)
	mustUser(t, svc, "u", "t1", "t2")
	ctx := context.Background()
	_, secret, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k", Environment: "test", Permissions: []string{"messages:*"}, TenantIDs: []string{"t1", "t2"}})
	if err != nil {
		t.Fatal(err)
	}
	_, noTenantSecret, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "bare", Permissions: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		req    latchkey.VerifyRequest
		code   string
		tenant string
	}{
		{"no credential", latchkey.VerifyRequest{}, latchkey.CodeAuthenticationRequired, ""},
		{"garbage", latchkey.VerifyRequest{Credential: "nope"}, latchkey.CodeInvalidAPIKey, ""},
		{"first tenant by default", latchkey.VerifyRequest{Credential: secret}, "", "t1"},
		{"tenant selected", latchkey.VerifyRequest{Credential: secret, TenantID: "t2"}, "", "t2"},
		{"tenant not linked", latchkey.VerifyRequest{Credential: secret, TenantID: "t3"}, latchkey.CodeTenantNotFound, ""},
		{"wildcard permission", latchkey.VerifyRequest{Credential: secret, Permissions: []string{"messages:send"}}, "", "t1"},
		{"missing permission", latchkey.VerifyRequest{Credential: secret, Permissions: []string{"messages:send", "billing:read"}}, latchkey.CodeInsufficientPermission, ""},
		{"wrong environment", latchkey.VerifyRequest{Credential: secret, Environment: "live"}, latchkey.CodeForbidden, ""},
		{"no tenant allowed", latchkey.VerifyRequest{Credential: noTenantSecret}, "", ""},
		{"no tenant required", latchkey.VerifyRequest{Credential: noTenantSecret, RequireTenant: true}, latchkey.CodeAPIKeyNoTenant, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := svc.Verify(ctx, c.req)
			if c.code != "" {
				wantCode(t, err, c.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if id.Tenant != nil {
				got = id.Tenant.ID
			}
			if got != c.tenant || id.Credential != latchkey.CredentialAPIKey {
				t.Fatalf("identity %+v, want tenant %q", id, c.tenant)
			}
		})
	}
	var missing *latchkey.Error
	_, err = svc.Verify(ctx, latchkey.VerifyRequest{Credential: secret, Permissions: []string{"billing:read"}})
	if !errors.As(err, &missing) || missing.Permission != "billing:read" || missing.Message != "Your API key does not have the 'billing:read' permission." {
		t.Fatalf("missing permission error = %#v", err)
	}
}

// SPEC §3 orders a key's tenants by when they were linked and §6 makes the
// first one a request's default, so setting tenantIds must not reorder the
// links that stay.
func TestUpdateKeyKeepsTenantLinkOrder(t *testing.T) {
	cases := []struct {
		name    string
		created []string
		patches [][]string
		want    []string
	}{
		{"unlink then relink appends", []string{"t3", "t1"}, [][]string{{"t1"}, {"t3", "t1"}}, []string{"t1", "t3"}},
		{"same links in another order change nothing", []string{"t3", "t1"}, [][]string{{"t1", "t3"}}, []string{"t3", "t1"}},
		{"new links follow in request order", []string{"t3"}, [][]string{{"t2", "t1", "t3"}}, []string{"t3", "t2", "t1"}},
		{"unlinked ones are removed", []string{"t1", "t2", "t3"}, [][]string{{"t3", "t1"}}, []string{"t1", "t3"}},
		{"emptied then set takes request order", []string{"t1", "t2"}, [][]string{{}, {"t2", "t1"}}, []string{"t2", "t1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc, _, _ := newService(t)
			mustUser(t, svc, "alice", "t1", "t2", "t3")
			ctx := context.Background()
			k, secret, err := svc.CreateKey(ctx, "alice", latchkey.NewKey{Name: "k", TenantIDs: c.created})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(k.TenantIDs, ","); got != strings.Join(c.created, ",") {
				t.Fatalf("created with tenants %s, want request order %v", got, c.created)
			}
			// Verify once so that the key is cached: the change must reach it.
			if _, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: secret}); err != nil {
				t.Fatal(err)
			}
			for _, ids := range c.patches {
				if k, err = svc.UpdateKey(ctx, "alice", k.ID, latchkey.KeyPatch{TenantIDs: &ids}); err != nil {
					t.Fatal(err)
				}
			}
			want := strings.Join(c.want, ",")
			if got := strings.Join(k.TenantIDs, ","); got != want {
				t.Fatalf("tenants after %v = %s, want %s", c.patches, got, want)
			}
			if stored, _ := svc.GetKey(ctx, "alice", k.ID); strings.Join(stored.TenantIDs, ",") != want {
				t.Fatalf("stored tenants = %v, want %s", stored.TenantIDs, want)
			}
			id, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: secret})
			if err != nil || id.Tenant == nil || id.Tenant.ID != c.want[0] {
				t.Fatalf("default tenant = %+v, %v; want the first linked, %s", id, err, c.want[0])
			}
			next, _, err := svc.RotateKey(ctx, "alice", k.ID, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(next.TenantIDs, ","); got != want {
				t.Fatalf("rotated key's tenants = %s, want %s", got, want)
			}
		})
	}
}

// The API shows expiries in whole seconds (RFC 3339), so the Service keeps
// them in whole seconds, rounded down: a key is refused from the second it
// shows, never up to a second later (SPEC §9).
func TestExpiryIsKeptInWholeSeconds(t *testing.T) {
	ctx := context.Background()
	// setup returns a service over the SQLite file at path, whose clock is
	// 300ms past a whole second.
	var path string
	setup := func(t *testing.T) (*latchkey.Service, *sqlite.DB, *clock) {
		path = filepath.Join(t.TempDir(), "latchkey.db")
		db, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		c := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
		svc := latchkey.NewService(db, latchkey.ServiceConfig{KeyPrefix: "tb", Now: c.Now})
		mustUser(t, svc, "u")
		c.Advance(300 * time.Millisecond)
		return svc, db, c
	}
	// writeLegacyExpiry stores a fractional expiry for key id, as versions
	// before whole seconds did, then reruns the migration that rounds such
	// expiries down, as upgrading does. Returns the fractional expiry.
	writeLegacyExpiry := func(t *testing.T, db *sqlite.DB, c *clock, id string) time.Time {
		t.Helper()
		legacy := c.Now().Add(time.Minute + 500*time.Millisecond)
		if _, err := db.UpdateKey(ctx, id, func(k *latchkey.Key) error { k.ExpiresAt = &legacy; return nil }); err != nil {
			t.Fatal(err)
		}
		raw, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if _, err := raw.ExecContext(ctx, `DELETE FROM schema_migrations WHERE name = 'migrations/0007_whole_second_expiries.sql'`); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return legacy
	}
	// wantEnforcedAsShown checks that k's expiry is a whole second and that
	// secret works until just before it and is refused from it on.
	wantEnforcedAsShown := func(t *testing.T, svc *latchkey.Service, c *clock, k *latchkey.Key, secret string, want time.Time) {
		t.Helper()
		if k.ExpiresAt == nil || !k.ExpiresAt.Equal(want) {
			t.Fatalf("expiresAt = %v, want %v", k.ExpiresAt, want)
		}
		c.Set(want.Add(-time.Millisecond))
		if _, err := svc.AuthenticateKey(ctx, secret); err != nil {
			t.Fatalf("just before the shown expiry: %v", err)
		}
		c.Advance(time.Millisecond)
		_, err := svc.AuthenticateKey(ctx, secret)
		wantCode(t, err, latchkey.CodeKeyExpired)
	}

	t.Run("create with a fractional expiry", func(t *testing.T) {
		svc, _, c := setup(t)
		at := c.Now().Add(2*time.Second + 400*time.Millisecond) // 03:04:07.7, shown as 03:04:07
		k, secret, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k", ExpiresAt: &at})
		if err != nil {
			t.Fatal(err)
		}
		wantEnforcedAsShown(t, svc, c, k, secret, at.Truncate(time.Second))
	})
	t.Run("create with an expiry inside the current second is refused", func(t *testing.T) {
		svc, _, c := setup(t)
		at := c.Now().Add(500 * time.Millisecond) // shown as the current second
		_, _, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k", ExpiresAt: &at})
		wantCode(t, err, latchkey.CodeValidationFailed)
	})
	t.Run("update to a fractional expiry", func(t *testing.T) {
		svc, _, c := setup(t)
		k, secret, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k"})
		if err != nil {
			t.Fatal(err)
		}
		at := c.Now().Add(time.Minute + 900*time.Millisecond)
		if k, err = svc.UpdateKey(ctx, "u", k.ID, latchkey.KeyPatch{SetExpiresAt: true, ExpiresAt: &at}); err != nil {
			t.Fatal(err)
		}
		wantEnforcedAsShown(t, svc, c, k, secret, at.Truncate(time.Second))
	})
	t.Run("update to an expiry inside the current second is refused", func(t *testing.T) {
		svc, _, c := setup(t)
		k, _, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k"})
		if err != nil {
			t.Fatal(err)
		}
		at := c.Now().Add(500 * time.Millisecond)
		_, err = svc.UpdateKey(ctx, "u", k.ID, latchkey.KeyPatch{SetExpiresAt: true, ExpiresAt: &at})
		wantCode(t, err, latchkey.CodeValidationFailed)
	})
	t.Run("rotation grace period", func(t *testing.T) {
		svc, _, c := setup(t)
		old, oldSecret, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k"})
		if err != nil {
			t.Fatal(err)
		}
		end := c.Now().Add(90 * time.Second).Truncate(time.Second)
		if _, _, err := svc.RotateKey(ctx, "u", old.ID, 90*time.Second); err != nil {
			t.Fatal(err)
		}
		if old, err = svc.GetKey(ctx, "u", old.ID); err != nil {
			t.Fatal(err)
		}
		wantEnforcedAsShown(t, svc, c, old, oldSecret, end)
	})
	t.Run("rotation of a key stored with a fractional expiry", func(t *testing.T) {
		// Keys created before expiries were kept in whole seconds, once the
		// database is upgraded.
		svc, db, c := setup(t)
		k, _, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k"})
		if err != nil {
			t.Fatal(err)
		}
		legacy := writeLegacyExpiry(t, db, c, k.ID)
		next, nextSecret, err := svc.RotateKey(ctx, "u", k.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		old, err := svc.GetKey(ctx, "u", k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if old.ExpiresAt == nil || !old.ExpiresAt.Equal(legacy.Truncate(time.Second)) {
			t.Fatalf("old key's expiresAt = %v, want %v", old.ExpiresAt, legacy.Truncate(time.Second))
		}
		wantEnforcedAsShown(t, svc, c, next, nextSecret, legacy.Truncate(time.Second))
	})

	t.Run("a key stored with a fractional expiry is refused from its whole second once upgraded", func(t *testing.T) {
		svc, db, c := setup(t)
		k, secret, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k"})
		if err != nil {
			t.Fatal(err)
		}
		legacy := writeLegacyExpiry(t, db, c, k.ID)
		shown := legacy.Truncate(time.Second)
		c.Set(shown.Add(-time.Millisecond))
		if _, err := svc.AuthenticateKey(ctx, secret); err != nil {
			t.Fatalf("just before the shown expiry: %v", err)
		}
		c.Set(shown)
		_, err = svc.AuthenticateKey(ctx, secret)
		wantCode(t, err, latchkey.CodeKeyExpired)
	})
}
