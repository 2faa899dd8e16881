package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/testlog"
	"github.com/latchkey/latchkey/sqlite"
)

// clock is a settable time source shared by a test and its service.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// testEnv is a running server over a real SQLite store.
type testEnv struct {
	t     testing.TB
	svc   *latchkey.Service
	db    *sqlite.DB
	path  string // the database file
	clock *clock
	srv   *httptest.Server
	root  string // root key with scope "*"
	logs  *testlog.Buffer
}

var start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newTestEnv(t testing.TB, opts ...func(*Config)) *testEnv {
	t.Helper()
	return newTestEnvWith(t, latchkey.ServiceConfig{}, opts...)
}

// newTestEnvWith is newTestEnv with service settings (limits, limiter);
// the key prefix and clock are always the test's.
func newTestEnvWith(t testing.TB, sc latchkey.ServiceConfig, opts ...func(*Config)) *testEnv {
	t.Helper()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := &clock{now: start}
	sc.KeyPrefix, sc.Now = "tb", c.Now
	svc := latchkey.NewService(db, sc)
	logs := &testlog.Buffer{}
	cfg := Config{
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Ready:  db.Ping,
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv := httptest.NewServer(New(svc, cfg))
	t.Cleanup(srv.Close)
	_, root, err := svc.CreateRootKey(context.Background(), "test", []string{latchkey.ScopeAll})
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, svc: svc, db: db, path: path, clock: c, srv: srv, root: root, logs: logs}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request. body is nil (none), a string or []byte (raw), or a
// value to marshal. headers are name, value pairs.
func (e *testEnv) do(method, path string, body any, headers ...string) response {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// as returns the headers of a root key acting for user id.
func (e *testEnv) as(id string) []string {
	return []string{"Authorization", "Bearer " + e.root, "X-User-Id", id}
}

// admin returns the headers of the "*" root key.
func (e *testEnv) admin() []string { return []string{"Authorization", "Bearer " + e.root} }

// rootKey creates a root key with scopes.
func (e *testEnv) rootKey(scopes ...string) string {
	e.t.Helper()
	_, secret, err := e.svc.CreateRootKey(context.Background(), "scoped", scopes)
	if err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// user creates a user who is a member of tenants (created as needed).
func (e *testEnv) user(id string, tenants ...string) {
	e.t.Helper()
	ctx := context.Background()
	for _, tid := range tenants {
		if _, err := e.svc.Tenant(ctx, tid); err != nil {
			if _, err := e.svc.CreateTenant(ctx, tid, "Tenant "+tid); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	if _, err := e.svc.CreateUser(ctx, latchkey.NewUser{ID: id, TenantIDs: tenants}); err != nil {
		e.t.Fatal(err)
	}
}

// key creates a key for owner through the service and returns it and its secret.
func (e *testEnv) key(owner string, in latchkey.NewKey) (*latchkey.Key, string) {
	e.t.Helper()
	if in.Name == "" {
		in.Name = "test key"
	}
	k, secret, err := e.svc.CreateKey(context.Background(), owner, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return k, secret
}

func (r response) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

func (r response) array(t testing.TB) []map[string]any {
	t.Helper()
	var a []map[string]any
	if err := json.Unmarshal(r.body, &a); err != nil || a == nil {
		t.Fatalf("body is not a JSON array: %v: %s", err, r.body)
	}
	return a
}

func wantStatus(t testing.TB, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
}

// wantFields checks that m has exactly the given keys.
func wantFields(t testing.TB, m map[string]any, keys ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	keys = slices.Clone(keys)
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Fatalf("fields = %v, want %v", got, keys)
	}
}

var traceparentRE = regexp.MustCompile(`^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$`)

// wantError checks an error response's status and exact default body shape
// and returns its message.
func wantError(t testing.TB, r response, status int, code string) string {
	t.Helper()
	wantStatus(t, r, status)
	m := r.object(t)
	wantFields(t, m, "success", "error", "statusCode", "traceId")
	if m["success"] != false {
		t.Fatalf("success = %v", m["success"])
	}
	if m["statusCode"] != float64(status) {
		t.Fatalf("statusCode = %v, want %d", m["statusCode"], status)
	}
	tid, _ := m["traceId"].(string)
	if !traceparentRE.MatchString(tid) || tid != r.header.Get("X-Trace-Id") {
		t.Fatalf("traceId = %q, X-Trace-Id = %q", tid, r.header.Get("X-Trace-Id"))
	}
	e, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("error = %v", m["error"])
	}
	if _, has := e["detail"]; has {
		wantFields(t, e, "code", "message", "detail")
	} else {
		wantFields(t, e, "code", "message")
	}
	if e["code"] != code {
		t.Fatalf("code = %v, want %s; body: %s", e["code"], code, r.body)
	}
	msg, _ := e["message"].(string)
	if msg == "" {
		t.Fatalf("empty message: %s", r.body)
	}
	return msg
}

func wantMessage(t testing.TB, msg, want string) {
	t.Helper()
	if !strings.Contains(msg, want) {
		t.Fatalf("message %q does not contain %q", msg, want)
	}
}

func TestHealth(t *testing.T) {
	e := newTestEnv(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		r := e.do("GET", path, nil)
		wantStatus(t, r, 200)
		if got := strings.TrimSpace(string(r.body)); got != `{"status":"ok"}` {
			t.Errorf("%s body = %s", path, got)
		}
	}
}

func TestReadyzUnavailable(t *testing.T) {
	e := newTestEnv(t, func(c *Config) {
		c.Ready = func(context.Context) error { return errorString("dial tcp 10.1.2.3:5432: connection refused") }
	})
	r := e.do("GET", "/readyz", nil)
	wantError(t, r, 503, latchkey.CodeUnavailable)
	if strings.Contains(string(r.body), "10.1.2.3") {
		t.Errorf("cause leaked: %s", r.body)
	}
	e.srv.Close()
	if logs := e.logs.String(); !strings.Contains(logs, "10.1.2.3") {
		t.Errorf("cause not logged: %s", logs)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

func TestUnknownRoutesAndMethods(t *testing.T) {
	e := newTestEnv(t)
	r := e.do("GET", "/nope", nil)
	wantError(t, r, 404, latchkey.CodeNotFound)

	r = e.do("GET", "/api/v1/auth/api-keys/a/b/c", nil, e.as("u1")...)
	wantError(t, r, 404, latchkey.CodeNotFound)

	r = e.do("PUT", "/api/v1/auth/api-keys", "{}", e.as("u1")...)
	msg := wantError(t, r, 405, codeMethodNotAllowed)
	allow := r.header.Get("Allow")
	for _, m := range []string{"GET", "POST"} {
		if !strings.Contains(allow, m) {
			t.Errorf("Allow = %q, missing %s", allow, m)
		}
	}
	wantMessage(t, msg, "PUT")

	r = e.do("POST", "/api/v1/auth/api-keys/x/toggle", nil, e.as("u1")...)
	wantError(t, r, 405, codeMethodNotAllowed)
	if got := r.header.Get("Allow"); got != "PATCH" {
		t.Errorf("Allow = %q, want PATCH", got)
	}
}

func TestTraceparent(t *testing.T) {
	e := newTestEnv(t)
	const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	r := e.do("GET", "/healthz", nil, "traceparent", incoming)
	got := r.header.Get("X-Trace-Id")
	if !traceparentRE.MatchString(got) || got[3:35] != incoming[3:35] {
		t.Fatalf("X-Trace-Id = %q, want trace-id of %q kept", got, incoming)
	}
	if got[36:52] == incoming[36:52] {
		t.Errorf("span-id reused: %q", got)
	}

	r = e.do("GET", "/nope", nil, "traceparent", incoming)
	m := r.object(t)
	if m["traceId"] != r.header.Get("X-Trace-Id") || !strings.Contains(m["traceId"].(string), incoming[3:35]) {
		t.Errorf("error traceId = %v, header %q", m["traceId"], r.header.Get("X-Trace-Id"))
	}

	// Later versions are read by version 00's fields (W3C Trace Context
	// §4.3); the sampled flag is carried over.
	for name, c := range map[string]struct{ in, flags string }{
		"version 01":               {"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "01"},
		"version 01, more fields":  {"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what-comes-next", "01"},
		"version 00, not sampled":  {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "00"},
		"version fe, unknown flag": {"fe-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02", "00"},
	} {
		t.Run(name, func(t *testing.T) {
			got := e.do("GET", "/healthz", nil, "traceparent", c.in).header.Get("X-Trace-Id")
			if !traceparentRE.MatchString(got) || got[3:35] != incoming[3:35] || got[53:] != c.flags {
				t.Fatalf("X-Trace-Id = %q, want trace-id %s kept with flags %s", got, incoming[3:35], c.flags)
			}
		})
	}

	for name, bad := range map[string]string{
		"uppercase":                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
		"version ff":                         "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"zero trace-id":                      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"zero span-id":                       "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"short":                              "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
		"trailing data":                      incoming + "-extra",
		"non-hex":                            "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
		"wrong dashes":                       "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
		"empty":                              "",
		"garbage":                            "hello",
		"non-hex flags":                      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
		"uppercase version":                  "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"later version, no dash after flags": "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
		"later version, short":               "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
	} {
		t.Run(name, func(t *testing.T) {
			r := e.do("GET", "/healthz", nil, "traceparent", bad)
			got := r.header.Get("X-Trace-Id")
			if !traceparentRE.MatchString(got) {
				t.Fatalf("X-Trace-Id = %q", got)
			}
			if strings.Contains(got, "4bf92f3577b34da6a3ce929d0e0e4736") {
				t.Errorf("invalid traceparent %q kept: %q", bad, got)
			}
		})
	}

	a := e.do("GET", "/healthz", nil).header.Get("X-Trace-Id")
	b := e.do("GET", "/healthz", nil).header.Get("X-Trace-Id")
	if a == b || a[3:35] == b[3:35] {
		t.Errorf("trace IDs repeat: %q %q", a, b)
	}
}

func TestPanicIsInternalError(t *testing.T) {
	logs := &testlog.Buffer{}
	rs := &responder{log: slog.New(slog.NewTextHandler(logs, nil))}
	h := &observer{next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("boom: secret internals")
	}), rs: rs}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	msg := wantError(t, r, 500, latchkey.CodeInternal)
	if msg != "Internal server error" || strings.Contains(string(r.body), "secret") {
		t.Errorf("body = %s", r.body)
	}
	if !strings.Contains(logs.String(), "secret internals") || !strings.Contains(logs.String(), r.header.Get("X-Trace-Id")) {
		t.Errorf("panic not logged with trace ID: %s", logs.String())
	}
}

func TestInternalErrorsAreNotSent(t *testing.T) {
	logs := &testlog.Buffer{}
	rs := &responder{log: slog.New(slog.NewTextHandler(logs, nil))}
	h := &observer{next: rs.handle(func(w http.ResponseWriter, r *http.Request) error {
		return errorString("pq: password authentication failed for user latchkey")
	}), rs: rs}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	if msg := wantError(t, r, 500, latchkey.CodeInternal); msg != "Internal server error" {
		t.Errorf("message = %q", msg)
	}
	if strings.Contains(string(r.body), "password") {
		t.Errorf("cause leaked: %s", r.body)
	}
	if l := logs.String(); !strings.Contains(l, "password authentication failed") || !strings.Contains(l, r.header.Get("X-Trace-Id")) {
		t.Errorf("cause not logged with trace ID: %s", l)
	}
}

func TestErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		code   string
		status int
		kind   string
		title  string
	}{
		{latchkey.CodeValidationFailed, 400, "validation_failed", "Validation failed"},
		{latchkey.CodeAmbiguousCredentials, 400, "bad_request", "Bad request"},
		{latchkey.CodeAuthenticationRequired, 401, "unauthorized", "Unauthorized"},
		{latchkey.CodeInvalidAPIKey, 401, "unauthorized", "Unauthorized"},
		{latchkey.CodeKeyDisabled, 401, "unauthorized", "Unauthorized"},
		{latchkey.CodeKeyExpired, 401, "unauthorized", "Unauthorized"},
		{latchkey.CodeKeyRevoked, 401, "unauthorized", "Unauthorized"},
		{latchkey.CodeUserIDRequired, 401, "unauthorized", "Unauthorized"},
		{latchkey.CodeAPIKeyNoTenant, 403, "forbidden", "Forbidden"},
		{latchkey.CodeTenantNotFound, 403, "forbidden", "Forbidden"},
		{latchkey.CodeInsufficientPermission, 403, "forbidden", "Forbidden"},
		{latchkey.CodeForbidden, 403, "forbidden", "Forbidden"},
		{latchkey.CodeNotFound, 404, "not_found", "Not found"},
		{codeMethodNotAllowed, 405, "bad_request", "Bad request"},
		{latchkey.CodeConflict, 409, "conflict", "Conflict"},
		{latchkey.CodePayloadTooLarge, 413, "bad_request", "Bad request"},
		{latchkey.CodeRateLimited, 429, "rate_limited", "Rate limit exceeded"},
		{latchkey.CodeInternal, 500, "internal_error", "Internal server error"},
		{latchkey.CodeUnavailable, 503, "unavailable", "Service unavailable"},
		{"SOMETHING_NEW", 500, "internal_error", "Internal server error"},
	} {
		got := classify(tc.code)
		if got != (errorClass{tc.status, tc.kind, tc.title}) {
			t.Errorf("classify(%s) = %+v", tc.code, got)
		}
	}
}

func TestReadyzWhileShuttingDown(t *testing.T) {
	e := newTestEnv(t, func(c *Config) {
		c.Ready = func(context.Context) error { return latchkey.ErrUnavailable }
	})
	if msg := wantError(t, e.do("GET", "/readyz", nil), 503, latchkey.CodeUnavailable); msg != latchkey.ErrUnavailable.Message {
		t.Errorf("message = %q", msg)
	}
	wantStatus(t, e.do("GET", "/healthz", nil), 200)
}
