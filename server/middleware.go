package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
)

// maxBodyBytes bounds every request body (SPEC §5: 413 over 1 MiB).
const maxBodyBytes = 1 << 20

// statusRecorder remembers the status a handler wrote. When the request
// was counted against a rate limit on its way in (the management API's
// per-user limit), it adds the RateLimit-* headers to whatever the handler
// answers, so every authenticated response carries them (SPEC §9).
type statusRecorder struct {
	http.ResponseWriter
	info   *requestInfo
	status int
}

func (w *statusRecorder) start(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	if w.info != nil && w.info.limit != nil && w.Header().Get("RateLimit-Limit") == "" {
		setRateLimit(w.Header(), w.info.limit)
	}
}

func (w *statusRecorder) WriteHeader(code int) {
	w.start(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	w.start(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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

// logRequests writes one line per request: method, path, route, status,
// error code, duration and trace ID. Never headers, bodies or query
// strings: they carry credentials. Successful routine requests (see
// requestInfo.routine) are logged at debug level.
func logRequests(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := requestInfoFrom(r.Context())
		rec := &statusRecorder{ResponseWriter: w, info: info}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		level := slog.LevelInfo
		switch {
		case rec.status >= 500:
			level = slog.LevelError
		case rec.status < 400 && info.routine:
			level = slog.LevelDebug
		}
		if !log.Enabled(r.Context(), level) {
			return
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", redactKeys(r.URL.Path)),
			slog.String("route", r.Pattern),
			slog.Int("status", rec.status),
			slog.Duration("duration", time.Since(start)),
			slog.String("traceId", info.traceID),
		}
		if info.code != "" {
			attrs = append(attrs, slog.String("code", info.code))
		}
		log.LogAttrs(r.Context(), level, "request", attrs...)
	})
}

// recoverPanics turns a panic into a logged 500 INTERNAL_ERROR.
func recoverPanics(next http.Handler, rs *responder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			rs.log.LogAttrs(r.Context(), slog.LevelError, "panic",
				slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())),
				slog.String("traceId", requestInfoFrom(r.Context()).traceID))
			if rec.status == 0 {
				rs.error(rec, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// limitBody caps request bodies; decode reports the overflow as 413.
func limitBody(next http.Handler, n int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, n)
		}
		next.ServeHTTP(w, r)
	})
}

var errTooLarge = &latchkey.Error{
	Code:    latchkey.CodePayloadTooLarge,
	Message: "Request body must be at most 1 MiB",
}

// jsonFallback serves mux, but renders the mux's own plain-text 404 and 405
// answers (no route, wrong method) as JSON errors, keeping the Allow header.
// The mux routes each request once: its own answers are the ones it gives
// without setting r.Pattern.
func jsonFallback(mux *http.ServeMux, rs *responder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fw := &fallbackWriter{ResponseWriter: w, r: r}
		mux.ServeHTTP(fw, r)
		if !fw.fallback {
			return
		}
		switch fw.status {
		case http.StatusMethodNotAllowed:
			msg := "Method " + r.Method + " is not allowed here"
			if allow := w.Header().Get("Allow"); allow != "" {
				msg += "; allowed: " + allow
			}
			if len(r.Method) > 16 { // the method is client-chosen
				msg = "Method is not allowed here"
			}
			rs.error(w, r, &latchkey.Error{Code: codeMethodNotAllowed, Message: msg})
		case http.StatusNotFound:
			rs.error(w, r, &latchkey.Error{Code: codeRouteNotFound, Message: "No such endpoint"})
		default:
			// Another mux answer: replay the status without the plain-text
			// body.
			w.WriteHeader(fw.status)
		}
	})
}

// fallbackWriter passes a routed handler's response through, and records
// the status of an answer the mux gives itself (r.Pattern empty when the
// response starts), dropping its plain-text body; headers (Allow) go to
// the real response.
type fallbackWriter struct {
	http.ResponseWriter
	r        *http.Request
	started  bool
	fallback bool
	status   int
}

func (w *fallbackWriter) start(code int) {
	if w.started {
		return
	}
	w.started = true
	if w.r.Pattern == "" {
		w.fallback, w.status = true, code
	}
}

func (w *fallbackWriter) WriteHeader(code int) {
	w.start(code)
	if !w.fallback {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *fallbackWriter) Write(b []byte) (int, error) {
	w.start(http.StatusOK)
	if w.fallback {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *fallbackWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// isTooLarge reports whether err came from reading past the body limit.
func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}
