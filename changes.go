package latchkey

import (
	"context"
	"sync/atomic"
	"time"
)

// Change tells a node's cache what another process changed.
type Change struct {
	KeyID string // this key was updated, revoked, rotated or deleted
	All   bool   // anything may have changed (tenants, users, root keys, or changes were missed)
}

// ChangeWatcher is implemented by stores that several processes share
// (PostgreSQL across nodes; SQLite with the CLI beside a server). It reports
// every change committed by any process, this one included, so caches never
// serve what the database no longer says.
type ChangeWatcher interface {
	// WatchChanges calls changes for each change until ctx is done, and
	// connected(false) as soon as it may be missing changes (the
	// connection is lost), connected(true) once it is listening again. It
	// reconnects by itself and returns only when ctx is done.
	WatchChanges(ctx context.Context, changes func(Change), connected func(bool)) error
}

// DefaultOutageGrace is how long a node keeps answering from its cache after
// it lost the change feed (usually: the database is down). Within it,
// keys verified before keep working; past it, cached keys are refused with
// UNAVAILABLE like unknown ones, because a revocation on another node could
// have been missed. It bounds the staleness of a partitioned node.
const DefaultOutageGrace = 30 * time.Second

// feedState tracks whether the change feed is live.
type feedState struct {
	watching atomic.Bool  // a watcher is running
	lostAt   atomic.Int64 // unix nanos when the feed was lost; 0 while connected
	grace    time.Duration
}

// cacheTrusted reports whether cached entries may answer at now.
func (f *feedState) cacheTrusted(now time.Time) bool {
	if !f.watching.Load() {
		return true
	}
	lost := f.lostAt.Load()
	return lost == 0 || now.UnixNano()-lost < int64(f.grace)
}

// WatchChanges keeps this node's cache in step with the store when the
// store is shared (it implements ChangeWatcher): each change drops the
// affected entries, a reconnection drops everything (changes may have been
// missed), and while the feed is down cached entries are trusted only for
// the outage grace. It returns when ctx is done, at once for a store
// that is not shared.
func (s *Service) WatchChanges(ctx context.Context) error {
	w, ok := s.store.(ChangeWatcher)
	if !ok {
		return nil
	}
	// Until the watcher reports in, the cache is not trusted beyond the grace.
	s.feed.lostAt.Store(s.now().UnixNano())
	s.feed.watching.Store(true)
	defer s.feed.watching.Store(false)
	return w.WatchChanges(ctx, s.applyChange, func(up bool) {
		if up {
			s.cache.invalidateAll() // changes may have been missed meanwhile
			s.feed.lostAt.Store(0)
			return
		}
		s.feed.lostAt.CompareAndSwap(0, s.now().UnixNano())
	})
}

func (s *Service) applyChange(c Change) {
	if c.All || c.KeyID == "" {
		s.cache.invalidateAll()
		return
	}
	s.cache.invalidateKey(c.KeyID)
}
