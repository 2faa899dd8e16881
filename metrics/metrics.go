// Package metrics is Latchkey's Prometheus adapter: it counts what the
// server, the service and the limiter report and serves GET /metrics.
//
// No metric is ever labelled by key, user, tenant or client address: those
// are unbounded (a scraper would drown) and some are secret. Labels are
// route patterns, status classes, error codes and bucket kinds, all fixed
// sets.
package metrics

import (
	"context"
	"maps"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/latchkey/latchkey"
)

// Metrics holds one node's metrics. Its methods are safe for concurrent use.
type Metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	verifications *prometheus.CounterVec
	limits        *prometheus.CounterVec
	flushErrors   prometheus.Counter

	// The series of the per-request metrics, by label value: see memo.
	routes  memo[*routeSeries]
	results memo[prometheus.Counter]
}

// routeSeries are one route's request series.
type routeSeries struct {
	duration prometheus.Observer
	byClass  [len(statusClasses)]prometheus.Counter
}

var statusClasses = [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// New returns metrics registered in a registry of their own, with the Go
// runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_http_requests_total",
			Help: "HTTP requests answered, by route pattern and status class.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "latchkey_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern.",
			Buckets: []float64{.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_verifications_total",
			Help: "Credential verifications (whoami, verify API, forward auth, proxy), by result: VALID or the error code.",
		}, []string{"result"}),
		limits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_rate_limit_decisions_total",
			Help: "Rate-limit decisions, by bucket kind (key, client, fail, user) and result (allowed, limited).",
		}, []string{"bucket", "result"}),
		flushErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latchkey_usage_flush_errors_total",
			Help: "Failed writes of usage counters to the database (the batch is kept and retried).",
		}),
	}
	m.routes.add = func(route string) *routeSeries {
		rs := &routeSeries{duration: m.duration.WithLabelValues(route)}
		for i, class := range statusClasses {
			rs.byClass[i] = m.requests.WithLabelValues(route, class)
		}
		return rs
	}
	m.results.add = func(code string) prometheus.Counter { return m.verifications.WithLabelValues(code) }
	m.reg.MustRegister(m.requests, m.duration, m.verifications, m.limits, m.flushErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Request counts one answered HTTP request. route is the matched ServeMux
// pattern ("" when none matched).
func (m *Metrics) Request(route string, status int, elapsed time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	rs := m.routes.get(route)
	rs.byClass[statusClass(status)].Inc()
	rs.duration.Observe(elapsed.Seconds())
}

// statusClass is the index of status's class in statusClasses.
func statusClass(status int) int {
	if status < 100 || status > 599 {
		return 0
	}
	return status / 100
}

// Verified counts one verification: code is "VALID" or an error code.
func (m *Metrics) Verified(code string) { m.results.get(code).Inc() }

// memo keeps the series of a metric vector by label value. The label sets
// are small and fixed (route patterns, error codes), while WithLabelValues
// hashes its labels and locks on every call, and these are counted on
// every request. Reads take no lock at all: the map is replaced, never
// changed, when a label is seen for the first time, so the cores serving
// requests do not contend for a lock's cache line.
type memo[T any] struct {
	m   atomic.Pointer[map[string]T]
	mu  sync.Mutex           // serializes additions
	add func(label string) T // the series of a label seen for the first time
}

func (c *memo[T]) get(label string) T {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[label]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if v, ok := (*old)[label]; ok {
			return v
		}
	}
	next := make(map[string]T)
	if old != nil {
		maps.Copy(next, *old)
	}
	v := c.add(label)
	next[label] = v
	c.m.Store(&next)
	return v
}

// UsageFlushFailed counts one failed flush of the usage counters.
func (m *Metrics) UsageFlushFailed() { m.flushErrors.Inc() }

// CacheSize exports the size of a node's credential cache, read at each
// scrape from stats (typically Service.CacheStats).
func (m *Metrics) CacheSize(stats func() latchkey.CacheStats) {
	gauge := func(kind string, f func(latchkey.CacheStats) int) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "latchkey_credential_cache_entries",
			Help:        "Entries in this node's credential cache: verified keys (kind=key) and hashes known not to exist (kind=unknown).",
			ConstLabels: prometheus.Labels{"kind": kind},
		}, func() float64 { return float64(f(stats())) })
	}
	m.reg.MustRegister(
		gauge("key", func(s latchkey.CacheStats) int { return s.Keys }),
		gauge("unknown", func(s latchkey.CacheStats) int { return s.Unknown }))
}

// Fallback is a shared limiter that can fall back to per-node limits, as
// the Redis one does.
type Fallback interface {
	Degraded() bool            // deciding per node now
	FallbackDecisions() uint64 // decisions made per node so far
}

// LimiterFallback exports whether the shared limiter is degraded and how
// many decisions it made per node.
func (m *Metrics) LimiterFallback(f Fallback) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "latchkey_rate_limiter_fallback_active",
			Help: "1 while the shared (Redis) rate limiter is unreachable and this node limits on its own.",
		}, func() float64 {
			if f.Degraded() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "latchkey_rate_limiter_fallback_decisions_total",
			Help: "Rate-limit decisions this node made on its own because the shared limiter was unreachable.",
		}, func() float64 { return float64(f.FallbackDecisions()) }))
}

// Limiter returns l counting its decisions (Allow; Peek decides nothing).
func (m *Metrics) Limiter(l latchkey.Limiter) latchkey.Limiter {
	return &countingLimiter{Limiter: l, m: m}
}

type countingLimiter struct {
	latchkey.Limiter
	m *Metrics
}

func (c *countingLimiter) Allow(ctx context.Context, bucket string, limit latchkey.RateLimit, now time.Time) (latchkey.LimitStatus, error) {
	st, err := c.Limiter.Allow(ctx, bucket, limit, now)
	if err == nil {
		result := "allowed"
		if !st.Allowed {
			result = "limited"
		}
		c.m.limits.WithLabelValues(bucketKind(bucket), result).Inc()
	}
	return st, err
}

// bucketKind is the part of a bucket name before the colon ("key:…",
// "fail:…"), never what follows: that is a key ID or client address.
func bucketKind(bucket string) string {
	kind, _, ok := strings.Cut(bucket, ":")
	switch {
	case !ok:
		return "other"
	case kind == "key", kind == "client", kind == "fail", kind == "user":
		return kind
	}
	return "other"
}
