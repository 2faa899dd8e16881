package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/routes"
)

// seen is one request as an upstream received it.
type seen struct {
	method, uri, host string
	header            http.Header
	body              []byte
}

// upstream is a real HTTP server that records what reaches it.
type upstream struct {
	*httptest.Server
	name string
	mu   sync.Mutex
	reqs []seen
}

func newUpstream(t *testing.T, name string) *upstream {
	u := &upstream{name: name}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, seen{r.Method, r.RequestURI, r.Host, r.Header.Clone(), body})
		u.mu.Unlock()
		w.Header().Set("X-Upstream", name)
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "hello from "+name)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) last(t *testing.T) seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatalf("nothing reached upstream %s", u.name)
	}
	return u.reqs[len(u.reqs)-1]
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

type proxyEnv struct {
	*testEnv
	live, test *upstream
	proxy      *httptest.Server
}

func newProxyEnv(t *testing.T, src string, opts ...func(*ProxyConfig)) *proxyEnv {
	t.Helper()
	e := &proxyEnv{testEnv: newTestEnv(t), live: newUpstream(t, "live"), test: newUpstream(t, "test")}
	tb, err := routes.Parse("routes.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	liveURL, _ := url.Parse(e.live.URL)
	testURL, _ := url.Parse(e.test.URL)
	cfg := ProxyConfig{Upstream: liveURL, TestUpstream: testURL, Routes: tb,
		Logger: slog.New(slog.NewJSONHandler(e.logs, nil))}
	for _, o := range opts {
		o(&cfg)
	}
	e.proxy = httptest.NewServer(NewProxy(e.svc, cfg))
	t.Cleanup(e.proxy.Close)
	return e
}

// send sends a request through the proxy. Header names are sent exactly as
// written, so tests can spoof any spelling.
func (e *proxyEnv) send(method, uri string, body io.Reader, headers ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.proxy.URL+uri, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header[headers[i]] = append(req.Header[headers[i]], headers[i+1])
	}
	res, err := e.proxy.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func TestProxy(t *testing.T) {
	e := newProxyEnv(t, testRoutes)
	e.user("u1", "t1")
	live, liveKey := e.key("u1", latchkey.NewKey{Permissions: []string{"messages:send", "messages:read"}, TenantIDs: []string{"t1"}})
	test, testKey := e.key("u1", latchkey.NewKey{Permissions: []string{"*"}, Environment: "test"})

	t.Run("allowed requests reach the upstream with identity headers and without the credential", func(t *testing.T) {
		r := e.send("POST", "/api/v1/messages/send?to=%2B15551234&x=1", strings.NewReader(`{"text":"hi"}`),
			"Authorization", "Bearer "+liveKey, "Content-Type", "application/json", "X-Custom", "kept")
		if r.status != http.StatusTeapot || string(r.body) != "hello from live" || r.header.Get("X-Upstream") != "live" {
			t.Fatalf("response = %d %q %v", r.status, r.body, r.header)
		}
		s := e.live.last(t)
		if s.method != "POST" || s.uri != "/api/v1/messages/send?to=%2B15551234&x=1" || string(s.body) != `{"text":"hi"}` {
			t.Fatalf("upstream saw %s %s %q", s.method, s.uri, s.body)
		}
		for h, want := range map[string]string{
			"X-Latchkey-Key-Id": live.ID, "X-Latchkey-Owner-Id": "u1", "X-Latchkey-Tenant-Id": "t1",
			"X-Latchkey-Environment": "live", "X-Latchkey-Permissions": "messages:send,messages:read",
			"X-Custom": "kept", "Content-Type": "application/json", "Authorization": "",
		} {
			if got := s.header.Get(h); got != want {
				t.Errorf("upstream %s = %q, want %q", h, got, want)
			}
		}
		if !traceparentRE.MatchString(s.header.Get("Traceparent")) || s.header.Get("Traceparent") != r.header.Get("X-Trace-Id") {
			t.Errorf("traceparent = %q, X-Trace-Id = %q", s.header.Get("Traceparent"), r.header.Get("X-Trace-Id"))
		}
	})
	t.Run("X-API-KEY is removed too", func(t *testing.T) {
		e.send("GET", "/api/v1/messages", nil, "X-API-KEY", liveKey)
		if s := e.live.last(t); s.header.Get("X-Api-Key") != "" || s.header.Get("X-Latchkey-Key-Id") != live.ID {
			t.Fatalf("upstream headers = %v", s.header)
		}
	})
	t.Run("test keys go to the test upstream", func(t *testing.T) {
		before := e.live.count()
		r := e.send("GET", "/api/v1/messages", nil, "X-API-KEY", testKey)
		if string(r.body) != "hello from test" || e.live.count() != before {
			t.Fatalf("response %q; live upstream got %d new requests", r.body, e.live.count()-before)
		}
		if s := e.test.last(t); s.header.Get("X-Latchkey-Key-Id") != test.ID || s.header.Get("X-Latchkey-Environment") != "test" {
			t.Fatalf("test upstream headers = %v", s.header)
		}
	})
	t.Run("refused requests never reach the upstream", func(t *testing.T) {
		before := e.live.count() + e.test.count()
		wantError(t, e.send("GET", "/api/v1/messages", nil), 401, latchkey.CodeAuthenticationRequired)
		wantError(t, e.send("GET", "/x", nil, "X-API-KEY", wellFormed(t, "live")), 401, latchkey.CodeInvalidAPIKey)
		wantError(t, e.send("GET", "/x?api_key="+liveKey, nil), 401, latchkey.CodeAuthenticationRequired)
		wantMessage(t, wantError(t, e.send("POST", "/api/v1/numbers", nil, "X-API-KEY", liveKey), 403, latchkey.CodeInsufficientPermission), "'numbers:write'")
		wantError(t, e.send("POST", "/api/v1/numbers", nil, "X-API-KEY", testKey), 403, latchkey.CodeAPIKeyNoTenant)
		wantError(t, e.send("GET", "/internal/x", nil, "X-API-KEY", testKey), 403, latchkey.CodeForbidden)
		wantError(t, e.send("GET", "/x", nil, "X-API-KEY", liveKey, "X-Tenant-Id", "other"), 403, latchkey.CodeTenantNotFound)
		wantError(t, e.send("GET", "/x", nil, "X-API-KEY", liveKey, "Authorization", "Bearer "+testKey), 400, latchkey.CodeAmbiguousCredentials)
		wantError(t, e.send("GET", "/status/%2e%2e/internal/x", nil, "X-API-KEY", testKey), 400, latchkey.CodeValidationFailed)
		if n := e.live.count() + e.test.count(); n != before {
			t.Fatalf("%d refused requests reached an upstream", n-before)
		}
	})
	t.Run("public routes pass without identity", func(t *testing.T) {
		r := e.send("GET", "/status", nil)
		if r.status != http.StatusTeapot {
			t.Fatalf("status = %d", r.status)
		}
		s := e.live.last(t)
		for name := range s.header {
			if strings.HasPrefix(strings.ToLower(name), "x-latchkey") {
				t.Fatalf("public request carries %s", name)
			}
		}
	})
	t.Run("client-sent identity headers never reach the upstream", func(t *testing.T) {
		spoof := []string{
			"X-Latchkey-Key-Id", "key_forged", "x-latchkey-owner-id", "admin", "X-LATCHKEY-TENANT-ID", "t-other",
			"X-Latchkey-Permissions", "*", "x-latchkey-environment", "live", "X-Latchkey-Admin", "true",
			"X_Latchkey_Key_Id", "key_underscore", "x-user-id", "admin", "X_User_Id", "admin",
			"Connection", "X-Latchkey-Key-Id",
		}
		for _, c := range []struct {
			name, uri string
			cred      []string
		}{
			{"authenticated", "/api/v1/messages", []string{"X-API-KEY", liveKey}},
			{"public", "/status", nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := e.send("GET", c.uri, nil, append(append([]string{}, c.cred...), spoof...)...)
				if r.status != http.StatusTeapot {
					t.Fatalf("status = %d: %s", r.status, r.body)
				}
				s := e.live.last(t)
				for name, vals := range s.header {
					n := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
					if n == "x-user-id" || strings.HasPrefix(n, "x-latchkey-") && c.cred == nil {
						t.Errorf("upstream got %s: %q", name, vals)
					}
					if strings.HasPrefix(n, "x-latchkey-") && (len(vals) != 1 || strings.Contains(vals[0], "forged") || vals[0] == "admin" || vals[0] == "t-other" || vals[0] == "key_underscore" || vals[0] == "true") {
						t.Errorf("upstream got spoofed %s: %q", name, vals)
					}
				}
				if c.cred != nil && (s.header.Get("X-Latchkey-Key-Id") != live.ID || s.header.Get("X-Latchkey-Permissions") != "messages:send,messages:read") {
					t.Errorf("identity headers = %v", s.header)
				}
			})
		}
	})
	t.Run("forged X-Forwarded-For from an untrusted peer is replaced", func(t *testing.T) {
		e.send("GET", "/status", nil, "X-Forwarded-For", "6.6.6.6", "x-forwarded-for", "7.7.7.7", "X-Forwarded-Host", "evil", "Forwarded", "for=6.6.6.6")
		s := e.live.last(t)
		if got := s.header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
			t.Fatalf("X-Forwarded-For = %q, want just the peer", got)
		}
		if s.header.Get("Forwarded") != "" || s.header.Get("X-Forwarded-Host") == "evil" {
			t.Fatalf("forwarding headers kept from an untrusted peer: %v", s.header)
		}
	})
	t.Run("a large body streams through (no 1 MiB limit on the proxy)", func(t *testing.T) {
		big := bytes.Repeat([]byte("x"), 3<<20)
		r := e.send("POST", "/api/v1/messages/send", bytes.NewReader(big), "X-API-KEY", liveKey)
		if r.status != http.StatusTeapot || len(e.live.last(t).body) != len(big) {
			t.Fatalf("status %d, upstream got %d bytes", r.status, len(e.live.last(t).body))
		}
	})
	t.Run("a successful proxied request counts as a use", func(t *testing.T) {
		k, secret := e.key("u1", latchkey.NewKey{})
		e.send("GET", "/x", nil, "X-API-KEY", secret)
		e.send("GET", "/internal/x", nil, "X-API-KEY", secret)
		e.svc.Usage().Flush(t.Context())
		if got, _ := e.svc.GetKey(t.Context(), "", k.ID); got.RequestCount != 1 {
			t.Fatalf("requestCount = %d, want 1", got.RequestCount)
		}
	})
}

func TestProxyTrustedForwardedFor(t *testing.T) {
	e := newProxyEnv(t, "default: public\n", func(c *ProxyConfig) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	e.send("GET", "/x", nil, "X-Forwarded-For", "203.0.113.7, 10.0.0.2", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "api.example.com")
	s := e.live.last(t)
	if got := s.header.Get("X-Forwarded-For"); got != "203.0.113.7, 10.0.0.2, 127.0.0.1" {
		t.Fatalf("X-Forwarded-For = %q", got)
	}
	if s.header.Get("X-Forwarded-Proto") != "https" || s.header.Get("X-Forwarded-Host") != "api.example.com" {
		t.Fatalf("forwarded headers = %v", s.header)
	}
	e.send("GET", "/x", nil)
	if got := e.live.last(t).header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Fatalf("X-Forwarded-For without a chain = %q", got)
	}
}

func TestProxyTestUpstreamDefaultsToUpstream(t *testing.T) {
	e := newProxyEnv(t, "default: authenticated\n", func(c *ProxyConfig) { c.TestUpstream = nil })
	e.user("u1")
	_, k := e.key("u1", latchkey.NewKey{Environment: "test"})
	if r := e.send("GET", "/x", nil, "X-API-KEY", k); string(r.body) != "hello from live" {
		t.Fatalf("body = %q", r.body)
	}
}

func TestProxyUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead, _ := url.Parse("http://" + ln.Addr().String())
	ln.Close() // nothing listens there any more
	e := newProxyEnv(t, "default: public\n", func(c *ProxyConfig) { c.Upstream = dead })
	r := e.send("GET", "/x", nil)
	wantMessage(t, wantError(t, r, 502, codeBadGateway), "upstream")
	if !strings.Contains(e.logs.String(), "BAD_GATEWAY") {
		t.Fatalf("502 not logged: %s", e.logs.String())
	}
}

func TestProxyStreamsResponses(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: second\n\n")
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	e := newProxyEnv(t, "default: public\n", func(c *ProxyConfig) { c.Upstream = u })
	defer close(release)

	res, err := e.proxy.Client().Get(e.proxy.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(res.Body).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		if l != "data: first\n" {
			t.Fatalf("first line = %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first chunk did not arrive before the upstream finished: the proxy buffers")
	}
}

func TestProxyStreamsRequestBodies(t *testing.T) {
	gotFirst := make(chan string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			t.Error(err)
			return
		}
		gotFirst <- string(buf)
		rest, _ := io.ReadAll(r.Body)
		json.NewEncoder(w).Encode(map[string]int{"rest": len(rest)})
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	e := newProxyEnv(t, "default: public\n", func(c *ProxyConfig) { c.Upstream = u })

	pr, pw := io.Pipe()
	done := make(chan response, 1)
	go func() { done <- e.send("POST", "/upload", pr) }()
	pw.Write([]byte("part1"))
	select {
	case s := <-gotFirst:
		if s != "part1" {
			t.Fatalf("upstream read %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream did not see the start of the body before the client finished: the proxy buffers uploads")
	}
	pw.Write([]byte("part2..."))
	pw.Close()
	if r := <-done; r.status != 200 || !strings.Contains(string(r.body), `"rest":8`) {
		t.Fatalf("response = %d %s", r.status, r.body)
	}
}

func TestStripClientHeaders(t *testing.T) {
	h := http.Header{}
	for _, n := range []string{"Authorization", "X-Api-Key", "x-api-key", "X-Latchkey-Anything", "x-latchkey-key-id", "X_LATCHKEY_KEY_ID", "X-User-Id", "x_user_id", "X-Latchkeyish", "X-Tenant-Id", "Content-Type"} {
		h[n] = []string{"v"}
	}
	stripClientHeaders(h)
	if len(h) != 3 || h["X-Latchkeyish"] == nil || h["X-Tenant-Id"] == nil || h["Content-Type"] == nil {
		t.Fatalf("left %v", h)
	}
}
