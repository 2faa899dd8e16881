package storetest

import (
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

// testAudit runs only for stores that keep an audit log: latchkey.AuditStore
// is optional (the Service checks for it), so a store without it skips.
func testAudit(t *testing.T, open func(t *testing.T) latchkey.Store) {
	if _, ok := open(t).(latchkey.AuditStore); !ok {
		t.Skip("store does not implement latchkey.AuditStore")
	}
	as := func(f fixture) latchkey.AuditStore { return f.s.(latchkey.AuditStore) }
	event := func(id string, d time.Duration, action, actor, target string) *latchkey.AuditEvent {
		return &latchkey.AuditEvent{
			ID: id, Time: base.Add(d), ActorKind: latchkey.ActorRootKey, ActorID: actor,
			Action: action, TargetID: target, Detail: map[string]any{},
		}
	}
	// seed appends events e1..e6, one second apart, so e6 is the newest.
	seed := func(f fixture) {
		f.t.Helper()
		for i, e := range []*latchkey.AuditEvent{
			event("e1", 1*time.Second, latchkey.AuditKeyCreate, "root_a", "key_1"),
			event("e2", 2*time.Second, latchkey.AuditKeyRevoke, "root_a", "key_1"),
			event("e3", 3*time.Second, latchkey.AuditTenantCreate, "root_b", "t1"),
			event("e4", 4*time.Second, latchkey.AuditRootKeyCreate, "root_b", "root_c"),
			event("e5", 5*time.Second, "keyring.rotate", "root_a", "k9"),
			event("e6", 6*time.Second, latchkey.AuditKeyDelete, "root_b", "key_1"),
		} {
			if i == 3 {
				e.ActorKind = latchkey.ActorCLI
			}
			must(f.t, as(f).AppendAuditEvent(f.ctx(), e))
		}
	}
	ids := func(events []*latchkey.AuditEvent) []string {
		out := []string{}
		for _, e := range events {
			out = append(out, e.ID)
		}
		return out
	}
	list := func(f fixture, filter latchkey.AuditFilter) []string {
		f.t.Helper()
		if filter.Limit == 0 {
			filter.Limit = 100
		}
		events, err := as(f).ListAuditEvents(f.ctx(), filter)
		must(f.t, err)
		return ids(events)
	}
	runAll(t, open, []behaviour{
		{"append then read round-trips", func(t *testing.T, f fixture) {
			in := &latchkey.AuditEvent{
				ID: "evt_1", Time: base, ActorKind: latchkey.ActorUser, ActorID: "user-1",
				Action: latchkey.AuditKeyUpdate, TargetID: "key_1", TenantID: "t1",
				Detail:  map[string]any{"fields": []any{"name"}, "isActive": true, "n": float64(3)},
				TraceID: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
			}
			must(t, as(f).AppendAuditEvent(t.Context(), in))
			got, err := as(f).AuditEvent(t.Context(), "evt_1")
			must(t, err)
			want := *in
			want.Time = base.Truncate(time.Microsecond)
			wantEqual(t, got, &want)
		}},
		{"no tenant and no detail come back empty", func(t *testing.T, f fixture) {
			in := event("evt_1", 0, latchkey.AuditUserDelete, "", "user-1")
			in.ActorKind, in.Detail = latchkey.ActorSystem, nil
			must(t, as(f).AppendAuditEvent(t.Context(), in))
			got, err := as(f).AuditEvent(t.Context(), "evt_1")
			must(t, err)
			if got.TenantID != "" || got.Detail == nil || len(got.Detail) != 0 || got.ActorID != "" {
				t.Fatalf("got %+v, want no tenant, no actor ID and an empty non-nil detail", got)
			}
		}},
		{"unknown id is NOT_FOUND", func(t *testing.T, f fixture) {
			_, err := as(f).AuditEvent(t.Context(), "evt_nope")
			wantCode(t, err, latchkey.CodeNotFound)
		}},
		{"duplicate id is CONFLICT", func(t *testing.T, f fixture) {
			must(t, as(f).AppendAuditEvent(t.Context(), event("e1", 0, "key.create", "a", "b")))
			wantCode(t, as(f).AppendAuditEvent(t.Context(), event("e1", time.Second, "key.create", "a", "b")), latchkey.CodeConflict)
		}},
		{"list is newest first, ties broken by id descending", func(t *testing.T, f fixture) {
			for _, id := range []string{"b", "c", "a"} {
				must(t, as(f).AppendAuditEvent(t.Context(), event(id, 0, "key.create", "x", "y")))
			}
			must(t, as(f).AppendAuditEvent(t.Context(), event("old", -time.Hour, "key.create", "x", "y")))
			wantIDs(t, "list", list(f, latchkey.AuditFilter{}), []string{"c", "b", "a", "old"})
		}},
		{"action prefix matches literally", func(t *testing.T, f fixture) {
			seed(f)
			wantIDs(t, "key.", list(f, latchkey.AuditFilter{ActionPrefix: "key."}), []string{"e6", "e2", "e1"})
			wantIDs(t, "key", list(f, latchkey.AuditFilter{ActionPrefix: "key"}), []string{"e6", "e5", "e2", "e1"})
			wantIDs(t, "exact", list(f, latchkey.AuditFilter{ActionPrefix: "key.revoke"}), []string{"e2"})
			// "_" and "%" are not wildcards.
			wantIDs(t, "root_", list(f, latchkey.AuditFilter{ActionPrefix: "root_"}), []string{"e4"})
			wantIDs(t, "k_y", list(f, latchkey.AuditFilter{ActionPrefix: "k_y"}), nil)
			wantIDs(t, "%", list(f, latchkey.AuditFilter{ActionPrefix: "%"}), nil)
		}},
		{"actor, actor kind and target filters combine", func(t *testing.T, f fixture) {
			seed(f)
			wantIDs(t, "actor", list(f, latchkey.AuditFilter{ActorID: "root_b"}), []string{"e6", "e4", "e3"})
			wantIDs(t, "kind", list(f, latchkey.AuditFilter{ActorKind: latchkey.ActorCLI}), []string{"e4"})
			wantIDs(t, "target", list(f, latchkey.AuditFilter{TargetID: "key_1"}), []string{"e6", "e2", "e1"})
			wantIDs(t, "target+actor", list(f, latchkey.AuditFilter{TargetID: "key_1", ActorID: "root_a"}), []string{"e2", "e1"})
			wantIDs(t, "target+action", list(f, latchkey.AuditFilter{TargetID: "key_1", ActionPrefix: "key.delete"}), []string{"e6"})
		}},
		{"limit and cursor page through everything once", func(t *testing.T, f fixture) {
			seed(f)
			var got []string
			filter := latchkey.AuditFilter{Limit: 4}
			for range 10 {
				events, err := as(f).ListAuditEvents(t.Context(), filter)
				must(t, err)
				got = append(got, ids(events)...)
				if len(events) < filter.Limit {
					break
				}
				last := events[len(events)-1]
				filter.Before = &latchkey.AuditCursor{Time: last.Time, ID: last.ID}
			}
			wantIDs(t, "pages", got, []string{"e6", "e5", "e4", "e3", "e2", "e1"})
		}},
		{"delete removes exactly the events older than the cutoff", func(t *testing.T, f fixture) {
			seed(f)
			n, err := as(f).DeleteAuditEvents(t.Context(), base.Add(3*time.Second))
			must(t, err)
			if n != 2 {
				t.Fatalf("deleted %d events, want 2 (e1, e2)", n)
			}
			wantIDs(t, "left", list(f, latchkey.AuditFilter{}), []string{"e6", "e5", "e4", "e3"})
			_, err = as(f).AuditEvent(t.Context(), "e1")
			wantCode(t, err, latchkey.CodeNotFound)
			n, err = as(f).DeleteAuditEvents(t.Context(), base)
			must(t, err)
			if n != 0 {
				t.Fatalf("deleted %d events before the oldest, want 0", n)
			}
		}},
		{"cursor inside a tie continues within it", func(t *testing.T, f fixture) {
			for _, id := range []string{"a", "b", "c"} {
				must(t, as(f).AppendAuditEvent(t.Context(), event(id, 0, "key.create", "x", "y")))
			}
			before := &latchkey.AuditCursor{Time: base.Truncate(time.Microsecond), ID: "c"}
			wantIDs(t, "after c", list(f, latchkey.AuditFilter{Before: before}), []string{"b", "a"})
		}},
	})
}
