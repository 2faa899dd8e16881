// Package dashboard is Latchkey's browser UI (SPEC §11): sign-in,
// Settings > API Keys for every user, and an admin area. Pages are
// html/template with embedded CSS and a little JavaScript; nothing is
// fetched from anywhere else, and every page works without JavaScript.
//
// Security model, in one place:
//   - Sessions are server-side (latchkey.Service.CreateSession); the cookie
//     holds a 256-bit random token, the database only its SHA-256.
//   - Cookies are HttpOnly, SameSite=Lax, Path=/, and Secure under TLS.
//   - Every unsafe request (forms and the JSON API alike) must pass the
//     cross-origin check of http.CrossOriginProtection (Sec-Fetch-Site /
//     Origin) and carry the session's synchronizer token, compared in
//     constant time: the csrf_token form field or the X-CSRF-Token header.
//   - The sign-in form, which has no session yet, uses a double-submit
//     token in a short-lived cookie, plus the same cross-origin check.
//   - Sign-in attempts are rate limited per client address and per email,
//     by the Service's limiter (shared by every node when Redis is
//     configured).
//   - Pages that show a secret are Cache-Control: no-store; secrets never
//     appear in a URL, a cookie or a log line.
package dashboard

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/latchkey/latchkey"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures the dashboard.
type Config struct {
	// TrustedProxies are the peers whose X-Forwarded-For and
	// X-Forwarded-Proto are believed (client address for rate limits,
	// Secure cookies behind a TLS-terminating proxy).
	TrustedProxies []netip.Prefix
	// Logger receives the causes of internal errors. nil discards them.
	Logger *slog.Logger
}

// Dashboard serves the browser UI. Create it with New.
type Dashboard struct {
	svc    *latchkey.Service
	cfg    Config
	log    *slog.Logger
	mux    *http.ServeMux
	pages  map[string]*pageTemplate
	assets map[string]string // file name → cache-busting version
	origin *http.CrossOriginProtection
	pruned atomic.Int64 // unix seconds of the last sweep of ended sessions
}

// Sign-in limits, counted by the Service's limiter: in memory on one node,
// across all nodes when Redis is configured. Per client address: 10
// attempts a minute; per email: 5 every 150 seconds, one every 30 on
// average. A person mistyping a password never notices; a guesser gets at
// most ~2,900 tries a day at one account, against an argon2id hash.
var (
	addrLimit  = latchkey.RateLimit{Limit: 10, Window: time.Minute}
	emailLimit = latchkey.RateLimit{Limit: 5, Window: 150 * time.Second}
)

// New returns the dashboard over svc.
func New(svc *latchkey.Service, cfg Config) (*Dashboard, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Dashboard{
		svc:    svc,
		cfg:    cfg,
		log:    cfg.Logger,
		mux:    http.NewServeMux(),
		origin: http.NewCrossOriginProtection(),
	}
	var err error
	if d.assets, err = assetVersions(); err != nil {
		return nil, err
	}
	if d.pages, err = parsePages(d.asset); err != nil {
		return nil, err
	}
	d.routes()
	return d, nil
}

// Patterns lists what the server mounts: everything the dashboard serves,
// and nothing under /api/, so API 404s and 405s stay JSON.
func (d *Dashboard) Patterns() []string {
	return []string{"GET /{$}", "/login", "/logout", "/settings/", "/admin/", "/static/"}
}

// ServeHTTP serves a dashboard page with the security headers every page
// carries.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if _, pattern := d.mux.Handler(r); pattern == "" {
		d.renderError(w, r, nil, http.StatusNotFound, "Page not found", "There is nothing at this address.")
		return
	}
	d.mux.ServeHTTP(w, r)
}

// pruneInterval is how often sign-ins sweep ended sessions from the
// database; a session that ended is refused either way.
const pruneInterval = time.Hour

// pruneSessions removes ended sessions at most once per pruneInterval.
// It runs on sign-in, which is when sessions accumulate.
func (d *Dashboard) pruneSessions(ctx context.Context) {
	now := d.svc.Now().Unix()
	last := d.pruned.Load()
	if now-last < int64(pruneInterval/time.Second) || !d.pruned.CompareAndSwap(last, now) {
		return
	}
	if _, err := d.svc.PruneSessions(ctx); err != nil {
		d.internalError(ctx, err)
	}
}

// asset returns the versioned URL of a static file.
func (d *Dashboard) asset(name string) string {
	return "/static/" + name + "?v=" + d.assets[name]
}

func assetVersions() (map[string]string, error) {
	out := map[string]string{}
	err := fs.WalkDir(staticFS, "static", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(p, "static/")] = hex.EncodeToString(sum[:6])
		return nil
	})
	return out, err
}

// handleStatic serves the embedded assets. Their URLs carry a content
// version, so browsers may keep them for a long time.
func (d *Dashboard) handleStatic() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(sub)
	return http.StripPrefix("/static", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := d.assets[strings.TrimPrefix(path.Clean(r.URL.Path), "/")]; !ok {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("v") != "" {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "public, max-age=300")
		}
		files.ServeHTTP(w, r)
	}))
}

// internalError logs the cause of a failure the user only sees as a
// generic message.
func (d *Dashboard) internalError(ctx context.Context, err error) {
	d.log.LogAttrs(ctx, slog.LevelError, "dashboard request failed", slog.String("cause", err.Error()))
}

// userMessage turns an error into something a person can act on: the
// message of an application error, or a generic sentence for anything
// else (whose cause goes to the log).
func (d *Dashboard) userMessage(ctx context.Context, err error) string {
	var e *latchkey.Error
	if errors.As(err, &e) && e.Code != latchkey.CodeInternal {
		if e.Code == latchkey.CodeUnavailable {
			return "The database is not answering right now. Please try again in a moment."
		}
		return sentence(e.Message)
	}
	d.internalError(ctx, err)
	return "Something went wrong on our side. Please try again."
}

// sentence capitalises a message and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "!") {
		s += "."
	}
	return s
}
