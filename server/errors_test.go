package server

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
)

func writeTemplate(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "error.tmpl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestErrorTemplate(t *testing.T) {
	const src = `{"error": {{json .Title}}, "kind": {{json .Kind}}, "code": {{json .Code}}, "message": {{json .Message}},
 "detail": {{json .Detail}}, "permission": {{json .Permission}}, "statusCode": {{.Status}}, "trace": {{json .TraceID}}}`
	tmpl, err := ParseErrorTemplate(writeTemplate(t, src))
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, func(c *Config) { c.ErrorTemplate = tmpl })

	r := e.do("GET", keysPath, nil)
	if r.status != 401 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q", r.status, r.header.Get("Content-Type"))
	}
	want := map[string]any{
		"error": "Unauthorized", "kind": "unauthorized", "code": "AUTHENTICATION_REQUIRED",
		"message": "Missing API key.", "detail": "", "permission": "", "statusCode": float64(401),
		"trace": r.header.Get("X-Trace-Id"),
	}
	if got := r.object(t); !jsonEqual(got, want) {
		t.Errorf("body = %s", r.body)
	}

	r = e.do("POST", keysPath, `{"name":"x","foo":1}`, e.as("u1")...)
	if m := r.object(t); r.status != 400 || m["message"] != `unknown field "foo"` || m["kind"] != "validation_failed" {
		t.Errorf("validation error = %d %s", r.status, r.body)
	}
	r = e.do("PUT", "/healthz", nil)
	if m := r.object(t); r.status != 405 || m["code"] != codeMethodNotAllowed || r.header.Get("Allow") == "" {
		t.Errorf("405 = %s, Allow %q", r.body, r.header.Get("Allow"))
	}

	// The permission field, for INSUFFICIENT_PERMISSIONS.
	body, err := renderError(tmpl, errorData(latchkey.MissingPermission("messages:send"), "00-x"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil || m["permission"] != "messages:send" || m["statusCode"] != float64(403) {
		t.Errorf("rendered %s, %v", body, err)
	}
}

func TestParseErrorTemplateRefusesBadTemplates(t *testing.T) {
	for _, tc := range []struct{ name, src, msg string }{
		{"does not parse", `{"message": {{json .Message}`, "does not parse"},
		{"unquoted strings", `{"message": "{{.Message}}"}`, "invalid JSON"},
		{"not JSON at all", `Error: {{.Message}}`, "invalid JSON"},
		{"missing comma", `{"a": {{.Status}} "b": 1}`, "invalid JSON"},
		{"unknown field", `{"message": {{json .Nope}}}`, "fails to render"},
		{"unknown function", `{"message": {{yaml .Message}}}`, "does not parse"},
		{"empty", ``, "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseErrorTemplate(writeTemplate(t, tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error = %v, want one mentioning %q", err, tc.msg)
			}
		})
	}
	if _, err := ParseErrorTemplate(filepath.Join(t.TempDir(), "missing.tmpl")); err == nil {
		t.Error("missing file accepted")
	}
	// The SPEC's own example is accepted.
	if _, err := ParseErrorTemplate(writeTemplate(t, `{"error": {{json .Title}}, "message": {{json .Message}}, "statusCode": {{.Status}}}`)); err != nil {
		t.Errorf("SPEC example refused: %v", err)
	}
}

func TestErrorBodyDefault(t *testing.T) {
	body, err := renderError(nil, ErrorData{Status: 401, Code: "INVALID_API_KEY", Message: "Invalid API key.", TraceID: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"success":false,"error":{"code":"INVALID_API_KEY","message":"Invalid API key."},"statusCode":401,"traceId":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`
	if got := strings.TrimSpace(string(body)); got != want {
		t.Errorf("body = %s", got)
	}
	body, _ = renderError(nil, ErrorData{Status: 400, Code: "VALIDATION_FAILED", Message: "m", Detail: "d"})
	if !strings.Contains(string(body), `"error":{"code":"VALIDATION_FAILED","message":"m","detail":"d"}`) {
		t.Errorf("body = %s", body)
	}
}
