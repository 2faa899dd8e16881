package dashboard

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/latchkey/latchkey"
)

// auditActions are the action filters the audit log page offers: a prefix
// and its label.
var auditActions = []option{
	{"key.", "API keys"},
	{"tenant.", "Tenants"},
	{"user.", "Users"},
	{"membership.", "Memberships"},
	{"root_key.", "Root keys"},
	{"permission.", "Permissions"},
	{"oauth_client.", "OAuth clients"},
	{"signing_key.", "Signing keys"},
}

type auditRow struct {
	Event   *latchkey.AuditEvent
	Details []auditDetail
}

type auditDetail struct{ Name, Value string }

type auditData struct {
	Enabled  bool   // the database keeps an audit log
	Errors   uint64 // audit writes that failed since the server started
	Rows     []auditRow
	Actions  []option
	Action   string // the action filter
	Actor    string
	Target   string
	Filtered bool
	Paged    bool   // this is not the first page
	Next     string // URL of the next page, "" on the last
}

func (d *Dashboard) handleAuditLog(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	data := auditData{
		Enabled: d.svc.AuditLogEnabled(), Errors: d.svc.AuditErrors(), Actions: auditActions,
		Action: q.Get("action"), Actor: q.Get("actor"), Target: q.Get("target"),
	}
	data.Filtered = data.Action != "" || data.Actor != "" || data.Target != ""
	data.Paged = q.Get("cursor") != ""
	if data.Action != "" && !slices.ContainsFunc(data.Actions, func(o option) bool { return o.Value == data.Action }) {
		// A filter from a link (an exact action): offer it too.
		data.Actions = append(slices.Clone(data.Actions), option{data.Action, data.Action})
	}
	if data.Enabled {
		events, next, err := d.svc.ListAuditEvents(r.Context(), latchkey.AuditFilter{
			ActionPrefix: data.Action, ActorID: data.Actor, TargetID: data.Target, Limit: adminPageSize,
		}, q.Get("cursor"))
		if err != nil {
			return err
		}
		for _, e := range events {
			data.Rows = append(data.Rows, auditRow{Event: e, Details: auditDetails(e.Detail)})
		}
		if next != "" {
			nq := url.Values{"cursor": {next}}
			for name, v := range map[string]string{"action": data.Action, "actor": data.Actor, "target": data.Target} {
				if v != "" {
					nq.Set(name, v)
				}
			}
			data.Next = "/admin/audit-log?" + nq.Encode()
		}
	}
	d.render(w, r, http.StatusOK, "admin_audit", page{Title: "Audit log", Section: "admin-audit", Session: s, Data: data})
	return nil
}

// auditDetails renders an event's detail as name/value pairs in name order.
func auditDetails(m map[string]any) []auditDetail {
	out := make([]auditDetail, 0, len(m))
	for name, v := range m {
		out = append(out, auditDetail{Name: name, Value: detailValue(v)})
	}
	slices.SortFunc(out, func(a, b auditDetail) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func detailValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "—"
	case string:
		if v == "" {
			return "—"
		}
		return v
	case []any:
		if len(v) == 0 {
			return "none"
		}
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = detailValue(e)
		}
		return strings.Join(parts, ", ")
	case []string:
		if len(v) == 0 {
			return "none"
		}
		return strings.Join(v, ", ")
	case bool:
		if v {
			return "yes"
		}
		return "no"
	}
	return fmt.Sprint(v)
}
