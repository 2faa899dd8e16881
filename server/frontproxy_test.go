package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/testlog"
	"github.com/latchkey/latchkey/ratelimit"
)

// Helpers for the tests that run a real reverse proxy (nginx, Caddy,
// Traefik) in front of Latchkey with its documented configuration.

// requiredBinary finds name on PATH or at one of paths. Without it the
// test skips, except under CI=true, where scripts/test-deps.sh must have
// installed it and the test fails.
func requiredBinary(t *testing.T, name string, paths ...string) string {
	t.Helper()
	if bin, err := exec.LookPath(name); err == nil {
		return bin
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; scripts/test-deps.sh installs it", name)
	}
	t.Skipf("%s is not installed; run scripts/test-deps.sh", name)
	return ""
}

// freeLoopbackAddr returns a 127.0.0.1 address nothing listens on.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// writeConfig renders a configuration template to path.
func writeConfig(t *testing.T, path, tmpl string, data any) {
	t.Helper()
	var conf bytes.Buffer
	if err := template.Must(template.New(path).Parse(tmpl)).Execute(&conf, data); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, conf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readmeBlock returns the first code block of language lang in README.md
// that follows the text after ("" for anywhere): a documented
// configuration, for the test that runs or compares it.
func readmeBlock(t *testing.T, after, lang string) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), after)
	if ok {
		_, rest, ok = strings.Cut(rest, "```"+lang+"\n")
	}
	block := ""
	if ok {
		block, _, ok = strings.Cut(rest, "```")
	}
	if !ok {
		t.Fatalf("README.md has no %s block after %q", lang, after)
	}
	return block
}

// startFrontProxy starts cmd and returns the URL of listen once it
// accepts connections. At cleanup the process (this one only) gets stop,
// then a kill after 10 s; its output is logged when the test failed.
func startFrontProxy(t *testing.T, cmd *exec.Cmd, listen string, stop os.Signal) string {
	t.Helper()
	name := cmd.Path
	var output testlog.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed, not sent on: both the start-up loop and the
	// cleanup wait for it, and a value read by one would hang the other.
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(stop)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, output.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("%s exited: %v\n%s", name, waitErr, output.String())
		default:
		}
		if c, err := net.Dial("tcp", listen); err == nil {
			c.Close()
			return "http://" + listen
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s\n%s", name, listen, output.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recordingAPI is the company's API behind the proxy: it answers JSON and
// keeps every request it received.
type recordingAPI struct {
	*httptest.Server
	mu  sync.Mutex
	got []*http.Request
}

func newRecordingAPI(t *testing.T) *recordingAPI {
	a := &recordingAPI{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.got = append(a.got, r.Clone(r.Context()))
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"upstream": "api", "path": r.URL.Path})
	}))
	t.Cleanup(a.Close)
	return a
}

// last is the latest request the API received, nil for none.
func (a *recordingAPI) last() *http.Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.got) == 0 {
		return nil
	}
	return a.got[len(a.got)-1]
}

func (a *recordingAPI) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.got)
}

// sendVia sends a request to the front proxy, headers given as name,
// value pairs (repeats allowed), and does not follow redirects.
func sendVia(t *testing.T, front, method, path string, body io.Reader, headers ...string) response {
	t.Helper()
	req, _ := http.NewRequest(method, front+path, body)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header[headers[i]] = append(req.Header[headers[i]], headers[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// frontProxyFailureLimit is the failed authentications per client address
// that newFrontProxyEnv allows a minute.
const frontProxyFailureLimit = 20

// newFrontProxyEnv is the Latchkey that testFrontProxy expects: testRoutes,
// an in-memory limiter, and the proxy (on loopback) trusted, as the
// documented setups have it, so that X-Forwarded-For names the client.
func newFrontProxyEnv(t *testing.T) *testEnv {
	t.Helper()
	return newTestEnvWith(t, latchkey.ServiceConfig{Limiter: ratelimit.NewMemory(),
		Limits: latchkey.Limits{FailedAuth: latchkey.RateLimit{Limit: frontProxyFailureLimit, Window: time.Minute}}},
		withRoutes(t, testRoutes),
		func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
}

// testFrontProxy checks the behaviours every documented front-proxy setup
// that returns Latchkey's answers unchanged (Caddy, Traefik) must have:
// front is the proxy in front of api, asking e's Latchkey (from
// newFrontProxyEnv) at /auth/check.
func testFrontProxy(t *testing.T, e *testEnv, api *recordingAPI, front string) {
	lastUpstream, upstreamCount := api.last, api.count

	e.user("u1", "t1")
	send, sendKey := e.key("u1", latchkey.NewKey{Permissions: []string{"messages:send"}, TenantIDs: []string{"t1"}})
	plain, plainKey := e.key("u1", latchkey.NewKey{})
	_, limitedKey := e.key("u1", latchkey.NewKey{RateLimit: &latchkey.RateLimit{Limit: 1, Window: time.Minute}})

	do := func(method, path string, body io.Reader, headers ...string) response {
		t.Helper()
		return sendVia(t, front, method, path, body, headers...)
	}
	// direct asks Latchkey itself, for comparison with what the proxy relays.
	direct := func(method, uri string, headers ...string) response {
		return e.check(method, uri, headers...)
	}
	// refused wants Latchkey's own error (status and JSON body) and no
	// call to the upstream.
	refused := func(t *testing.T, status int, code string, method, path string, headers ...string) string {
		t.Helper()
		before := upstreamCount()
		msg := wantError(t, do(method, path, nil, headers...), status, code)
		if upstreamCount() != before {
			t.Fatalf("the refused %s %s reached the upstream", method, path)
		}
		return msg
	}
	wantIdentity := func(t *testing.T, h http.Header) {
		t.Helper()
		for name, want := range map[string]string{
			"X-Latchkey-Key-Id": send.ID, "X-Latchkey-Owner-Id": "u1", "X-Latchkey-Tenant-Id": "t1",
			"X-Latchkey-Environment": "live", "X-Latchkey-Permissions": "messages:send",
		} {
			if v := h.Values(name); len(v) != 1 || v[0] != want {
				t.Errorf("upstream %s = %q, want %q", name, v, want)
			}
		}
	}

	t.Run("allowed: the upstream sees the identity headers, not the key", func(t *testing.T) {
		for _, cred := range [][]string{{"Authorization", "Bearer " + sendKey}, {"X-API-KEY", sendKey}} {
			r := do("POST", "/api/v1/messages/send?x=1", strings.NewReader(`{"text":"hi"}`), cred...)
			if r.status != 200 || !strings.Contains(string(r.body), `"upstream":"api"`) {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			u := lastUpstream()
			wantIdentity(t, u.Header)
			if u.Method != "POST" || u.URL.RequestURI() != "/api/v1/messages/send?x=1" {
				t.Errorf("upstream got %s %s", u.Method, u.URL.RequestURI())
			}
			for _, h := range []string{"Authorization", "X-Api-Key"} {
				if v, ok := u.Header[h]; ok {
					t.Errorf("upstream got %s: %q", h, v)
				}
			}
		}
	})
	t.Run("a header Latchkey does not send is not sent upstream", func(t *testing.T) {
		// Caddy 2.6's copy_headers would send its placeholder's text; a
		// proxy that only adds what Latchkey sends would pass the client's.
		r := do("GET", "/x", nil, "X-API-KEY", plainKey, "X-Latchkey-Tenant-Id", "t1")
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		h := lastUpstream().Header
		if v, ok := h["X-Latchkey-Tenant-Id"]; ok {
			t.Errorf("upstream X-Latchkey-Tenant-Id = %q", v)
		}
		if h.Get("X-Latchkey-Key-Id") != plain.ID || h.Get("X-Latchkey-Owner-Id") != "u1" || h.Get("X-Latchkey-Permissions") != "" {
			t.Errorf("upstream headers = %v", h)
		}
	})
	t.Run("401 passes through with Latchkey's body", func(t *testing.T) {
		refused(t, 401, latchkey.CodeAuthenticationRequired, "GET", "/api/v1/messages/send-nothing")
		refused(t, 401, latchkey.CodeInvalidAPIKey, "GET", "/x", "X-API-KEY", wellFormed(t, "live"))
		refused(t, 401, latchkey.CodeInvalidAPIKey, "POST", "/api/v1/messages/send", "Authorization", "Bearer "+wellFormed(t, "live"))
	})
	t.Run("403 insufficient permission passes through with Latchkey's body", func(t *testing.T) {
		wantMessage(t, refused(t, 403, latchkey.CodeInsufficientPermission, "GET", "/api/v1/messages", "X-API-KEY", sendKey), "'messages:read'")
	})
	t.Run("403 deny route", func(t *testing.T) {
		refused(t, 403, latchkey.CodeForbidden, "GET", "/internal/metrics", "X-API-KEY", sendKey)
	})
	t.Run("400 passes through with Latchkey's body", func(t *testing.T) {
		refused(t, 400, latchkey.CodeAmbiguousCredentials, "GET", "/x", "X-API-KEY", sendKey, "Authorization", "Bearer "+limitedKey)
	})
	t.Run("429 reaches the client with Retry-After and Latchkey's body", func(t *testing.T) {
		r := do("GET", "/x", nil, "X-API-KEY", limitedKey)
		if r.status != 200 {
			t.Fatalf("first request: %d %s", r.status, r.body)
		}
		before := upstreamCount()
		r = do("GET", "/x", nil, "X-API-KEY", limitedKey)
		wantError(t, r, 429, latchkey.CodeRateLimited)
		if upstreamCount() != before {
			t.Fatal("a rate-limited request reached the upstream")
		}
		// Whatever Latchkey sends with a 429 (Retry-After, RateLimit-*),
		// the proxy relays.
		d := direct("GET", "/x", "X-API-KEY", limitedKey)
		for _, h := range []string{"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
			if r.header.Get(h) != d.header.Get(h) {
				t.Errorf("%s: the proxy relayed %q, Latchkey sends %q", h, r.header.Get(h), d.header.Get(h))
			}
		}
		if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
			t.Fatalf("Retry-After = %q", ra)
		}
	})
	t.Run("public route needs no key and gets no identity", func(t *testing.T) {
		r := do("GET", "/status", nil, "X-Latchkey-Key-Id", "key_forged", "X-Latchkey-Owner-Id", "admin", "X-User-Id", "admin")
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		for name := range lastUpstream().Header {
			if n := strings.ToLower(name); strings.HasPrefix(n, "x-latchkey-") || n == "x-user-id" {
				t.Errorf("public request reached the upstream with %s: %q", name, lastUpstream().Header[name])
			}
		}
	})
	t.Run("client-sent identity headers never reach the upstream", func(t *testing.T) {
		spoofed := []string{
			"x-latchkey-key-id", "key_forged", "X-LATCHKEY-OWNER-ID", "admin", "X-Latchkey-Tenant-Id", "t-other",
			"X-Latchkey-Permissions", "*", "X-Latchkey-Environment", "test", "X_Latchkey_Key_Id", "key_underscore",
			"X-User-Id", "admin", "X-Latchkey-Replay", "1",
		}
		r := do("POST", "/api/v1/messages/send", nil, append([]string{"X-API-KEY", sendKey}, spoofed...)...)
		if r.status != 200 {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		h := lastUpstream().Header
		wantIdentity(t, h)
		if h.Get("X-User-Id") != "" || h.Get("X-Latchkey-Replay") != "" {
			t.Fatalf("upstream headers = %v", h)
		}
		for name := range h {
			if strings.Contains(name, "_") {
				t.Errorf("upstream got %s", name)
			}
		}
		// Without a key the spoofed identity gets nowhere.
		refused(t, 401, latchkey.CodeAuthenticationRequired, "POST", "/api/v1/messages/send", spoofed...)
	})
	t.Run("a client cannot pick the rule with forwarded headers", func(t *testing.T) {
		refused(t, 403, latchkey.CodeInsufficientPermission, "GET", "/api/v1/messages", "X-API-KEY", sendKey,
			"X-Forwarded-Uri", "/status", "X-Original-URI", "/status", "X-Forwarded-Method", "GET", "X-Original-Method", "GET")
	})
	// Last: it uses up the client's failures. Latchkey trusts the proxy,
	// so only the proxy must decide when the replay marker (nginx's second
	// call, which counts nothing) reaches it; a client's never may.
	t.Run("a client's replay marker does not keep its failures from counting", func(t *testing.T) {
		for i := 0; ; i++ {
			r := do("GET", "/x", nil, "X-API-KEY", wellFormed(t, "live"), "X-Latchkey-Replay", "1")
			if r.status == 429 {
				return
			}
			if r.status != 401 {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if i > frontProxyFailureLimit {
				t.Fatalf("%d failed attempts with a replay marker and none refused: they were not counted", i)
			}
		}
	})
}
