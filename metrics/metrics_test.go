package metrics

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/ratelimit"
)

type fallbackStub struct{}

func (fallbackStub) Degraded() bool            { return true }
func (fallbackStub) FallbackDecisions() uint64 { return 7 }

func TestLabelsAreBoundedAndCountersMove(t *testing.T) {
	m := New()
	m.Request("GET /api/v1/auth/api-keys/{id}", 200, time.Millisecond)
	m.Request("", 404, time.Millisecond)
	m.Request("GET /healthz", 0, time.Millisecond)
	m.Request("GET /slow", 200, 3*time.Second)
	m.Verified("VALID")
	m.UsageFlushFailed()
	m.CacheSize(func() latchkey.CacheStats { return latchkey.CacheStats{Keys: 3, Unknown: 1} })
	m.LimiterFallback(fallbackStub{})
	l := m.Limiter(ratelimit.NewMemory())
	one := latchkey.RateLimit{Limit: 1, Window: time.Minute}
	for _, bucket := range []string{"key:key_secretid", "key:key_secretid", "fail:203.0.113.9", "weird"} {
		l.Allow(context.Background(), bucket, one, time.Now())
	}
	l.Peek(context.Background(), "user:u1", one, time.Now())

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	for _, want := range []string{
		`latchkey_http_requests_total{route="GET /api/v1/auth/api-keys/{id}",status="2xx"} 1`,
		`latchkey_http_requests_total{route="unmatched",status="4xx"} 1`,
		`latchkey_http_requests_total{route="GET /healthz",status="other"} 1`,
		`latchkey_http_requests_total{route="GET /healthz",status="2xx"} 0`,
		// Bucket bounds are inclusive; the sum is in seconds.
		`latchkey_http_request_duration_seconds_bucket{route="GET /healthz",le="0.0005"} 0`,
		`latchkey_http_request_duration_seconds_bucket{route="GET /healthz",le="0.001"} 1`,
		`latchkey_http_request_duration_seconds_bucket{route="GET /healthz",le="+Inf"} 1`,
		`latchkey_http_request_duration_seconds_sum{route="GET /healthz"} 0.001`,
		`latchkey_http_request_duration_seconds_count{route="GET /healthz"} 1`,
		`latchkey_http_request_duration_seconds_bucket{route="GET /slow",le="2.5"} 0`,
		`latchkey_http_request_duration_seconds_bucket{route="GET /slow",le="+Inf"} 1`,
		`latchkey_http_request_duration_seconds_sum{route="GET /slow"} 3`,
		`latchkey_verifications_total{result="VALID"} 1`,
		`latchkey_usage_flush_errors_total 1`,
		`latchkey_credential_cache_entries{kind="key"} 3`,
		`latchkey_credential_cache_entries{kind="unknown"} 1`,
		`latchkey_rate_limiter_fallback_active 1`,
		`latchkey_rate_limiter_fallback_decisions_total 7`,
		`latchkey_rate_limit_decisions_total{bucket="key",result="allowed"} 1`,
		`latchkey_rate_limit_decisions_total{bucket="key",result="limited"} 1`,
		`latchkey_rate_limit_decisions_total{bucket="fail",result="allowed"} 1`,
		`latchkey_rate_limit_decisions_total{bucket="other",result="allowed"} 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %s", want)
		}
	}
	for _, leak := range []string{"secretid", "203.0.113.9", "weird", "u1"} {
		if strings.Contains(text, leak) {
			t.Errorf("a bucket name leaked into a label: %q", leak)
		}
	}
	if strings.Contains(text, `bucket="user"`) {
		t.Error("a Peek was counted as a decision")
	}
}

// BenchmarkRequest is what every answered request costs the metrics: one
// counter and one histogram observation, plus one verification count.
func BenchmarkRequest(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.Request("/auth/check", 200, 3*time.Microsecond)
		m.Verified("VALID")
	}
}

// Requests counted from many goroutines, routes first seen concurrently,
// are all counted (memo adds a label while others read).
func TestConcurrentRequestsAreAllCounted(t *testing.T) {
	m := New()
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				m.Request(fmt.Sprintf("GET /r%d", (w+i)%5), 200, time.Microsecond)
				m.Verified("VALID")
			}
		})
	}
	wg.Wait()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	for r := range 5 {
		want := fmt.Sprintf(`latchkey_http_requests_total{route="GET /r%d",status="2xx"} %d`, r, workers*each/5)
		if !strings.Contains(text, want) {
			t.Errorf("missing %s", want)
		}
	}
	if want := fmt.Sprintf(`latchkey_http_request_duration_seconds_count{route="GET /r0"} %d`, workers*each/5); !strings.Contains(text, want) {
		t.Errorf("missing %s", want)
	}
	if want := fmt.Sprintf(`latchkey_verifications_total{result="VALID"} %d`, workers*each); !strings.Contains(text, want) {
		t.Errorf("missing %s", want)
	}
}
