package client

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The client parses what a server sends. A proxy in between, an error
// template or a bug may send anything, so each parser is fuzzed for its
// invariants: no panic, no negative or wrapped-around duration.

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0s", "90s", "1m", "36h", "30d", "1.5s", "", "xd", "-1d", "1y", "106751d", "106752d", "9223372036854775807d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err != nil {
			return
		}
		if strings.HasSuffix(s, "d") && d < 0 {
			t.Fatalf("parseDuration(%q) = %v: days wrapped around", s, d)
		}
		if d >= 0 {
			if back, err := parseDuration(formatDuration(d)); err != nil || back != d {
				t.Fatalf("%q → %v does not round-trip through %q: %v, %v", s, d, formatDuration(d), back, err)
			}
		}
	})
}

func FuzzParseError(f *testing.F) {
	f.Add(429, "12", []byte(`{"success":false,"error":{"code":"RATE_LIMITED","message":"Too many","detail":"d"},"statusCode":429,"traceId":"t"}`))
	f.Add(401, "", []byte(`{"error":"Unauthorized","message":"Invalid API key.","statusCode":401}`))
	f.Add(502, "Wed, 21 Oct 2015 07:28:00 GMT", []byte("<html>bad gateway</html>"))
	f.Add(503, "99999999999999999", []byte(`{"error":{"code":1}}`))
	f.Add(999, "-1", []byte(`null`))
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		res := &http.Response{StatusCode: status, Header: http.Header{}}
		if retryAfter != "" {
			res.Header["Retry-After"] = []string{retryAfter}
		}
		e := parseError(res, body)
		if e.StatusCode != status {
			t.Fatalf("status %d became %d", status, e.StatusCode)
		}
		if e.RetryAfter < 0 {
			t.Fatalf("Retry-After %q gave %v", retryAfter, e.RetryAfter)
		}
		if e.Message == "" && http.StatusText(status) != "" {
			t.Fatalf("no message for status %d and body %q", status, body)
		}
		_ = e.Error()
	})
}

func FuzzRateLimitFromHeaders(f *testing.F) {
	f.Add("100", "99", "60")
	f.Add("1", "0", "0")
	f.Add("-1", "5", "5")
	f.Add("10", "10", "9223372036854775807")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, limit, remaining, reset string) {
		h := http.Header{"Ratelimit-Limit": {limit}, "Ratelimit-Remaining": {remaining}, "Ratelimit-Reset": {reset}}
		st := rateLimitFromHeaders(h)
		if st == nil {
			return
		}
		if st.Limit < 0 || st.Remaining < 0 || st.Reset < 0 {
			t.Fatalf("%q %q %q gave %+v", limit, remaining, reset, st)
		}
		if secs, _ := strconv.ParseInt(reset, 10, 64); st.Reset != time.Duration(secs)*time.Second || st.Reset/time.Second != time.Duration(secs) {
			t.Fatalf("RateLimit-Reset %q gave %v", reset, st.Reset)
		}
	})
}
