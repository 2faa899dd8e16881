package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/sqlite"
)

// TestCLIChangesAreAudited: every change made from the command line is in
// the audit log as the CLI's, with the OS user, and no secret it printed
// is in the database.
func TestCLIChangesAreAudited(t *testing.T) {
	e, path := newEnv(t)
	e = e.with("USER", "ops")
	const password = "a long enough password"
	mustRun(t, e, "", "tenants", "create", "--id", "acme", "--name", "Acme")
	mustRun(t, e, password+"\n", "users", "create", "--id", "alice", "--email", "alice@example.com", "--password-stdin", "--tenant", "acme")
	key := secretOnly(t, mustRun(t, e, "", "keys", "create", "--user", "alice", "--name", "k").stdout)
	root := secretOnly(t, mustRun(t, e, "", "root-keys", "create", "--name", "ci").stdout)
	mustRun(t, e, "", "permissions", "create", "messages:send")
	var client struct{ ClientID, ClientSecret string }
	if err := json.Unmarshal([]byte(mustRun(t, e, "", "oauth-clients", "create", "--name", "w", "--scopes", "messages:send").stdout), &client); err != nil {
		t.Fatal(err)
	}
	kid := strings.TrimSpace(mustRun(t, e, "", "signing-keys", "rotate").stdout)

	svc := openService(t, path)
	k, err := svc.AuthenticateKey(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, e, "", "keys", "revoke", k.ID)

	events, _, err := svc.ListAuditEvents(context.Background(), latchkey.AuditFilter{Limit: 100}, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(events) - 1; i >= 0; i-- {
		ev := events[i]
		if ev.ActorKind != latchkey.ActorCLI || ev.ActorID != "ops" {
			t.Errorf("%s: actor %s %q, want cli ops", ev.Action, ev.ActorKind, ev.ActorID)
		}
		got = append(got, ev.Action)
	}
	want := "tenant.create user.create key.create root_key.create permission.create oauth_client.create signing_key.rotate key.revoke"
	if strings.Join(got, " ") != want {
		t.Fatalf("actions = %s\nwant      %s", strings.Join(got, " "), want)
	}
	if events[1].TargetID != kid {
		t.Errorf("signing_key.rotate target = %q, want the kid %q", events[1].TargetID, kid)
	}

	var files []byte
	for _, name := range []string{path, path + "-wal"} {
		b, _ := os.ReadFile(name)
		files = append(files, b...)
	}
	for _, s := range []string{key, root, client.ClientSecret, password} {
		if s == "" || bytes.Contains(files, []byte(s)) {
			t.Errorf("the database holds the secret %.10s… (or it was not printed)", s)
		}
	}
}

// TestServeDeletesAuditEventsPastTheirRetention: with
// LATCHKEY_AUDIT_RETENTION set, serve deletes older events as it starts
// (and hourly after); newer ones stay.
func TestServeDeletesAuditEventsPastTheirRetention(t *testing.T) {
	e, path := newEnv(t)
	mustRun(t, e, "", "tenants", "create", "--id", "acme", "--name", "Acme")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	old := &latchkey.AuditEvent{ID: "evt_old", Time: time.Now().Add(-400 * 24 * time.Hour),
		ActorKind: latchkey.ActorCLI, ActorID: "ops", Action: latchkey.AuditTenantCreate, TargetID: "gone"}
	err = db.AppendAuditEvent(context.Background(), old)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	startServer(t, e.with("LATCHKEY_AUDIT_RETENTION", "365d"))
	svc := openService(t, path)
	deadline := time.Now().Add(10 * time.Second)
	for {
		events, _, err := svc.ListAuditEvents(context.Background(), latchkey.AuditFilter{Limit: 100}, "")
		if err != nil {
			t.Fatal(err)
		}
		var targets []string
		for _, ev := range events {
			targets = append(targets, ev.TargetID)
		}
		if slices.Contains(targets, "acme") && !slices.Contains(targets, "gone") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit event targets = %v; want acme's kept and the 400-day-old one deleted", targets)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
