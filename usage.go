package latchkey

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// UsageCounter aggregates successful verifications in memory and writes
// them to the store in batches, so the hot path never writes to the
// database and no increment is lost: a failed flush puts its batch back.
//
// A key verified from the cache is counted in its own usageCell, with two
// atomic operations and no lock: every check on every core would
// otherwise take one mutex and look the key up in one map. Other uses
// (Record) go to a map under the mutex.
type UsageCounter struct {
	store KeyStore

	mu      sync.Mutex
	pending map[string]*Usage
	cells   []*usageCell // cells with uses since the last flush
}

// usageCell counts the uses of one key record held in memory (the
// verified-key cache keeps one beside each key).
type usageCell struct {
	keyID    string
	lastUsed atomic.Int64 // Unix nanoseconds of the latest use
	count    atomic.Int64 // uses not yet taken by a flush
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

// newCell returns a cell for a record of key keyID held in memory.
func (c *UsageCounter) newCell(keyID string) *usageCell { return &usageCell{keyID: keyID} }

// record counts one use in cell. The time is stored before the count, so
// a flush, which takes the count first, always sees the time of every use
// it takes. The first use since the last flush lists the cell for the
// next one.
func (c *UsageCounter) record(cell *usageCell, at time.Time) {
	t := at.UnixNano()
	for {
		last := cell.lastUsed.Load()
		if t <= last || cell.lastUsed.CompareAndSwap(last, t) {
			break
		}
	}
	if cell.count.Add(1) == 1 {
		c.mu.Lock()
		c.cells = append(c.cells, cell)
		c.mu.Unlock()
	}
}

// Pending returns the uses of keyID recorded but not yet written.
func (c *UsageCounter) Pending(keyID string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	if u := c.pending[keyID]; u != nil {
		n = u.Count
	}
	for _, cell := range c.cells {
		if cell.keyID == keyID {
			n += cell.count.Load()
		}
	}
	return n
}

// Flush writes everything recorded so far. On failure the batch is merged
// back so the next flush retries it.
func (c *UsageCounter) Flush(ctx context.Context) error {
	c.mu.Lock()
	if len(c.pending) == 0 && len(c.cells) == 0 {
		c.mu.Unlock()
		return nil
	}
	taken, cells := c.pending, c.cells
	c.pending, c.cells = make(map[string]*Usage, len(taken)), nil
	c.mu.Unlock()
	// A cell's count is taken after the cell left the list: a use that
	// comes after the swap finds the count at zero and lists the cell
	// again, for the next flush.
	for _, cell := range cells {
		n := cell.count.Swap(0)
		if n == 0 {
			continue
		}
		at := time.Unix(0, cell.lastUsed.Load())
		u := taken[cell.keyID]
		if u == nil {
			u = &Usage{KeyID: cell.keyID}
			taken[cell.keyID] = u
		}
		u.Count += n
		if at.After(u.LastUsedAt) {
			u.LastUsedAt = at
		}
	}
	if len(taken) == 0 {
		return nil
	}

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
