package latchkey

import (
	"context"
	"sync"
	"time"
)

// UsageCounter aggregates successful verifications in memory and writes
// them to the store in batches, so the hot path never writes to the
// database and no increment is lost: a failed flush puts its batch back.
type UsageCounter struct {
	store KeyStore

	mu      sync.Mutex
	pending map[string]*Usage
}

// NewUsageCounter returns a counter that flushes to store.
func NewUsageCounter(store KeyStore) *UsageCounter {
	return &UsageCounter{store: store, pending: make(map[string]*Usage)}
}

// Record counts one use of a key at time at.
func (c *UsageCounter) Record(keyID string, at time.Time) {
	c.mu.Lock()
	u := c.pending[keyID]
	if u == nil {
		u = &Usage{KeyID: keyID}
		c.pending[keyID] = u
	}
	u.Count++
	if at.After(u.LastUsedAt) {
		u.LastUsedAt = at
	}
	c.mu.Unlock()
}

// Pending returns the uses of keyID recorded but not yet written.
func (c *UsageCounter) Pending(keyID string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u := c.pending[keyID]; u != nil {
		return u.Count
	}
	return 0
}

// Flush writes everything recorded so far. On failure the batch is merged
// back so the next flush retries it.
func (c *UsageCounter) Flush(ctx context.Context) error {
	c.mu.Lock()
	if len(c.pending) == 0 {
		c.mu.Unlock()
		return nil
	}
	taken := c.pending
	c.pending = make(map[string]*Usage, len(taken))
	c.mu.Unlock()

	batch := make([]Usage, 0, len(taken))
	for _, u := range taken {
		u.LastUsedAt = u.LastUsedAt.UTC().Truncate(time.Microsecond)
		batch = append(batch, *u)
	}
	if err := c.store.AddUsage(ctx, batch); err != nil {
		c.mu.Lock()
		for _, u := range batch {
			p := c.pending[u.KeyID]
			if p == nil {
				c.pending[u.KeyID] = &Usage{KeyID: u.KeyID, Count: u.Count, LastUsedAt: u.LastUsedAt}
				continue
			}
			p.Count += u.Count
			if u.LastUsedAt.After(p.LastUsedAt) {
				p.LastUsedAt = u.LastUsedAt
			}
		}
		c.mu.Unlock()
		return err
	}
	return nil
}

// Run flushes every interval until ctx is done. The caller flushes once
// more after Run returns (on shutdown) so nothing recorded is lost.
func (c *UsageCounter) Run(ctx context.Context, interval time.Duration, onError func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Flush(ctx); err != nil && onError != nil {
				onError(err)
			}
		}
	}
}
