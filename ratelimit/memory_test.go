package ratelimit

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey"
)

var ctx = context.Background()

func TestAdmitsExactlyLimitUnderConcurrency(t *testing.T) {
	m := NewMemory()
	limit := latchkey.RateLimit{Limit: 1000, Window: time.Hour}
	now := time.Now()
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				st, _ := m.Allow(ctx, "key:a", limit, now)
				if st.Allowed {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != 1000 {
		t.Fatalf("admitted %d of 8000, want exactly 1000", admitted.Load())
	}
}

// TestNeverMoreThanLimitInAnyWindow replays random arrivals and checks the
// guarantee directly on the log of admitted times.
func TestNeverMoreThanLimitInAnyWindow(t *testing.T) {
	for _, tc := range []latchkey.RateLimit{{Limit: 1, Window: time.Second}, {Limit: 5, Window: time.Second}, {Limit: 100, Window: time.Minute}, {Limit: 7, Window: 3 * time.Second}} {
		m := NewMemory()
		rng := rand.New(rand.NewPCG(1, uint64(tc.Limit)))
		start := time.Unix(1_700_000_000, 123_456_789)
		now := start
		var admitted []time.Time
		for range 200000 {
			now = now.Add(time.Duration(rng.Int64N(int64(tc.Window) / int64(tc.Limit) / 50)))
			st, _ := m.Allow(ctx, "k", tc, now)
			if st.Allowed {
				admitted = append(admitted, now)
			}
		}
		// Any window (x-W, x] with more than Limit admissions contains
		// Limit+1 consecutive admissions spanning less than W.
		for i := tc.Limit; i < len(admitted); i++ {
			if span := admitted[i].Sub(admitted[i-tc.Limit]); span < tc.Window {
				t.Fatalf("%+v: %d admissions within %v", tc, tc.Limit+1, span)
			}
		}
		// And it is not needlessly strict: at least (1 - 1/Slots) of the
		// ideal rate gets through under constant pressure.
		ideal := float64(now.Sub(start)) / float64(tc.Window) * float64(tc.Limit)
		if got := float64(len(admitted)); got < ideal*0.9 {
			t.Fatalf("%+v: admitted %v, ideal %.0f", tc, got, ideal)
		}
	}
}

func TestStatusHeadersAndRetryAfter(t *testing.T) {
	m := NewMemory()
	limit := latchkey.RateLimit{Limit: 3, Window: 10 * time.Second}
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 3 {
		st, _ := m.Allow(ctx, "k", limit, t0.Add(time.Duration(i)*time.Second))
		if !st.Allowed || st.Remaining != 2-i || st.Limit != 3 {
			t.Fatalf("request %d: %+v", i, st)
		}
		if st.Reset <= 0 || st.Reset > limit.Window+limit.Window/Slots {
			t.Fatalf("request %d: reset %v", i, st.Reset)
		}
	}
	refused, _ := m.Allow(ctx, "k", limit, t0.Add(3*time.Second))
	if refused.Allowed || refused.Remaining != 0 || refused.RetryAfter <= 0 {
		t.Fatalf("fourth request: %+v", refused)
	}
	// Once RetryAfter has passed, exactly one more request fits.
	later := t0.Add(3*time.Second + refused.RetryAfter)
	if st, _ := m.Allow(ctx, "k", limit, later); !st.Allowed {
		t.Fatalf("after Retry-After: %+v", st)
	}
	if st, _ := m.Allow(ctx, "k", limit, later); st.Allowed {
		t.Fatalf("two requests admitted after one slot freed: %+v", st)
	}
	// Retry-After never lets a window exceed the limit: the first request
	// (t0) must have left the window.
	if later.Sub(t0) < limit.Window {
		t.Fatalf("Retry-After %v admits a request %v after the first", refused.RetryAfter, later.Sub(t0))
	}
}

func TestPeekDoesNotCount(t *testing.T) {
	m := NewMemory()
	limit := latchkey.RateLimit{Limit: 2, Window: time.Minute}
	now := time.Now()
	for range 10 {
		if st, _ := m.Peek(ctx, "k", limit, now); !st.Allowed {
			t.Fatal("peek refused an empty bucket")
		}
	}
	m.Allow(ctx, "k", limit, now)
	m.Allow(ctx, "k", limit, now)
	if st, _ := m.Peek(ctx, "k", limit, now); st.Allowed || st.RetryAfter <= 0 {
		t.Fatalf("peek on a full bucket: %+v", st)
	}
}

func TestBucketsAreIndependentAndWindowChangeResets(t *testing.T) {
	m := NewMemory()
	now := time.Now()
	one := latchkey.RateLimit{Limit: 1, Window: time.Minute}
	m.Allow(ctx, "a", one, now)
	if st, _ := m.Allow(ctx, "b", one, now); !st.Allowed {
		t.Fatal("bucket b limited by bucket a")
	}
	if st, _ := m.Allow(ctx, "a", one, now); st.Allowed {
		t.Fatal("bucket a admitted twice")
	}
	// A key's limit changed to another window starts a fresh bucket.
	if st, _ := m.Allow(ctx, "a", latchkey.RateLimit{Limit: 1, Window: time.Hour}, now); !st.Allowed {
		t.Fatal("new window did not start a fresh bucket")
	}
}

func TestIdleBucketsAreSwept(t *testing.T) {
	m := NewMemory()
	limit := latchkey.RateLimit{Limit: 1, Window: time.Second}
	now := time.Unix(1_700_000_000, 0)
	for i := range 50000 {
		m.Allow(ctx, "old:"+strconv.Itoa(i), limit, now)
	}
	before := m.Len()
	// Much later, enough decisions on every shard trigger sweeps.
	later := now.Add(time.Hour)
	for i := range shardCount * sweepEvery * 2 {
		m.Allow(ctx, "new:"+strconv.Itoa(i%1000), limit, later)
	}
	if after := m.Len(); after >= before/10 {
		t.Fatalf("buckets before %d, after sweep %d", before, after)
	}
}

func BenchmarkAllow(b *testing.B) {
	m := NewMemory()
	limit := latchkey.RateLimit{Limit: 1 << 30, Window: time.Minute}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		m.Allow(ctx, "key:abc", limit, now)
	}
}
