package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
)

func TestAuditLogPage(t *testing.T) {
	ctx := context.Background()
	rows := func(body string) int { return strings.Count(body, "data-event-id=") }

	t.Run("changes made in the dashboard are listed with the signed-in admin as actor", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		token := b.signIn(adminEmail)
		wantRedirect(t, b.post("/admin/tenants", url.Values{"csrf_token": {token}, "id": {"initech"}, "name": {"Initech"}}), "/admin/tenants?done=tenant-created")

		events, _, err := e.svc.ListAuditEvents(ctx, latchkey.AuditFilter{ActionPrefix: latchkey.AuditTenantCreate, TargetID: "initech"}, "")
		if err != nil || len(events) != 1 {
			t.Fatalf("events = %v, %v; want one tenant.create", events, err)
		}
		ev := events[0]
		if ev.ActorKind != latchkey.ActorUser || ev.ActorID != "admin" || ev.TenantID != "initech" || !strings.HasPrefix(ev.TraceID, "00-") {
			t.Fatalf("event = %+v, want actor user admin, tenant initech and a trace ID", ev)
		}

		res := b.get("/admin/audit-log")
		wantStatus(t, res, http.StatusOK)
		for _, want := range []string{`data-event-id="` + ev.ID + `"`, "tenant.create", "initech", `href="/admin/audit-log?actor=admin"`, "user.create"} {
			if !strings.Contains(res.Body, want) {
				t.Fatalf("audit page lacks %q:\n%s", want, res.Body)
			}
		}
		if strings.Contains(res.Body, "Not recorded") {
			t.Fatal("the page still shows the placeholder")
		}
	})

	t.Run("the action filter keeps only matching events", func(t *testing.T) {
		e := newEnv(t) // its setup records tenant.create and user.create events
		b := e.browser()
		b.signIn(adminEmail)
		res := b.get("/admin/audit-log?action=tenant.")
		wantStatus(t, res, http.StatusOK)
		if n := rows(res.Body); n != 2 || strings.Contains(res.Body, "<code>user.create</code>") {
			t.Fatalf("tenant. filter shows %d rows:\n%s", n, res.Body)
		}
		if !strings.Contains(res.Body, `<option value="tenant." selected>`) {
			t.Fatal("the filter is not shown as selected")
		}
		res = b.get("/admin/audit-log?action=nothing.")
		wantStatus(t, res, http.StatusOK)
		if rows(res.Body) != 0 || !strings.Contains(res.Body, "No matching events") {
			t.Fatalf("an unmatched filter:\n%s", res.Body)
		}
		if n := rows(b.get("/admin/audit-log?target=alice").Body); n != 1 {
			t.Fatalf("target=alice shows %d rows, want 1 (user.create)", n)
		}
	})

	t.Run("pages hold 50 events and link to the next with the filter", func(t *testing.T) {
		e := newEnv(t)
		for i := range 60 {
			if _, err := e.svc.CreatePermission(ctx, fmt.Sprintf("p%02d:read", i), ""); err != nil {
				t.Fatal(err)
			}
		}
		b := e.browser()
		b.signIn(adminEmail)
		first := b.get("/admin/audit-log?action=permission.")
		wantStatus(t, first, http.StatusOK)
		m := regexpNext.FindStringSubmatch(first.Body)
		if rows(first.Body) != 50 || m == nil || !strings.Contains(m[1], "action=permission.") {
			t.Fatalf("first page: %d rows, next %v", rows(first.Body), m)
		}
		if !strings.Contains(first.Body, "p59:read") || strings.Contains(first.Body, "p00:read") {
			t.Fatal("the first page is not the newest events")
		}
		second := b.get(strings.ReplaceAll(m[1], "&amp;", "&"))
		wantStatus(t, second, http.StatusOK)
		if rows(second.Body) != 10 || regexpNext.MatchString(second.Body) || !strings.Contains(second.Body, "p00:read") {
			t.Fatalf("second page: %d rows\n%s", rows(second.Body), second.Body)
		}
		wantStatus(t, b.get("/admin/audit-log?cursor=garbage!"), http.StatusBadRequest)
	})

	t.Run("no secret is ever shown", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		token := b.signIn(adminEmail)
		res := b.post("/admin/root-keys", url.Values{"csrf_token": {token}, "name": {"CI"}, "scope": {"keys:verify"}})
		root := secretRe.FindString(res.Body)
		res = b.post("/admin/oauth-clients", url.Values{"csrf_token": {token}, "name": {"Billing"}, "scopes": {"messages:send"}})
		client := regexpClientSecret.FindString(res.Body)
		_, key := b.createKey(token, "Mine", nil)
		if root == "" || client == "" || key == "" {
			t.Fatal("setup did not reveal the secrets")
		}
		page := b.get("/admin/audit-log").Body
		for _, s := range []string{root, client, key, password} {
			if strings.Contains(page, s) {
				t.Fatalf("the audit page shows a secret %q", s[:12])
			}
		}
		for _, want := range []string{"root_key.create", "oauth_client.create", "key.create"} {
			if !strings.Contains(page, want) {
				t.Fatalf("the audit page lacks %s", want)
			}
		}
	})

	t.Run("the JSON API with a session records the user as actor", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		token := b.signIn(aliceEmail)
		res := b.api(http.MethodPost, "/api/v1/auth/api-keys", map[string]any{"name": "From JS"}, "X-CSRF-Token", token, "Origin", e.srv.URL)
		wantStatus(t, res, http.StatusCreated)
		events, _, err := e.svc.ListAuditEvents(ctx, latchkey.AuditFilter{ActionPrefix: latchkey.AuditKeyCreate}, "")
		if err != nil || len(events) != 1 || events[0].ActorID != "alice" || events[0].ActorKind != latchkey.ActorUser {
			t.Fatalf("events = %+v, %v", events, err)
		}
	})
}
