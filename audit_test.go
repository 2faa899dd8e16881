package latchkey_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apikey"
	"github.com/latchkey/latchkey/sqlite"
)

// allEvents returns every audit event, oldest first.
func allEvents(t *testing.T, svc *latchkey.Service) []*latchkey.AuditEvent {
	t.Helper()
	var out []*latchkey.AuditEvent
	cursor := ""
	for {
		page, next, err := svc.ListAuditEvents(context.Background(), latchkey.AuditFilter{Limit: 100}, cursor)
		if err != nil {
			t.Fatal(err)
		}
		out = append(page, out...) // pages come newest first
		if next == "" {
			break
		}
		cursor = next
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

func TestEveryChangeRecordsOneAuditEvent(t *testing.T) {
	admin := latchkey.Actor{Kind: latchkey.ActorRootKey, ID: "root_admin"}
	alice := latchkey.Actor{Kind: latchkey.ActorUser, ID: "alice"}

	// fixture is what each case starts from: tenants t1 and t2, alice (a
	// member of t1) with one key, a root key, a permission and an OAuth client.
	type fixture struct {
		svc    *latchkey.Service
		keyID  string
		rootID string
		client string
	}
	setup := func(t *testing.T) fixture {
		svc, _, _ := newService(t)
		ctx := context.Background()
		mustUser(t, svc, "alice", "t1")
		if _, err := svc.CreateTenant(ctx, "t2", "Tenant 2"); err != nil {
			t.Fatal(err)
		}
		k, _, err := svc.CreateKey(ctx, "alice", latchkey.NewKey{Name: "k", TenantIDs: []string{"t1"}})
		if err != nil {
			t.Fatal(err)
		}
		rk, _, err := svc.CreateRootKey(ctx, "ci", []string{latchkey.ScopeVerify})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreatePermission(ctx, "messages:send", ""); err != nil {
			t.Fatal(err)
		}
		c, _, err := svc.CreateOAuthClient(ctx, latchkey.NewOAuthClient{Name: "billing", Scopes: []string{"messages:send"}, TenantID: "t1"})
		if err != nil {
			t.Fatal(err)
		}
		return fixture{svc: svc, keyID: k.ID, rootID: rk.ID, client: c.ID}
	}
	ptr := func(s string) *string { return &s }
	yes := true

	cases := []struct {
		name   string
		actor  latchkey.Actor
		action string
		// do makes the change and returns the expected target.
		do func(ctx context.Context, f fixture) (string, error)
		// tenant is the expected TenantID.
		tenant string
	}{
		{"CreateTenant", admin, latchkey.AuditTenantCreate, func(ctx context.Context, f fixture) (string, error) {
			_, err := f.svc.CreateTenant(ctx, "t3", "Tenant 3")
			return "t3", err
		}, "t3"},
		{"RenameTenant", admin, latchkey.AuditTenantUpdate, func(ctx context.Context, f fixture) (string, error) {
			_, err := f.svc.RenameTenant(ctx, "t2", "Renamed")
			return "t2", err
		}, "t2"},
		{"DeleteTenant", admin, latchkey.AuditTenantDelete, func(ctx context.Context, f fixture) (string, error) {
			return "t2", f.svc.DeleteTenant(ctx, "t2")
		}, "t2"},
		{"CreateUser", admin, latchkey.AuditUserCreate, func(ctx context.Context, f fixture) (string, error) {
			_, err := f.svc.CreateUser(ctx, latchkey.NewUser{ID: "bob", Email: "bob@example.com", Password: "hunter2hunter2"})
			return "bob", err
		}, ""},
		{"EnsureUser creating", admin, latchkey.AuditUserCreate, func(ctx context.Context, f fixture) (string, error) {
			_, err := f.svc.EnsureUser(ctx, "carol")
			return "carol", err
		}, ""},
		{"UpdateUser", admin, latchkey.AuditUserUpdate, func(ctx context.Context, f fixture) (string, error) {
			_, err := f.svc.UpdateUser(ctx, "alice", latchkey.UserPatch{Email: ptr("a@example.com"), Password: ptr("a new password"), IsAdmin: &yes})
			return "alice", err
		}, ""},
		{"DeleteUser", admin, latchkey.AuditUserDelete, func(ctx context.Context, f fixture) (string, error) {
			return "alice", f.svc.DeleteUser(ctx, "alice")
		}, ""},
		{"AddMembership", admin, latchkey.AuditMembershipAdd, func(ctx context.Context, f fixture) (string, error) {
			return "alice", f.svc.AddMembership(ctx, "alice", "t2")
		}, "t2"},
		{"RemoveMembership", admin, latchkey.AuditMembershipRemove, func(ctx context.Context, f fixture) (string, error) {
			return "alice", f.svc.RemoveMembership(ctx, "alice", "t1")
		}, "t1"},
		{"CreateKey", alice, latchkey.AuditKeyCreate, func(ctx context.Context, f fixture) (string, error) {
			k, _, err := f.svc.CreateKey(ctx, "alice", latchkey.NewKey{Name: "another"})
			if err != nil {
				return "", err
			}
			return k.ID, nil
		}, ""},
		{"UpdateKey", alice, latchkey.AuditKeyUpdate, func(ctx context.Context, f fixture) (string, error) {
			_, err := f.svc.UpdateKey(ctx, "alice", f.keyID, latchkey.KeyPatch{Name: ptr("renamed")})
			return f.keyID, err
		}, ""},
		{"ToggleKey", alice, latchkey.AuditKeyToggle, func(ctx context.Context, f fixture) (string, error) {
			_, err := f.svc.ToggleKey(ctx, "alice", f.keyID)
			return f.keyID, err
		}, ""},
		{"RevokeKey", alice, latchkey.AuditKeyRevoke, func(ctx context.Context, f fixture) (string, error) {
			_, err := f.svc.RevokeKey(ctx, "alice", f.keyID)
			return f.keyID, err
		}, ""},
		{"RotateKey", alice, latchkey.AuditKeyRotate, func(ctx context.Context, f fixture) (string, error) {
			_, _, err := f.svc.RotateKey(ctx, "alice", f.keyID, time.Hour)
			return f.keyID, err
		}, ""},
		{"DeleteKey", admin, latchkey.AuditKeyDelete, func(ctx context.Context, f fixture) (string, error) {
			return f.keyID, f.svc.DeleteKey(ctx, "", f.keyID)
		}, ""},
		{"CreateRootKey", admin, latchkey.AuditRootKeyCreate, func(ctx context.Context, f fixture) (string, error) {
			rk, _, err := f.svc.CreateRootKey(ctx, "ops", []string{latchkey.ScopeAll})
			if err != nil {
				return "", err
			}
			return rk.ID, nil
		}, ""},
		{"EnsureRootKey creating", latchkey.Actor{Kind: latchkey.ActorSystem}, latchkey.AuditRootKeyCreate, func(ctx context.Context, f fixture) (string, error) {
			g, _ := apikey.Generate("tb", apikey.Root)
			if err := f.svc.EnsureRootKey(ctx, g.String()); err != nil {
				return "", err
			}
			rk, err := f.svc.AuthenticateRoot(ctx, g.String())
			if err != nil {
				return "", err
			}
			return rk.ID, nil
		}, ""},
		{"DeleteRootKey", admin, latchkey.AuditRootKeyDelete, func(ctx context.Context, f fixture) (string, error) {
			return f.rootID, f.svc.DeleteRootKey(ctx, f.rootID)
		}, ""},
		{"CreatePermission", admin, latchkey.AuditPermissionCreate, func(ctx context.Context, f fixture) (string, error) {
			_, err := f.svc.CreatePermission(ctx, "messages:read", "Read")
			return "messages:read", err
		}, ""},
		{"DeletePermission", admin, latchkey.AuditPermissionDelete, func(ctx context.Context, f fixture) (string, error) {
			return "messages:send", f.svc.DeletePermission(ctx, "messages:send")
		}, ""},
		{"CreateOAuthClient", admin, latchkey.AuditOAuthClientCreate, func(ctx context.Context, f fixture) (string, error) {
			c, _, err := f.svc.CreateOAuthClient(ctx, latchkey.NewOAuthClient{Name: "c2", Scopes: []string{"a:b"}, TenantID: "t2"})
			if err != nil {
				return "", err
			}
			return c.ID, nil
		}, "t2"},
		{"UpdateOAuthClient", admin, latchkey.AuditOAuthClientUpdate, func(ctx context.Context, f fixture) (string, error) {
			_, err := f.svc.UpdateOAuthClient(ctx, f.client, latchkey.OAuthClientPatch{Disabled: &yes})
			return f.client, err
		}, "t1"},
		{"RotateOAuthClientSecret", admin, latchkey.AuditOAuthClientRotate, func(ctx context.Context, f fixture) (string, error) {
			_, _, err := f.svc.RotateOAuthClientSecret(ctx, f.client)
			return f.client, err
		}, "t1"},
		{"DeleteOAuthClient", admin, latchkey.AuditOAuthClientDelete, func(ctx context.Context, f fixture) (string, error) {
			return f.client, f.svc.DeleteOAuthClient(ctx, f.client)
		}, ""},
		{"RecordAudit (signing key rotation)", latchkey.Actor{Kind: latchkey.ActorCLI, ID: "ops"}, latchkey.AuditSigningKeyRotate, func(ctx context.Context, f fixture) (string, error) {
			f.svc.RecordAudit(ctx, latchkey.AuditSigningKeyRotate, "kid-2", nil)
			return "kid-2", nil
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := setup(t)
			before := len(allEvents(t, f.svc))
			ctx := latchkey.WithTraceID(latchkey.WithActor(context.Background(), c.actor), "00-trace")
			target, err := c.do(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			events := allEvents(t, f.svc)[before:]
			if len(events) != 1 {
				t.Fatalf("recorded %d events, want 1: %+v", len(events), events)
			}
			e := events[0]
			if e.Action != c.action || e.TargetID != target || e.TenantID != c.tenant {
				t.Errorf("event = %s on %q (tenant %q), want %s on %q (tenant %q)", e.Action, e.TargetID, e.TenantID, c.action, target, c.tenant)
			}
			if e.ActorKind != c.actor.Kind || e.ActorID != c.actor.ID || e.TraceID != "00-trace" {
				t.Errorf("actor = %s %q trace %q, want %s %q trace 00-trace", e.ActorKind, e.ActorID, e.TraceID, c.actor.Kind, c.actor.ID)
			}
			if e.ID == "" || e.Time.IsZero() || e.Detail == nil {
				t.Errorf("event lacks ID, time or detail: %+v", e)
			}
			got, err := f.svc.AuditEvent(context.Background(), e.ID)
			if err != nil || got.Action != e.Action {
				t.Errorf("AuditEvent(%s) = %+v, %v", e.ID, got, err)
			}
		})
	}
}

func TestAuditDetails(t *testing.T) {
	svc, _, _ := newService(t)
	ctx := context.Background()
	mustUser(t, svc, "alice", "t1")
	last := func() *latchkey.AuditEvent {
		t.Helper()
		events := allEvents(t, svc)
		return events[len(events)-1]
	}

	t.Run("changes without an actor in the context are the system's", func(t *testing.T) {
		if e := last(); e.ActorKind != latchkey.ActorSystem || e.ActorID != "" || e.TraceID != "" {
			t.Fatalf("event = %+v", e)
		}
	})
	t.Run("key events carry the owner and the masked key", func(t *testing.T) {
		k, _, err := svc.CreateKey(ctx, "alice", latchkey.NewKey{Name: "k", Permissions: []string{"a:b"}, TenantIDs: []string{"t1"}})
		if err != nil {
			t.Fatal(err)
		}
		d := last().Detail
		if d["ownerId"] != "alice" || d["key"] != k.Masked || d["environment"] != "live" || d["name"] != "k" {
			t.Fatalf("detail = %v", d)
		}
	})
	t.Run("updates name the changed fields, never a password", func(t *testing.T) {
		pw := "a secret password"
		if _, err := svc.UpdateUser(ctx, "alice", latchkey.UserPatch{Email: ptrTo("alice@example.com"), Password: &pw}); err != nil {
			t.Fatal(err)
		}
		d := last().Detail
		if got := d["fields"]; strings.Join(anyStrings(got), ",") != "email,password" {
			t.Fatalf("fields = %v", got)
		}
	})
	t.Run("a secret pasted into a name is redacted", func(t *testing.T) {
		g, _ := apikey.Generate("tb", apikey.Live)
		if _, _, err := svc.CreateKey(ctx, "alice", latchkey.NewKey{Name: "oops " + g.String()}); err != nil {
			t.Fatal(err)
		}
		if name := last().Detail["name"]; name != "oops [redacted]" {
			t.Fatalf("name = %q", name)
		}
	})
	t.Run("a repeated revocation and failed changes record nothing", func(t *testing.T) {
		k, _, err := svc.CreateKey(ctx, "alice", latchkey.NewKey{Name: "r"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.RevokeKey(ctx, "alice", k.ID); err != nil {
			t.Fatal(err)
		}
		n := len(allEvents(t, svc))
		if _, err := svc.RevokeKey(ctx, "alice", k.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, svc.DeleteTenant(ctx, "nope"), latchkey.CodeNotFound)
		_, err = svc.ToggleKey(ctx, "bob", k.ID)
		wantCode(t, err, latchkey.CodeNotFound)
		_, err = svc.CreateTenant(ctx, "t1", "again")
		wantCode(t, err, latchkey.CodeConflict)
		if _, err := svc.EnsureUser(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if got := len(allEvents(t, svc)); got != n {
			t.Fatalf("%d events recorded by no-ops and failures", got-n)
		}
	})
}

func ptrTo[T any](v T) *T { return &v }

func anyStrings(v any) []string {
	var out []string
	switch v := v.(type) {
	case []string:
		return v
	case []any:
		for _, e := range v {
			s, _ := e.(string)
			out = append(out, s)
		}
	}
	return out
}

func TestAuditListFiltersAndPages(t *testing.T) {
	svc, _, clk := newService(t)
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Kind: latchkey.ActorRootKey, ID: "root_1"})
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		clk.Advance(time.Second)
		if _, err := svc.CreateTenant(ctx, id, "Tenant "+id); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Second)
	if _, err := svc.CreateUser(latchkey.WithActor(ctx, latchkey.Actor{Kind: latchkey.ActorCLI, ID: "ops"}), latchkey.NewUser{ID: "u"}); err != nil {
		t.Fatal(err)
	}
	targets := func(events []*latchkey.AuditEvent) string {
		var s []string
		for _, e := range events {
			s = append(s, e.TargetID)
		}
		return strings.Join(s, ",")
	}
	list := func(f latchkey.AuditFilter, cursor string) ([]*latchkey.AuditEvent, string) {
		t.Helper()
		events, next, err := svc.ListAuditEvents(ctx, f, cursor)
		if err != nil {
			t.Fatal(err)
		}
		return events, next
	}

	events, next := list(latchkey.AuditFilter{ActionPrefix: "tenant.", Limit: 2}, "")
	if targets(events) != "e,d" || next == "" {
		t.Fatalf("page 1 = %s, next %q", targets(events), next)
	}
	events, next = list(latchkey.AuditFilter{ActionPrefix: "tenant.", Limit: 2}, next)
	if targets(events) != "c,b" || next == "" {
		t.Fatalf("page 2 = %s", targets(events))
	}
	events, next = list(latchkey.AuditFilter{ActionPrefix: "tenant.", Limit: 2}, next)
	if targets(events) != "a" || next != "" {
		t.Fatalf("page 3 = %s, next %q", targets(events), next)
	}
	if events, _ := list(latchkey.AuditFilter{ActorID: "ops"}, ""); targets(events) != "u" {
		t.Fatalf("actor ops = %s", targets(events))
	}
	if events, _ := list(latchkey.AuditFilter{ActorKind: latchkey.ActorRootKey, TargetID: "c"}, ""); targets(events) != "c" {
		t.Fatalf("target c = %s", targets(events))
	}
	_, _, err := svc.ListAuditEvents(ctx, latchkey.AuditFilter{Limit: 101}, "")
	wantCode(t, err, latchkey.CodeValidationFailed)
	_, _, err = svc.ListAuditEvents(ctx, latchkey.AuditFilter{ActorKind: "robot"}, "")
	wantCode(t, err, latchkey.CodeValidationFailed)
	_, _, err = svc.ListAuditEvents(ctx, latchkey.AuditFilter{}, "not a cursor")
	wantCode(t, err, latchkey.CodeValidationFailed)
	_, err = svc.AuditEvent(ctx, "evt_nope")
	wantCode(t, err, latchkey.CodeNotFound)
}

// failingAudit is a SQLite store whose audit writes fail.
type failingAudit struct{ *sqlite.DB }

func (failingAudit) AppendAuditEvent(context.Context, *latchkey.AuditEvent) error {
	return errors.New("disk full")
}

// noAudit is a store that keeps no audit log: only the Store methods.
type noAudit struct{ latchkey.Store }

func TestAuditWriteFailureDoesNotUndoTheChange(t *testing.T) {
	_, db, _ := newService(t)
	svc := latchkey.NewService(failingAudit{db}, latchkey.ServiceConfig{KeyPrefix: "tb"})
	ctx := context.Background()
	if _, err := svc.CreateTenant(ctx, "t1", "Tenant 1"); err != nil {
		t.Fatalf("CreateTenant failed because of the audit log: %v", err)
	}
	if _, err := svc.Tenant(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if err := svc.DeleteTenant(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if got := svc.AuditErrors(); got != 2 {
		t.Fatalf("AuditErrors = %d, want 2", got)
	}
}

func TestStoreWithoutAuditLog(t *testing.T) {
	_, db, _ := newService(t)
	svc := latchkey.NewService(noAudit{db}, latchkey.ServiceConfig{KeyPrefix: "tb"})
	ctx := context.Background()
	if svc.AuditLogEnabled() {
		t.Fatal("AuditLogEnabled = true for a store without AuditStore")
	}
	if _, err := svc.CreateTenant(ctx, "t1", "Tenant 1"); err != nil {
		t.Fatal(err)
	}
	_, _, err := svc.ListAuditEvents(ctx, latchkey.AuditFilter{}, "")
	wantCode(t, err, latchkey.CodeUnavailable)
	if svc.AuditErrors() != 0 {
		t.Fatal("a store without an audit log counts errors")
	}
}

// TestNoSecretInTheDatabase issues every kind of secret, then reads the
// database files' bytes: neither a secret nor a password is there, in the
// audit log or anywhere else (SPEC §13).
func TestNoSecretInTheDatabase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "latchkey.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := latchkey.NewService(db, latchkey.ServiceConfig{KeyPrefix: "tb"})
	ctx := latchkey.WithActor(context.Background(), latchkey.Actor{Kind: latchkey.ActorCLI})
	var secrets []string
	keep := func(s string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, s)
	}
	pw, pw2 := "first password 1", "second password 2"
	if _, err := svc.CreateUser(ctx, latchkey.NewUser{ID: "alice", Email: "alice@example.com", Password: pw}); err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, pw, pw2)
	if _, err := svc.UpdateUser(ctx, "alice", latchkey.UserPatch{Password: &pw2}); err != nil {
		t.Fatal(err)
	}
	k, secret, err := svc.CreateKey(ctx, "alice", latchkey.NewKey{Name: "k"})
	keep(secret, err)
	_, secret, err = svc.RotateKey(ctx, "alice", k.ID, time.Hour)
	keep(secret, err)
	_, secret, err = svc.CreateRootKey(ctx, "ops", []string{latchkey.ScopeAll})
	keep(secret, err)
	g, _ := apikey.Generate("tb", apikey.Root)
	keep(g.String(), svc.EnsureRootKey(ctx, g.String()))
	c, secret, err := svc.CreateOAuthClient(ctx, latchkey.NewOAuthClient{Name: "c", Scopes: []string{"a:b"}})
	keep(secret, err)
	_, secret, err = svc.RotateOAuthClientSecret(ctx, c.ID)
	keep(secret, err)
	if n := len(allEvents(t, svc)); n < 7 {
		t.Fatalf("only %d audit events", n)
	}

	var files []byte
	for _, name := range []string{"latchkey.db", "latchkey.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		files = append(files, b...)
	}
	if !bytes.Contains(files, []byte("key.rotate")) {
		t.Fatal("the audit log is not in the files read")
	}
	for _, s := range secrets {
		body := s[strings.LastIndex(s, "_")+1:] // the random part alone, for keys
		if bytes.Contains(files, []byte(s)) || bytes.Contains(files, []byte(body)) {
			t.Errorf("the database holds the secret %.12s…", s)
		}
	}
}

func TestAuditRetention(t *testing.T) {
	_, db, c := newService(t)
	svc := latchkey.NewService(db, latchkey.ServiceConfig{KeyPrefix: "tb", Now: c.Now, AuditRetention: 30 * 24 * time.Hour})
	ctx := context.Background()
	if _, err := svc.CreateTenant(ctx, "t1", "Tenant 1"); err != nil {
		t.Fatal(err)
	}
	c.Advance(20 * 24 * time.Hour)
	if _, err := svc.CreateTenant(ctx, "t2", "Tenant 2"); err != nil {
		t.Fatal(err)
	}
	if n, err := svc.PruneAuditLog(ctx); err != nil || n != 0 {
		t.Fatalf("PruneAuditLog within the retention = %d, %v; want nothing deleted", n, err)
	}
	c.Advance(15 * 24 * time.Hour) // t1's event is 35 days old, t2's 15
	if n, err := svc.PruneAuditLog(ctx); err != nil || n != 1 {
		t.Fatalf("PruneAuditLog = %d, %v; want 1 deleted", n, err)
	}
	if events := allEvents(t, svc); len(events) != 1 || events[0].TargetID != "t2" {
		t.Fatalf("left: %+v, want only t2's event", events)
	}

	// RunAuditRetention prunes as it starts (and then every interval).
	c.Advance(20 * 24 * time.Hour)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); svc.RunAuditRetention(runCtx, time.Hour, func(err error) { t.Error(err) }) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(allEvents(t, svc)) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("RunAuditRetention did not prune the old event")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
}

func TestNoAuditRetentionKeepsEverything(t *testing.T) {
	svc, _, c := newService(t)
	ctx := context.Background()
	if _, err := svc.CreateTenant(ctx, "t1", "Tenant 1"); err != nil {
		t.Fatal(err)
	}
	c.Advance(10 * 365 * 24 * time.Hour)
	if n, err := svc.PruneAuditLog(ctx); err != nil || n != 0 {
		t.Fatalf("PruneAuditLog without a retention = %d, %v", n, err)
	}
	returned := make(chan struct{})
	go func() { svc.RunAuditRetention(ctx, time.Hour, nil); close(returned) }()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("RunAuditRetention without a retention did not return")
	}
	if len(allEvents(t, svc)) != 1 {
		t.Fatal("an event was deleted without a retention")
	}
}
