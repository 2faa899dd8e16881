package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkey/latchkey/apikey"
)

// scrape returns GET /metrics as text.
func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return string(b)
}

// metric returns the value of the sample named exactly series (name and
// labels as Prometheus writes them), or -1 when there is none.
func metric(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				return -1
			}
			return v
		}
	}
	return -1
}

// createLimitedKey creates a key of user with its own rate limit.
func createLimitedKey(t *testing.T, base, rootKey, user string, limit int) (id, secret string) {
	t.Helper()
	status, body := request(t, "POST", base+"/api/v1/auth/api-keys",
		map[string]string{"Authorization": "Bearer " + rootKey, "x-user-id": user},
		map[string]any{"name": "limited", "rateLimit": map[string]any{"limit": limit, "window": "1m"}})
	if status != http.StatusCreated {
		t.Fatalf("create key: %d %v", status, body)
	}
	return body["id"].(string), body["key"].(string)
}

func whoami(t *testing.T, base, key string) int {
	t.Helper()
	status, _ := request(t, "GET", base+"/api/v1/users/me", map[string]string{"Authorization": "Bearer " + key}, nil)
	return status
}

func TestServeMetrics(t *testing.T) {
	e, _ := newEnv(t)
	root, _ := apikey.Generate("lk", apikey.Root)
	s := startServer(t, e.with("LATCHKEY_ROOT_KEY", root.String()))

	id, key := createKey(t, s.url, root.String(), "user-metrics")
	limitedID, limited := createLimitedKey(t, s.url, root.String(), "user-metrics", 1)
	for range 3 {
		if st := whoami(t, s.url, key); st != http.StatusOK {
			t.Fatalf("whoami: %d", st)
		}
	}
	unknown, _ := apikey.Generate("lk", apikey.Live)
	for range 2 {
		if st := whoami(t, s.url, unknown.String()); st != http.StatusUnauthorized {
			t.Fatalf("whoami with an unknown key: %d", st)
		}
	}
	whoami(t, s.url, limited)
	if st := whoami(t, s.url, limited); st != http.StatusTooManyRequests {
		t.Fatalf("second request of a 1/1m key: %d", st)
	}

	text := scrape(t, s.url)
	for series, want := range map[string]float64{
		`latchkey_http_requests_total{route="GET /api/v1/users/me",status="2xx"}`:       4,
		`latchkey_http_requests_total{route="GET /api/v1/users/me",status="4xx"}`:       3,
		`latchkey_http_requests_total{route="POST /api/v1/auth/api-keys",status="2xx"}`: 2,
		`latchkey_verifications_total{result="VALID"}`:                                  4,
		`latchkey_verifications_total{result="INVALID_API_KEY"}`:                        2,
		`latchkey_verifications_total{result="RATE_LIMITED"}`:                           1,
		`latchkey_rate_limit_decisions_total{bucket="key",result="allowed"}`:            1,
		`latchkey_rate_limit_decisions_total{bucket="key",result="limited"}`:            1,
		`latchkey_rate_limit_decisions_total{bucket="fail",result="allowed"}`:           2,
		`latchkey_credential_cache_entries{kind="key"}`:                                 2,
		`latchkey_credential_cache_entries{kind="unknown"}`:                             1,
		`latchkey_usage_flush_errors_total`:                                             0,
	} {
		if got := metric(text, series); got != want {
			t.Errorf("%s = %v; want %v", series, got, want)
		}
	}
	if metric(text, `latchkey_http_request_duration_seconds_count{route="GET /api/v1/users/me"}`) != 7 {
		t.Errorf("request durations not observed")
	}
	if metric(text, "latchkey_rate_limiter_fallback_active") != -1 {
		t.Error("the in-memory limiter reports a fallback")
	}
	// Nothing that identifies a key, user or client is ever a label.
	for _, secret := range []string{id, limitedID, key, limited, unknown.String(), "user-metrics", "127.0.0.1", root.String()} {
		if strings.Contains(text, secret) {
			t.Errorf("/metrics mentions %q", secret)
		}
	}

	// Counters move.
	whoami(t, s.url, key)
	if got := metric(scrape(t, s.url), `latchkey_verifications_total{result="VALID"}`); got != 5 {
		t.Errorf("VALID after one more request = %v; want 5", got)
	}
}

// requireTestRedis skips when no Redis answers on 127.0.0.1:6379, except
// under CI=true.
func requireTestRedis(t *testing.T) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379", DialTimeout: time.Second})
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis on 127.0.0.1:6379: %v (CI=true: scripts/test-deps.sh starts it)", err)
		}
		t.Skipf("no Redis on 127.0.0.1:6379: %v", err)
	}
}

func TestServeLimitsThroughRedis(t *testing.T) {
	requireTestRedis(t)
	e, _ := newEnv(t)
	root, _ := apikey.Generate("lk", apikey.Root)
	s := startServer(t, e.with("LATCHKEY_ROOT_KEY", root.String(),
		"LATCHKEY_REDIS_URL", "redis://127.0.0.1:6379/0?read_timeout=5s&write_timeout=5s&pool_timeout=5s"))
	id, key := createLimitedKey(t, s.url, root.String(), "user-redis", 2)
	for i, want := range []int{200, 200, 429} {
		if st := whoami(t, s.url, key); st != want {
			t.Fatalf("request %d: %d; want %d", i+1, st, want)
		}
	}
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer c.Close()
	bucket := "latchkey:rl:key:" + id
	t.Cleanup(func() { c.Del(context.Background(), bucket) })
	if n, err := c.Exists(context.Background(), bucket).Result(); err != nil || n != 1 {
		t.Fatalf("the key's bucket is not in Redis: %d, %v", n, err)
	}
	text := scrape(t, s.url)
	if got := metric(text, "latchkey_rate_limiter_fallback_active"); got != 0 {
		t.Errorf("fallback active = %v; want 0", got)
	}
	if got := metric(text, "latchkey_rate_limiter_fallback_decisions_total"); got != 0 {
		t.Errorf("fallback decisions = %v; want 0", got)
	}
}

// TestServeWithRedisDown: a Redis that is not there at start does not stop
// the server; keys are limited per node, the logs say so once, without the
// URL's password, and /metrics shows the fallback.
func TestServeWithRedisDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	e, _ := newEnv(t)
	root, _ := apikey.Generate("lk", apikey.Root)
	s := startServer(t, e.with("LATCHKEY_ROOT_KEY", root.String(), "LATCHKEY_REDIS_URL", "redis://:hunter22@"+closed+"/0"))
	_, key := createLimitedKey(t, s.url, root.String(), "user-down", 2)
	for i, want := range []int{200, 200, 429} {
		if st := whoami(t, s.url, key); st != want {
			t.Fatalf("request %d: %d; want %d", i+1, st, want)
		}
	}
	text := scrape(t, s.url)
	if got := metric(text, "latchkey_rate_limiter_fallback_active"); got != 1 {
		t.Errorf("fallback active = %v; want 1", got)
	}
	if got := metric(text, "latchkey_rate_limiter_fallback_decisions_total"); got < 3 {
		t.Errorf("fallback decisions = %v; want at least 3", got)
	}
	logs := s.stderr.String()
	if n := strings.Count(logs, "redis unavailable, limiting per node"); n != 1 {
		t.Errorf("the outage was logged %d times; want once\n%s", n, logs)
	}
	if strings.Contains(logs, "hunter22") {
		t.Errorf("the Redis password was logged\n%s", logs)
	}
	if strings.Contains(logs, "setting is not implemented") {
		t.Errorf("LATCHKEY_REDIS_URL reported as not implemented\n%s", logs)
	}
}
