package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/internal/testlog"
	"github.com/latchkey/latchkey/ratelimit"
)

// testAddr is the real Redis the tests use; each test writes only under
// its own key prefix and deletes it afterwards.
const testAddr = "127.0.0.1:6379"

var ctx = context.Background()

// requireRedis skips the test when no Redis answers, except under CI=true,
// where Redis is part of the test environment (scripts/test-deps.sh).
func requireRedis(tb testing.TB) {
	tb.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: testAddr, DialTimeout: time.Second})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("Redis at %s: %v (CI=true: scripts/test-deps.sh should have started it)", testAddr, err)
		}
		tb.Skipf("no Redis at %s: %v", testAddr, err)
	}
}

// testPrefix returns a key prefix of the test's own and deletes every key
// under it when the test ends.
func testPrefix(tb testing.TB) string {
	tb.Helper()
	var b [6]byte
	rand.Read(b[:])
	prefix := "latchkey-test:" + hex.EncodeToString(b[:]) + ":"
	tb.Cleanup(func() {
		c := goredis.NewClient(&goredis.Options{Addr: testAddr})
		defer c.Close()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return prefix
}

// newTestLimiter returns a limiter on the test Redis, as one node would
// open it. Its timeouts are generous (set in the URL, as an operator
// would): these tests check decisions, and on a loaded test machine the
// default 100 ms would now and then hand one to the local fallback. The
// fallback tests use the defaults.
func newTestLimiter(tb testing.TB, prefix string, log *slog.Logger) *Limiter {
	tb.Helper()
	l, err := Open("redis://"+testAddr+"/0?read_timeout=5s&write_timeout=5s&pool_timeout=5s", Options{Prefix: prefix, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

func TestNodesSharingRedisAdmitExactlyLimit(t *testing.T) {
	requireRedis(t)
	prefix := testPrefix(t)
	limit := latchkey.RateLimit{Limit: 500, Window: time.Hour}
	now := time.Now()
	var admitted atomic.Int64
	var wg sync.WaitGroup
	var nodes []*Limiter
	for range 3 {
		node := newTestLimiter(t, prefix, nil)
		nodes = append(nodes, node)
		for range 8 {
			wg.Go(func() {
				for range 100 {
					st, err := node.Allow(ctx, "key:a", limit, now)
					if err != nil {
						t.Error(err)
						return
					}
					if st.Allowed {
						admitted.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	for i, n := range nodes {
		if n.FallbackDecisions() != 0 {
			t.Fatalf("node %d decided %d times without Redis", i, n.FallbackDecisions())
		}
	}
	if admitted.Load() != int64(limit.Limit) {
		t.Fatalf("admitted %d of 2400 across 3 nodes, want exactly %d", admitted.Load(), limit.Limit)
	}
}

// TestSameDecisionsAsMemory replays random arrivals, counted and peeked,
// against the in-memory limiter and the Redis one: every status must be
// identical, and no window may ever hold more than the limit.
func TestSameDecisionsAsMemory(t *testing.T) {
	requireRedis(t)
	prefix := testPrefix(t)
	l := newTestLimiter(t, prefix, nil)
	for _, tc := range []latchkey.RateLimit{{Limit: 1, Window: time.Second}, {Limit: 5, Window: time.Second}, {Limit: 100, Window: time.Minute}, {Limit: 7, Window: 3 * time.Second}} {
		m := ratelimit.NewMemory()
		bucket := fmt.Sprintf("k:%d/%v", tc.Limit, tc.Window)
		rng := mrand.New(mrand.NewPCG(2, uint64(tc.Limit)))
		now := time.Unix(1_700_000_000, 123_456_789)
		var admitted []time.Time
		for n := range 6000 {
			// Mostly a steady overload, with pauses long enough to empty
			// the window now and then.
			step := time.Duration(rng.Int64N(int64(tc.Window) / int64(tc.Limit) / 4))
			if rng.IntN(500) == 0 {
				step = tc.Window + time.Duration(rng.Int64N(int64(tc.Window)))
			}
			now = now.Add(step)
			peek := rng.IntN(5) == 0
			var want, got latchkey.LimitStatus
			var err error
			if peek {
				want, _ = m.Peek(ctx, bucket, tc, now)
				got, err = l.Peek(ctx, bucket, tc, now)
			} else {
				want, _ = m.Allow(ctx, bucket, tc, now)
				got, err = l.Allow(ctx, bucket, tc, now)
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("%v, request %d (peek %v): redis %+v, memory %+v", tc, n, peek, got, want)
			}
			if got.Allowed && !peek {
				admitted = append(admitted, now)
			}
		}
		for i := tc.Limit; i < len(admitted); i++ {
			if span := admitted[i].Sub(admitted[i-tc.Limit]); span < tc.Window {
				t.Fatalf("%v: %d admissions within %v", tc, tc.Limit+1, span)
			}
		}
		if len(admitted) < 10*tc.Limit {
			t.Fatalf("%v: only %d admitted: the replay did not exercise the limit", tc, len(admitted))
		}
	}
	if l.FallbackDecisions() != 0 {
		t.Fatalf("%d decisions made without Redis", l.FallbackDecisions())
	}
}

func TestWindowChangeStartsFreshBucket(t *testing.T) {
	requireRedis(t)
	l := newTestLimiter(t, testPrefix(t), nil)
	now := time.Now()
	one := latchkey.RateLimit{Limit: 1, Window: time.Minute}
	if st, _ := l.Allow(ctx, "a", one, now); !st.Allowed {
		t.Fatalf("first request: %+v", st)
	}
	if st, _ := l.Allow(ctx, "a", one, now); st.Allowed {
		t.Fatal("admitted twice")
	}
	if st, _ := l.Allow(ctx, "b", one, now); !st.Allowed {
		t.Fatal("bucket b limited by bucket a")
	}
	if st, _ := l.Allow(ctx, "a", latchkey.RateLimit{Limit: 1, Window: time.Hour}, now); !st.Allowed {
		t.Fatal("a new window did not start a fresh bucket")
	}
}

func TestPeekDoesNotCountOrWrite(t *testing.T) {
	requireRedis(t)
	prefix := testPrefix(t)
	l := newTestLimiter(t, prefix, nil)
	limit := latchkey.RateLimit{Limit: 2, Window: time.Minute}
	now := time.Now()
	for range 10 {
		if st, _ := l.Peek(ctx, "k", limit, now); !st.Allowed || st.Remaining != 2 {
			t.Fatalf("peek on an empty bucket: %+v", st)
		}
	}
	if n, _ := l.client.Exists(ctx, prefix+"k").Result(); n != 0 {
		t.Fatal("peek created the bucket")
	}
	l.Allow(ctx, "k", limit, now)
	if st, _ := l.Peek(ctx, "k", limit, now); !st.Allowed || st.Remaining != 1 {
		t.Fatalf("peek after one request: %+v", st)
	}
	l.Allow(ctx, "k", limit, now)
	if st, _ := l.Peek(ctx, "k", limit, now); st.Allowed || st.RetryAfter <= 0 {
		t.Fatalf("peek on a full bucket: %+v", st)
	}
}

func TestBucketsExpireAfterTheirWindow(t *testing.T) {
	requireRedis(t)
	prefix := testPrefix(t)
	l := newTestLimiter(t, prefix, nil)
	limit := latchkey.RateLimit{Limit: 5, Window: 10 * time.Second}
	l.Allow(ctx, "k", limit, time.Now())
	ttl, err := l.client.PTTL(ctx, prefix+"k").Result()
	if err != nil {
		t.Fatal(err)
	}
	if min, max := limit.Window, limit.Window+2*limit.Window/ratelimit.Slots; ttl <= min-time.Second || ttl > max {
		t.Fatalf("bucket expires in %v, want about %v", ttl, max)
	}
}

// switchableRedis is a real TCP endpoint in front of the test Redis that
// can be taken down (connections refused, open ones cut) and brought back
// on the same port.
type switchableRedis struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	ln   net.Listener
	open []net.Conn
}

func newSwitchableRedis(t *testing.T) *switchableRedis {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &switchableRedis{t: t, addr: ln.Addr().String()}
	ln.Close() // down until up is called: the port refuses connections
	t.Cleanup(s.down)
	return s
}

func (s *switchableRedis) up() {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r, err := net.Dial("tcp", testAddr)
			if err != nil {
				c.Close()
				continue
			}
			s.mu.Lock()
			s.open = append(s.open, c, r)
			s.mu.Unlock()
			go func() { io.Copy(r, c); r.Close() }()
			go func() { io.Copy(c, r); c.Close() }()
		}
	}()
}

func (s *switchableRedis) down() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		s.ln.Close()
		s.ln = nil
	}
	for _, c := range s.open {
		c.Close()
	}
	s.open = nil
}

func TestFallsBackPerNodeWhileRedisIsDownAndRecovers(t *testing.T) {
	requireRedis(t)
	prefix := testPrefix(t)
	logs := &testlog.Buffer{}
	red := newSwitchableRedis(t)
	l, err := Open("redis://"+red.addr, Options{Prefix: prefix, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	limit := latchkey.RateLimit{Limit: 3, Window: time.Hour}

	// Down from the start: a closed port. Requests are still limited, per
	// node, and never fail or wait.
	start := time.Now()
	var allowed int
	for range 50 {
		st, err := l.Allow(ctx, "key:down", limit, time.Now())
		if err != nil {
			t.Fatalf("a failing Redis failed the decision: %v", err)
		}
		if st.Allowed {
			allowed++
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("50 decisions took %v with Redis down", took)
	}
	if allowed != limit.Limit || !l.Degraded() || l.FallbackDecisions() != 50 {
		t.Fatalf("with Redis down: %d admitted, degraded %v, %d fallback decisions", allowed, l.Degraded(), l.FallbackDecisions())
	}
	if n := strings.Count(logs.String(), "redis unavailable, limiting per node"); n != 1 {
		t.Fatalf("outage logged %d times, want once:\n%s", n, logs.String())
	}

	// Back: within a probe interval decisions are shared again.
	red.up()
	recovered := time.Now().Add(3 * probeEvery)
	for l.Degraded() && time.Now().Before(recovered) {
		l.Allow(ctx, "key:up", limit, time.Now())
		time.Sleep(10 * time.Millisecond)
	}
	if l.Degraded() {
		t.Fatalf("still degraded %v after Redis came back", 3*probeEvery)
	}
	if n := strings.Count(logs.String(), "redis available again"); n != 1 {
		t.Fatalf("recovery logged %d times, want once:\n%s", n, logs.String())
	}
	before := l.FallbackDecisions()
	if _, err := l.Allow(ctx, "key:shared", limit, time.Now()); err != nil {
		t.Fatal(err)
	}
	if l.FallbackDecisions() != before {
		t.Fatal("decided locally after recovery")
	}
	if n, _ := l.client.Exists(ctx, prefix+"key:shared").Result(); n != 1 {
		t.Fatal("the decision after recovery did not reach Redis")
	}

	// Down again while connected: the open connections are cut.
	red.down()
	if st, err := l.Allow(ctx, "key:shared", limit, time.Now()); err != nil || !st.Allowed {
		t.Fatalf("after the cut: %+v, %v", st, err)
	}
	if !l.Degraded() {
		t.Fatal("not degraded after Redis went away")
	}
	if n := strings.Count(logs.String(), "redis unavailable, limiting per node"); n != 2 {
		t.Fatalf("second outage logged %d times in all, want 2", n)
	}
}

// TestFallsBackWhenRedisIsSlow: a Redis that accepts connections but never
// answers costs one I/O timeout, after which the node decides locally.
func TestFallsBackWhenRedisIsSlow(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	l, err := Open("redis://"+ln.Addr().String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	limit := latchkey.RateLimit{Limit: 1, Window: time.Minute}
	start := time.Now()
	first, err := l.Allow(ctx, "k", limit, time.Now())
	if took := time.Since(start); err != nil || !first.Allowed || took > 5*DefaultIOTimeout {
		t.Fatalf("first decision: %+v, %v after %v", first, err, took)
	}
	start = time.Now()
	second, _ := l.Allow(ctx, "k", limit, time.Now())
	if took := time.Since(start); second.Allowed || took > 10*time.Millisecond || !l.Degraded() {
		t.Fatalf("second decision: %+v after %v, degraded %v", second, took, l.Degraded())
	}
}

func BenchmarkAllow(b *testing.B) {
	requireRedis(b)
	l := newTestLimiter(b, testPrefix(b), nil)
	limit := latchkey.RateLimit{Limit: 1 << 30, Window: time.Minute}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Allow(ctx, "key:abc", limit, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	if l.FallbackDecisions() != 0 {
		b.Fatalf("%d decisions without Redis", l.FallbackDecisions())
	}
}

// BenchmarkAllowParallel is many requests of one node at once, each on its
// own key.
func BenchmarkAllowParallel(b *testing.B) {
	requireRedis(b)
	l := newTestLimiter(b, testPrefix(b), nil)
	limit := latchkey.RateLimit{Limit: 1 << 30, Window: time.Minute}
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		bucket := "key:" + string(rune('a'+n.Add(1)%26))
		for pb.Next() {
			l.Allow(ctx, bucket, limit, time.Now())
		}
	})
}
