package latchkey

import (
	"sync"
	"sync/atomic"
	"time"
)

// Cache sizes and lifetimes.
const (
	// DefaultMaxCachedKeys bounds the verified-key cache; past it,
	// arbitrary entries are dropped and simply read again on their next use.
	DefaultMaxCachedKeys = 1 << 20
	// DefaultMaxUnknownKeys bounds the cache of unknown key hashes, so a
	// flood of random well-formed keys costs bounded memory.
	DefaultMaxUnknownKeys = 1 << 16
	// NegativeTTL is how long an unknown hash is answered from memory. Keys
	// are random, so a hash that was unknown stays unknown; the TTL only
	// bounds memory churn.
	NegativeTTL = time.Minute
	// DefaultMaxCachedTokens bounds the cache of access tokens known not to
	// be revoked, so a flood of distinct tokens costs bounded memory.
	DefaultMaxCachedTokens = 1 << 16
)

// credentialCache serves verified credentials (keys, root keys, tenants,
// OAuth clients and the deny-list answers of access tokens) from memory so the hot path reads no database.
//
// Staleness is prevented by invalidation, not by TTLs: every change made
// through the Service drops the affected entries before the call returns,
// and another node (or process) calls InvalidateKey/InvalidateAll. A fill
// that raced with an invalidation is discarded: fills remember the
// generation they started in and only land if no invalidation happened since.
type credentialCache struct {
	gen        atomic.Uint64
	maxKeys    int
	maxUnknown int
	maxTokens  int

	mu       sync.RWMutex
	keys     map[[32]byte]*Key
	keyHash  map[string][32]byte // key ID → hash, to invalidate by ID
	roots    map[[32]byte]*RootKey
	tenants  map[string]*Tenant
	negative map[[32]byte]time.Time // unknown hash → when to forget it
	// clients holds only clients that exist, looked up by the client_id of
	// validly signed tokens, so it is as small as the clients table.
	clients    map[string]*OAuthClient
	notRevoked map[string]struct{} // jti of access tokens not on the deny-list
}

func newCredentialCache(maxKeys, maxUnknown, maxTokens int) *credentialCache {
	return &credentialCache{
		maxKeys:    maxKeys,
		maxUnknown: maxUnknown,
		maxTokens:  maxTokens,
		keys:       make(map[[32]byte]*Key),
		keyHash:    make(map[string][32]byte),
		roots:      make(map[[32]byte]*RootKey),
		tenants:    make(map[string]*Tenant),
		negative:   make(map[[32]byte]time.Time),
		clients:    make(map[string]*OAuthClient),
		notRevoked: make(map[string]struct{}),
	}
}

// generation is read before a store lookup and passed to the put methods.
func (c *credentialCache) generation() uint64 { return c.gen.Load() }

// key returns a cached key (found), or known == true with a nil key when
// the hash is known not to exist.
func (c *credentialCache) key(hash [32]byte, now time.Time) (k *Key, known bool) {
	c.mu.RLock()
	k = c.keys[hash]
	var until time.Time
	if k == nil {
		until = c.negative[hash]
	}
	c.mu.RUnlock()
	if k != nil {
		return k, true
	}
	return nil, now.Before(until)
}

func (c *credentialCache) putKey(k *Key, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.keys) >= c.maxKeys {
		for hash, old := range c.keys { // an arbitrary entry
			delete(c.keys, hash)
			delete(c.keyHash, old.ID)
			break
		}
	}
	c.keys[k.Hash] = k
	c.keyHash[k.ID] = k.Hash
}

func (c *credentialCache) putUnknown(hash [32]byte, now time.Time, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.negative) >= c.maxUnknown {
		// Drop expired entries first; if the flood is live, drop arbitrary ones.
		for h, until := range c.negative {
			if !now.Before(until) || len(c.negative) >= c.maxUnknown {
				delete(c.negative, h)
			}
			if len(c.negative) < c.maxUnknown*3/4 {
				break
			}
		}
	}
	c.negative[hash] = now.Add(NegativeTTL)
}

// cached reads one entry of a map of c under the read lock.
func cached[K comparable, V any](c *credentialCache, m map[K]V, k K) V {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return m[k]
}

// fill stores one entry in a map of c, unless an invalidation happened
// since gen was read: the entry may then be stale already.
func fill[K comparable, V any](c *credentialCache, m map[K]V, k K, v V, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() == gen {
		m[k] = v
	}
}

func (c *credentialCache) rootKey(hash [32]byte) *RootKey { return cached(c, c.roots, hash) }
func (c *credentialCache) putRootKey(rk *RootKey, gen uint64) {
	fill(c, c.roots, rk.Hash, rk, gen)
}

func (c *credentialCache) tenant(id string) *Tenant { return cached(c, c.tenants, id) }
func (c *credentialCache) putTenant(t *Tenant, gen uint64) {
	fill(c, c.tenants, t.ID, t, gen)
}

func (c *credentialCache) oauthClient(id string) *OAuthClient { return cached(c, c.clients, id) }
func (c *credentialCache) putOAuthClient(client *OAuthClient, gen uint64) {
	fill(c, c.clients, client.ID, client, gen)
}

// tokenNotRevoked reports whether jti is known not to be on the deny-list.
func (c *credentialCache) tokenNotRevoked(jti string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.notRevoked[jti]
	return ok
}

func (c *credentialCache) putTokenNotRevoked(jti string, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.notRevoked) >= c.maxTokens {
		for old := range c.notRevoked { // an arbitrary entry
			delete(c.notRevoked, old)
			break
		}
	}
	c.notRevoked[jti] = struct{}{}
}

// forgetUnknown drops a negative entry: the hash now exists.
func (c *credentialCache) forgetUnknown(hash [32]byte) {
	c.mu.Lock()
	delete(c.negative, hash)
	c.mu.Unlock()
}

// invalidateKey drops one key by ID.
func (c *credentialCache) invalidateKey(id string) {
	c.mu.Lock()
	c.gen.Add(1)
	if hash, ok := c.keyHash[id]; ok {
		delete(c.keys, hash)
		delete(c.keyHash, id)
	}
	c.mu.Unlock()
}

// invalidateOAuthClient drops one client by ID.
func (c *credentialCache) invalidateOAuthClient(id string) {
	c.mu.Lock()
	c.gen.Add(1)
	delete(c.clients, id)
	c.mu.Unlock()
}

// invalidateToken drops the deny-list answer for one access token.
func (c *credentialCache) invalidateToken(jti string) {
	c.mu.Lock()
	c.gen.Add(1)
	delete(c.notRevoked, jti)
	c.mu.Unlock()
}

// invalidateAll drops everything but the negative entries (a hash that is
// unknown stays unknown: new keys are random).
func (c *credentialCache) invalidateAll() {
	c.mu.Lock()
	c.gen.Add(1)
	clear(c.keys)
	clear(c.keyHash)
	clear(c.roots)
	clear(c.tenants)
	clear(c.clients)
	clear(c.notRevoked)
	c.mu.Unlock()
}

// CacheStats counts what a node holds in memory.
type CacheStats struct {
	Keys    int // verified keys
	Unknown int // hashes known not to exist
	Tokens  int // access tokens known not to be revoked
}

// CacheStats reports the credential cache's size.
func (s *Service) CacheStats() CacheStats {
	c := s.cache
	c.mu.RLock()
	defer c.mu.RUnlock()
	return CacheStats{Keys: len(c.keys), Unknown: len(c.negative), Tokens: len(c.notRevoked)}
}
