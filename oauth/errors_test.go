package oauth_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/ratelimit"
)

// Every error the token endpoint can give (RFC 6749 §5.2), with its status,
// its RFC 6749 body and its headers.
func TestTokenEndpointErrors(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client("svc", "", "messages:*", "billing:read")
	disabled, disabledSecret := e.client("off", "", "a")
	yes := true
	if _, err := e.svc.UpdateOAuthClient(t.Context(), disabled, latchkey.OAuthClientPatch{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	good := "grant_type=client_credentials"
	post := "grant_type=client_credentials&client_id=" + id + "&client_secret=" + secret

	cases := []struct {
		name      string
		method    string
		body      string
		header    []string // name, value pairs
		status    int
		code      string
		challenge bool // WWW-Authenticate: Basic
	}{
		// invalid_request
		{name: "GET", method: http.MethodGet, status: 405, code: "invalid_request"},
		{name: "PUT", method: http.MethodPut, body: post, status: 405, code: "invalid_request"},
		{name: "no content type", body: post, header: []string{"Content-Type", ""}, status: 400, code: "invalid_request"},
		{name: "JSON body", body: `{"grant_type":"client_credentials"}`, header: []string{"Content-Type", "application/json", "Authorization", basic(id, secret)}, status: 400, code: "invalid_request"},
		{name: "multipart body", body: post, header: []string{"Content-Type", "multipart/form-data; boundary=x"}, status: 400, code: "invalid_request"},
		{name: "non-UTF-8 charset", body: post, header: []string{"Content-Type", "application/x-www-form-urlencoded; charset=iso-8859-1"}, status: 400, code: "invalid_request"},
		{name: "missing grant_type", body: "client_id=" + id + "&client_secret=" + secret, status: 400, code: "invalid_request"},
		{name: "empty grant_type is omitted", body: "grant_type=&client_id=" + id + "&client_secret=" + secret, status: 400, code: "invalid_request"},
		{name: "repeated grant_type", body: post + "&grant_type=client_credentials", status: 400, code: "invalid_request"},
		{name: "repeated client_id", body: post + "&client_id=" + id, status: 400, code: "invalid_request"},
		{name: "repeated scope", body: post + "&scope=billing:read&scope=billing:read", status: 400, code: "invalid_request"},
		{name: "repeated empty parameter", body: post + "&foo=&foo=", status: 400, code: "invalid_request"},
		{name: "bad percent-encoding", body: post + "&scope=%zz", status: 400, code: "invalid_request"},
		{name: "semicolon separator", body: "grant_type=client_credentials;client_id=" + id, status: 400, code: "invalid_request"},
		{name: "invalid UTF-8", body: post + "&foo=%ff%fe", status: 400, code: "invalid_request"},
		{name: "too many parameters", body: post + manyParams(40), status: 400, code: "invalid_request"},
		{name: "body over 1 MiB", body: post + "&pad=" + strings.Repeat("a", 1<<20), status: 413, code: "invalid_request"},
		{name: "Basic and client_secret in the body", body: good + "&client_secret=" + secret, header: []string{"Authorization", basic(id, secret)}, status: 400, code: "invalid_request"},
		{name: "Basic and a different client_id", body: good + "&client_id=client_other", header: []string{"Authorization", basic(id, secret)}, status: 400, code: "invalid_request"},
		{name: "two Authorization headers", body: good, header: []string{"Authorization", basic(id, secret), "Authorization", basic(id, secret)}, status: 400, code: "invalid_request"},
		{name: "client_secret without client_id", body: good + "&client_secret=" + secret, status: 400, code: "invalid_request"},
		// unsupported_grant_type
		{name: "password grant", body: "grant_type=password&username=a&password=b", header: []string{"Authorization", basic(id, secret)}, status: 400, code: "unsupported_grant_type"},
		{name: "authorization_code grant", body: "grant_type=authorization_code&code=x", header: []string{"Authorization", basic(id, secret)}, status: 400, code: "unsupported_grant_type"},
		{name: "refresh_token grant", body: "grant_type=refresh_token&refresh_token=x", header: []string{"Authorization", basic(id, secret)}, status: 400, code: "unsupported_grant_type"},
		{name: "grant type case matters", body: "grant_type=Client_Credentials", header: []string{"Authorization", basic(id, secret)}, status: 400, code: "unsupported_grant_type"},
		// invalid_client
		{name: "no client authentication", body: good, status: 401, code: "invalid_client", challenge: true},
		{name: "client_id without secret", body: good + "&client_id=" + id, status: 401, code: "invalid_client", challenge: true},
		{name: "wrong secret in the body", body: good + "&client_id=" + id + "&client_secret=lk_secret_0000000000000000000000000000000", status: 401, code: "invalid_client", challenge: true},
		{name: "another client's secret", body: good, header: []string{"Authorization", basic(id, disabledSecret)}, status: 401, code: "invalid_client", challenge: true},
		{name: "wrong secret by Basic", body: good, header: []string{"Authorization", basic(id, withLastChanged(secret))}, status: 401, code: "invalid_client", challenge: true},
		{name: "unknown client", body: good, header: []string{"Authorization", basic("client_nobody", secret)}, status: 401, code: "invalid_client", challenge: true},
		{name: "Basic not base64", body: good, header: []string{"Authorization", "Basic !!!"}, status: 401, code: "invalid_client", challenge: true},
		{name: "Basic without colon", body: good, header: []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(id))}, status: 401, code: "invalid_client", challenge: true},
		{name: "Basic with bad escapes", body: good, header: []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":%zz"))}, status: 401, code: "invalid_client", challenge: true},
		{name: "Bearer scheme", body: good, header: []string{"Authorization", "Bearer " + secret}, status: 401, code: "invalid_client", challenge: true},
		{name: "Digest scheme", body: good, header: []string{"Authorization", "Digest username=x"}, status: 401, code: "invalid_client", challenge: true},
		// unauthorized_client
		{name: "disabled client", body: good, header: []string{"Authorization", basic(disabled, disabledSecret)}, status: 400, code: "unauthorized_client"},
		// invalid_scope
		{name: "scope outside the client's", body: good + "&scope=billing:write", header: []string{"Authorization", basic(id, secret)}, status: 400, code: "invalid_scope"},
		{name: "one of several scopes outside", body: good + "&scope=messages:send+admin", header: []string{"Authorization", basic(id, secret)}, status: 400, code: "invalid_scope"},
		{name: "wider than the client's wildcard", body: good + "&scope=*", header: []string{"Authorization", basic(id, secret)}, status: 400, code: "invalid_scope"},
		{name: "malformed scope", body: good + "&scope=" + url.QueryEscape(`a"b`), header: []string{"Authorization", basic(id, secret)}, status: 400, code: "invalid_scope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method := c.method
			if method == "" {
				method = http.MethodPost
			}
			req, err := http.NewRequest(method, e.url+"/oauth/token", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for i := 0; i+1 < len(c.header); i += 2 {
				switch {
				case c.header[i] == "Content-Type" && c.header[i+1] == "":
					req.Header.Del("Content-Type")
				case c.header[i] == "Content-Type":
					req.Header.Set("Content-Type", c.header[i+1])
				default:
					req.Header.Add(c.header[i], c.header[i+1])
				}
			}
			res := e.do(req)
			if res.status != c.status || res.str("error") != c.code {
				t.Fatalf("%d %s, want %d %s", res.status, res.raw, c.status, c.code)
			}
			checkErrorBody(t, res)
			if got := res.header.Get("WWW-Authenticate"); (got == `Basic realm="latchkey"`) != c.challenge {
				t.Errorf("WWW-Authenticate = %q, challenge wanted: %v", got, c.challenge)
			}
			if c.status == 405 && res.header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q", res.header.Get("Allow"))
			}
		})
	}

	// The same client still gets tokens: none of the above broke anything.
	e.token(id, secret)
}

func manyParams(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("&p" + strconv.Itoa(i) + "=1")
	}
	return b.String()
}

// checkErrorBody checks the RFC 6749 §5.2 shape: a JSON object with
// "error" and an optional "error_description" of allowed characters,
// not cacheable, and nothing of Latchkey's own error format.
func checkErrorBody(t *testing.T, res response) {
	t.Helper()
	for k := range res.body {
		if k != "error" && k != "error_description" {
			t.Errorf("error body has field %q: %s", k, res.raw)
		}
	}
	for _, c := range []byte(res.str("error_description")) {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			t.Errorf("error_description has character %q, not allowed by RFC 6749", c)
		}
	}
	if !strings.HasPrefix(res.header.Get("Content-Type"), "application/json") || res.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Content-Type %q Cache-Control %q", res.header.Get("Content-Type"), res.header.Get("Cache-Control"))
	}
}

// RFC 6749 §2.3.1: the client_id and client_secret are form-encoded before
// they go into the Basic header, so a server must decode them.
func TestBasicCredentialsAreFormDecoded(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client("svc", "", "a")
	var enc strings.Builder
	for _, c := range []byte(id) {
		enc.WriteString("%" + strings.ToUpper(strconv.FormatInt(int64(c), 16)))
	}
	raw := base64.StdEncoding.EncodeToString([]byte(enc.String() + ":" + secret))
	res := e.post("/oauth/token", "grant_type=client_credentials", "Authorization", "basic "+raw)
	if res.status != http.StatusOK {
		t.Fatalf("percent-encoded client_id: %d %s", res.status, res.raw)
	}
}

// failureLimit is a service that allows limit failed authentications per
// client address a minute.
func failureLimit(limit int) latchkey.ServiceConfig {
	return latchkey.ServiceConfig{Limiter: ratelimit.NewMemory(),
		Limits: latchkey.Limits{FailedAuth: latchkey.RateLimit{Limit: limit, Window: time.Minute}}}
}

func TestFailedAuthenticationsAreLimitedPerAddress(t *testing.T) {
	e := newEnvWith(t, failureLimit(3))
	id, secret := e.client("svc", "", "a")
	bad := basic(id, "lk_secret_000000000000000000000000000000000")
	from := func(addr string) []string { return []string{"X-Forwarded-For", addr} }

	for i := range 3 {
		res := e.post("/oauth/token", "grant_type=client_credentials", append([]string{"Authorization", bad}, from("203.0.113.7")...)...)
		if res.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, res.status)
		}
	}
	// Past the limit even the right secret is not checked.
	for _, endpoint := range []string{"/oauth/token", "/oauth/introspect", "/oauth/revoke"} {
		res := e.post(endpoint, "grant_type=client_credentials&token=x", append([]string{"Authorization", basic(id, secret)}, from("203.0.113.7")...)...)
		if res.status != http.StatusTooManyRequests || res.str("error") != "slow_down" {
			t.Fatalf("%s past the limit: %d %s", endpoint, res.status, res.raw)
		}
		checkErrorBody(t, res)
		if ra, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || ra < 1 || ra > 63 {
			t.Errorf("Retry-After = %q", res.header.Get("Retry-After"))
		}
	}
	// Other addresses are not affected; IPv6 clients are counted per /64.
	if res := e.post("/oauth/token", "grant_type=client_credentials", append([]string{"Authorization", basic(id, secret)}, from("203.0.113.8")...)...); res.status != http.StatusOK {
		t.Fatalf("another address: %d", res.status)
	}
	for i := range 3 {
		e.post("/oauth/token", "grant_type=client_credentials", append([]string{"Authorization", bad}, from("2001:db8:1:2::"+strconv.Itoa(i+1))...)...)
	}
	if res := e.post("/oauth/token", "grant_type=client_credentials", append([]string{"Authorization", basic(id, secret)}, from("2001:db8:1:2::99")...)...); res.status != http.StatusTooManyRequests {
		t.Fatalf("same /64: %d", res.status)
	}
	if res := e.post("/oauth/token", "grant_type=client_credentials", append([]string{"Authorization", basic(id, secret)}, from("2001:db8:1:3::1")...)...); res.status != http.StatusOK {
		t.Fatalf("another /64: %d", res.status)
	}
	// Successful and malformed-but-not-authentication requests do not count.
	for range 5 {
		e.post("/oauth/token", "grant_type=password", append([]string{"Authorization", basic(id, secret)}, from("203.0.113.9")...)...)
	}
	if res := e.post("/oauth/token", "grant_type=client_credentials", append([]string{"Authorization", basic(id, secret)}, from("203.0.113.9")...)...); res.status != http.StatusOK {
		t.Fatalf("after non-authentication errors: %d", res.status)
	}
	// The block ends with the window (the limiter's sliding window may
	// hold a failure up to 1/20 of it longer).
	e.clock.Advance(time.Minute + 3*time.Second)
	if res := e.post("/oauth/token", "grant_type=client_credentials", append([]string{"Authorization", basic(id, secret)}, from("203.0.113.7")...)...); res.status != http.StatusOK {
		t.Fatalf("after the window: %d %s", res.status, res.raw)
	}
}

// Client secrets, API keys and tokens draw on one budget of failed
// authentications per address: guesses cannot be spread across them.
func TestFailuresShareOneBudgetWithKeys(t *testing.T) {
	e := newEnvWith(t, failureLimit(2))
	id, secret := e.client("svc", "", "a")
	for range 2 {
		_, err := e.svc.Verify(t.Context(), latchkey.VerifyRequest{
			Credential: "lk_live_000000000000000000000000000000000", Client: latchkey.ClientIP("203.0.113.50")})
		if latchkey.ErrorCode(err) != latchkey.CodeInvalidAPIKey {
			t.Fatalf("bad key: %v", err)
		}
	}
	res := e.post("/oauth/token", "grant_type=client_credentials", "Authorization", basic(id, secret), "X-Forwarded-For", "203.0.113.50")
	if res.status != http.StatusTooManyRequests || res.str("error") != "slow_down" {
		t.Fatalf("after two bad keys from the address: %d %s", res.status, res.raw)
	}
	res = e.post("/oauth/token", "grant_type=client_credentials", "Authorization", basic(id, secret), "X-Forwarded-For", "203.0.113.51")
	if res.status != http.StatusOK {
		t.Fatalf("another address: %d %s", res.status, res.raw)
	}
}

// An X-Forwarded-For from an untrusted peer is ignored: a client cannot
// dodge the limit by inventing addresses.
func TestForwardedForOnlyFromTrustedProxies(t *testing.T) {
	e := newEnvWith(t, failureLimit(2), func(c *oauth.Config) { c.TrustedProxies = nil })
	id, secret := e.client("svc", "", "a")
	bad := basic(id, "lk_secret_000000000000000000000000000000000")
	for i := range 2 {
		e.post("/oauth/token", "grant_type=client_credentials", "Authorization", bad, "X-Forwarded-For", "198.51.100."+strconv.Itoa(i))
	}
	res := e.post("/oauth/token", "grant_type=client_credentials", "Authorization", basic(id, secret), "X-Forwarded-For", "198.51.100.200")
	if res.status != http.StatusTooManyRequests {
		t.Fatalf("forged X-Forwarded-For escaped the limit: %d", res.status)
	}
}

func TestUnavailableDatabase(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client("svc", "", "a")
	tok := e.token(id, secret)
	e.db.Close()
	if code := e.verifyCode(tok); code != latchkey.CodeUnavailable {
		t.Errorf("Verify with the database down = %q, want UNAVAILABLE (never INVALID_API_KEY)", code)
	}
	res := e.post("/oauth/token", "grant_type=client_credentials", "Authorization", basic(id, secret))
	if res.status != http.StatusServiceUnavailable || res.str("error") != "temporarily_unavailable" {
		t.Errorf("token with the database down: %d %s", res.status, res.raw)
	}
	checkErrorBody(t, res)
	res = e.post("/oauth/introspect", "token="+tok, "Authorization", basic(id, secret))
	if res.status != http.StatusServiceUnavailable {
		t.Errorf("introspect with the database down: %d %s", res.status, res.raw)
	}
	if !strings.Contains(e.logs.String(), "oauth request failed") {
		t.Errorf("the cause was not logged: %s", e.logs.String())
	}
}

// withLastChanged returns s with its last character replaced by another one
// (a fixed replacement would leave one secret in 62 unchanged).
func withLastChanged(s string) string {
	last := "x"
	if strings.HasSuffix(s, last) {
		last = "y"
	}
	return s[:len(s)-1] + last
}
