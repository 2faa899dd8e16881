package bench_test

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/bench"
	"github.com/latchkey/latchkey/metrics"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/sqlite"
)

var cachedKeys = flag.Int("cached-keys", 100_000, "keys BenchmarkVerifyManyCachedKeys verifies and keeps cached")

// many is a service whose cache holds *cachedKeys verified keys, built once
// for all runs of the benchmark, with the heap growth that caching cost.
var many struct {
	once        sync.Once
	svc         *latchkey.Service
	secrets     []string
	bytesPerKey float64
	err         error
}

func setupMany(b *testing.B) {
	many.once.Do(func() {
		ctx := context.Background()
		dir, err := makeTempDir()
		if err != nil {
			many.err = err
			return
		}
		path := filepath.Join(dir, "latchkey.db")
		db, err := sqlite.Open(path)
		if err != nil {
			many.err = err
			return
		}
		svc := latchkey.NewService(db, latchkey.ServiceConfig{})
		if _, err := svc.CreateTenant(ctx, "t1", "Tenant 1"); err != nil {
			many.err = err
			return
		}
		if _, err := svc.CreateUser(ctx, latchkey.NewUser{ID: "bench", TenantIDs: []string{"t1"}}); err != nil {
			many.err = err
			return
		}
		secrets := make([]string, 0, *cachedKeys)
		seed := bench.Seed{Path: path, N: *cachedKeys, Owner: "bench", Tenant: "t1", Secret: func(s string) { secrets = append(secrets, s) }}
		if _, err := seed.Run(ctx); err != nil {
			many.err = err
			return
		}

		before := heapInUse()
		for _, s := range secrets {
			if _, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: s}); err != nil {
				many.err = err
				return
			}
		}
		// The usage counter's batch is written every 500 ms in production.
		if err := svc.Usage().Flush(ctx); err != nil {
			many.err = err
			return
		}
		after := heapInUse()
		if st := svc.CacheStats(); st.Keys < len(secrets) {
			many.err = errorf("only %d of %d keys are cached", st.Keys, len(secrets))
			return
		}
		many.svc, many.secrets = svc, secrets
		many.bytesPerKey = float64(after-before) / float64(len(secrets))
	})
	if many.err != nil {
		b.Fatal(many.err)
	}
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkVerifyManyCachedKeys verifies keys in turn among -cached-keys
// cached ones: the hot path stays O(1) however many keys are cached. It
// reports the heap each cached key costs (cache entry, key record and its
// slot in the usage counter) as B/cached-key.
func BenchmarkVerifyManyCachedKeys(b *testing.B) {
	setupMany(b)
	ctx := context.Background()
	reqs := make([]latchkey.VerifyRequest, len(many.secrets))
	for i, s := range many.secrets {
		reqs[i] = latchkey.VerifyRequest{Credential: s}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// A stride through the keys defeats the CPU caches, as real
		// traffic from many clients would.
		i = (i + 7919) % len(reqs)
		if _, err := many.svc.Verify(ctx, reqs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(many.bytesPerKey, "B/cached-key")
	b.ReportMetric(float64(len(reqs)), "cached-keys")
}

// handlerEnv is a service with one key, for the HTTP handler benchmarks.
func handlerEnv(b testing.TB) (*latchkey.Service, string) {
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(b.TempDir(), "latchkey.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	svc := latchkey.NewService(db, latchkey.ServiceConfig{})
	if _, err := svc.CreateTenant(ctx, "t1", "Tenant 1"); err != nil {
		b.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, latchkey.NewUser{ID: "bench", TenantIDs: []string{"t1"}}); err != nil {
		b.Fatal(err)
	}
	_, secret, err := svc.CreateKey(ctx, "bench", latchkey.NewKey{Name: "bench", TenantIDs: []string{"t1"}})
	if err != nil {
		b.Fatal(err)
	}
	return svc, secret
}

// discardWriter is the cheapest possible http.ResponseWriter.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// serveLoop runs one request through h per iteration, with the request log
// formatted as in production (JSON) but written nowhere.
func serveLoop(b *testing.B, h http.Handler, target, secret string) {
	req := httptest.NewRequest("GET", target, nil)
	req.RemoteAddr = "127.0.0.1:41000"
	req.Header.Set("Authorization", "Bearer "+secret)
	w := &discardWriter{h: http.Header{}}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("%s answered %d: %s", target, rec.Code, rec.Body)
	}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

func jsonLogger() *slog.Logger { return slog.New(slog.NewJSONHandler(io.Discard, nil)) }

// BenchmarkBareHandler is the floor the handler benchmarks compare with.
func BenchmarkBareHandler(b *testing.B) {
	body := []byte("ok")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	serveLoop(b, h, "/", "x")
}

// BenchmarkAuthCheckHandler is /auth/check through the whole middleware
// chain, without the network, configured as serve's defaults are: metrics
// on, loopback a trusted proxy, and the check coming from it (as from nginx).
func BenchmarkAuthCheckHandler(b *testing.B) {
	svc, secret := handlerEnv(b)
	serveLoop(b, server.New(svc, server.Config{Logger: jsonLogger(), TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Metrics: metrics.New()}), "/auth/check", secret)
}

// TestAuthCheckAllocatesOnlyItsExchange keeps the forward-auth hot path
// at the one allocation it needs, the per-request state: the trace ID,
// the verified identity and the identity header values all live in it.
// Allocation counts do not drift with the machine's speed as timings do,
// so this is asserted here rather than only measured.
func TestAuthCheckAllocatesOnlyItsExchange(t *testing.T) {
	svc, secret := handlerEnv(t)
	h := server.New(svc, server.Config{Logger: jsonLogger(), TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, Metrics: metrics.New()})
	req := httptest.NewRequest("GET", "/auth/check", nil)
	req.RemoteAddr = "127.0.0.1:41000"
	req.Header.Set("Authorization", "Bearer "+secret)
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, req) // the first check fills the cache
	allocs := testing.AllocsPerRun(200, func() {
		clear(w.h)
		h.ServeHTTP(w, req)
	})
	if got := w.h.Get("X-Latchkey-Owner-Id"); got != "bench" {
		t.Fatalf("X-Latchkey-Owner-Id = %q, want bench (the check did not pass)", got)
	}
	if allocs > 1 {
		t.Errorf("a cached /auth/check allocates %.1f times, want 1 (its exchange)", allocs)
	}
}

// fixedUpstream answers every request at once, so the proxy benchmark
// measures the proxy and not a network.
type fixedUpstream struct{}

func (fixedUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return &http.Response{
		StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1, Request: r,
		Header:        http.Header{"Content-Type": {"text/plain"}},
		ContentLength: 2, Body: io.NopCloser(strings.NewReader("ok")),
	}, nil
}

// BenchmarkProxyHandler is Latchkey's reverse proxy (authorization,
// header rewriting, copy) with an upstream that answers in memory.
func BenchmarkProxyHandler(b *testing.B) {
	svc, secret := handlerEnv(b)
	up, _ := url.Parse("http://upstream.invalid")
	h := server.NewProxy(svc, server.ProxyConfig{Upstream: up, Transport: fixedUpstream{}, Logger: jsonLogger()})
	serveLoop(b, h, "/v1/things", secret)
}
