package dashboard_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/dashboard"
	"github.com/latchkey/latchkey/ratelimit"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/sqlite"
)

// Passwords of the users every test environment has.
const (
	adminEmail = "admin@example.com"
	aliceEmail = "alice@example.com"
	bobEmail   = "bob@example.com"
	password   = "correct horse battery staple"
)

// clock is the service's time source (sessions, rate limits): real time,
// which tests can move forward.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.offset) }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.offset += d; c.mu.Unlock() }

// env is the real server (management API + dashboard) over a real SQLite
// store and an in-memory rate limiter, as `latchkey serve` runs without
// Redis, with an admin and two users who belong to tenants.
type env struct {
	t      *testing.T
	svc    *latchkey.Service
	db     *sqlite.DB
	dbPath string
	srv    *httptest.Server
	clock  *clock
	limits *ratelimit.Memory
}

type envOption func(*dashboard.Config)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	return newEnvWith(t, httptest.NewServer, opts...)
}

func newEnvWith(t *testing.T, start func(http.Handler) *httptest.Server, opts ...envOption) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk, limits := &clock{}, ratelimit.NewMemory()
	svc := latchkey.NewService(db, latchkey.ServiceConfig{KeyPrefix: "tb", Now: clk.Now, Limiter: limits})
	var cfg dashboard.Config
	for _, o := range opts {
		o(&cfg)
	}
	dash, err := dashboard.New(svc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := start(server.New(svc, server.Config{Dashboard: dash}))
	t.Cleanup(srv.Close)
	e := &env{t: t, svc: svc, db: db, dbPath: path, srv: srv, clock: clk, limits: limits}
	ctx := context.Background()
	for _, id := range []string{"acme", "globex"} {
		if _, err := svc.CreateTenant(ctx, id, strings.ToUpper(id[:1])+id[1:]); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []latchkey.NewUser{
		{ID: "admin", Email: adminEmail, Password: password, IsAdmin: true},
		{ID: "alice", Email: aliceEmail, Password: password, TenantIDs: []string{"acme", "globex"}},
		{ID: "bob", Email: bobEmail, Password: password, TenantIDs: []string{"acme"}},
	} {
		if _, err := svc.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t   *testing.T
	e   *env
	c   *http.Client
	jar http.CookieJar
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{
		Transport:     e.srv.Client().Transport,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &browser{t: e.t, e: e, c: c, jar: jar}
}

// response is a read response.
type response struct {
	*http.Response
	Body string
}

func (b *browser) do(req *http.Request) response {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return response{res, string(body)}
}

func (b *browser) get(path string) response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	return b.do(req)
}

// post submits a form as a same-origin browser would (Origin and
// Sec-Fetch-Site set); headers override or add to that.
func (b *browser) post(path string, form url.Values, headers ...string) response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	return b.do(req)
}

// api calls the JSON API with the browser's cookies.
func (b *browser) api(method, path string, body any, headers ...string) response {
	b.t.Helper()
	var r io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		r = strings.NewReader(string(j))
	}
	req, _ := http.NewRequest(method, b.e.srv.URL+path, r)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf returns the first CSRF token on a page.
func csrf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf_token on the page:\n%s", page)
	}
	return html.UnescapeString(m[1])
}

// signIn signs the browser in and returns the CSRF token of its session.
func (b *browser) signIn(email string) string {
	b.t.Helper()
	res := b.trySignIn(email, password)
	if res.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("sign in as %s: status %d\n%s", email, res.StatusCode, res.Body)
	}
	return b.csrf()
}

// trySignIn submits the sign-in form; headers are as for post.
func (b *browser) trySignIn(email, pw string, headers ...string) response {
	b.t.Helper()
	form := b.get("/login")
	return b.post("/login", url.Values{"email": {email}, "password": {pw}, "csrf_token": {csrf(b.t, form.Body)}}, headers...)
}

// csrf returns the session's CSRF token, read from the keys page.
func (b *browser) csrf() string {
	b.t.Helper()
	res := b.get("/settings/api-keys")
	if res.StatusCode != http.StatusOK {
		b.t.Fatalf("GET /settings/api-keys: %d", res.StatusCode)
	}
	return csrf(b.t, res.Body)
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.e.srv.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

var secretRe = regexp.MustCompile(`\btb_(live|test|root)_[0-9A-Za-z]{32}\b`)

func wantStatus(t *testing.T, res response, status int) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d\n%s", res.Request.Method, res.Request.URL.Path, res.StatusCode, status, res.Body)
	}
}

func wantRedirect(t *testing.T, res response, prefix string) {
	t.Helper()
	wantStatus(t, res, http.StatusSeeOther)
	if loc := res.Header.Get("Location"); !strings.HasPrefix(loc, prefix) {
		t.Fatalf("Location = %q, want prefix %q", loc, prefix)
	}
}

// createKey creates a key through the form and returns its ID and secret.
func (b *browser) createKey(token, name string, extra url.Values) (id, secret string) {
	b.t.Helper()
	form := url.Values{"csrf_token": {token}, "name": {name}, "environment": {"live"}}
	for k, v := range extra {
		form[k] = v
	}
	res := b.post("/settings/api-keys", form)
	wantStatus(b.t, res, http.StatusCreated)
	secret = secretRe.FindString(res.Body)
	if secret == "" {
		b.t.Fatalf("no key on the reveal page:\n%s", res.Body)
	}
	k, err := b.e.svc.AuthenticateKey(context.Background(), secret)
	if err != nil {
		b.t.Fatalf("the revealed key does not authenticate: %v", err)
	}
	return k.ID, secret
}

var (
	regexpNext         = regexp.MustCompile(`href="([^"]+)" rel="next"`)
	regexpAsset        = regexp.MustCompile(`<link rel="stylesheet" href="([^"]+)">`)
	regexpClientSecret = regexp.MustCompile(`\btb_secret_[0-9A-Za-z]{32}\b`)
)
