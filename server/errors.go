package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"text/template"

	"github.com/latchkey/latchkey"
)

// Codes the HTTP layer produces itself, for requests that never reach a
// handler.
const (
	codeMethodNotAllowed = "METHOD_NOT_ALLOWED"
	codeRouteNotFound    = latchkey.CodeNotFound
)

// errorClass is how one error code is presented over HTTP.
type errorClass struct {
	Status int
	Kind   string
	Title  string
}

// classify maps an error code to its status, kind and title (SPEC §5). It
// is the only place that knows this mapping; unknown codes are internal.
func classify(code string) errorClass {
	switch code {
	case latchkey.CodeValidationFailed:
		return errorClass{http.StatusBadRequest, "validation_failed", "Validation failed"}
	case latchkey.CodeAmbiguousCredentials:
		return errorClass{http.StatusBadRequest, "bad_request", "Bad request"}
	case latchkey.CodeAuthenticationRequired, latchkey.CodeInvalidAPIKey,
		latchkey.CodeKeyDisabled, latchkey.CodeKeyExpired, latchkey.CodeKeyRevoked,
		latchkey.CodeUserIDRequired:
		return errorClass{http.StatusUnauthorized, "unauthorized", "Unauthorized"}
	case latchkey.CodeAPIKeyNoTenant, latchkey.CodeTenantNotFound,
		latchkey.CodeInsufficientPermission, latchkey.CodeForbidden:
		return errorClass{http.StatusForbidden, "forbidden", "Forbidden"}
	case latchkey.CodeNotFound:
		return errorClass{http.StatusNotFound, "not_found", "Not found"}
	case codeMethodNotAllowed:
		return errorClass{http.StatusMethodNotAllowed, "bad_request", "Bad request"}
	case latchkey.CodeConflict:
		return errorClass{http.StatusConflict, "conflict", "Conflict"}
	case latchkey.CodePayloadTooLarge:
		return errorClass{http.StatusRequestEntityTooLarge, "bad_request", "Bad request"}
	case latchkey.CodeRateLimited:
		return errorClass{http.StatusTooManyRequests, "rate_limited", "Rate limit exceeded"}
	case latchkey.CodeUnavailable:
		return errorClass{http.StatusServiceUnavailable, "unavailable", "Service unavailable"}
	case codeBadGateway:
		return errorClass{http.StatusBadGateway, "unavailable", "Bad gateway"}
	default:
		return errorClass{http.StatusInternalServerError, "internal_error", "Internal server error"}
	}
}

// errorCodes lists every code classify knows, for validating templates.
var errorCodes = []string{
	latchkey.CodeValidationFailed, latchkey.CodeAmbiguousCredentials,
	latchkey.CodeAuthenticationRequired, latchkey.CodeInvalidAPIKey,
	latchkey.CodeKeyDisabled, latchkey.CodeKeyExpired, latchkey.CodeKeyRevoked,
	latchkey.CodeUserIDRequired, latchkey.CodeAPIKeyNoTenant, latchkey.CodeTenantNotFound,
	latchkey.CodeInsufficientPermission, latchkey.CodeForbidden, latchkey.CodeNotFound,
	codeMethodNotAllowed, latchkey.CodeConflict, latchkey.CodePayloadTooLarge,
	latchkey.CodeRateLimited, latchkey.CodeInternal, latchkey.CodeUnavailable,
	codeBadGateway,
}

// ErrorData is what an error template renders (SPEC §5).
type ErrorData struct {
	Status     int
	Code       string
	Kind       string
	Title      string
	Message    string
	Detail     string
	TraceID    string
	Permission string
}

// errorBody is the default error body.
type errorBody struct {
	Success    bool        `json:"success"`
	Error      errorDetail `json:"error"`
	StatusCode int         `json:"statusCode"`
	TraceID    string      `json:"traceId"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  string `json:"detail,omitempty"`
}

const internalMessage = "Internal server error"

// responder writes responses that need the error template and the logger.
type responder struct {
	log  *slog.Logger
	tmpl *template.Template
}

// errorData turns any error into what the client may see. Anything that is
// not a *latchkey.Error is internal: its text is never sent.
func errorData(err error, traceID string) ErrorData {
	var e *latchkey.Error
	if !errors.As(err, &e) {
		e = &latchkey.Error{Code: latchkey.CodeInternal, Message: internalMessage}
	}
	c := classify(e.Code)
	d := ErrorData{
		Status: c.Status, Code: e.Code, Kind: c.Kind, Title: c.Title,
		Message: e.Message, Detail: e.Detail, TraceID: traceID, Permission: e.Permission,
	}
	if c.Status == http.StatusInternalServerError {
		d.Code = latchkey.CodeInternal
		if d.Message == "" {
			d.Message = internalMessage
		}
	}
	return d
}

// error writes err as the JSON error response. Server-side failures are
// logged with their cause and the trace ID; the cause is never sent.
func (rs *responder) error(w http.ResponseWriter, r *http.Request, err error) {
	info := infoOf(w)
	d := errorData(err, info.traceID)
	info.code = d.Code
	if d.Status >= 500 {
		rs.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("code", d.Code),
			slog.String("cause", err.Error()),
			slog.String("traceId", info.traceID))
	}
	body, rerr := renderError(rs.tmpl, d)
	if rerr != nil {
		// ParseErrorTemplate validated the template, so this is unexpected;
		// never answer with a broken body.
		rs.log.LogAttrs(r.Context(), slog.LevelError, "error template failed",
			slog.String("cause", rerr.Error()), slog.String("traceId", info.traceID))
		body, _ = renderError(nil, d)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	if e := (*latchkey.Error)(nil); errors.As(err, &e) {
		if e.RetryAfter > 0 {
			h.Set("Retry-After", strconv.FormatInt(ceilSeconds(e.RetryAfter), 10))
		}
		setRateLimit(h, e.Limit)
	}
	w.WriteHeader(d.Status)
	w.Write(body)
}

// renderError renders d with tmpl, or as the default body when tmpl is nil.
func renderError(tmpl *template.Template, d ErrorData) ([]byte, error) {
	if tmpl == nil {
		b, err := json.Marshal(errorBody{
			Error:      errorDetail{Code: d.Code, Message: d.Message, Detail: d.Detail},
			StatusCode: d.Status,
			TraceID:    d.TraceID,
		})
		return append(b, '\n'), err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, d); err != nil {
		return nil, err
	}
	if !json.Valid(buf.Bytes()) {
		return nil, fmt.Errorf("rendered invalid JSON for %s", d.Code)
	}
	return buf.Bytes(), nil
}

// templateFuncs are the functions error templates may call.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}

// ParseErrorTemplate reads a text/template error body (SPEC §5) and checks
// that it renders valid JSON for every kind of error, with messages that
// need escaping, so a bad template is refused at startup rather than
// discovered by a client.
func ParseErrorTemplate(path string) (*template.Template, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("error template: %w", err)
	}
	tmpl, err := template.New(filepath.Base(path)).Funcs(templateFuncs).Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("error template %s does not parse: %w", path, err)
	}
	for _, code := range errorCodes {
		c := classify(code)
		for _, d := range []ErrorData{
			{Message: `unknown field "foo"`, Detail: "a \\ backslash,\na newline and a \"quote\" ✓"},
			{Message: "Missing API key."},
		} {
			d.Status, d.Code, d.Kind, d.Title = c.Status, code, c.Kind, c.Title
			d.TraceID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
			if code == latchkey.CodeInsufficientPermission {
				d.Permission = "messages:send"
			}
			var buf bytes.Buffer
			if err := tmpl.Execute(&buf, d); err != nil {
				return nil, fmt.Errorf("error template %s fails to render a %s error: %w", path, code, err)
			}
			if err := json.Unmarshal(buf.Bytes(), new(any)); err != nil {
				return nil, fmt.Errorf("error template %s renders invalid JSON for a %s error with message %q (use {{json .Message}} to quote strings): %v; output: %s",
					path, code, d.Message, err, truncateBytes(buf.Bytes(), 200))
			}
		}
	}
	return tmpl, nil
}

func truncateBytes(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}

// handle adapts a handler that returns its error, rendered by rs.error.
func (rs *responder) handle(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			rs.error(w, r, err)
		}
	})
}
