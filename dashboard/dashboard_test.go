package dashboard_test

import (
	"bytes"
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/dashboard"
	"github.com/latchkey/latchkey/ratelimit"
)

func TestSignIn(t *testing.T) {
	t.Run("the right password signs in with a hardened cookie", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		res := b.trySignIn(aliceEmail, password)
		wantRedirect(t, res, "/settings/api-keys")
		var c *http.Cookie
		for _, sc := range res.Cookies() {
			if sc.Name == "latchkey_session" {
				c = sc
			}
		}
		if c == nil {
			t.Fatal("no session cookie")
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
			t.Fatalf("cookie = %+v; want HttpOnly, SameSite=Lax, Path=/, not Secure over plain HTTP", c)
		}
		if len(c.Value) < 22 {
			t.Fatalf("session token %q has under 128 bits", c.Value)
		}
		wantStatus(t, b.get("/settings/api-keys"), http.StatusOK)
	})
	t.Run("cookies are Secure under TLS", func(t *testing.T) {
		e := newEnvWith(t, httptest.NewTLSServer)
		res := e.browser().trySignIn(aliceEmail, password)
		wantRedirect(t, res, "/settings/api-keys")
		for _, c := range res.Cookies() {
			if !c.Secure || !c.HttpOnly {
				t.Fatalf("cookie %s = %+v; want Secure and HttpOnly", c.Name, c)
			}
		}
	})
	t.Run("cookies are Secure behind a trusted TLS proxy", func(t *testing.T) {
		e := newEnv(t, func(c *dashboard.Config) {
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
		})
		b := e.browser()
		form := b.get("/login")
		res := b.post("/login", url.Values{"email": {aliceEmail}, "password": {password}, "csrf_token": {csrf(t, form.Body)}},
			"X-Forwarded-Proto", "https")
		wantRedirect(t, res, "/settings/api-keys")
		if c := res.Cookies(); len(c) == 0 || !c[0].Secure {
			t.Fatalf("cookies = %+v; want Secure", c)
		}
	})
	t.Run("a wrong password or unknown email is refused alike", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		for _, email := range []string{aliceEmail, "nobody@example.com"} {
			res := b.trySignIn(email, "wrong password")
			wantStatus(t, res, http.StatusUnauthorized)
			if !strings.Contains(res.Body, "do not match an account") {
				t.Fatalf("no human error message:\n%s", res.Body)
			}
		}
		if b.cookie("latchkey_session") != nil {
			t.Fatal("a failed sign-in set a session cookie")
		}
	})
	t.Run("a disabled user cannot sign in", func(t *testing.T) {
		e := newEnv(t)
		yes := true
		if _, err := e.svc.UpdateUser(context.Background(), "alice", latchkey.UserPatch{Disabled: &yes}); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, e.browser().trySignIn(aliceEmail, password), http.StatusUnauthorized)
	})
	t.Run("the form needs its double-submit token", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		b.get("/login")
		res := b.post("/login", url.Values{"email": {aliceEmail}, "password": {password}, "csrf_token": {"forged"}})
		wantStatus(t, res, http.StatusForbidden)
		res = e.browser().post("/login", url.Values{"email": {aliceEmail}, "password": {password}})
		wantStatus(t, res, http.StatusForbidden)
	})
	t.Run("a cross-site sign-in post is refused", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		form := b.get("/login")
		res := b.post("/login", url.Values{"email": {aliceEmail}, "password": {password}, "csrf_token": {csrf(t, form.Body)}},
			"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
		wantStatus(t, res, http.StatusForbidden)
	})
	t.Run("next goes back to the page asked for, never off-site", func(t *testing.T) {
		e := newEnv(t)
		wantRedirect(t, e.browser().get("/admin/users"), "/login?next=%2Fadmin%2Fusers")
		for next, want := range map[string]string{
			"/admin/users":         "/admin/users",
			"//evil.example/":      "/settings/api-keys",
			"/\\evil.example":      "/settings/api-keys",
			"https://evil.example": "/settings/api-keys",
		} {
			b := e.browser()
			form := b.get("/login?next=" + url.QueryEscape(next))
			res := b.post("/login", url.Values{"email": {adminEmail}, "password": {password}, "next": {next}, "csrf_token": {csrf(t, form.Body)}})
			if loc := res.Header.Get("Location"); loc != want {
				t.Errorf("next=%q: Location = %q, want %q", next, loc, want)
			}
		}
	})
	t.Run("signing in again replaces the session", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		b.signIn(aliceEmail)
		first := b.cookie("latchkey_session")
		// Another browser that carries the same (planted) session cookie
		// signs in: it must get a new session and end the old one.
		c := e.browser()
		form := c.get("/login")
		u, _ := url.Parse(e.srv.URL)
		c.jar.SetCookies(u, []*http.Cookie{first})
		res := c.post("/login", url.Values{"email": {aliceEmail}, "password": {password}, "csrf_token": {csrf(t, form.Body)}})
		wantRedirect(t, res, "/settings/api-keys")
		if c.cookie("latchkey_session").Value == first.Value {
			t.Fatal("the session token did not change")
		}
		if _, _, err := e.svc.SessionUser(context.Background(), first.Value); err == nil {
			t.Fatal("the old session still works")
		}
	})
}

func TestSignInRateLimit(t *testing.T) {
	// behindProxy is an env whose peers (the loopback test client) are
	// trusted proxies, so each attempt can come from its own client.
	behindProxy := func(t *testing.T) *env {
		return newEnv(t, func(c *dashboard.Config) {
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
		})
	}
	// wantLimited checks the 429 page: a Retry-After of at least a second
	// and at most the window and one of the limiter's sub-windows, and a
	// message that says how long to wait. It returns the Retry-After.
	wantLimited := func(t *testing.T, res response, window time.Duration) time.Duration {
		t.Helper()
		wantStatus(t, res, http.StatusTooManyRequests)
		most := int(math.Ceil((window + window/ratelimit.Slots).Seconds()))
		ra, err := strconv.Atoi(res.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > most {
			t.Fatalf("Retry-After = %q, want 1..%d", res.Header.Get("Retry-After"), most)
		}
		if want := "Too many sign-in attempts. Wait " + strconv.Itoa(ra) + " second"; !strings.Contains(res.Body, want) {
			t.Fatalf("the page does not say %q:\n%s", want, res.Body)
		}
		return time.Duration(ra) * time.Second
	}

	t.Run("per address: the 11th attempt in a minute is refused, whatever the email", func(t *testing.T) {
		e := newEnv(t)
		for i := range 10 {
			wantStatus(t, e.browser().trySignIn("nobody"+strconv.Itoa(i)+"@example.com", "x"), http.StatusUnauthorized)
		}
		wantLimited(t, e.browser().trySignIn(aliceEmail, password), time.Minute)
	})
	t.Run("per address: the limit lifts after the window", func(t *testing.T) {
		e := newEnv(t)
		for i := range 10 {
			wantStatus(t, e.browser().trySignIn("nobody"+strconv.Itoa(i)+"@example.com", "x"), http.StatusUnauthorized)
		}
		e.clock.Advance(30 * time.Second)
		ra := wantLimited(t, e.browser().trySignIn(aliceEmail, password), time.Minute)
		e.clock.Advance(ra)
		wantRedirect(t, e.browser().trySignIn(aliceEmail, password), "/settings/api-keys")
	})
	t.Run("per email: the 6th attempt is refused even from another address", func(t *testing.T) {
		e := behindProxy(t)
		for i, email := range []string{bobEmail, "BOB@example.com", bobEmail, "Bob@Example.com", bobEmail} {
			res := e.browser().trySignIn(email, "wrong", "X-Forwarded-For", "203.0.113."+strconv.Itoa(i+1))
			wantStatus(t, res, http.StatusUnauthorized)
		}
		ra := wantLimited(t, e.browser().trySignIn(bobEmail, password, "X-Forwarded-For", "198.51.100.1"), 150*time.Second)
		// Another account from the same addresses is not held up.
		wantRedirect(t, e.browser().trySignIn(aliceEmail, password, "X-Forwarded-For", "203.0.113.1"), "/settings/api-keys")
		e.clock.Advance(ra)
		wantRedirect(t, e.browser().trySignIn(bobEmail, password, "X-Forwarded-For", "198.51.100.1"), "/settings/api-keys")
	})
	t.Run("behind a trusted proxy, the X-Forwarded-For client is counted", func(t *testing.T) {
		e := behindProxy(t)
		for i := range 10 {
			res := e.browser().trySignIn("nobody"+strconv.Itoa(i)+"@example.com", "x", "X-Forwarded-For", "203.0.113.7")
			wantStatus(t, res, http.StatusUnauthorized)
		}
		// An entry the client made up, left of what the proxy appended,
		// does not make it someone else.
		wantLimited(t, e.browser().trySignIn(aliceEmail, password, "X-Forwarded-For", "198.51.100.9, 203.0.113.7"), time.Minute)
		wantRedirect(t, e.browser().trySignIn(aliceEmail, password, "X-Forwarded-For", "203.0.113.8"), "/settings/api-keys")
	})
	t.Run("an email too long for any account gets no bucket of its own", func(t *testing.T) {
		e := newEnv(t)
		wantStatus(t, e.browser().trySignIn(strings.Repeat("a", 250)+"@example.com", "x"), http.StatusUnauthorized)
		if n := e.limits.Len(); n != 1 {
			t.Fatalf("%d buckets, want 1 (the address's)", n)
		}
		wantStatus(t, e.browser().trySignIn(bobEmail, "x"), http.StatusUnauthorized)
		if n := e.limits.Len(); n != 2 {
			t.Fatalf("%d buckets, want 2 (the address's and the email's)", n)
		}
	})
	t.Run("from an untrusted peer, X-Forwarded-For is ignored", func(t *testing.T) {
		e := newEnv(t)
		for i := range 10 {
			res := e.browser().trySignIn("nobody"+strconv.Itoa(i)+"@example.com", "x", "X-Forwarded-For", "203.0.113."+strconv.Itoa(i+1))
			wantStatus(t, res, http.StatusUnauthorized)
		}
		wantLimited(t, e.browser().trySignIn(aliceEmail, password, "X-Forwarded-For", "198.51.100.1"), time.Minute)
	})
}

func TestSignOut(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	token := b.signIn(aliceEmail)
	cookie := b.cookie("latchkey_session").Value

	wantStatus(t, b.post("/logout", url.Values{}), http.StatusForbidden) // no CSRF token
	wantRedirect(t, b.post("/logout", url.Values{"csrf_token": {token}}), "/login?signed_out=1")
	if _, _, err := e.svc.SessionUser(context.Background(), cookie); err == nil {
		t.Fatal("the session survived sign-out")
	}
	wantRedirect(t, b.get("/settings/api-keys"), "/login")
}

func TestSessionEnds(t *testing.T) {
	ctx := context.Background()
	for name, end := range map[string]func(e *env){
		"when the user is disabled": func(e *env) {
			yes := true
			e.svc.UpdateUser(ctx, "alice", latchkey.UserPatch{Disabled: &yes})
		},
		"when the user is deleted": func(e *env) { e.svc.DeleteUser(ctx, "alice") },
		"when the password changes": func(e *env) {
			pw := "a brand new password"
			e.svc.UpdateUser(ctx, "alice", latchkey.UserPatch{Password: &pw})
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			b := e.browser()
			token := b.signIn(aliceEmail)
			end(e)
			wantRedirect(t, b.get("/settings/api-keys"), "/login")
			wantStatus(t, b.post("/settings/api-keys", url.Values{"csrf_token": {token}, "name": {"x"}}), http.StatusUnauthorized)
			wantStatus(t, b.api(http.MethodGet, "/api/v1/auth/api-keys", nil), http.StatusUnauthorized)
		})
	}
}

func TestSessionTokenNotStored(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(aliceEmail)
	token := b.cookie("latchkey_session").Value
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(e.dbPath + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(token)) {
			t.Fatalf("latchkey.db%s holds the session token in plaintext", suffix)
		}
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	token := b.signIn(aliceEmail)
	id, _ := b.createKey(token, "Backend", nil)
	other := e.browser()
	otherToken := other.signIn(bobEmail)

	for _, tc := range []struct {
		name    string
		form    url.Values
		headers []string
	}{
		{"missing token", url.Values{}, nil},
		{"wrong token", url.Values{"csrf_token": {"x" + token}}, nil},
		{"another session's token", url.Values{"csrf_token": {otherToken}}, nil},
		{"cross-site request with the right token", url.Values{"csrf_token": {token}},
			[]string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}},
		{"cross-origin Origin without Sec-Fetch-Site", url.Values{"csrf_token": {token}},
			[]string{"Sec-Fetch-Site", "", "Origin", "https://evil.example"}},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			res := b.post("/settings/api-keys/"+id+"/revoke", tc.form, tc.headers...)
			wantStatus(t, res, http.StatusForbidden)
			if !strings.Contains(res.Body, "CSRF") {
				t.Fatalf("the page does not say why:\n%s", res.Body)
			}
			k, err := e.svc.GetKey(context.Background(), "alice", id)
			if err != nil || k.RevokedAt != nil {
				t.Fatalf("the key was revoked anyway (%v)", err)
			}
		})
	}
	t.Run("the right token from the same origin is accepted", func(t *testing.T) {
		wantRedirect(t, b.post("/settings/api-keys/"+id+"/revoke", url.Values{"csrf_token": {token}}), "/settings/api-keys?done=revoked")
	})
	t.Run("the X-CSRF-Token header works for forms too", func(t *testing.T) {
		id2, _ := b.createKey(token, "Second", nil)
		wantRedirect(t, b.post("/settings/api-keys/"+id2+"/toggle", url.Values{}, "X-CSRF-Token", token), "/settings/api-keys?done=disabled")
	})
}

func TestSessionAsAPIUserContext(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	token := b.signIn(aliceEmail)
	b.createKey(token, "From the form", nil)

	t.Run("safe methods need only the session", func(t *testing.T) {
		res := b.api(http.MethodGet, "/api/v1/auth/api-keys", nil)
		wantStatus(t, res, http.StatusOK)
		if !strings.Contains(res.Body, `"From the form"`) || !strings.Contains(res.Body, `"ownerId":"alice"`) {
			t.Fatalf("body = %s", res.Body)
		}
	})
	t.Run("unsafe methods without X-CSRF-Token are 403 JSON", func(t *testing.T) {
		res := b.api(http.MethodPost, "/api/v1/auth/api-keys", map[string]any{"name": "x"})
		wantStatus(t, res, http.StatusForbidden)
		if !strings.Contains(res.Body, `"code":"FORBIDDEN"`) {
			t.Fatalf("body = %s", res.Body)
		}
	})
	t.Run("a form field token does not count for the API", func(t *testing.T) {
		res := b.api(http.MethodPost, "/api/v1/auth/api-keys?csrf_token="+url.QueryEscape(token), map[string]any{"name": "x"})
		wantStatus(t, res, http.StatusForbidden)
	})
	t.Run("cross-site with the token is 403", func(t *testing.T) {
		res := b.api(http.MethodPost, "/api/v1/auth/api-keys", map[string]any{"name": "x"},
			"X-CSRF-Token", token, "Sec-Fetch-Site", "cross-site")
		wantStatus(t, res, http.StatusForbidden)
	})
	t.Run("with X-CSRF-Token the key is created for the session's user", func(t *testing.T) {
		res := b.api(http.MethodPost, "/api/v1/auth/api-keys", map[string]any{"name": "From the API"}, "X-CSRF-Token", token)
		wantStatus(t, res, http.StatusCreated)
		if !strings.Contains(res.Body, `"ownerId":"alice"`) {
			t.Fatalf("body = %s", res.Body)
		}
	})
	t.Run("without a session the API asks for a credential", func(t *testing.T) {
		wantStatus(t, e.browser().api(http.MethodGet, "/api/v1/auth/api-keys", nil), http.StatusUnauthorized)
	})
}

func TestAPIKeysPage(t *testing.T) {
	ctx := context.Background()

	t.Run("signed-out visitors are sent to sign in", func(t *testing.T) {
		e := newEnv(t)
		wantRedirect(t, e.browser().get("/settings/api-keys"), "/login?next=%2Fsettings%2Fapi-keys")
		wantRedirect(t, e.browser().get("/"), "/login")
	})
	t.Run("an empty list says how to start", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		b.signIn(bobEmail)
		res := b.get("/settings/api-keys")
		if !strings.Contains(res.Body, "No API keys yet") {
			t.Fatalf("no empty state:\n%s", res.Body)
		}
	})
	t.Run("create shows the key once, uncached, then only masked", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		token := b.signIn(aliceEmail)
		res := b.post("/settings/api-keys", url.Values{
			"csrf_token": {token}, "name": {"Production"}, "environment": {"test"},
			"permissions": {"messages:send, messages:read"}, "tenant": {"globex", "acme"},
			"expires": {"30d"}, "rate_limit": {"100"}, "rate_window": {"1m"},
		})
		wantStatus(t, res, http.StatusCreated)
		if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("Cache-Control = %q, want no-store", cc)
		}
		secret := secretRe.FindString(res.Body)
		if !strings.HasPrefix(secret, "tb_test_") || !strings.Contains(res.Body, "you will not see it again") {
			t.Fatalf("reveal dialog missing key or notice:\n%s", res.Body)
		}
		for _, c := range res.Cookies() {
			if strings.Contains(c.Value, secret) {
				t.Fatal("the key is in a cookie")
			}
		}
		if loc := res.Header.Get("Location"); loc != "" {
			t.Fatalf("the reveal is a redirect to %q; the key must not travel in a URL", loc)
		}
		k, err := e.svc.AuthenticateKey(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		if k.Name != "Production" || k.Environment != "test" || strings.Join(k.Permissions, ",") != "messages:send,messages:read" ||
			strings.Join(k.TenantIDs, ",") != "globex,acme" || k.ExpiresAt == nil || k.RateLimit == nil || k.RateLimit.Limit != 100 {
			t.Fatalf("key = %+v", k)
		}
		list := b.get("/settings/api-keys")
		if secretRe.MatchString(list.Body) {
			t.Fatal("the list shows a full key")
		}
		for _, want := range []string{k.Masked, "Production", "messages:send", "Globex", "Acme", "Never", "100 requests / 1m"} {
			if !strings.Contains(list.Body, want) {
				t.Errorf("the list lacks %q", want)
			}
		}
	})
	t.Run("validation errors keep the form and say what is wrong", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		token := b.signIn(aliceEmail)
		res := b.post("/settings/api-keys", url.Values{"csrf_token": {token}, "name": {""}, "permissions": {"ok:perm"}})
		wantStatus(t, res, http.StatusBadRequest)
		if !strings.Contains(res.Body, "API key name is required.") || !strings.Contains(res.Body, `value="ok:perm"`) {
			t.Fatalf("body:\n%s", res.Body)
		}
		res = b.post("/settings/api-keys", url.Values{"csrf_token": {token}, "name": {"x"}, "tenant": {"not-mine"}})
		wantStatus(t, res, http.StatusBadRequest)
	})
	t.Run("catalog permissions are checkboxes and others are refused", func(t *testing.T) {
		e := newEnv(t)
		if _, err := e.svc.CreatePermission(ctx, "messages:send", "Send messages"); err != nil {
			t.Fatal(err)
		}
		b := e.browser()
		token := b.signIn(aliceEmail)
		form := b.get("/settings/api-keys/new")
		if !strings.Contains(form.Body, `type="checkbox" name="permission" value="messages:send"`) {
			t.Fatalf("no catalog checkbox:\n%s", form.Body)
		}
		_, secret := b.createKey(token, "Sender", url.Values{"permission": {"messages:send"}})
		k, _ := e.svc.AuthenticateKey(ctx, secret)
		if strings.Join(k.Permissions, ",") != "messages:send" {
			t.Fatalf("permissions = %q", k.Permissions)
		}
		res := b.post("/settings/api-keys", url.Values{"csrf_token": {token}, "name": {"x"}, "permission": {"billing:read"}})
		wantStatus(t, res, http.StatusBadRequest)
	})
	t.Run("toggle, rotate, revoke and delete", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		token := b.signIn(aliceEmail)
		id, secret := b.createKey(token, "Lifecycle", nil)
		tok := url.Values{"csrf_token": {token}}

		wantRedirect(t, b.post("/settings/api-keys/"+id+"/toggle", tok), "/settings/api-keys?done=disabled")
		if _, err := e.svc.AuthenticateKey(ctx, secret); latchkey.ErrorCode(err) != latchkey.CodeKeyDisabled {
			t.Fatalf("after disable: %v", err)
		}
		wantRedirect(t, b.post("/settings/api-keys/"+id+"/toggle", tok), "/settings/api-keys?done=enabled")

		confirm := b.get("/settings/api-keys/" + id + "/rotate")
		wantStatus(t, confirm, http.StatusOK)
		if !strings.Contains(confirm.Body, `name="grace"`) {
			t.Fatal("the rotate confirmation does not ask for a grace period")
		}
		res := b.post("/settings/api-keys/"+id+"/rotate", url.Values{"csrf_token": {token}, "grace": {"1h"}})
		wantStatus(t, res, http.StatusCreated)
		newSecret := secretRe.FindString(res.Body)
		if newSecret == "" || newSecret == secret || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("rotate did not reveal a new key uncached")
		}
		old, err := e.svc.AuthenticateKey(ctx, secret)
		if err != nil || old.ExpiresAt == nil {
			t.Fatalf("old key during grace: %v, %+v", err, old)
		}
		nk, err := e.svc.AuthenticateKey(ctx, newSecret)
		if err != nil {
			t.Fatal(err)
		}

		for _, action := range []string{"revoke", "delete"} {
			wantStatus(t, b.get("/settings/api-keys/"+nk.ID+"/"+action), http.StatusOK)
		}
		wantRedirect(t, b.post("/settings/api-keys/"+nk.ID+"/revoke", tok), "/settings/api-keys?done=revoked")
		if _, err := e.svc.AuthenticateKey(ctx, newSecret); latchkey.ErrorCode(err) != latchkey.CodeKeyRevoked {
			t.Fatalf("after revoke: %v", err)
		}
		wantStatus(t, b.post("/settings/api-keys/"+nk.ID+"/toggle", tok), http.StatusConflict)
		wantRedirect(t, b.post("/settings/api-keys/"+nk.ID+"/delete", tok), "/settings/api-keys?done=deleted")
		if _, err := e.svc.AuthenticateKey(ctx, newSecret); latchkey.ErrorCode(err) != latchkey.CodeInvalidAPIKey {
			t.Fatalf("after delete: %v", err)
		}
		wantStatus(t, b.get("/settings/api-keys/"+nk.ID+"/revoke"), http.StatusNotFound)
	})
	t.Run("another user's keys are invisible and untouchable", func(t *testing.T) {
		e := newEnv(t)
		alice := e.browser()
		id, secret := alice.createKey(alice.signIn(aliceEmail), "Alice's key", nil)
		bob := e.browser()
		bobToken := bob.signIn(bobEmail)

		list := bob.get("/settings/api-keys")
		if strings.Contains(list.Body, "Alice's key") || strings.Contains(list.Body, id) {
			t.Fatal("Bob's list shows Alice's key")
		}
		tok := url.Values{"csrf_token": {bobToken}}
		for _, action := range []string{"toggle", "revoke", "rotate", "delete"} {
			wantStatus(t, bob.post("/settings/api-keys/"+id+"/"+action, tok), http.StatusNotFound)
		}
		wantStatus(t, bob.get("/settings/api-keys/"+id+"/delete"), http.StatusNotFound)
		wantStatus(t, bob.api(http.MethodGet, "/api/v1/auth/api-keys/"+id, nil), http.StatusNotFound)
		if _, err := e.svc.AuthenticateKey(ctx, secret); err != nil {
			t.Fatalf("Alice's key was changed: %v", err)
		}
	})
	t.Run("the tenant switcher filters the list", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		token := b.signIn(aliceEmail)
		b.createKey(token, "Acme key", url.Values{"tenant": {"acme"}})
		b.createKey(token, "Globex key", url.Values{"tenant": {"globex"}})
		res := b.get("/settings/api-keys?tenant=globex")
		if !strings.Contains(res.Body, `id="tenant"`) || !strings.Contains(res.Body, "Globex key") || strings.Contains(res.Body, "Acme key") {
			t.Fatalf("filtered list:\n%s", res.Body)
		}
		// Bob belongs to one tenant: no switcher.
		bob := e.browser()
		bob.signIn(bobEmail)
		if strings.Contains(bob.get("/settings/api-keys").Body, `id="tenant"`) {
			t.Fatal("a one-tenant user sees the tenant switcher")
		}
		// A tenant that is not yours shows everything of yours.
		if res := b.get("/settings/api-keys?tenant=nope"); !strings.Contains(res.Body, "Acme key") {
			t.Fatal("an unknown tenant filter hid the user's keys")
		}
	})
	t.Run("the list is paginated, newest first", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		token := b.signIn(bobEmail)
		for i := range 23 {
			if _, _, err := e.svc.CreateKey(ctx, "bob", latchkey.NewKey{Name: "key-" + strconv.Itoa(i)}); err != nil {
				t.Fatal(err)
			}
		}
		_ = token
		first := b.get("/settings/api-keys")
		if !strings.Contains(first.Body, ">key-22<") || strings.Contains(first.Body, ">key-2<") {
			t.Fatal("the first page is not the 20 newest")
		}
		m := regexpNext.FindStringSubmatch(first.Body)
		if m == nil {
			t.Fatal("no next page link")
		}
		second := b.get(strings.ReplaceAll(m[1], "&amp;", "&"))
		if !strings.Contains(second.Body, ">key-0<") || strings.Contains(second.Body, ">key-22<") {
			t.Fatalf("second page:\n%s", second.Body)
		}
		wantStatus(t, b.get("/settings/api-keys?cursor=garbage"), http.StatusOK)
	})
}

func TestAdminArea(t *testing.T) {
	ctx := context.Background()
	pages := []string{"/admin/", "/admin/usage", "/admin/tenants", "/admin/users", "/admin/users/alice",
		"/admin/permissions", "/admin/root-keys", "/admin/oauth-clients", "/admin/audit-log"}

	t.Run("users who are not admins get 403", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		token := b.signIn(aliceEmail)
		for _, p := range pages {
			res := b.get(p)
			wantStatus(t, res, http.StatusForbidden)
			if !strings.Contains(res.Body, "Admins only") {
				t.Fatalf("%s: no explanation", p)
			}
		}
		wantStatus(t, b.post("/admin/tenants", url.Values{"csrf_token": {token}, "name": {"Evil"}}), http.StatusForbidden)
		if ts, _ := e.svc.ListTenants(ctx, latchkey.Page{}); len(ts) != 2 {
			t.Fatal("a non-admin created a tenant")
		}
		if strings.Contains(b.get("/settings/api-keys").Body, `href="/admin/"`) {
			t.Fatal("a non-admin sees the Admin link")
		}
	})
	t.Run("admins see every page", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		b.signIn(adminEmail)
		for _, p := range pages {
			wantStatus(t, b.get(p), http.StatusOK)
		}
	})
	t.Run("tenants, users and memberships", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		token := b.signIn(adminEmail)
		tok := func(kv ...string) url.Values {
			v := url.Values{"csrf_token": {token}}
			for i := 0; i+1 < len(kv); i += 2 {
				v.Add(kv[i], kv[i+1])
			}
			return v
		}
		wantRedirect(t, b.post("/admin/tenants", tok("id", "initech", "name", "Initech")), "/admin/tenants?done=tenant-created")
		wantStatus(t, b.post("/admin/tenants", tok("id", "initech", "name", "Again")), http.StatusConflict)
		wantRedirect(t, b.post("/admin/users", tok("id", "carol", "email", "carol@example.com", "password", password, "tenant", "initech")),
			"/admin/users/carol")
		wantRedirect(t, b.post("/admin/users/carol/memberships", tok("tenant", "acme")), "/admin/users/carol?done=membership-added")
		u, _ := e.svc.User(ctx, "carol")
		if strings.Join(u.TenantIDs, ",") != "initech,acme" {
			t.Fatalf("memberships = %v", u.TenantIDs)
		}
		wantRedirect(t, b.post("/admin/users/carol/memberships/initech/delete", tok()), "/admin/users/carol?done=membership-gone")

		carol := e.browser()
		carol.signIn("carol@example.com")
		wantRedirect(t, b.post("/admin/users/carol", tok("op", "disable")), "/admin/users/carol?done=user-updated")
		wantRedirect(t, carol.get("/settings/api-keys"), "/login")

		wantStatus(t, b.post("/admin/users/admin", tok("op", "disable")), http.StatusBadRequest)
		wantStatus(t, b.post("/admin/users/admin/delete", tok()), http.StatusBadRequest)

		wantStatus(t, b.get("/admin/users/carol/delete"), http.StatusOK)
		wantRedirect(t, b.post("/admin/users/carol/delete", tok()), "/admin/users?done=user-deleted")
		wantStatus(t, b.get("/admin/tenants/initech/delete"), http.StatusOK)
		wantRedirect(t, b.post("/admin/tenants/initech/delete", tok()), "/admin/tenants?done=tenant-deleted")
	})
	t.Run("root keys and OAuth client secrets are shown once", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		token := b.signIn(adminEmail)
		res := b.post("/admin/root-keys", url.Values{"csrf_token": {token}, "name": {"CI"}, "scope": {"keys:verify"}})
		wantStatus(t, res, http.StatusCreated)
		root := secretRe.FindString(res.Body)
		if !strings.HasPrefix(root, "tb_root_") || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("no root key revealed uncached:\n%s", res.Body)
		}
		if _, err := e.svc.AuthenticateRoot(ctx, root); err != nil {
			t.Fatal(err)
		}
		if secretRe.MatchString(b.get("/admin/root-keys").Body) {
			t.Fatal("the root key list shows a full key")
		}

		res = b.post("/admin/oauth-clients", url.Values{"csrf_token": {token}, "name": {"Billing"}, "scopes": {"messages:send messages:read"}, "tenant": {"acme"}})
		wantStatus(t, res, http.StatusCreated)
		secret := regexpClientSecret.FindString(res.Body)
		if secret == "" || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("no client secret revealed uncached:\n%s", res.Body)
		}
		cs, _ := e.svc.ListOAuthClients(ctx, latchkey.Page{})
		if len(cs) != 1 {
			t.Fatalf("clients = %d", len(cs))
		}
		if _, err := e.svc.AuthenticateOAuthClient(ctx, cs[0].ID, secret); err != nil {
			t.Fatal(err)
		}
		if regexpClientSecret.MatchString(b.get("/admin/oauth-clients").Body) {
			t.Fatal("the client list shows a secret")
		}
		wantRedirect(t, b.post("/admin/oauth-clients/"+cs[0].ID+"/toggle", url.Values{"csrf_token": {token}}), "/admin/oauth-clients?done=client-updated")
		wantStatus(t, b.post("/admin/oauth-clients/"+cs[0].ID+"/rotate", url.Values{"csrf_token": {token}}), http.StatusCreated)
		if _, err := e.svc.AuthenticateOAuthClient(ctx, cs[0].ID, secret); err == nil {
			t.Fatal("the old client secret still works after rotation")
		}
	})
	t.Run("the permission catalog", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		token := b.signIn(adminEmail)
		wantRedirect(t, b.post("/admin/permissions", url.Values{"csrf_token": {token}, "name": {"messages:send"}, "description": {"Send"}}),
			"/admin/permissions?done=permission-added")
		wantStatus(t, b.post("/admin/permissions", url.Values{"csrf_token": {token}, "name": {"not valid"}}), http.StatusBadRequest)
		if !strings.Contains(b.get("/admin/permissions").Body, "messages:send") {
			t.Fatal("the catalog does not list the new permission")
		}
		wantRedirect(t, b.post("/admin/permissions/messages:send/delete", url.Values{"csrf_token": {token}}), "/admin/permissions?done=permission-gone")
	})
	t.Run("usage shows request counts", func(t *testing.T) {
		e := newEnv(t)
		_, secret, err := e.svc.CreateKey(ctx, "alice", latchkey.NewKey{Name: "Busy", TenantIDs: []string{"acme"}})
		if err != nil {
			t.Fatal(err)
		}
		k, _ := e.svc.AuthenticateKey(ctx, secret)
		if err := e.db.AddUsage(ctx, []latchkey.Usage{{KeyID: k.ID, Count: 1234, LastUsedAt: time.Now()}}); err != nil {
			t.Fatal(err)
		}
		b := e.browser()
		b.signIn(adminEmail)
		res := b.get("/admin/usage")
		if !strings.Contains(res.Body, "1,234") || !strings.Contains(res.Body, "Busy") {
			t.Fatalf("usage page:\n%s", res.Body)
		}
	})
}

func TestPages(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.signIn(aliceEmail)
	t.Run("every page carries a strict CSP", func(t *testing.T) {
		res := b.get("/settings/api-keys")
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Fatalf("CSP = %q", csp)
		}
		if res.Header.Get("X-Frame-Options") != "DENY" {
			t.Fatal("no X-Frame-Options")
		}
	})
	t.Run("no external assets", func(t *testing.T) {
		for _, p := range []string{"/settings/api-keys", "/settings/api-keys/new", "/login"} {
			body := b.get(p).Body
			if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "//cdn") {
				t.Fatalf("%s references an external URL", p)
			}
		}
	})
	t.Run("static assets are served with long caching when versioned", func(t *testing.T) {
		page := b.get("/settings/api-keys").Body
		m := regexpAsset.FindStringSubmatch(page)
		if m == nil {
			t.Fatal("no stylesheet link")
		}
		res := b.get(strings.ReplaceAll(m[1], "&amp;", "&"))
		wantStatus(t, res, http.StatusOK)
		if !strings.Contains(res.Header.Get("Cache-Control"), "immutable") || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
			t.Fatalf("headers = %v", res.Header)
		}
		wantStatus(t, b.get("/static/nope.js"), http.StatusNotFound)
	})
	t.Run("unknown dashboard pages are HTML 404s, unknown API paths stay JSON", func(t *testing.T) {
		res := b.get("/settings/nope")
		wantStatus(t, res, http.StatusNotFound)
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("Content-Type = %q", res.Header.Get("Content-Type"))
		}
		res = b.get("/api/v1/nope")
		wantStatus(t, res, http.StatusNotFound)
		if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("API 404 Content-Type = %q", res.Header.Get("Content-Type"))
		}
	})
}
