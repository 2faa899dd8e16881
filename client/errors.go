package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Error codes Latchkey answers with (SPEC §5), plus VALID, the code of a
// successful verification.
const (
	CodeValid                   = "VALID"
	CodeValidationFailed        = "VALIDATION_FAILED"
	CodeAmbiguousCredentials    = "AMBIGUOUS_CREDENTIALS"
	CodeAuthenticationRequired  = "AUTHENTICATION_REQUIRED"
	CodeInvalidAPIKey           = "INVALID_API_KEY"
	CodeKeyDisabled             = "KEY_DISABLED"
	CodeKeyExpired              = "KEY_EXPIRED"
	CodeKeyRevoked              = "KEY_REVOKED"
	CodeUserIDRequired          = "USER_ID_REQUIRED"
	CodeAPIKeyNoTenant          = "API_KEY_NO_TENANT"
	CodeTenantNotFound          = "TENANT_NOT_FOUND"
	CodeInsufficientPermissions = "INSUFFICIENT_PERMISSIONS"
	CodeForbidden               = "FORBIDDEN"
	CodeNotFound                = "NOT_FOUND"
	CodeConflict                = "CONFLICT"
	CodePayloadTooLarge         = "PAYLOAD_TOO_LARGE"
	CodeRateLimited             = "RATE_LIMITED"
	CodeInternal                = "INTERNAL_ERROR"
	CodeUnavailable             = "UNAVAILABLE"
)

// Error is an error answer from Latchkey, or one the middleware writes in
// Latchkey's format. Use errors.As to get at it, or IsCode to test its code.
type Error struct {
	StatusCode int    // HTTP status, e.g. 404
	Code       string // e.g. "NOT_FOUND"; "" when the body was not Latchkey's
	Message    string // safe to show to the API's client
	Detail     string
	TraceID    string        // W3C traceparent; find the request in Latchkey's logs with it
	RetryAfter time.Duration // from Retry-After, on 429 and some 503 answers
	// Err is the cause of an error produced on this side of the wire (the
	// middleware's 503 when Latchkey is unreachable); it is never sent to
	// clients.
	Err error
}

func (e *Error) Error() string {
	s := "latchkey: " + strconv.Itoa(e.StatusCode)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// IsCode reports whether err is (or wraps) an *Error with this code, e.g.
// IsCode(err, CodeKeyRevoked).
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// StatusCode returns the HTTP status of an *Error in err's chain, 0 if
// there is none (the request did not get an answer).
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// errorBody is Latchkey's default error body (SPEC §5).
type errorBody struct {
	Success bool `json:"success"`
	Error   struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Detail  string `json:"detail,omitempty"`
	} `json:"error"`
	StatusCode int    `json:"statusCode"`
	TraceID    string `json:"traceId"`
}

// parseError reads an error answer. The body is Latchkey's default one
// unless the server renders a custom error template; then only a top-level
// "message" string is looked for, and the status text stands in.
func parseError(res *http.Response, body []byte) *Error {
	e := &Error{StatusCode: res.StatusCode, TraceID: res.Header.Get("X-Trace-Id")}
	var b struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		TraceID string          `json:"traceId"`
	}
	if json.Unmarshal(body, &b) == nil {
		var d struct{ Code, Message, Detail string }
		if len(b.Error) > 0 && b.Error[0] == '{' && json.Unmarshal(b.Error, &d) == nil {
			e.Code, e.Message, e.Detail = d.Code, d.Message, d.Detail
		} else {
			e.Message = b.Message
		}
		if b.TraceID != "" {
			e.TraceID = b.TraceID
		}
	}
	if e.Message == "" {
		e.Message = http.StatusText(res.StatusCode)
	}
	e.RetryAfter = parseRetryAfter(res.Header.Get("Retry-After"))
	return e
}

// parseRetryAfter reads Retry-After in seconds (what Latchkey sends) or as
// an HTTP date; 0 when absent or unreadable.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return time.Duration(min(n, maxSeconds)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// codeStatus is the HTTP status of a verification failure code (SPEC §5).
func codeStatus(code string) int {
	switch code {
	case CodeValidationFailed, CodeAmbiguousCredentials:
		return http.StatusBadRequest
	case CodeAuthenticationRequired, CodeInvalidAPIKey, CodeKeyDisabled, CodeKeyExpired,
		CodeKeyRevoked, CodeUserIDRequired:
		return http.StatusUnauthorized
	case CodeAPIKeyNoTenant, CodeTenantNotFound, CodeInsufficientPermissions, CodeForbidden:
		return http.StatusForbidden
	case CodeNotFound:
		return http.StatusNotFound
	case CodeConflict:
		return http.StatusConflict
	case CodeRateLimited:
		return http.StatusTooManyRequests
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// codeMessage is Latchkey's default message for a code (SPEC §5).
func codeMessage(code, permission string) string {
	switch code {
	case CodeAuthenticationRequired:
		return "Missing API key."
	case CodeInvalidAPIKey:
		return "Invalid API key."
	case CodeKeyDisabled:
		return "API key is disabled."
	case CodeKeyExpired:
		return "API key has expired."
	case CodeKeyRevoked:
		return "API key has been revoked."
	case CodeAPIKeyNoTenant:
		return "API key is not linked to any tenant."
	case CodeTenantNotFound:
		return "Tenant not found for this API key."
	case CodeInsufficientPermissions:
		if permission != "" {
			return fmt.Sprintf("Your API key does not have the '%s' permission.", permission)
		}
		return "Your API key does not have the required permission."
	case CodeAmbiguousCredentials:
		return "Two different credentials were presented; send only one."
	case CodeRateLimited:
		return "Too many requests, please try again later"
	case CodeUnavailable:
		return "Authentication service unavailable"
	case CodeForbidden:
		return "Forbidden"
	}
	return "Internal server error"
}
