package latchkey_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apikey"
	"github.com/latchkey/latchkey/ratelimit"
)

func newLimitedService(t *testing.T, limits latchkey.Limits, limiter latchkey.Limiter) (*latchkey.Service, *clock) {
	t.Helper()
	_, db, c := newService(t)
	return latchkey.NewService(db, latchkey.ServiceConfig{KeyPrefix: "tb", Now: c.Now, Limiter: limiter, Limits: limits}), c
}

func TestKeyRateLimitAdmitsExactlyLimitUnderConcurrency(t *testing.T) {
	svc, _ := newLimitedService(t, latchkey.Limits{}, ratelimit.NewMemory())
	mustUser(t, svc, "u")
	ctx := context.Background()
	_, secret, err := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k", RateLimit: &latchkey.RateLimit{Limit: 25, Window: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	var admitted, limited atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				id, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: secret})
				switch {
				case err == nil:
					if id.Limit == nil || id.Limit.Limit != 25 {
						t.Errorf("identity without limit status: %+v", id.Limit)
					}
					admitted.Add(1)
				case latchkey.ErrorCode(err) == latchkey.CodeRateLimited:
					var e *latchkey.Error
					if !errors.As(err, &e) || e.RetryAfter <= 0 || e.Limit == nil || e.Limit.Remaining != 0 {
						t.Errorf("429 without Retry-After: %#v", err)
					}
					limited.Add(1)
				default:
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != 25 || limited.Load() != 160-25 {
		t.Fatalf("admitted %d, limited %d; want 25 and 135", admitted.Load(), limited.Load())
	}
	// Only admitted requests count as uses.
	if err := svc.Usage().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	keys, _, _ := svc.ListKeys(ctx, latchkey.KeyFilter{OwnerID: "u"}, "")
	if keys[0].RequestCount != 25 {
		t.Fatalf("requestCount = %d, want 25", keys[0].RequestCount)
	}
}

func TestRemainingCountsDownAndWindowFrees(t *testing.T) {
	svc, c := newLimitedService(t, latchkey.Limits{}, ratelimit.NewMemory())
	mustUser(t, svc, "u")
	ctx := context.Background()
	_, secret, _ := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k", RateLimit: &latchkey.RateLimit{Limit: 3, Window: time.Second}})
	for want := 2; want >= 0; want-- {
		id, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: secret})
		if err != nil || id.Limit.Remaining != want {
			t.Fatalf("remaining = %+v, %v; want %d", id, err, want)
		}
	}
	_, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: secret})
	wantCode(t, err, latchkey.CodeRateLimited)
	c.Advance(time.Second + time.Second/ratelimit.Slots)
	if _, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: secret}); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestDefaultKeyLimitAppliesToKeysWithout(t *testing.T) {
	svc, _ := newLimitedService(t, latchkey.Limits{DefaultKey: &latchkey.RateLimit{Limit: 2, Window: time.Minute}}, ratelimit.NewMemory())
	mustUser(t, svc, "u")
	ctx := context.Background()
	_, secret, _ := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k"})
	_, own, _ := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "own", RateLimit: &latchkey.RateLimit{Limit: 5, Window: time.Minute}})
	for range 2 {
		if _, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: secret}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: secret})
	wantCode(t, err, latchkey.CodeRateLimited)
	for range 5 { // a key's own limit wins over the default
		if _, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: own}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFailedAuthenticationsAreLimitedPerAddress(t *testing.T) {
	svc, _ := newLimitedService(t, latchkey.Limits{FailedAuth: latchkey.RateLimit{Limit: 5, Window: time.Minute}}, ratelimit.NewMemory())
	mustUser(t, svc, "u")
	ctx := context.Background()
	_, good, _ := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k"})
	_, other, _ := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "cold"})
	if _, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: good, Client: latchkey.ClientIP("192.0.2.1")}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		bad, _ := apikey.Generate("tb", "live")
		_, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: bad.String(), Client: latchkey.ClientIP("192.0.2.1")})
		if i < 4 {
			wantCode(t, err, latchkey.CodeInvalidAPIKey)
		}
	}
	bad, _ := apikey.Generate("tb", "live")
	_, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: bad.String(), Client: latchkey.ClientIP("192.0.2.1")})
	wantCode(t, err, latchkey.CodeRateLimited)
	_, err = svc.Verify(ctx, latchkey.VerifyRequest{Credential: "garbage", Client: latchkey.ClientIP("192.0.2.1")})
	wantCode(t, err, latchkey.CodeRateLimited)
	// Another address is unaffected.
	_, err = svc.Verify(ctx, latchkey.VerifyRequest{Credential: bad.String(), Client: latchkey.ClientIP("192.0.2.2")})
	wantCode(t, err, latchkey.CodeInvalidAPIKey)
	// A key already verified keeps working from the limited address; one
	// that would need a database lookup waits like any other attempt.
	if _, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: good, Client: latchkey.ClientIP("192.0.2.1")}); err != nil {
		t.Fatalf("cached key from a limited address: %v", err)
	}
	_, err = svc.Verify(ctx, latchkey.VerifyRequest{Credential: other, Client: latchkey.ClientIP("192.0.2.1")})
	wantCode(t, err, latchkey.CodeRateLimited)
}

// brokenLimiter stands in for a limiter backend that is down (the Redis
// limiter's own fallback is tested against a real Redis).
type brokenLimiter struct{}

func (brokenLimiter) Allow(context.Context, string, latchkey.RateLimit, time.Time) (latchkey.LimitStatus, error) {
	return latchkey.LimitStatus{}, errors.New("limiter down")
}
func (brokenLimiter) Peek(context.Context, string, latchkey.RateLimit, time.Time) (latchkey.LimitStatus, error) {
	return latchkey.LimitStatus{}, errors.New("limiter down")
}

func TestLimiterFailureAdmits(t *testing.T) {
	svc, _ := newLimitedService(t, latchkey.Limits{}, brokenLimiter{})
	mustUser(t, svc, "u")
	ctx := context.Background()
	_, secret, _ := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k", RateLimit: &latchkey.RateLimit{Limit: 1, Window: time.Minute}})
	for range 3 {
		if _, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: secret, Client: latchkey.ClientIP("192.0.2.9")}); err != nil {
			t.Fatalf("a failing limiter refused a request: %v", err)
		}
	}
}

func TestDryRunCountsNothing(t *testing.T) {
	svc, _ := newLimitedService(t, latchkey.Limits{FailedAuth: latchkey.RateLimit{Limit: 2, Window: time.Minute}}, ratelimit.NewMemory())
	mustUser(t, svc, "u")
	ctx := context.Background()
	_, secret, _ := svc.CreateKey(ctx, "u", latchkey.NewKey{Name: "k", RateLimit: &latchkey.RateLimit{Limit: 1, Window: time.Minute}})
	dry := latchkey.VerifyRequest{Credential: secret, Client: latchkey.ClientIP("192.0.2.7"), DryRun: true}
	for range 3 {
		if _, err := svc.Verify(ctx, dry); err != nil {
			t.Fatalf("dry run: %v", err)
		}
	}
	if _, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: secret}); err != nil {
		t.Fatalf("the one real request after dry runs: %v", err)
	}
	_, err := svc.Verify(ctx, dry)
	wantCode(t, err, latchkey.CodeRateLimited) // a dry run still reports the state
	for range 5 {
		_, err := svc.Verify(ctx, latchkey.VerifyRequest{Credential: "tb_live_nope", Client: latchkey.ClientIP("192.0.2.7"), DryRun: true})
		wantCode(t, err, latchkey.CodeInvalidAPIKey)
	}
	if err := svc.Usage().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	keys, _, _ := svc.ListKeys(ctx, latchkey.KeyFilter{OwnerID: "u"}, "")
	if keys[0].RequestCount != 1 {
		t.Fatalf("requestCount = %d, want 1", keys[0].RequestCount)
	}
}
