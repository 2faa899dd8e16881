package dashboard

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
)

// pageTemplate is one page: the shared layout plus the page's "content".
type pageTemplate struct{ *template.Template }

// page is what every template renders: the layout's fields plus the
// page's own data in Data.
type page struct {
	Title   string
	Section string // highlighted navigation entry
	Session *session
	Flash   string  // a success message
	Error   string  // an error message
	Reveal  *reveal // a secret shown once, in a dialog
	Data    any
}

func (p page) User() *latchkey.User {
	if p.Session == nil {
		return nil
	}
	return p.Session.User
}

func (p page) CSRF() string {
	if p.Session == nil {
		return ""
	}
	return p.Session.CSRF
}

func parsePages(asset func(string) string) (map[string]*pageTemplate, error) {
	funcs := template.FuncMap{
		"asset":     asset,
		"date":      formatDate,
		"datetime":  formatDateTime,
		"ago":       ago,
		"until":     until,
		"count":     formatCount,
		"join":      strings.Join,
		"hasPrefix": strings.HasPrefix,
		"has": func(list []string, s string) bool {
			for _, v := range list {
				if v == s {
					return true
				}
			}
			return false
		},
		"duration": latchkey.FormatDuration,
		"status":   keyStatus,
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*pageTemplate{}
	for _, name := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("dashboard: template %s: %w", name, err)
		}
		pages[base] = &pageTemplate{t}
	}
	return pages, nil
}

// render writes a page with status. It renders into a buffer first, so a
// template error becomes a clean error page rather than half a page.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := d.pages[name]
	if !ok {
		panic("dashboard: no template " + name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		d.internalError(r.Context(), fmt.Errorf("render %s: %w", name, err))
		status = http.StatusInternalServerError
		buf.Reset()
		p = page{Title: "Something went wrong", Session: p.Session,
			Data: errorData{Heading: "Something went wrong", Message: "This page could not be shown. Please try again."}}
		if err := d.pages["error"].ExecuteTemplate(&buf, "layout", p); err != nil {
			http.Error(w, "Internal server error", http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type errorData struct {
	Status  int
	Heading string
	Message string
}

// renderError shows an error page; s may be nil (signed out).
func (d *Dashboard) renderError(w http.ResponseWriter, r *http.Request, s *session, status int, heading, msg string) {
	d.render(w, r, status, "error", page{Title: heading, Session: s,
		Data: errorData{Status: status, Heading: heading, Message: msg}})
}

// noStore marks a response that shows a secret: no cache may keep it.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

func formatDate(t time.Time) string { return t.UTC().Format("Jan 2, 2006") }

func formatDateTime(t time.Time) string { return t.UTC().Format("Jan 2, 2006 15:04 UTC") }

// ago renders a past time for people: "just now", "5 minutes ago", "Never".
func ago(t *time.Time) string {
	if t == nil {
		return "Never"
	}
	d := time.Since(*t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	case d < 30*24*time.Hour:
		return plural(int(d/(24*time.Hour)), "day") + " ago"
	}
	return formatDate(*t)
}

// until renders a future time: "in 3 days".
func until(t time.Time) string {
	d := time.Until(t)
	switch {
	case d <= 0:
		return "now"
	case d < time.Hour:
		return "in " + plural(max(1, int(d/time.Minute)), "minute")
	case d < 48*time.Hour:
		return "in " + plural(int(d/time.Hour), "hour")
	case d < 60*24*time.Hour:
		return "in " + plural(int(d/(24*time.Hour)), "day")
	}
	return "on " + formatDate(t)
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// formatCount renders 1234567 as "1,234,567".
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// statusView is a key's state as a badge.
type statusView struct {
	Label string
	Class string // badge colour: ok, warn, off, bad
	Note  string // e.g. "expires in 23 hours"
}

func keyStatus(k *latchkey.Key) statusView {
	now := time.Now()
	switch {
	case k.RevokedAt != nil:
		return statusView{Label: "Revoked", Class: "bad", Note: "revoked " + ago(k.RevokedAt)}
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return statusView{Label: "Expired", Class: "bad", Note: "expired " + ago(k.ExpiresAt)}
	case !k.IsActive:
		return statusView{Label: "Disabled", Class: "off"}
	case k.ExpiresAt != nil && k.ExpiresAt.Sub(now) < 7*24*time.Hour:
		return statusView{Label: "Active", Class: "warn", Note: "expires " + until(*k.ExpiresAt)}
	case k.ExpiresAt != nil:
		return statusView{Label: "Active", Class: "ok", Note: "expires " + until(*k.ExpiresAt)}
	}
	return statusView{Label: "Active", Class: "ok"}
}
