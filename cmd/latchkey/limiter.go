package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/metrics"
	"github.com/latchkey/latchkey/ratelimit"
	"github.com/latchkey/latchkey/redis"
)

// redisPingTimeout bounds the start-up check of LATCHKEY_REDIS_URL.
const redisPingTimeout = 2 * time.Second

// openLimiter returns the rate limiter, counting its decisions in m: the
// Redis one shared by every node when LATCHKEY_REDIS_URL is set, else one
// in memory. A Redis that does not answer at start is only a warning (the
// limiter logs it): it decides per node until Redis answers. close
// releases the limiter.
func openLimiter(ctx context.Context, cfg *config, m *metrics.Metrics, log *slog.Logger) (l latchkey.Limiter, close func(), err error) {
	if cfg.RedisURL == "" {
		return m.Limiter(ratelimit.NewMemory()), func() {}, nil
	}
	r, err := redis.Open(cfg.RedisURL, redis.Options{Logger: log})
	if err != nil {
		return nil, nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	if r.Ping(pctx) == nil {
		log.Info("rate limits shared through redis")
	} // else the limiter has logged that it limits per node until Redis is back
	m.LimiterFallback(r)
	return m.Limiter(r), func() { r.Close() }, nil
}
