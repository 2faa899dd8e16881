// Package ratelimit holds Latchkey's in-memory limiter.
//
// The algorithm is a sliding window of counted sub-windows: each bucket
// splits its window W into Slots sub-windows of W/Slots and counts the
// requests admitted in each. A request is admitted when the sum over every
// sub-window that overlaps the last W is below the limit. A sub-window only
// partly inside the last W counts in full, so the sum never undercounts:
// no window of length W, wherever it starts, ever holds more than Limit
// admitted requests. The price is that a client may be refused up to one
// sub-window (W/Slots) early. Memory is fixed per bucket, whatever the limit.
package ratelimit

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/latchkey/latchkey"
)

// Slots is how many sub-windows a window is split into.
const Slots = 20

const (
	ring       = Slots + 1 // sub-windows that can overlap a window
	shardCount = 64
	sweepEvery = 4096 // decisions per shard between sweeps of idle buckets
)

// Memory is a limiter local to one process. The zero value is not usable;
// call NewMemory.
type Memory struct {
	seed   maphash.Seed
	shards [shardCount]shard
}

type shard struct {
	mu        sync.Mutex
	buckets   map[string]*bucket
	decisions int
}

type bucket struct {
	window  time.Duration
	slotLen int64 // nanoseconds
	newest  int64 // index of the newest sub-window seen
	total   int64 // admitted requests in sub-windows newest-Slots .. newest
	counts  [ring]int64
}

// NewMemory returns an empty in-memory limiter.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed()}
	for i := range m.shards {
		m.shards[i].buckets = make(map[string]*bucket)
	}
	return m
}

var _ latchkey.Limiter = (*Memory)(nil)

// Allow implements latchkey.Limiter.
func (m *Memory) Allow(_ context.Context, name string, limit latchkey.RateLimit, now time.Time) (latchkey.LimitStatus, error) {
	return m.decide(name, limit, now, true), nil
}

// Peek implements latchkey.Limiter.
func (m *Memory) Peek(_ context.Context, name string, limit latchkey.RateLimit, now time.Time) (latchkey.LimitStatus, error) {
	return m.decide(name, limit, now, false), nil
}

func (m *Memory) decide(name string, limit latchkey.RateLimit, now time.Time, count bool) latchkey.LimitStatus {
	sh := &m.shards[maphash.String(m.seed, name)%shardCount]
	t := now.UnixNano()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.decisions++
	if sh.decisions%sweepEvery == 0 {
		sh.sweep(t)
	}
	b := sh.buckets[name]
	if b == nil || b.window != limit.Window {
		if !count {
			return latchkey.LimitStatus{Allowed: true, Limit: limit.Limit, Remaining: limit.Limit}
		}
		b = newBucket(limit.Window, t)
		sh.buckets[name] = b
	}
	b.advance(t)
	st := latchkey.LimitStatus{Limit: limit.Limit, Allowed: b.total < int64(limit.Limit)}
	if st.Allowed && count {
		b.counts[b.newest%ring]++
		b.total++
	}
	st.Remaining = max(0, limit.Limit-int(b.total))
	st.Reset = b.untilBelow(t, b.total)
	if !st.Allowed {
		st.RetryAfter = b.untilBelow(t, int64(limit.Limit))
	}
	return st
}

func newBucket(window time.Duration, t int64) *bucket {
	slot := max(int64(window)/Slots, 1)
	return &bucket{window: window, slotLen: slot, newest: t / slot}
}

// advance moves the newest sub-window to the one holding t, forgetting
// sub-windows that no longer overlap the window.
func (b *bucket) advance(t int64) {
	i := t / b.slotLen
	for j := b.newest + 1; j <= i && j <= b.newest+ring; j++ {
		b.total -= b.counts[j%ring]
		b.counts[j%ring] = 0
	}
	if i > b.newest {
		b.newest = i
	}
}

// untilBelow returns how long until fewer than n requests remain counted:
// sub-window j stops overlapping the window at (j+1)*slotLen + window.
func (b *bucket) untilBelow(t int64, n int64) time.Duration {
	if b.total < n || n <= 0 && b.total == 0 {
		return 0
	}
	left := b.total
	for j := b.newest - Slots; j <= b.newest; j++ {
		left -= b.counts[(j%ring+ring)%ring]
		if left < n || left == 0 {
			return time.Duration((j+1)*b.slotLen + int64(b.window) - t)
		}
	}
	return b.window
}

// sweep drops buckets with nothing counted in their window.
func (sh *shard) sweep(t int64) {
	for name, b := range sh.buckets {
		if t-b.newest*b.slotLen > int64(b.window)+b.slotLen {
			delete(sh.buckets, name)
		}
	}
}

// Len returns how many buckets are held (for tests and metrics).
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		m.shards[i].mu.Lock()
		n += len(m.shards[i].buckets)
		m.shards[i].mu.Unlock()
	}
	return n
}
