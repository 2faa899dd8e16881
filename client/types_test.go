package client

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestDurations(t *testing.T) {
	for _, c := range []struct {
		d time.Duration
		s string
	}{
		{0, "0s"}, {90 * time.Second, "90s"}, {time.Minute, "1m"}, {36 * time.Hour, "36h"},
		{30 * 24 * time.Hour, "30d"}, {1500 * time.Millisecond, "1.5s"},
	} {
		if got := formatDuration(c.d); got != c.s {
			t.Errorf("formatDuration(%v) = %q, want %q", c.d, got, c.s)
		}
		if got, err := parseDuration(c.s); err != nil || got != c.d {
			t.Errorf("parseDuration(%q) = %v, %v", c.s, got, err)
		}
	}
	for _, bad := range []string{"", "xd", "-1d", "1y"} {
		if _, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) succeeded", bad)
		}
	}
}

func TestRequestBodies(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.FixedZone("CET", 3600))
	name := "n"
	for _, c := range []struct {
		name string
		v    any
		want string
	}{
		{"create, minimal", KeyCreate{Name: "k"}, `{"name":"k"}`},
		{"create, full", KeyCreate{Name: "k", Environment: "test", Permissions: []string{"a:b"}, TenantIDs: []string{"t"},
			ExpiresAt: &at, RateLimit: &RateLimit{Limit: 5, Window: time.Hour}, Meta: map[string]any{"x": 1}},
			`{"name":"k","environment":"test","permissions":["a:b"],"tenantIds":["t"],"expiresAt":"2029-12-31T23:00:00Z","rateLimit":{"limit":5,"window":"1h"},"meta":{"x":1}}`},
		{"create, expiresIn", KeyCreate{Name: "k", ExpiresIn: 30 * 24 * time.Hour}, `{"name":"k","expiresIn":"30d"}`},
		{"patch, nothing", KeyPatch{}, `{}`},
		{"patch, set", KeyPatch{Name: &name, ExpiresAt: &at, RateLimit: &RateLimit{Limit: 1, Window: time.Second}},
			`{"expiresAt":"2029-12-31T23:00:00Z","name":"n","rateLimit":{"limit":1,"window":"1s"}}`},
		{"patch, clear", KeyPatch{ClearExpiresAt: true, ClearRateLimit: true, Permissions: []string{}, TenantIDs: []string{}, Meta: map[string]any{}},
			`{"expiresAt":null,"meta":{},"permissions":[],"rateLimit":null,"tenantIds":[]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := json.Marshal(c.v)
			if err != nil || string(b) != c.want {
				t.Fatalf("got %s, %v\nwant %s", b, err, c.want)
			}
		})
	}
	if _, err := json.Marshal(KeyPatch{RateLimit: &RateLimit{}, ClearRateLimit: true}); err == nil {
		t.Fatal("contradictory rate limit patch marshalled")
	}
}

func TestMask(t *testing.T) {
	const secret = "tb_live_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6"
	for in, want := range map[string]string{
		secret:                "tb_live_a1b2c3d4...",
		"tb_live_a1b2c3d4...": "tb_live_a1b2c3d4...",
		"garbage":             "[redacted]",
		"":                    "[redacted]",
		// Not key-shaped: nothing of it may show.
		"db_pass_hunter2hunter2":                     "[redacted]",
		"s3cretvalue...":                             "[redacted]",
		"tb_secret_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6": "[redacted]",
		"tb_live_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p":    "[redacted]",
		"TB_live_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6":   "[redacted]",
		"tb_live_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p!":   "[redacted]",
		"tb_live_a1b2c3d!...":                        "[redacted]",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("created", "key", Key{ID: "key_1", Key: secret})
	if strings.Contains(buf.String(), secret) || !strings.Contains(buf.String(), "tb_live_a1b2c3d4...") {
		t.Fatalf("slog output: %s", buf.String())
	}
}

func TestParseError(t *testing.T) {
	res := func(status int, h ...string) *http.Response {
		r := &http.Response{StatusCode: status, Header: http.Header{}}
		for i := 0; i+1 < len(h); i += 2 {
			r.Header.Set(h[i], h[i+1])
		}
		return r
	}
	e := parseError(res(429, "Retry-After", "12", "X-Trace-Id", "hdr"),
		[]byte(`{"success":false,"error":{"code":"RATE_LIMITED","message":"Too many","detail":"d"},"statusCode":429,"traceId":"body"}`))
	if *e != (Error{StatusCode: 429, Code: "RATE_LIMITED", Message: "Too many", Detail: "d", TraceID: "body", RetryAfter: 12 * time.Second}) {
		t.Fatalf("default body: %+v", e)
	}
	// A deployment's error template (SPEC §5) may render anything.
	e = parseError(res(401, "X-Trace-Id", "hdr"), []byte(`{"error":"Unauthorized","message":"Invalid API key.","statusCode":401}`))
	if e.Code != "" || e.Message != "Invalid API key." || e.TraceID != "hdr" {
		t.Fatalf("template body: %+v", e)
	}
	e = parseError(res(502), []byte("<html>bad gateway</html>"))
	if e.Message != "Bad Gateway" || e.StatusCode != 502 {
		t.Fatalf("non-JSON body: %+v", e)
	}
	if got := e.Error(); got != "latchkey: 502: Bad Gateway" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestCredential(t *testing.T) {
	for _, c := range []struct {
		name    string
		headers []string
		want    string
		err     bool
	}{
		{"none", nil, "", false},
		{"bearer", []string{"Authorization", "Bearer k1"}, "k1", false},
		{"scheme is case-insensitive", []string{"Authorization", "BEARER  k1 "}, "k1", false},
		{"basic is not a credential", []string{"Authorization", "Basic abc"}, "", false},
		{"x-api-key", []string{"X-Api-Key", " k1"}, "k1", false},
		{"same twice", []string{"Authorization", "Bearer k1", "X-API-KEY", "k1"}, "k1", false},
		{"different", []string{"Authorization", "Bearer k1", "X-API-KEY", "k2"}, "", true},
		{"two x-api-keys", []string{"X-API-KEY", "k1", "X-API-KEY", "k2"}, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for i := 0; i+1 < len(c.headers); i += 2 {
				r.Header.Add(c.headers[i], c.headers[i+1])
			}
			got, err := credential(r)
			if got != c.want || (err != nil) != c.err {
				t.Fatalf("credential = %q, %v", got, err)
			}
		})
	}
}

func TestTraceparent(t *testing.T) {
	valid := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for tp, want := range map[string]string{
		valid: "4bf92f3577b34da6a3ce929d0e0e4736",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01": "",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01": "",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": "",
		"garbage": "",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Traceparent", tp)
		if got, _ := incomingTrace(r); got != want {
			t.Errorf("incomingTrace(%q) = %q, want %q", tp, got, want)
		}
	}
	tp := newTraceparent("")
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Traceparent", tp)
	if id, _ := incomingTrace(r); id == "" || !strings.HasPrefix(newTraceparent(id), "00-"+id+"-") {
		t.Fatalf("newTraceparent made %q", tp)
	}
}
