// Package redis is Latchkey's Redis adapter: a rate limiter that every node
// of a cluster shares, so a key's limit holds across nodes (SPEC §9, §12).
//
// It keeps the algorithm of package ratelimit exactly: a sliding window of
// ratelimit.Slots counted sub-windows, conservative so that no window ever
// holds more than Limit admitted requests. Each bucket is one Redis hash
// holding its sub-window counts; one Lua script per decision reads, decides
// and counts atomically.
//
// Time is the caller's: each node passes its own clock, so node clocks
// should be NTP-synced. Skew is tolerated conservatively: a request from a
// node whose clock is behind the newest sub-window is counted in that
// newest sub-window (never lost), and the durations reported to clients are
// clamped to one window plus one sub-window.
//
// When Redis is unreachable or slow, decisions fall back to a per-node
// in-memory limiter: requests are never failed because of Redis, and the
// cluster as a whole admits up to (nodes × limit) until Redis is back.
package redis

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/ratelimit"
)

// Defaults for the connection: a decision that takes longer than this is
// made locally instead, so Redis can never slow the hot path much.
const (
	DefaultDialTimeout = 200 * time.Millisecond
	DefaultIOTimeout   = 100 * time.Millisecond
	DefaultPrefix      = "latchkey:rl:"

	// probeEvery is how often, while Redis is down, one decision tries
	// Redis again; all others go straight to the local limiter.
	probeEvery = time.Second
)

const ring = ratelimit.Slots + 1 // sub-windows that can overlap a window

//go:embed limit.lua
var limitSource string

var limitScript = goredis.NewScript(limitSource)

// Options configure a Limiter.
type Options struct {
	// Prefix starts every Redis key the limiter writes; DefaultPrefix when
	// empty. Nodes sharing limits must use the same prefix.
	Prefix string
	// Logger receives one warning when Redis becomes unavailable and one
	// line when it is back; nil discards.
	Logger *slog.Logger
}

// Limiter is a latchkey.Limiter shared through Redis, with a per-node
// fallback. It is safe for concurrent use.
type Limiter struct {
	client *goredis.Client
	prefix string
	log    *slog.Logger
	local  *ratelimit.Memory

	down      atomic.Bool
	probeAt   atomic.Int64 // unix nanos (wall clock) when the next probe may run
	fallbacks atomic.Uint64
}

var _ latchkey.Limiter = (*Limiter)(nil)

// Open connects to the Redis at rawURL (redis://[user:password@]host:port[/db]
// or rediss://…). Timeouts not given in the URL's query are short (see
// DefaultDialTimeout, DefaultIOTimeout). It does not wait for Redis: call
// Ping to check it.
func Open(rawURL string, opts Options) (*Limiter, error) {
	o, err := goredis.ParseURL(rawURL)
	if err != nil {
		// The error may repeat the URL, which may hold a password.
		return nil, errors.New("redis: invalid URL (value not shown)")
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = DefaultIOTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultIOTimeout
	}
	if o.PoolTimeout == 0 {
		o.PoolTimeout = 2 * DefaultIOTimeout
	}
	o.DialerRetries = 1 // the fallback, not a retry loop, covers a dead Redis
	// No retries: a script whose reply was lost may have counted already,
	// and running it again would count twice.
	o.MaxRetries = -1
	o.DisableIdentity = true
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	// The client's own logger writes a plain line to stderr for every
	// failed dial: the limiter reports outages itself, once each.
	goredis.SetLogger(quietLogger{})
	return NewLimiter(goredis.NewClient(o), opts), nil
}

// quietLogger silences go-redis's package-wide logger.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// NewLimiter returns a limiter over client, which it owns from now on
// (Close closes it).
func NewLimiter(client *goredis.Client, opts Options) *Limiter {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Limiter{client: client, prefix: opts.Prefix, log: opts.Logger, local: ratelimit.NewMemory()}
}

// Ping checks that Redis answers. When it does not, the limiter starts
// deciding per node at once (and logs it), as a failed decision would.
func (l *Limiter) Ping(ctx context.Context) error {
	if err := l.client.Ping(ctx).Err(); err != nil {
		if ctx.Err() == nil {
			l.markDown(err)
		}
		return fmt.Errorf("redis: %w", err)
	}
	l.markUp()
	return nil
}

// Close closes the connections to Redis.
func (l *Limiter) Close() error { return l.client.Close() }

// Degraded reports whether decisions are currently made per node because
// Redis is unavailable.
func (l *Limiter) Degraded() bool { return l.down.Load() }

// FallbackDecisions counts the decisions made by the local limiter since
// the limiter was created.
func (l *Limiter) FallbackDecisions() uint64 { return l.fallbacks.Load() }

// Allow implements latchkey.Limiter.
func (l *Limiter) Allow(ctx context.Context, bucket string, limit latchkey.RateLimit, now time.Time) (latchkey.LimitStatus, error) {
	return l.decide(ctx, bucket, limit, now, true)
}

// Peek implements latchkey.Limiter. It writes nothing to Redis.
func (l *Limiter) Peek(ctx context.Context, bucket string, limit latchkey.RateLimit, now time.Time) (latchkey.LimitStatus, error) {
	return l.decide(ctx, bucket, limit, now, false)
}

func (l *Limiter) decide(ctx context.Context, bucket string, limit latchkey.RateLimit, now time.Time, count bool) (latchkey.LimitStatus, error) {
	if l.down.Load() && !l.probe() {
		return l.fallback(ctx, bucket, limit, now, count)
	}
	st, err := l.remote(ctx, bucket, limit, now, count)
	if err != nil {
		if ctx.Err() == nil { // the caller giving up says nothing about Redis
			l.markDown(err)
		}
		return l.fallback(ctx, bucket, limit, now, count)
	}
	l.markUp()
	return st, nil
}

func (l *Limiter) fallback(ctx context.Context, bucket string, limit latchkey.RateLimit, now time.Time, count bool) (latchkey.LimitStatus, error) {
	l.fallbacks.Add(1)
	if count {
		return l.local.Allow(ctx, bucket, limit, now)
	}
	return l.local.Peek(ctx, bucket, limit, now)
}

// probe lets one caller per probeEvery try Redis while it is down.
func (l *Limiter) probe() bool {
	at := l.probeAt.Load()
	t := time.Now().UnixNano()
	return t >= at && l.probeAt.CompareAndSwap(at, t+int64(probeEvery))
}

func (l *Limiter) markDown(err error) {
	if l.down.CompareAndSwap(false, true) {
		l.probeAt.Store(time.Now().Add(probeEvery).UnixNano())
		l.log.Warn("redis unavailable, limiting per node", "err", err.Error())
	}
}

func (l *Limiter) markUp() {
	if l.down.Load() && l.down.CompareAndSwap(true, false) {
		l.log.Info("redis available again, limits shared across nodes",
			"fallbackDecisions", l.fallbacks.Load())
	}
}

// remote runs one decision in Redis. The script returns whether the
// request was admitted, the newest sub-window's index and the counts of
// the ring sub-windows that end with it, oldest first.
func (l *Limiter) remote(ctx context.Context, bucket string, limit latchkey.RateLimit, now time.Time, count bool) (latchkey.LimitStatus, error) {
	slot := slotLen(limit.Window)
	t := now.UnixNano()
	i := t / slot
	countArg := "0"
	if count {
		countArg = "1"
	}
	ttl := (int64(limit.Window) + 2*slot + int64(time.Millisecond) - 1) / int64(time.Millisecond)
	res, err := limitScript.Run(ctx, l.client, []string{l.prefix + bucket},
		strconv.FormatInt(int64(limit.Window), 10), strconv.FormatInt(i, 10), limit.Limit, countArg, ttl).Int64Slice()
	if err != nil {
		return latchkey.LimitStatus{}, err
	}
	if len(res) != 2+ring {
		return latchkey.LimitStatus{}, fmt.Errorf("redis: limit script returned %d values", len(res))
	}
	var counts [ring]int64
	copy(counts[:], res[2:])
	return status(limit, slot, res[1], t, res[0] == 1, &counts), nil
}

func slotLen(window time.Duration) int64 { return max(int64(window)/ratelimit.Slots, 1) }

// status computes what ratelimit.Memory reports for the same counts:
// newest is the newest sub-window's index, counts[k] the count of
// sub-window newest-Slots+k, t the caller's time.
func status(limit latchkey.RateLimit, slot, newest, t int64, allowed bool, counts *[ring]int64) latchkey.LimitStatus {
	var total int64
	for _, c := range counts {
		total += c
	}
	// untilBelow: how long until fewer than n requests remain counted;
	// sub-window j stops overlapping the window at (j+1)*slot + window.
	untilBelow := func(n int64) time.Duration {
		if total < n || n <= 0 && total == 0 {
			return 0
		}
		left := total
		d := time.Duration(limit.Window)
		for k, c := range counts {
			left -= c
			if left < n || left == 0 {
				j := newest - ratelimit.Slots + int64(k)
				d = time.Duration((j+1)*slot + int64(limit.Window) - t)
				break
			}
		}
		// A caller whose clock is behind another node's could be told to
		// wait longer than a window: never more than a window and a slot.
		return min(max(d, 0), limit.Window+time.Duration(slot))
	}
	st := latchkey.LimitStatus{Allowed: allowed, Limit: limit.Limit, Remaining: max(0, limit.Limit-int(total))}
	st.Reset = untilBelow(total)
	if !allowed {
		st.RetryAfter = untilBelow(int64(limit.Limit))
	}
	return st
}
