package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"
	"runtime/debug"
	"strings"
	"time"
	"unsafe"

	"github.com/latchkey/latchkey"
)

// maxBodyBytes bounds every request body (SPEC §5: 413 over 1 MiB).
const maxBodyBytes = 1 << 20

// observer is the one middleware every request passes through: it gives
// the request its trace ID (SPEC §5), bounds its body, turns a panic into
// a 500, counts and logs the request and, in front of a ServeMux, answers
// the mux's own 404 and 405 in JSON. It is one layer with one writer
// wrapper, allocated once per request: on /auth/check, where the whole
// answer costs a few microseconds, a layer per concern was a measurable
// share of it (bench/load.sh).
type observer struct {
	next    http.Handler
	rs      *responder
	metrics Metrics // nil: none
	// mux: next is a ServeMux whose own answers (no pattern matched) are
	// replaced by JSON errors; see exchange.muxStatus.
	mux bool
	// bodyLimit bounds request bodies (413); 0 leaves them unbounded, as
	// the reverse proxy streams bodies of any size.
	bodyLimit int64
	// readTimeout bounds reading a request body, writeTimeout writing a
	// response body (from its first byte); 0 leaves them unbounded. See
	// Config.BodyReadTimeout.
	readTimeout, writeTimeout time.Duration
	trusted                   []netip.Prefix // proxies whose X-Forwarded-For names the client
}

// Header values shared by every response. Safe to share: net/http copies
// them when it sends the header, and with len == cap an Add by a handler
// appends to a fresh array rather than into these.
var (
	nosniffValue = []string{"nosniff"}
	noStoreValue = []string{"no-store"}
)

func (o *observer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := &exchange{ResponseWriter: w, start: time.Now(), routing: o.mux, writeTimeout: o.writeTimeout}
	putTraceparent(&x.traceBuf, headerValue(r.Header, "Traceparent"))
	// The string shares the exchange's buffer, which is written once, just
	// above, and never again: the trace ID costs no allocation of its own.
	x.info.traceID = unsafe.String(&x.traceBuf[0], len(x.traceBuf))
	x.info.trusted, x.info.req = o.trusted, r
	x.traceHeader[0] = x.info.traceID
	// Canonical names assigned directly: Header.Set would validate and
	// canonicalize them on every request.
	h := w.Header()
	h["X-Trace-Id"] = x.traceHeader[:]

	x.req = r
	if r.Body != nil && r.Body != http.NoBody {
		if o.bodyLimit > 0 {
			// The server's own writer, so a body over the limit also
			// closes the connection.
			r.Body = http.MaxBytesReader(w, r.Body, o.bodyLimit)
		}
		if o.readTimeout > 0 {
			// Best effort: a writer that cannot set deadlines (a test
			// recorder) leaves the body unbounded.
			_ = http.NewResponseController(w).SetReadDeadline(x.start.Add(o.readTimeout))
		}
	}
	defer o.finish(x)
	o.next.ServeHTTP(x, r)
}

// finish runs after the handler, even one that panicked: it answers a
// panic with 500 INTERNAL_ERROR, a mux answer in JSON, then counts and
// logs the request.
func (o *observer) finish(x *exchange) {
	if v := recover(); v != nil {
		if v == http.ErrAbortHandler {
			panic(v) // net/http's way to abort a response, not a failure
		}
		o.rs.log.LogAttrs(x.req.Context(), slog.LevelError, "panic",
			slog.String("panic", fmt.Sprint(v)),
			slog.String("stack", string(debug.Stack())),
			slog.String("traceId", x.info.traceID))
		if x.status == 0 {
			o.rs.error(x, x.req, fmt.Errorf("panic: %v", v))
		}
	}
	if x.muxStatus != 0 {
		o.answerForMux(x)
	}
	if x.status == 0 {
		x.status = http.StatusOK
	}
	if o.metrics != nil {
		o.metrics.Request(x.req.Pattern, x.status, time.Since(x.start))
	}
	o.logRequest(x)
}

// answerForMux renders the ServeMux's own answer (no route, wrong method)
// as a JSON error, keeping the Allow header it set.
func (o *observer) answerForMux(x *exchange) {
	code, r := x.muxStatus, x.req
	x.muxStatus, x.routing = 0, false
	switch code {
	case http.StatusMethodNotAllowed:
		msg := "Method " + r.Method + " is not allowed here"
		if allow := x.Header().Get("Allow"); allow != "" {
			msg += "; allowed: " + allow
		}
		if len(r.Method) > 16 { // the method is client-chosen
			msg = "Method is not allowed here"
		}
		o.rs.error(x, r, &latchkey.Error{Code: codeMethodNotAllowed, Message: msg})
	case http.StatusNotFound:
		o.rs.error(x, r, &latchkey.Error{Code: codeRouteNotFound, Message: "No such endpoint"})
	default:
		// Another mux answer (a redirect to the clean path): its status
		// and headers, without the plain-text body.
		x.WriteHeader(code)
	}
}

// logRequest writes one line per request: method, path, route, status,
// error code, duration and trace ID. Never headers, bodies or query
// strings: they carry credentials. Successful routine requests (see
// requestInfo.routine) are logged at debug level.
func (o *observer) logRequest(x *exchange) {
	level := slog.LevelInfo
	switch {
	case x.status >= 500:
		level = slog.LevelError
	case x.status < 400 && x.info.routine:
		level = slog.LevelDebug
	}
	ctx := x.req.Context()
	if !o.rs.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", x.req.Method),
		slog.String("path", redactKeys(x.req.URL.Path)),
		slog.String("route", x.req.Pattern),
		slog.Int("status", x.status),
		slog.Duration("duration", time.Since(x.start)),
		slog.String("traceId", x.info.traceID),
	}
	if x.info.code != "" {
		attrs = append(attrs, slog.String("code", x.info.code))
	}
	o.rs.log.LogAttrs(ctx, level, "request", attrs...)
}

// exchange is one request on its way through the observer: the state the
// handlers share (info) and the response as far as it has gone. It is the
// ResponseWriter the handlers write to.
type exchange struct {
	http.ResponseWriter
	info        requestInfo
	req         *http.Request // as routed: its Pattern is set by the mux
	start       time.Time
	traceBuf    [traceparentLen]byte // the bytes of info.traceID
	traceHeader [1]string            // the X-Trace-Id value, without an allocation of its own
	status      int                  // the status sent; 0 until the response starts
	routing     bool                 // the handler is a ServeMux (observer.mux)
	// writeTimeout bounds writing the response body, armed at its first
	// byte (bodyStarted).
	writeTimeout time.Duration
	bodyStarted  bool
	// muxStatus is the status of an answer the ServeMux gave itself, told
	// apart by the request having no pattern when the response starts.
	// Its plain-text body is dropped; finish answers in JSON instead.
	muxStatus int
}

// begin records the status of a starting response and reports whether the
// write goes through to the client. A response that declares its body's
// type gets "X-Content-Type-Options: nosniff", so browsers keep to it; a
// bodiless one (every successful forward-auth check) has nothing to sniff
// and is spared the header. When the request was counted against a rate
// limit on its way in (the management API's per-user limit), it adds the
// RateLimit-* headers, so every authenticated response carries them
// (SPEC §9).
func (x *exchange) begin(code int) bool {
	switch {
	case x.muxStatus != 0:
		return false
	case x.status != 0:
		return true
	case x.routing && x.req.Pattern == "":
		x.muxStatus = code
		return false
	}
	x.status = code
	if h := x.Header(); h["Content-Type"] != nil {
		h["X-Content-Type-Options"] = nosniffValue
	}
	if x.info.limit != nil && x.Header().Get("RateLimit-Limit") == "" {
		setRateLimit(x.Header(), x.info.limit)
	}
	return true
}

func (x *exchange) WriteHeader(code int) {
	if x.begin(code) {
		x.ResponseWriter.WriteHeader(code)
	}
}

func (x *exchange) Write(b []byte) (int, error) {
	if !x.begin(http.StatusOK) {
		return len(b), nil
	}
	if !x.bodyStarted {
		x.bodyStarted = true
		if x.writeTimeout > 0 {
			_ = http.NewResponseController(x.ResponseWriter).SetWriteDeadline(time.Now().Add(x.writeTimeout))
		}
	}
	return x.ResponseWriter.Write(b)
}

func (x *exchange) Unwrap() http.ResponseWriter { return x.ResponseWriter }

// keyShaped matches anything that looks like a Latchkey secret (SPEC §4),
// so a key pasted into a URL path never reaches the log.
var keyShaped = regexp.MustCompile(`[a-z0-9]{1,12}_(live|test|root)_[0-9A-Za-z]{32}`)

// redactKeys replaces every key-shaped part of s. The regular expression
// runs only when s holds an environment marker, which every key has.
func redactKeys(s string) string {
	if !strings.Contains(s, "_live_") && !strings.Contains(s, "_test_") && !strings.Contains(s, "_root_") {
		return s
	}
	return keyShaped.ReplaceAllString(s, "[redacted]")
}

var errTooLarge = &latchkey.Error{
	Code:    latchkey.CodePayloadTooLarge,
	Message: "Request body must be at most 1 MiB",
}

// isTooLarge reports whether err came from reading past the body limit.
func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}
