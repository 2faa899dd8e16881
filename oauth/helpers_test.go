package oauth_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/testlog"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/sqlite"
)

// clock is a settable time source shared by a test, its service and its
// OAuth server. It starts at the real time so that third-party libraries,
// which check tokens against the real clock, agree with it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// env is a Latchkey with OAuth over a real SQLite file, served by a real
// HTTP server: the five OAuth endpoints, plus a protected route that
// answers who a credential is, through the one verification pipeline.
type env struct {
	t      testing.TB
	svc    *latchkey.Service
	db     *sqlite.DB
	dbPath string
	kek    []byte
	clock  *clock
	oauth  *oauth.Server
	http   *httptest.Server
	url    string
	logs   *testlog.Buffer
}

type envOption func(*oauth.Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	return newEnvWith(t, latchkey.ServiceConfig{}, opts...)
}

// newEnvWith is newEnv with service settings (limits, limiter); the key
// prefix and clock are always the test's.
func newEnvWith(t testing.TB, sc latchkey.ServiceConfig, opts ...envOption) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dbPath: filepath.Join(dir, "latchkey.db"), logs: &testlog.Buffer{}}
	e.clock = &clock{now: time.Now().UTC().Truncate(time.Second)}
	var err error
	if e.db, err = sqlite.Open(e.dbPath); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	if e.kek, err = oauth.LoadOrCreateKeyFile(e.dbPath + ".kek"); err != nil {
		t.Fatal(err)
	}
	sc.KeyPrefix, sc.Now = "lk", e.clock.Now
	e.svc = latchkey.NewService(e.db, sc)

	mux := http.NewServeMux()
	e.http = httptest.NewUnstartedServer(mux)
	e.url = "http://" + e.http.Listener.Addr().String()
	cfg := oauth.Config{
		Issuer:           e.url,
		KeyEncryptionKey: e.kek,
		Logger:           slog.New(slog.NewTextHandler(e.logs, nil)),
		TrustedProxies:   []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
	}
	for _, o := range opts {
		o(&cfg)
	}
	if e.oauth, err = oauth.New(t.Context(), e.svc, e.db, cfg); err != nil {
		t.Fatal(err)
	}
	e.svc.SetTokenVerifier(e.oauth)

	mux.Handle("/oauth/token", e.oauth.TokenHandler())
	mux.Handle("/oauth/introspect", e.oauth.IntrospectHandler())
	mux.Handle("/oauth/revoke", e.oauth.RevokeHandler())
	mux.Handle("/.well-known/jwks.json", e.oauth.JWKSHandler())
	mux.Handle("/.well-known/oauth-authorization-server", e.oauth.MetadataHandler())
	mux.Handle("GET /whoami", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		id, err := e.svc.Verify(r.Context(), latchkey.VerifyRequest{
			Credential:  cred,
			TenantID:    r.Header.Get("X-Tenant-Id"),
			Permissions: r.URL.Query()["permission"],
		})
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"code": latchkey.ErrorCode(err)})
			return
		}
		out := map[string]any{
			"credential": id.Credential, "keyId": id.KeyID, "keyName": id.KeyName,
			"ownerId": id.OwnerID, "permissions": id.Permissions, "tenant": nil,
		}
		if id.Tenant != nil {
			out["tenant"] = id.Tenant.ID
		}
		json.NewEncoder(w).Encode(out)
	}))
	e.http.Start()
	t.Cleanup(e.http.Close)
	return e
}

// client creates an OAuth client and returns its ID and secret.
func (e *env) client(name string, tenantID string, scopes ...string) (string, string) {
	e.t.Helper()
	if tenantID != "" {
		if _, err := e.svc.Tenant(e.t.Context(), tenantID); err != nil {
			if _, err := e.svc.CreateTenant(e.t.Context(), tenantID, "Tenant "+tenantID); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	c, secret, err := e.svc.CreateOAuthClient(e.t.Context(), latchkey.NewOAuthClient{Name: name, Scopes: scopes, TenantID: tenantID})
	if err != nil {
		e.t.Fatal(err)
	}
	return c.ID, secret
}

// response is a decoded HTTP answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r response) str(key string) string { s, _ := r.body[key].(string); return s }

// post sends a form to path with optional extra headers ("Authorization",
// "Content-Type" overrides the form type).
func (e *env) post(path, body string, header ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Content-Type" && header[i+1] == "" {
			req.Header.Del("Content-Type")
			continue
		}
		if header[i] == "Content-Type" {
			req.Header.Set(header[i], header[i+1])
		} else {
			req.Header.Add(header[i], header[i+1])
		}
	}
	return e.do(req)
}

func (e *env) get(path string, header ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) response {
	e.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	out := response{status: res.StatusCode, header: res.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			e.t.Fatalf("%s %s: body is not a JSON object: %q", req.Method, req.URL.Path, raw)
		}
	}
	return out
}

// token obtains an access token with client_secret_post.
func (e *env) token(id, secret string, scope ...string) string {
	e.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	if len(scope) > 0 {
		form.Set("scope", strings.Join(scope, " "))
	}
	res := e.post("/oauth/token", form.Encode())
	if res.status != http.StatusOK {
		e.t.Fatalf("token request: %d %s", res.status, res.raw)
	}
	return res.str("access_token")
}

// whoami calls the protected route with a credential.
func (e *env) whoami(cred string, header ...string) response {
	e.t.Helper()
	return e.get("/whoami", append([]string{"Authorization", "Bearer " + cred}, header...)...)
}

// verifyCode is the error code svc.Verify gives a credential; "" if valid.
func (e *env) verifyCode(cred string) string {
	e.t.Helper()
	_, err := e.svc.Verify(e.t.Context(), latchkey.VerifyRequest{Credential: cred})
	return latchkey.ErrorCode(err)
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// segments decodes a compact JWS's header and payload.
func segments(t *testing.T, token string) (header, payload map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	for i, dst := range []*map[string]any{&header, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, payload
}

func openDB(path string) (*sqlite.DB, error) { return sqlite.Open(path) }
