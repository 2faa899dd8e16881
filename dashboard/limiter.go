package dashboard

import (
	"sync"
	"time"
)

// limit is a token bucket: Burst attempts at once, then one per Every.
type limit struct {
	Burst int
	Every time.Duration
}

// limiter counts attempts per key (a client address, an email) in memory.
// It is per node: with several nodes behind a balancer an attacker gets
// the limit once per node, which still keeps guessing at a crawl.
type limiter struct {
	mu      sync.Mutex
	limit   limit
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds memory. Past it, full buckets (keys idle long enough
// to have earned their whole burst back) are dropped; they would behave
// the same when recreated.
const maxBuckets = 50_000

func newLimiter(l limit, now func() time.Time) *limiter {
	return &limiter{limit: l, now: now, buckets: map[string]*bucket{}}
}

// allow takes one attempt for key. When none is left it returns false and
// how long until the next one.
func (l *limiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.refill(key, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) * float64(l.limit.Every))
	return false, wait
}

// reset gives key its whole burst back (after a successful sign-in).
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, key)
}

func (l *limiter) refill(key string, now time.Time) *bucket {
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: float64(l.limit.Burst), at: now}
		l.buckets[key] = b
		return b
	}
	if el := now.Sub(b.at); el > 0 {
		b.tokens = min(float64(l.limit.Burst), b.tokens+float64(el)/float64(l.limit.Every))
		b.at = now
	}
	return b
}

func (l *limiter) sweep(now time.Time) {
	full := time.Duration(l.limit.Burst) * l.limit.Every
	for k, b := range l.buckets {
		if now.Sub(b.at) >= full {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		// Under a flood of distinct keys, start over rather than grow
		// without bound.
		clear(l.buckets)
	}
}
