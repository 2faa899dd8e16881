package server

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/latchkey/latchkey"
)

// The audit log (SPEC §7, §11): read-only, admin only. Events are written
// by the Service after each change; here they are listed and read.

const auditLogPath = "/api/v1/admin/audit-log"

type auditEventJSON struct {
	ID        string         `json:"id"`
	Time      string         `json:"time"`
	ActorKind string         `json:"actorKind"`
	ActorID   string         `json:"actorId"`
	Action    string         `json:"action"`
	TargetID  string         `json:"targetId"`
	TenantID  *string        `json:"tenantId"`
	Detail    map[string]any `json:"detail"`
	TraceID   string         `json:"traceId"`
}

func newAuditEventJSON(e *latchkey.AuditEvent) auditEventJSON {
	j := auditEventJSON{
		ID: e.ID, Time: e.Time.UTC().Format(time.RFC3339Nano), ActorKind: e.ActorKind, ActorID: e.ActorID,
		Action: e.Action, TargetID: e.TargetID, Detail: e.Detail, TraceID: e.TraceID,
	}
	if e.TenantID != "" {
		j.TenantID = &e.TenantID
	}
	if j.Detail == nil {
		j.Detail = map[string]any{}
	}
	return j
}

// auditFilters are the query parameters of the list, as the next-page link
// repeats them.
var auditFilters = []string{"action", "actor", "actorKind", "target"}

func handleListAuditEvents(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		limit, err := queryLimit(q, 50, 100)
		if err != nil {
			return err
		}
		f := latchkey.AuditFilter{
			ActionPrefix: q.Get("action"), ActorID: q.Get("actor"), ActorKind: q.Get("actorKind"),
			TargetID: q.Get("target"), Limit: limit,
		}
		events, next, err := svc.ListAuditEvents(r.Context(), f, q.Get("cursor"))
		if err != nil {
			return err
		}
		if next != "" {
			nq := url.Values{"cursor": {next}, "limit": {strconv.Itoa(limit)}}
			for _, name := range auditFilters {
				if v := q.Get(name); v != "" {
					nq.Set(name, v)
				}
			}
			w.Header().Set("X-Next-Cursor", next)
			w.Header().Set("Link", "<"+auditLogPath+"?"+nq.Encode()+`>; rel="next"`)
		}
		out := make([]auditEventJSON, len(events))
		for i, e := range events {
			out[i] = newAuditEventJSON(e)
		}
		encode(w, http.StatusOK, out)
		return nil
	})
}

func handleGetAuditEvent(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		e, err := svc.AuditEvent(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, newAuditEventJSON(e))
		return nil
	})
}

// withTraceID hands the request's trace ID to the Service through the
// context, for the audit events of changes made by h (the dashboard, which
// sets the actor itself).
func withTraceID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		h.ServeHTTP(w, r.WithContext(latchkey.WithTraceID(ctx, infoOf(w).traceID)))
	})
}
