package latchkey

import (
	"errors"
	"fmt"
	"time"
)

// Error codes (SPEC §5). The HTTP layer maps each to its status in one place.
const (
	CodeValidationFailed       = "VALIDATION_FAILED"
	CodeAmbiguousCredentials   = "AMBIGUOUS_CREDENTIALS"
	CodeAuthenticationRequired = "AUTHENTICATION_REQUIRED"
	CodeInvalidAPIKey          = "INVALID_API_KEY"
	CodeKeyDisabled            = "KEY_DISABLED"
	CodeKeyExpired             = "KEY_EXPIRED"
	CodeKeyRevoked             = "KEY_REVOKED"
	CodeUserIDRequired         = "USER_ID_REQUIRED"
	CodeAPIKeyNoTenant         = "API_KEY_NO_TENANT"
	CodeTenantNotFound         = "TENANT_NOT_FOUND"
	CodeInsufficientPermission = "INSUFFICIENT_PERMISSIONS"
	CodeForbidden              = "FORBIDDEN"
	CodeNotFound               = "NOT_FOUND"
	CodeConflict               = "CONFLICT"
	CodePayloadTooLarge        = "PAYLOAD_TOO_LARGE"
	CodeRateLimited            = "RATE_LIMITED"
	CodeInternal               = "INTERNAL_ERROR"
	CodeUnavailable            = "UNAVAILABLE"
)

// Error is an application error: a code from the list above, a message safe
// to show to the client, and an optional cause that is only ever logged.
type Error struct {
	Code       string
	Message    string
	Detail     string
	Permission string        // the missing permission, for INSUFFICIENT_PERMISSIONS
	RetryAfter time.Duration // for RATE_LIMITED: the Retry-After header
	Limit      *LimitStatus  // for RATE_LIMITED: the RateLimit-* headers
	Err        error         // cause; never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted, client-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, INTERNAL_ERROR for anything that is not
// an *Error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Default messages for the fixed-message codes of SPEC §5.
var (
	ErrMissingKey   = &Error{Code: CodeAuthenticationRequired, Message: "Missing API key."}
	ErrInvalidKey   = &Error{Code: CodeInvalidAPIKey, Message: "Invalid API key."}
	ErrKeyDisabled  = &Error{Code: CodeKeyDisabled, Message: "API key is disabled."}
	ErrKeyExpired   = &Error{Code: CodeKeyExpired, Message: "API key has expired."}
	ErrKeyRevoked   = &Error{Code: CodeKeyRevoked, Message: "API key has been revoked."}
	ErrUserRequired = &Error{Code: CodeUserIDRequired, Message: "User ID is required"}
	ErrNoTenant     = &Error{Code: CodeAPIKeyNoTenant, Message: "API key is not linked to any tenant."}
	ErrTenantDenied = &Error{Code: CodeTenantNotFound, Message: "Tenant not found for this API key."}
	ErrAmbiguous    = &Error{Code: CodeAmbiguousCredentials, Message: "Two different credentials were presented; send only one."}
	ErrKeyNotFound  = &Error{Code: CodeNotFound, Message: "API key not found"}
	ErrUnavailable  = &Error{Code: CodeUnavailable, Message: "Service unavailable, please retry."}
)

// MissingPermission returns the INSUFFICIENT_PERMISSIONS error for perm.
func MissingPermission(perm string) *Error {
	return &Error{
		Code:       CodeInsufficientPermission,
		Message:    fmt.Sprintf("Your API key does not have the '%s' permission.", perm),
		Permission: perm,
	}
}

// NotFound returns a NOT_FOUND error naming what was not found.
func NotFound(what string) *Error { return Errorf(CodeNotFound, "%s not found", what) }

// Invalid returns a VALIDATION_FAILED error.
func Invalid(format string, args ...any) *Error {
	return Errorf(CodeValidationFailed, format, args...)
}
