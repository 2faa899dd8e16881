package latchkey

import (
	"context"
	"time"
)

// Limiter decides whether one more request fits a limit. Implementations
// keep "at most Limit requests in any Window" (see package ratelimit): the
// in-memory one per node, the Redis one across nodes.
type Limiter interface {
	// Allow counts one request against bucket if it fits and reports the
	// bucket's state afterwards.
	Allow(ctx context.Context, bucket string, limit RateLimit, now time.Time) (LimitStatus, error)
	// Peek reports whether one more request would fit, without counting it.
	Peek(ctx context.Context, bucket string, limit RateLimit, now time.Time) (LimitStatus, error)
}

// LimitStatus is a bucket's state after a decision: what the RateLimit-*
// and Retry-After headers report.
type LimitStatus struct {
	Allowed    bool
	Limit      int
	Remaining  int
	Reset      time.Duration // until the oldest counted request leaves the window
	RetryAfter time.Duration // when refused: until one more request fits
}

// RateLimited returns the 429 error for a refused status.
func RateLimited(st LimitStatus) *Error {
	return &Error{Code: CodeRateLimited, Message: "Too many requests, please try again later", RetryAfter: st.RetryAfter, Limit: &st}
}
