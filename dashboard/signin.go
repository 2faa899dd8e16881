package dashboard

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/clientaddr"
)

// signInTTL bounds how long a sign-in form stays usable.
const signInTTL = time.Hour

// maxEmailLen is the longest email an account can have. A longer one gets
// no bucket of its own (it matches no account, and would only fill the
// limiter, Redis included, with large keys); the address limit still
// counts the attempt.
const maxEmailLen = 254

type signInData struct {
	Email string
	Next  string
	Token string // double-submit token, also in the sign-in cookie
}

func (d *Dashboard) handleHome(w http.ResponseWriter, r *http.Request) {
	if _, ok, _ := d.lookupSession(r); ok {
		http.Redirect(w, r, "/settings/api-keys", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (d *Dashboard) handleSignInForm(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if _, ok, _ := d.lookupSession(r); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	p := page{Title: "Sign in"}
	if r.URL.Query().Has("signed_out") {
		p.Flash = "You have signed out."
	}
	d.showSignIn(w, r, http.StatusOK, p, "", next)
}

// showSignIn renders the sign-in form with a fresh double-submit token.
func (d *Dashboard) showSignIn(w http.ResponseWriter, r *http.Request, status int, p page, email, next string) {
	token := randomToken()
	d.setCookie(w, r, signInCookie, token, signInTTL)
	noStore(w)
	p.Title = "Sign in"
	p.Data = signInData{Email: email, Next: next, Token: token}
	d.render(w, r, status, "signin", p)
}

func (d *Dashboard) handleSignIn(w http.ResponseWriter, r *http.Request) {
	email := strings.TrimSpace(r.PostFormValue("email"))
	next := safeNext(r.PostFormValue("next"))
	fail := func(status int, msg string) {
		d.showSignIn(w, r, status, page{Error: msg}, email, next)
	}

	// The form has no session yet: it is protected by the cross-origin
	// check and a double-submit token (login CSRF would sign a victim in
	// to the attacker's account).
	c, _ := r.Cookie(signInCookie)
	if d.origin.Check(r) != nil || c == nil || !equalTokens(c.Value, r.PostFormValue(csrfField)) {
		fail(http.StatusForbidden, "This sign-in form has expired. Please try again.")
		return
	}

	// Rate limits before the (deliberately slow) password check, counted
	// by the Service's limiter; both buckets count every attempt. Allow's
	// error is the refusal the status already reports. A successful sign-in
	// does not give the email its attempts back: the limiter has no reset.
	byAddr, _ := d.svc.Allow(r.Context(), "signin:addr:"+clientaddr.Of(r, d.cfg.TrustedProxies), addrLimit)
	byEmail := latchkey.LimitStatus{Allowed: true}
	if email != "" && len(email) <= maxEmailLen {
		byEmail, _ = d.svc.Allow(r.Context(), "signin:email:"+strings.ToLower(email), emailLimit)
	}
	if !byAddr.Allowed || !byEmail.Allowed {
		wait := max(byAddr.RetryAfter, byEmail.RetryAfter)
		secs := max(1, int(math.Ceil(wait.Seconds())))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		fail(http.StatusTooManyRequests, "Too many sign-in attempts. Wait "+plural(secs, "second")+" and try again.")
		return
	}

	if email == "" || r.PostFormValue("password") == "" {
		fail(http.StatusBadRequest, "Enter your email and password.")
		return
	}
	u, err := d.svc.CheckPassword(r.Context(), email, r.PostFormValue("password"))
	if err != nil {
		if latchkey.ErrorCode(err) == latchkey.CodeInvalidAPIKey {
			fail(http.StatusUnauthorized, "That email and password do not match an account.")
			return
		}
		fail(http.StatusServiceUnavailable, d.userMessage(r.Context(), err))
		return
	}
	// A fresh session on every sign-in: a token planted before sign-in
	// (session fixation) never becomes a signed-in one.
	if old, err := r.Cookie(sessionCookie); err == nil {
		_ = d.svc.DeleteSession(r.Context(), old.Value)
	}
	_, token, err := d.svc.CreateSession(r.Context(), u.ID)
	if err != nil {
		fail(http.StatusServiceUnavailable, d.userMessage(r.Context(), err))
		return
	}
	d.pruneSessions(r.Context())
	d.setCookie(w, r, sessionCookie, token, latchkey.SessionMaxLifetime)
	d.clearCookie(w, r, signInCookie)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (d *Dashboard) handleSignOutForm(w http.ResponseWriter, r *http.Request, s *session) error {
	d.render(w, r, http.StatusOK, "signout", page{Title: "Sign out", Session: s})
	return nil
}

func (d *Dashboard) handleSignOut(w http.ResponseWriter, r *http.Request) {
	s, ok, err := d.lookupSession(r)
	if err != nil {
		d.renderError(w, r, nil, http.StatusServiceUnavailable, "Service unavailable", d.userMessage(r.Context(), err))
		return
	}
	if !ok {
		d.clearCookie(w, r, sessionCookie)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if err := d.checkCSRF(r, s); err != nil {
		d.renderError(w, r, s, http.StatusForbidden, "Request refused", errCSRF.Message)
		return
	}
	if err := d.svc.DeleteSession(r.Context(), s.Token); err != nil {
		d.renderError(w, r, s, http.StatusServiceUnavailable, "Service unavailable", d.userMessage(r.Context(), err))
		return
	}
	d.clearCookie(w, r, sessionCookie)
	http.Redirect(w, r, "/login?signed_out=1", http.StatusSeeOther)
}
