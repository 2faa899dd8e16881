package dashboard

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/clientaddr"
)

// Cookie names. The session cookie carries the session token; the sign-in
// cookie carries the double-submit token of the sign-in form.
const (
	sessionCookie = "latchkey_session"
	signInCookie  = "latchkey_signin"
	csrfField     = "csrf_token"
	csrfHeader    = "X-CSRF-Token"
)

// session is a signed-in request.
type session struct {
	User  *latchkey.User
	Token string // the cookie value, never rendered
	CSRF  string // the synchronizer token rendered into forms
}

// errCSRF refuses an unsafe request without a valid token or from another
// origin.
var errCSRF = &latchkey.Error{
	Code:    latchkey.CodeForbidden,
	Message: "This request was refused because it did not come from a Latchkey page (missing or invalid CSRF token). Reload the page and try again.",
}

// isSafe reports whether a method cannot change state.
func isSafe(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// lookupSession resolves the request's session cookie. ok is false when
// there is no live session; err is set only when the database could not
// answer.
func (d *Dashboard) lookupSession(r *http.Request) (s *session, ok bool, err error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, false, nil
	}
	u, _, err := d.svc.SessionUser(r.Context(), c.Value)
	if err != nil {
		if latchkey.ErrorCode(err) == latchkey.CodeAuthenticationRequired {
			return nil, false, nil
		}
		return nil, false, err
	}
	return &session{User: u, Token: c.Value, CSRF: latchkey.CSRFToken(c.Value)}, true, nil
}

// checkCSRF applies the one rule for unsafe requests made with a session:
// same origin, and the session's token in the form field or the header.
func (d *Dashboard) checkCSRF(r *http.Request, s *session) error {
	if err := d.origin.Check(r); err != nil {
		return errCSRF
	}
	presented := r.Header.Get(csrfHeader)
	if presented == "" {
		presented = r.PostFormValue(csrfField)
	}
	if !latchkey.ValidCSRFToken(s.Token, presented) {
		return errCSRF
	}
	return nil
}

// SessionUser makes a dashboard session a user context for the JSON
// self-service API (SPEC §6), under the same CSRF rule as the forms, read
// from the X-CSRF-Token header only (the API takes JSON bodies).
func (d *Dashboard) SessionUser(r *http.Request) (*latchkey.User, bool, error) {
	s, ok, err := d.lookupSession(r)
	if !ok || err != nil {
		return nil, false, err
	}
	if !isSafe(r.Method) {
		if d.origin.Check(r) != nil || !latchkey.ValidCSRFToken(s.Token, r.Header.Get(csrfHeader)) {
			return nil, false, errCSRF
		}
	}
	return s.User, true, nil
}

// handler is a dashboard page handler for a signed-in user.
type handler func(w http.ResponseWriter, r *http.Request, s *session) error

// signedIn wraps h: it requires a live session (else sends the browser to
// sign in), admin rights when admin is set (else 403), and the CSRF rule
// on unsafe methods. An error h returns is shown as an error page.
func (d *Dashboard) signedIn(admin bool, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok, err := d.lookupSession(r)
		if err != nil {
			d.renderError(w, r, nil, http.StatusServiceUnavailable, "Service unavailable", d.userMessage(r.Context(), err))
			return
		}
		if !ok {
			d.clearCookie(w, r, sessionCookie)
			if isSafe(r.Method) {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			d.renderError(w, r, nil, http.StatusUnauthorized, "Signed out",
				"Your session has ended. Sign in again, then repeat what you were doing.")
			return
		}
		if !isSafe(r.Method) {
			if err := d.checkCSRF(r, s); err != nil {
				d.renderError(w, r, s, http.StatusForbidden, "Request refused", err.(*latchkey.Error).Message)
				return
			}
		}
		if admin && !s.User.IsAdmin {
			d.renderError(w, r, s, http.StatusForbidden, "Admins only",
				"This page is for Latchkey administrators. Ask an admin if you need access.")
			return
		}
		// The signed-in user is the actor of every change the page makes.
		r = r.WithContext(latchkey.WithActor(r.Context(), latchkey.Actor{Kind: latchkey.ActorUser, ID: s.User.ID}))
		if err := h(w, r, s); err != nil {
			d.renderError(w, r, s, statusOf(err), "Something went wrong", d.userMessage(r.Context(), err))
		}
	})
}

// statusOf maps an application error to the HTTP status of its page.
func statusOf(err error) int {
	switch latchkey.ErrorCode(err) {
	case latchkey.CodeValidationFailed:
		return http.StatusBadRequest
	case latchkey.CodeNotFound:
		return http.StatusNotFound
	case latchkey.CodeConflict:
		return http.StatusConflict
	case latchkey.CodeForbidden:
		return http.StatusForbidden
	case latchkey.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// secure reports whether the browser reached us over TLS, directly or
// through a trusted proxy that says so.
func (d *Dashboard) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return clientaddr.TrustedPeer(r.RemoteAddr, d.cfg.TrustedProxies) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (d *Dashboard) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   int(maxAge / time.Second),
		HttpOnly: true,
		Secure:   d.secure(r),
		SameSite: http.SameSiteLaxMode,
	})
}

// clearCookie tells the browser to drop a cookie it sent.
func (d *Dashboard) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	if _, err := r.Cookie(name); err != nil {
		return
	}
	d.setCookie(w, r, name, "", -time.Second)
}

// randomToken returns 256 random bits, base64url.
func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// equalTokens compares two tokens in constant time; empty never matches.
func equalTokens(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// safeNext returns where to go after sign-in: a local path, never another
// site ("//evil", "/\evil", "https://…").
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n\t") {
		return "/settings/api-keys"
	}
	return next
}
