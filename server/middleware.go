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

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
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
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		info := requestInfoFrom(r.Context())
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
func jsonFallback(mux *http.ServeMux, rs *responder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		cw := &discardWriter{header: w.Header()}
		mux.ServeHTTP(cw, r)
		switch cw.status {
		case http.StatusMethodNotAllowed:
			msg := "Method " + r.Method + " is not allowed here"
			if allow := w.Header().Get("Allow"); allow != "" {
				msg += "; allowed: " + allow
			}
			if len(r.Method) > 16 { // the method is client-chosen
				msg = "Method is not allowed here"
			}
			rs.error(w, r, &latchkey.Error{Code: codeMethodNotAllowed, Message: msg})
		case http.StatusNotFound, 0:
			rs.error(w, r, &latchkey.Error{Code: codeRouteNotFound, Message: "No such endpoint"})
		default:
			// A redirect or other mux answer: replay the status without the
			// plain-text body.
			w.WriteHeader(cw.status)
		}
	})
}

// discardWriter records the status of a mux fallback answer and drops its
// plain-text body; headers (Allow) go to the real response.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(b), nil
}

// isTooLarge reports whether err came from reading past the body limit.
func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}
