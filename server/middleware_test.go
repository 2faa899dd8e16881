package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
)

func TestLogsCarryNoSecrets(t *testing.T) {
	e := newTestEnv(t)
	e.user("u1", "t1")
	secrets := []string{e.root}

	r := e.do("POST", "/api/v1/admin/root-keys", `{"name":"ci","scopes":["keys:manage"]}`, e.admin()...)
	wantStatus(t, r, 201)
	manage := r.object(t)["key"].(string)
	secrets = append(secrets, manage)

	r = e.do("POST", keysPath, `{"name":"app","tenantIds":["t1"]}`, "X-API-KEY", manage, "X-User-Id", "u1")
	wantStatus(t, r, 201)
	created := r.object(t)
	first := created["key"].(string)
	secrets = append(secrets, first)

	r = e.do("POST", keysPath+"/"+created["id"].(string)+"/rotate", `{"gracePeriod":"1h"}`, "Authorization", "Bearer "+manage, "X-User-Id", "u1")
	wantStatus(t, r, 201)
	second := r.object(t)["key"].(string)
	secrets = append(secrets, second)

	wantStatus(t, e.do("GET", mePath, nil, "Authorization", "Bearer "+second), 200)
	wantStatus(t, e.do("GET", mePath+"?api_key="+second+"&token="+first, nil, "X-API-KEY", first), 200)
	// A key pasted into the path by mistake.
	wantError(t, e.do("GET", keysPath+"/"+second, nil, e.as("u1")...), 404, "NOT_FOUND")
	wantError(t, e.do("GET", mePath, nil, "X-API-KEY", first, "Authorization", "Bearer "+second), 400, "AMBIGUOUS_CREDENTIALS")
	wantError(t, e.do("GET", mePath, nil, "Authorization", "Bearer "+second[:len(second)-1]), 401, "INVALID_API_KEY")
	wantError(t, e.do("GET", "/api/v1/admin/users", nil, "X-API-KEY", first), 403, "FORBIDDEN")
	const requests = 9

	e.srv.Close() // waits for every handler, so every log line is written
	logs := e.logs.String()
	for _, s := range secrets {
		body := s[len(s)-32:]
		if strings.Contains(logs, body) || strings.Contains(logs, body[:26]) {
			t.Errorf("secret %s… in the logs:\n%s", s[:12], logs)
		}
	}
	for _, forbidden := range []string{"Bearer", "api_key", "X-Api-Key", "x-api-key", "Authorization", "?"} {
		if strings.Contains(logs, forbidden) {
			t.Errorf("logs contain %q:\n%s", forbidden, logs)
		}
	}

	var lines int
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] != "request" {
			continue
		}
		lines++
		for _, f := range []string{"method", "path", "status", "duration", "traceId"} {
			if _, ok := m[f]; !ok {
				t.Errorf("log line lacks %s: %s", f, line)
			}
		}
		if !traceparentRE.MatchString(m["traceId"].(string)) {
			t.Errorf("traceId = %v", m["traceId"])
		}
		if m["status"].(float64) >= 400 && m["code"] == nil {
			t.Errorf("error line lacks its code: %s", line)
		}
	}
	if lines != requests {
		t.Errorf("%d request lines, want %d:\n%s", lines, requests, logs)
	}
	if !strings.Contains(logs, `"path":"/api/v1/auth/api-keys/[redacted]"`) {
		t.Errorf("key-shaped path segment not redacted:\n%s", logs)
	}
}

func TestRoutineRequestsLogOnlyFailures(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		want   string // level of the line; "" for none
	}{
		{"success is debug", http.StatusOK, ""},
		{"redirect is debug", http.StatusFound, ""},
		{"client error is logged", http.StatusUnauthorized, "INFO"},
		{"server error is logged", http.StatusBadGateway, "ERROR"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := &observer{next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				infoOf(w).routine = true
				w.WriteHeader(c.status)
			}), rs: &responder{log: slog.New(slog.NewJSONHandler(&buf, nil))}}
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/auth/check/lk_live_0123456789abcdefghijABCDEFGHIJ01", nil))
			if c.want == "" {
				if buf.Len() != 0 {
					t.Fatalf("logged %s", buf.String())
				}
				return
			}
			var m map[string]any
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
				t.Fatalf("log %q: %v", buf.String(), err)
			}
			if m["level"] != c.want || m["path"] != "/auth/check/[redacted]" {
				t.Fatalf("log line %v", m)
			}
		})
	}
}

// exactFirst answers its path as the mux would, pattern included, and
// leaves every other request to the mux.
func TestExactFirstRoutesAsTheMux(t *testing.T) {
	mux := http.NewServeMux()
	seen := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Handler", name)
			w.Header().Set("X-Pattern", r.Pattern)
		})
	}
	mux.Handle(checkPath, seen("check"))
	mux.Handle("/auth/", seen("tree"))
	h := exactFirst(mux, checkPath)
	for _, c := range []struct {
		method, target   string
		handler, pattern string
	}{
		{"GET", "/auth/check", "check", "/auth/check"},
		{"POST", "/auth/check?x=1", "check", "/auth/check"},
		{"HEAD", "/auth/check", "check", "/auth/check"},
		{"GET", "/auth/check/", "tree", "/auth/"},
		{"GET", "/auth/checkx", "tree", "/auth/"},
		{"GET", "/auth/%63heck", "check", "/auth/check"}, // the decoded path, as the mux matches it
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.target, nil))
		if got, pat := rec.Header().Get("X-Handler"), rec.Header().Get("X-Pattern"); got != c.handler || pat != c.pattern {
			t.Errorf("%s %s: handler %q pattern %q, want %q %q", c.method, c.target, got, pat, c.handler, c.pattern)
		}
	}
}

// FuzzTraceparent: whatever a client sends, the trace ID answered is a
// well-formed version-00 traceparent, and one it kept came from a header
// whose trace-id field is valid.
func FuzzTraceparent(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x")
	f.Add("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Fuzz(func(t *testing.T, in string) {
		got := traceparent(in)
		if !traceparentRE.MatchString(got) || allZero(got[3:35]) || allZero(got[36:52]) {
			t.Fatalf("traceparent(%q) = %q", in, got)
		}
		if traceID, _, ok := parseTraceparent(in); ok && (got[3:35] != traceID || in[3:35] != traceID || in[:2] == "ff") {
			t.Fatalf("traceparent(%q) = %q kept a trace ID it should not have", in, got)
		}
	})
}

// A response with a typed body tells browsers not to second-guess its
// type; a bodiless one, as every successful forward-auth check, has nothing
// to sniff.
func TestTypedBodiesForbidSniffing(t *testing.T) {
	e := newTestEnv(t)
	e.user("u1", "t1")
	_, secret := e.key("u1", latchkey.NewKey{Name: "app", TenantIDs: []string{"t1"}})
	for _, c := range []struct {
		name    string
		r       response
		status  int
		nosniff bool
	}{
		{"JSON answer", e.do("GET", mePath, nil, "X-API-KEY", secret), 200, true},
		{"JSON error", e.do("GET", mePath, nil), 401, true},
		{"forward-auth error", e.do("GET", "/auth/check", nil), 401, true},
		{"mux's own answer", e.do("GET", "/no/such/path", nil), 404, true},
		{"bodiless check", e.do("GET", "/auth/check", nil, "X-API-KEY", secret), 200, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.r.status != c.status {
				t.Fatalf("status = %d, want %d; body: %s", c.r.status, c.status, c.r.body)
			}
			if got := c.r.header.Get("X-Content-Type-Options") == "nosniff"; got != c.nosniff {
				t.Errorf("nosniff = %v, want %v (Content-Type %q, %d body bytes)", got, c.nosniff, c.r.header.Get("Content-Type"), len(c.r.body))
			}
		})
	}
}
