package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MiddlewareOptions configures Client.Middleware.
type MiddlewareOptions struct {
	// Permission is what every request needs, e.g. "messages:send"; ""
	// admits any valid key.
	Permission string
	// PermissionFunc, when set, decides the permission per request instead
	// of Permission ("" for none), e.g. from r.Method and r.Pattern.
	PermissionFunc func(r *http.Request) string
	// Timeout bounds each verify call; 5 seconds when zero. A request whose
	// verification times out is refused with 503.
	Timeout time.Duration
	// RetryAfter is sent with a 429 when Latchkey's answer does not say
	// when to retry (older servers send no rate-limit state with a refusal);
	// 1 second when zero.
	RetryAfter time.Duration
	// ErrorHandler writes a refused request's answer; WriteError when nil.
	// For the 500 and 503 the middleware produces itself, err.Err holds the
	// cause (log it: it is never sent to the client).
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err *Error)
}

// maxCredentialBytes bounds the credential sent to the verify API: keys
// are about 40 bytes and access tokens about 1 KiB, so anything longer is
// refused as INVALID_API_KEY without a call.
const maxCredentialBytes = 8 << 10

// Middleware authenticates every request through Latchkey's verify API,
// which needs a root key with the "keys:verify" scope.
//
// The credential is "Authorization: Bearer <key>" or "X-API-KEY: <key>"
// (two different values: 400 AMBIGUOUS_CREDENTIALS); X-TENANT-ID picks the
// tenant (two different values: 400 VALIDATION_FAILED). An accepted request
// reaches next with its *Verification in the context (IdentityFrom), the
// identity headers Latchkey's proxy sends (X-Latchkey-*, replacing any the
// client sent) and the RateLimit-* headers set on the response.
// A refused one gets Latchkey's error body with Latchkey's status: 401,
// 403, or 429 with Retry-After. The middleware fails closed: when Latchkey
// cannot be reached or does not answer in time the request is refused with
// 503 UNAVAILABLE, and when Latchkey refuses the middleware's own root key
// (a misconfiguration) with 500 INTERNAL_ERROR.
//
// There is deliberately no cache of verified keys: every request is one
// verify call. A cache would let a disabled, revoked or deleted key keep
// working until its entry expired (Latchkey guarantees the very next
// request is refused), and cached requests would be neither counted in the
// key's usage nor held to its rate limit. Latchkey already caches keys in
// memory, invalidated on every change, so a verify call costs one round
// trip on a kept-alive connection: run Latchkey close to your API.
func (c *Client) Middleware(opts MiddlewareOptions) func(http.Handler) http.Handler {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	retryAfter := opts.RetryAfter
	if retryAfter <= 0 {
		retryAfter = time.Second
	}
	writeError := opts.ErrorHandler
	if writeError == nil {
		writeError = func(w http.ResponseWriter, _ *http.Request, err *Error) { WriteError(w, err) }
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			traceID, traceparent := incomingTrace(r)
			refuse := func(e *Error) {
				if e.TraceID == "" {
					e.TraceID = newTraceparent(traceID)
				}
				writeError(w, r, e)
			}
			cred, err := credential(r)
			switch {
			case err != nil:
				refuse(&Error{StatusCode: http.StatusBadRequest, Code: CodeAmbiguousCredentials, Message: codeMessage(CodeAmbiguousCredentials, "")})
				return
			case cred == "":
				refuse(&Error{StatusCode: http.StatusUnauthorized, Code: CodeAuthenticationRequired, Message: codeMessage(CodeAuthenticationRequired, "")})
				return
			case len(cred) > maxCredentialBytes:
				refuse(&Error{StatusCode: http.StatusUnauthorized, Code: CodeInvalidAPIKey, Message: codeMessage(CodeInvalidAPIKey, "")})
				return
			}
			tenant, err := tenantIn(r)
			if err != nil {
				refuse(&Error{StatusCode: http.StatusBadRequest, Code: CodeValidationFailed, Message: err.Error()})
				return
			}
			perm := opts.Permission
			if opts.PermissionFunc != nil {
				perm = opts.PermissionFunc(r)
			}
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			v, err := c.verify(ctx, cred, perm, tenant, traceparent)
			cancel()
			if err != nil {
				refuse(upstreamError(err))
				return
			}
			if !v.Valid {
				e := v.error()
				if e.StatusCode == http.StatusTooManyRequests {
					setRateLimitHeaders(w.Header(), v.RateLimit)
					if e.RetryAfter <= 0 {
						e.RetryAfter = retryAfter
					}
				}
				refuse(e)
				return
			}
			setRateLimitHeaders(w.Header(), v.RateLimit)
			setIdentityHeaders(r.Header, v)
			next.ServeHTTP(w, r.WithContext(ContextWithIdentity(r.Context(), v)))
		})
	}
}

// upstreamError is the answer to a request whose verification failed: 503
// when Latchkey is down, overloaded or unreachable, 500 when it refused the
// call itself (a wrong root key or scope, a malformed permission).
func upstreamError(err error) *Error {
	var e *Error
	if errors.As(err, &e) && e.StatusCode < 500 && e.StatusCode != http.StatusTooManyRequests {
		return &Error{StatusCode: http.StatusInternalServerError, Code: CodeInternal,
			Message: codeMessage(CodeInternal, ""), TraceID: e.TraceID, Err: err}
	}
	out := &Error{StatusCode: http.StatusServiceUnavailable, Code: CodeUnavailable,
		Message: codeMessage(CodeUnavailable, ""), Err: err}
	if e != nil {
		out.TraceID, out.RetryAfter = e.TraceID, e.RetryAfter
	}
	return out
}

type identityKey struct{}

// IdentityFrom returns the verification the middleware stored in ctx: the
// key's ID, owner, tenant, environment and permissions.
func IdentityFrom(ctx context.Context) (*Verification, bool) {
	v, ok := ctx.Value(identityKey{}).(*Verification)
	return v, ok
}

// ContextWithIdentity returns ctx carrying v, as the middleware does; use
// it to test handlers without a Latchkey.
func ContextWithIdentity(ctx context.Context, v *Verification) context.Context {
	return context.WithValue(ctx, identityKey{}, v)
}

// WriteError writes e as Latchkey's default error body (SPEC §5) with its
// status, X-Trace-Id, X-Content-Type-Options: nosniff and, when set,
// Retry-After.
func WriteError(w http.ResponseWriter, e *Error) {
	status, code := e.StatusCode, e.Code
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
	}
	if code == "" {
		code = CodeInternal
	}
	var b errorBody
	b.Error.Code, b.Error.Message, b.Error.Detail = code, e.Message, e.Detail
	b.StatusCode, b.TraceID = status, e.TraceID
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	if e.TraceID != "" {
		h.Set("X-Trace-Id", e.TraceID)
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((e.RetryAfter+time.Second-1)/time.Second), 10))
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(b)
}

func setRateLimitHeaders(h http.Header, rl *RateLimitStatus) {
	if rl == nil {
		return
	}
	h.Set("RateLimit-Limit", strconv.Itoa(rl.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(rl.Remaining))
	h.Set("RateLimit-Reset", strconv.FormatInt(int64(rl.Reset/time.Second), 10))
}

// credential returns the key a request presents, as Latchkey reads it
// (SPEC §6): "Authorization: Bearer <x>" (scheme case-insensitive) or
// "X-API-KEY: <x>". The same value twice is fine; two different values are
// ambiguous. "" means none.
func credential(r *http.Request) (string, error) {
	var keys []string
	for _, h := range r.Header.Values("Authorization") {
		scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			keys = append(keys, rest)
		}
	}
	keys = append(keys, r.Header.Values("X-API-KEY")...)
	found, ok := agreed(keys)
	if !ok {
		return "", errors.New("ambiguous credentials")
	}
	return found, nil
}

// agreed returns the one value (spaces trimmed) that every non-empty one of
// values is, "" when none is set; ok is false when two differ. Latchkey
// reads repeated credentials and X-TENANT-ID this way: which one a proxy or
// client wrote first must not decide.
func agreed(values []string) (found string, ok bool) {
	for _, v := range values {
		v = strings.TrimSpace(v)
		switch {
		case v == "" || v == found:
		case found == "":
			found = v
		default:
			return "", false
		}
	}
	return found, true
}

// setIdentityHeaders gives the request the identity headers Latchkey's
// reverse proxy gives its upstream (SPEC §7), in place of whatever the
// client sent under those names or look-alikes (any letter case, "_" for
// "-"), so a handler that reads them, written for the proxy, say, cannot
// be fooled.
func setIdentityHeaders(h http.Header, v *Verification) {
	const prefix = "x-latchkey-"
	for name := range h {
		// ReplaceAll copies only a name that holds a "_".
		if len(name) >= len(prefix) && strings.EqualFold(strings.ReplaceAll(name[:len(prefix)], "_", "-"), prefix) {
			delete(h, name)
		}
	}
	h.Set("X-Latchkey-Key-Id", v.KeyID)
	h.Set("X-Latchkey-Owner-Id", v.OwnerID)
	h.Set("X-Latchkey-Environment", v.Environment)
	h.Set("X-Latchkey-Permissions", strings.Join(v.Permissions, ","))
	if v.TenantID != "" {
		h.Set("X-Latchkey-Tenant-Id", v.TenantID)
	}
}

// tenantIn returns the X-TENANT-ID a request names (see agreed).
func tenantIn(r *http.Request) (string, error) {
	tenant, ok := agreed(r.Header.Values("X-Tenant-Id"))
	if !ok {
		return "", errors.New("conflicting values for X-Tenant-Id")
	}
	return tenant, nil
}

// incomingTrace returns the trace ID of a valid incoming W3C traceparent
// and the header itself, to be passed on so that Latchkey's logs and the
// error bodies share the caller's trace; "", "" when there is none.
func incomingTrace(r *http.Request) (traceID, traceparent string) {
	tp := strings.TrimSpace(r.Header.Get("Traceparent"))
	parts := strings.Split(tp, "-")
	if len(parts) < 4 || len(parts[0]) != 2 || parts[0] == "ff" || len(parts[1]) != 32 ||
		len(parts[2]) != 16 || len(parts[3]) != 2 || (parts[0] == "00" && len(parts) != 4) {
		return "", ""
	}
	for _, p := range parts[:4] {
		if !isLowerHex(p) {
			return "", ""
		}
	}
	if strings.Trim(parts[1], "0") == "" || strings.Trim(parts[2], "0") == "" {
		return "", ""
	}
	return parts[1], tp
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// newTraceparent starts a span of traceID, or of a new trace when "".
func newTraceparent(traceID string) string {
	var b [24]byte
	rand.Read(b[:])
	if traceID == "" {
		traceID = hex.EncodeToString(b[:16])
	}
	return "00-" + traceID + "-" + hex.EncodeToString(b[16:]) + "-01"
}
