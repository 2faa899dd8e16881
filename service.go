package latchkey

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/apikey"
)

// Service applies Latchkey's rules on top of a Store: it is the one place
// that validates input, issues secrets and checks presented credentials, so
// every adapter (HTTP, CLI, dashboard) behaves the same.
type Service struct {
	auditLog auditState // events recorded after each change (audit.go)

	store   Store
	prefix  string
	now     func() time.Time
	usage   *UsageCounter
	cache   *credentialCache
	limiter Limiter // nil: no rate limits
	limits  Limits
	tokens  TokenVerifier // nil until OAuth is configured
	feed    feedState

	onVerify func(result string) // nil: nobody is told
}

// ServiceConfig configures a Service.
type ServiceConfig struct {
	KeyPrefix string           // prefix of issued keys; "lk" when empty
	Now       func() time.Time // clock; time.Now when nil
	// Cache bounds; the Default* constants when zero.
	MaxCachedKeys   int
	MaxUnknownKeys  int
	MaxCachedTokens int
	// OutageGrace bounds how long cached keys answer while the change feed
	// is down; DefaultOutageGrace when zero.
	OutageGrace time.Duration
	// Limiter enforces rate limits; nil disables them.
	Limiter Limiter
	Limits  Limits
	// OnVerify, when set, is told the result of every verification that
	// counts (dry runs do not): "VALID" or the error code. For metrics: it
	// must be quick and safe for concurrent use.
	OnVerify func(result string)
	// AuditRetention is how long audit events are kept (see
	// PruneAuditLog); 0 keeps them forever.
	AuditRetention time.Duration
}

// Limits are the rate limits a Service applies besides each key's own.
type Limits struct {
	DefaultKey *RateLimit // for keys (and OAuth clients) without a limit; nil for none
	FailedAuth RateLimit  // failed authentications per client address
	Management RateLimit  // management API requests per user
}

// DefaultLimits are used for the zero fields of ServiceConfig.Limits.
var DefaultLimits = Limits{
	FailedAuth: RateLimit{Limit: 60, Window: time.Minute},
	Management: RateLimit{Limit: 600, Window: time.Minute},
}

// NewService returns a Service over store.
func NewService(store Store, cfg ServiceConfig) *Service {
	if cfg.KeyPrefix == "" {
		cfg.KeyPrefix = "lk"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxCachedKeys <= 0 {
		cfg.MaxCachedKeys = DefaultMaxCachedKeys
	}
	if cfg.MaxUnknownKeys <= 0 {
		cfg.MaxUnknownKeys = DefaultMaxUnknownKeys
	}
	if cfg.MaxCachedTokens <= 0 {
		cfg.MaxCachedTokens = DefaultMaxCachedTokens
	}
	if cfg.OutageGrace <= 0 {
		cfg.OutageGrace = DefaultOutageGrace
	}
	if cfg.Limits.FailedAuth.Limit == 0 {
		cfg.Limits.FailedAuth = DefaultLimits.FailedAuth
	}
	if cfg.Limits.Management.Limit == 0 {
		cfg.Limits.Management = DefaultLimits.Management
	}
	return &Service{store: store, prefix: cfg.KeyPrefix, now: cfg.Now, usage: NewUsageCounter(store), cache: newCredentialCache(cfg.MaxCachedKeys, cfg.MaxUnknownKeys, cfg.MaxCachedTokens),
		limiter: cfg.Limiter, limits: cfg.Limits, feed: feedState{grace: cfg.OutageGrace}, onVerify: cfg.OnVerify,
		auditLog: auditState{retention: cfg.AuditRetention}}
}

// ManagementLimit is the per-user limit on management API requests.
func (s *Service) ManagementLimit() RateLimit { return s.limits.Management }

// Usage returns the usage counter that records successful verifications.
func (s *Service) Usage() *UsageCounter { return s.usage }

// Now returns the service clock's current time, truncated to what stores keep.
func (s *Service) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// NewID returns a random identifier such as "key_3kf9...".
func NewID(prefix string) string {
	var b [15]byte
	rand.Read(b[:])
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ---- Keys -------------------------------------------------------------

// NewKey is the input for creating a key.
type NewKey struct {
	Name        string
	Environment string // "live" (default) or "test"
	Permissions []string
	TenantIDs   []string
	ExpiresAt   *time.Time // kept rounded down to the second
	RateLimit   *RateLimit
	Meta        map[string]any
}

// KeyPatch changes some fields of a key; nil fields are left alone.
type KeyPatch struct {
	Name         *string
	Permissions  *[]string
	TenantIDs    *[]string  // links that stay keep their place; new ones are appended
	SetExpiresAt bool       // when true, ExpiresAt (possibly nil) replaces the expiry
	ExpiresAt    *time.Time // kept rounded down to the second
	SetRateLimit bool       // when true, RateLimit (possibly nil) replaces the limit
	RateLimit    *RateLimit
	Meta         *map[string]any
}

// CreateKey issues a new key for ownerID and returns it with its secret,
// which is never available again.
func (s *Service) CreateKey(ctx context.Context, ownerID string, in NewKey) (*Key, string, error) {
	owner, err := s.store.User(ctx, ownerID)
	if err != nil {
		return nil, "", err
	}
	k := &Key{OwnerID: owner.ID, IsActive: true, CreatedAt: s.Now()}
	if k.Name, err = validateKeyName(in.Name); err != nil {
		return nil, "", err
	}
	switch in.Environment {
	case "", apikey.Live:
		k.Environment = apikey.Live
	case apikey.Test:
		k.Environment = apikey.Test
	default:
		return nil, "", Invalid("environment must be \"live\" or \"test\"")
	}
	if k.Permissions, err = normalizePermissions("permissions", in.Permissions); err != nil {
		return nil, "", err
	}
	if err := s.checkCatalog(ctx, k.Permissions); err != nil {
		return nil, "", err
	}
	if k.TenantIDs, err = ownerTenants(owner, in.TenantIDs); err != nil {
		return nil, "", err
	}
	if in.ExpiresAt != nil {
		if k.ExpiresAt, err = s.futureExpiry(*in.ExpiresAt); err != nil {
			return nil, "", err
		}
	}
	if in.RateLimit != nil {
		if err := ValidateRateLimit(*in.RateLimit); err != nil {
			return nil, "", err
		}
		rl := *in.RateLimit
		k.RateLimit = &rl
	}
	if k.Meta, err = validateMeta(in.Meta); err != nil {
		return nil, "", err
	}
	secret, err := s.issue(k)
	if err != nil {
		return nil, "", err
	}
	if err := s.store.CreateKey(ctx, k); err != nil {
		return nil, "", err
	}
	s.cache.forgetUnknown(k.Hash)
	s.audit(ctx, AuditEvent{Action: AuditKeyCreate, TargetID: k.ID, Detail: map[string]any{
		"ownerId": k.OwnerID, "name": k.Name, "key": k.Masked, "environment": k.Environment,
		"permissions": slices.Clone(k.Permissions), "tenantIds": slices.Clone(k.TenantIDs),
	}})
	return k, secret, nil
}

// validateKeyName checks a key name, with SPEC §5's message when it is missing.
func validateKeyName(name string) (string, error) {
	if strings.TrimSpace(name) == "" {
		return "", Invalid("API key name is required")
	}
	return validateName("name", name)
}

// expiry is an expiry as the Service keeps it: in UTC, rounded down to the
// second. The API shows expiries in whole seconds, and a key must be refused
// from the second shown, not up to a second later (SPEC §9).
func expiry(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// futureExpiry returns t as kept, which must still be in the future.
func (s *Service) futureExpiry(t time.Time) (*time.Time, error) {
	t = expiry(t)
	if !t.After(s.now()) {
		return nil, Invalid("expiresAt must be in the future")
	}
	return &t, nil
}

// issue gives k a fresh ID and secret and returns the secret.
func (s *Service) issue(k *Key) (string, error) {
	gen, err := apikey.Generate(s.prefix, k.Environment)
	if err != nil {
		return "", err
	}
	k.ID = NewID("key")
	k.Hash = gen.Hash()
	k.Masked = gen.Masked()
	return gen.String(), nil
}

// relinkTenants returns a key's tenant links after they are set to want:
// links in both keep their place, new ones follow in want's order and the
// others are dropped. Links are ordered by when they were made (SPEC §3) and
// the first is a request's default tenant (§6), so setting the same tenants
// in another order must not change which one that is.
func relinkTenants(linked, want []string) []string {
	out := make([]string, 0, len(want))
	for _, id := range linked {
		if slices.Contains(want, id) {
			out = append(out, id)
		}
	}
	for _, id := range want {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// ownerTenants checks that every requested tenant is one of the owner's
// memberships and returns them deduplicated, in request order.
func ownerTenants(owner *User, ids []string) ([]string, error) {
	if len(ids) > MaxTenantsPerKey {
		return nil, Invalid("tenantIds: at most %d tenants", MaxTenantsPerKey)
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(owner.TenantIDs, id) {
			return nil, Invalid("tenantIds: user %q is not a member of tenant %q", owner.ID, truncate(id))
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

func validateMeta(m map[string]any) (map[string]any, error) {
	if m == nil {
		return map[string]any{}, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, Invalid("meta must be a JSON object")
	}
	if len(b) > MaxMetaBytes {
		return nil, Invalid("meta must be at most %d bytes of JSON", MaxMetaBytes)
	}
	return m, nil
}

// ListKeys returns one page of keys, newest first, and the cursor of the
// next page ("" on the last page). cursor is what a previous call returned.
func (s *Service) ListKeys(ctx context.Context, f KeyFilter, cursor string) ([]*Key, string, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	if f.Limit > 100 {
		return nil, "", Invalid("limit must be between 1 and 100")
	}
	if f.Environment != "" && f.Environment != apikey.Live && f.Environment != apikey.Test {
		return nil, "", Invalid("environment must be \"live\" or \"test\"")
	}
	if cursor != "" {
		c, err := decodeCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		f.Before = c
	}
	// Fetch one extra row to learn whether another page exists.
	want := f.Limit
	f.Limit++
	keys, err := s.store.ListKeys(ctx, f)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(keys) > want {
		keys = keys[:want]
		last := keys[want-1]
		next = encodeCursor(KeyCursor{CreatedAt: last.CreatedAt, ID: last.ID})
	}
	return keys, next, nil
}

func encodeCursor(c KeyCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + "." + c.ID))
}

func decodeCursor(s string) (*KeyCursor, error) {
	bad := Invalid("cursor is invalid; pass the value returned by the previous page")
	if len(s) > 512 { // before decoding: a client chose its length
		return nil, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	micros, id, ok := strings.Cut(string(b), ".")
	us, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || id == "" {
		return nil, bad
	}
	return &KeyCursor{CreatedAt: time.UnixMicro(us).UTC(), ID: id}, nil
}

// GetKey returns a key owned by ownerID; ownerID "" (an admin) reads any key.
// Another user's key is NOT_FOUND, never FORBIDDEN, so IDs do not leak.
func (s *Service) GetKey(ctx context.Context, ownerID, id string) (*Key, error) {
	k, err := s.store.Key(ctx, id)
	if err != nil {
		return nil, err
	}
	if ownerID != "" && k.OwnerID != ownerID {
		return nil, ErrKeyNotFound
	}
	return k, nil
}

// updateOwnedKey runs fn on a key inside the store's transaction after
// checking ownership.
func (s *Service) updateOwnedKey(ctx context.Context, ownerID, id string, fn func(*Key) error) (*Key, error) {
	defer s.cache.invalidateKey(id)
	return s.store.UpdateKey(ctx, id, func(k *Key) error {
		if ownerID != "" && k.OwnerID != ownerID {
			return ErrKeyNotFound
		}
		return fn(k)
	})
}

var errRevoked = Errorf(CodeConflict, "API key has been revoked; revocation is permanent")

// UpdateKey applies a patch.
func (s *Service) UpdateKey(ctx context.Context, ownerID, id string, p KeyPatch) (*Key, error) {
	var owner *User
	if p.TenantIDs != nil {
		// The owner is needed for the membership check; ownership itself is
		// checked again inside the transaction.
		k, err := s.GetKey(ctx, ownerID, id)
		if err != nil {
			return nil, err
		}
		if owner, err = s.store.User(ctx, k.OwnerID); err != nil {
			return nil, err
		}
	}
	var name string
	var err error
	if p.Name != nil {
		if name, err = validateKeyName(*p.Name); err != nil {
			return nil, err
		}
	}
	var perms, tenants []string
	if p.Permissions != nil {
		if perms, err = normalizePermissions("permissions", *p.Permissions); err != nil {
			return nil, err
		}
		if err := s.checkCatalog(ctx, perms); err != nil {
			return nil, err
		}
	}
	if p.TenantIDs != nil {
		if tenants, err = ownerTenants(owner, *p.TenantIDs); err != nil {
			return nil, err
		}
	}
	var expires *time.Time
	if p.SetExpiresAt && p.ExpiresAt != nil {
		if expires, err = s.futureExpiry(*p.ExpiresAt); err != nil {
			return nil, err
		}
	}
	if p.SetRateLimit && p.RateLimit != nil {
		if err := ValidateRateLimit(*p.RateLimit); err != nil {
			return nil, err
		}
	}
	var meta map[string]any
	if p.Meta != nil {
		if meta, err = validateMeta(*p.Meta); err != nil {
			return nil, err
		}
	}
	k, err := s.updateOwnedKey(ctx, ownerID, id, func(k *Key) error {
		if k.RevokedAt != nil {
			return errRevoked
		}
		if p.Name != nil {
			k.Name = name
		}
		if p.Permissions != nil {
			k.Permissions = perms
		}
		if p.TenantIDs != nil {
			k.TenantIDs = relinkTenants(k.TenantIDs, tenants)
		}
		if p.SetExpiresAt {
			k.ExpiresAt = expires
		}
		if p.SetRateLimit {
			k.RateLimit = nil
			if p.RateLimit != nil {
				rl := *p.RateLimit
				k.RateLimit = &rl
			}
		}
		if p.Meta != nil {
			k.Meta = meta
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.audit(ctx, AuditEvent{Action: AuditKeyUpdate, TargetID: k.ID, Detail: map[string]any{
		"ownerId": k.OwnerID, "key": k.Masked, "fields": p.fields(),
	}})
	return k, nil
}

// fields names the fields a patch sets, for the audit log.
func (p KeyPatch) fields() []string {
	out := []string{}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"name", p.Name != nil}, {"permissions", p.Permissions != nil}, {"tenantIds", p.TenantIDs != nil},
		{"expiresAt", p.SetExpiresAt}, {"rateLimit", p.SetRateLimit}, {"meta", p.Meta != nil},
	} {
		if f.set {
			out = append(out, f.name)
		}
	}
	return out
}

// ToggleKey flips IsActive. A revoked key cannot be enabled again.
func (s *Service) ToggleKey(ctx context.Context, ownerID, id string) (*Key, error) {
	k, err := s.updateOwnedKey(ctx, ownerID, id, func(k *Key) error {
		if k.RevokedAt != nil {
			return errRevoked
		}
		k.IsActive = !k.IsActive
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.audit(ctx, AuditEvent{Action: AuditKeyToggle, TargetID: k.ID, Detail: map[string]any{
		"ownerId": k.OwnerID, "key": k.Masked, "isActive": k.IsActive,
	}})
	return k, nil
}

// RevokeKey revokes a key permanently. Revoking twice is a no-op that keeps
// the first revocation time.
func (s *Service) RevokeKey(ctx context.Context, ownerID, id string) (*Key, error) {
	revoked := false
	k, err := s.updateOwnedKey(ctx, ownerID, id, func(k *Key) error {
		revoked = k.RevokedAt == nil
		if revoked {
			now := s.Now()
			k.RevokedAt = &now
			k.IsActive = false
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if revoked { // a repeat changes nothing and is not recorded
		s.audit(ctx, AuditEvent{Action: AuditKeyRevoke, TargetID: k.ID, Detail: map[string]any{
			"ownerId": k.OwnerID, "key": k.Masked,
		}})
	}
	return k, nil
}

// MaxGracePeriod bounds how long a rotated-out key keeps working.
const MaxGracePeriod = 30 * 24 * time.Hour

// RotateKey issues a replacement for a key with the same name, environment,
// permissions, tenants, expiry, rate limit and meta. The old key expires
// after grace (at once for 0), rounded down to the second.
func (s *Service) RotateKey(ctx context.Context, ownerID, id string, grace time.Duration) (*Key, string, error) {
	if grace < 0 || grace > MaxGracePeriod {
		return nil, "", Invalid("gracePeriod must be between 0s and 30d")
	}
	var secret string
	defer s.cache.invalidateKey(id)
	k, err := s.store.RotateKey(ctx, id, func(old *Key) (*Key, error) {
		if ownerID != "" && old.OwnerID != ownerID {
			return nil, ErrKeyNotFound
		}
		if old.RevokedAt != nil {
			return nil, errRevoked
		}
		now := s.Now()
		next := &Key{
			Name:        old.Name,
			Environment: old.Environment,
			Permissions: slices.Clone(old.Permissions),
			TenantIDs:   slices.Clone(old.TenantIDs),
			OwnerID:     old.OwnerID,
			IsActive:    old.IsActive,
			ExpiresAt:   old.ExpiresAt,
			CreatedAt:   now,
			RateLimit:   old.RateLimit,
			Meta:        old.Meta,
			RotatedFrom: old.ID,
		}
		var err error
		if secret, err = s.issue(next); err != nil {
			return nil, err
		}
		end := expiry(now.Add(grace))
		if old.ExpiresAt == nil || end.Before(*old.ExpiresAt) {
			old.ExpiresAt = &end
		}
		return next, nil
	})
	if err != nil {
		return nil, "", err
	}
	s.audit(ctx, AuditEvent{Action: AuditKeyRotate, TargetID: id, Detail: map[string]any{
		"ownerId": k.OwnerID, "newKeyId": k.ID, "key": k.Masked, "gracePeriod": FormatDuration(grace),
	}})
	return k, secret, nil
}

// DeleteKey removes a key for good.
func (s *Service) DeleteKey(ctx context.Context, ownerID, id string) error {
	k, err := s.GetKey(ctx, ownerID, id)
	if err != nil {
		return err
	}
	defer s.cache.invalidateKey(id)
	if err := s.store.DeleteKey(ctx, id); err != nil {
		return err
	}
	s.audit(ctx, AuditEvent{Action: AuditKeyDelete, TargetID: id, Detail: map[string]any{
		"ownerId": k.OwnerID, "name": k.Name, "key": k.Masked,
	}})
	return nil
}

// ---- Verification -----------------------------------------------------

// AuthenticateKey checks a presented customer key: format and checksum
// first (no I/O for garbage), then the stored record and its state.
func (s *Service) AuthenticateKey(ctx context.Context, raw string) (*Key, error) {
	return s.authenticateKey(ctx, raw, nil, s.now())
}

// authenticateKey is AuthenticateKey for client (nil for none), which
// is refused before a database lookup once it has failed too often,
// at time now. The returned key is shared with the cache and must not be
// modified.
func (s *Service) authenticateKey(ctx context.Context, raw string, client ClientAddr, now time.Time) (*Key, error) {
	if len(raw) > apikey.MaxLen {
		return nil, ErrInvalidKey
	}
	// The cache is asked first, by the hash of what was presented: a
	// cached key's string is well formed, so a hit needs no parsing (and
	// its checksum) on every request. Anything else is parsed before the
	// database is asked.
	hash := apikey.Sum(raw)
	k, known := s.cache.key(hash, now)
	if known && !s.feed.cacheTrusted(now) {
		known = false // the feed has been down too long: ask the database
	}
	if !known {
		if parsed, err := apikey.Parse(raw); err != nil || parsed.Environment == apikey.Root {
			return nil, ErrInvalidKey
		}
		if err := s.checkFailures(ctx, clientIP(client), nil); err != nil {
			return nil, err
		}
		gen := s.cache.generation()
		var err error
		k, err = s.store.KeyByHash(ctx, hash)
		if err != nil {
			if ErrorCode(err) == CodeNotFound {
				s.cache.putUnknown(hash, now, gen)
			}
			return nil, lookupError(err, ErrInvalidKey)
		}
		k.usage = s.usage.newCell(k.ID)
		s.cache.putKey(k, gen)
	}
	// The lookup was by hash; compare once more in constant time so no
	// code path ever accepts a key by a variable-time comparison.
	if k == nil || subtle.ConstantTimeCompare(k.Hash[:], hash[:]) != 1 {
		return nil, ErrInvalidKey
	}
	return k, KeyState(k, now)
}

// KeyState returns nil for a usable key or why it is not usable.
func KeyState(k *Key, now time.Time) error {
	switch {
	case k.RevokedAt != nil:
		return ErrKeyRevoked
	case !k.IsActive:
		return ErrKeyDisabled
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return ErrKeyExpired
	}
	return nil
}

// lookupError turns a store error from a credential lookup into what the
// caller may see: NOT_FOUND becomes notFound; anything else means the
// database could not answer, which must never look like a bad key.
func lookupError(err error, notFound *Error) error {
	if ErrorCode(err) == CodeNotFound {
		return notFound
	}
	return &Error{Code: CodeUnavailable, Message: ErrUnavailable.Message, Err: err}
}

// ResolveTenant picks the tenant a request acts for: the requested one if
// the key is linked to it, else the first linked tenant, else none (nil).
// The header is only a selector among the key's own tenants.
func (s *Service) ResolveTenant(ctx context.Context, tenantIDs []string, requested string) (*Tenant, error) {
	return s.resolveTenant(ctx, tenantIDs, requested, s.now())
}

// resolveTenant is ResolveTenant at time now.
func (s *Service) resolveTenant(ctx context.Context, tenantIDs []string, requested string, now time.Time) (*Tenant, error) {
	id := requested
	if id == "" {
		if len(tenantIDs) == 0 {
			return nil, nil
		}
		id = tenantIDs[0]
	} else if !slices.Contains(tenantIDs, id) {
		return nil, ErrTenantDenied
	}
	if t := s.cache.tenant(id); t != nil && s.feed.cacheTrusted(now) {
		return t, nil
	}
	gen := s.cache.generation()
	t, err := s.store.Tenant(ctx, id)
	if err != nil {
		return nil, lookupError(err, ErrTenantDenied)
	}
	s.cache.putTenant(t, gen)
	return t, nil
}

// AuthenticateRoot checks a presented root key.
func (s *Service) AuthenticateRoot(ctx context.Context, raw string) (*RootKey, error) {
	parsed, err := apikey.Parse(raw)
	if err != nil || parsed.Environment != apikey.Root {
		return nil, ErrInvalidKey
	}
	hash := parsed.Hash()
	rk := s.cache.rootKey(hash)
	if rk == nil || !s.feed.cacheTrusted(s.now()) {
		gen := s.cache.generation()
		if rk, err = s.store.RootKeyByHash(ctx, hash); err != nil {
			return nil, lookupError(err, ErrInvalidKey)
		}
		s.cache.putRootKey(rk, gen)
	}
	if subtle.ConstantTimeCompare(rk.Hash[:], hash[:]) != 1 {
		return nil, ErrInvalidKey
	}
	return rk, nil
}

// HasScope reports whether a root key holds scope.
func (rk *RootKey) HasScope(scope string) bool {
	return slices.Contains(rk.Scopes, ScopeAll) || slices.Contains(rk.Scopes, scope)
}

// ---- Root keys --------------------------------------------------------

// CreateRootKey issues a root key and returns it with its secret.
func (s *Service) CreateRootKey(ctx context.Context, name string, scopes []string) (*RootKey, string, error) {
	gen, err := apikey.Generate(s.prefix, apikey.Root)
	if err != nil {
		return nil, "", err
	}
	rk, err := s.newRootKey(name, scopes, gen)
	if err != nil {
		return nil, "", err
	}
	if err := s.store.CreateRootKey(ctx, rk); err != nil {
		return nil, "", err
	}
	s.auditRootKeyCreate(ctx, rk)
	return rk, gen.String(), nil
}

func (s *Service) newRootKey(name string, scopes []string, gen apikey.Key) (*RootKey, error) {
	name, err := validateName("name", name)
	if err != nil {
		return nil, err
	}
	if len(scopes) == 0 {
		return nil, Invalid("scopes: at least one of %s is required", strings.Join(Scopes, ", "))
	}
	var clean []string
	for _, sc := range scopes {
		if !slices.Contains(Scopes, sc) {
			return nil, Invalid("scopes: %q is not one of %s", truncate(sc), strings.Join(Scopes, ", "))
		}
		if !slices.Contains(clean, sc) {
			clean = append(clean, sc)
		}
	}
	return &RootKey{ID: NewID("root"), Name: name, Hash: gen.Hash(), Masked: gen.Masked(), Scopes: clean, CreatedAt: s.Now()}, nil
}

// EnsureRootKey makes sure a root key with exactly the secret raw and scope
// "*" exists (LATCHKEY_ROOT_KEY). raw must be a well-formed root key.
func (s *Service) EnsureRootKey(ctx context.Context, raw string) error {
	if err := ValidateRootKeySecret(raw); err != nil {
		return err
	}
	parsed, _ := apikey.Parse(raw)
	_, err := s.store.RootKeyByHash(ctx, parsed.Hash())
	if err == nil {
		return nil
	}
	if ErrorCode(err) != CodeNotFound {
		return err
	}
	rk, err := s.newRootKey("LATCHKEY_ROOT_KEY", []string{ScopeAll}, parsed)
	if err != nil {
		return err
	}
	if err := s.store.CreateRootKey(ctx, rk); err != nil {
		return err
	}
	s.auditRootKeyCreate(ctx, rk)
	return nil
}

func (s *Service) auditRootKeyCreate(ctx context.Context, rk *RootKey) {
	s.audit(ctx, AuditEvent{Action: AuditRootKeyCreate, TargetID: rk.ID, Detail: map[string]any{
		"name": rk.Name, "key": rk.Masked, "scopes": slices.Clone(rk.Scopes),
	}})
}

// ValidateRootKeySecret checks the value of LATCHKEY_ROOT_KEY without
// echoing it.
func ValidateRootKeySecret(raw string) error {
	parsed, err := apikey.Parse(raw)
	if err != nil || parsed.Environment != apikey.Root {
		return errors.New("LATCHKEY_ROOT_KEY is not a well-formed root key ({prefix}_root_ then 32 base62 characters with a valid checksum); generate one with `latchkey root-keys create`")
	}
	return nil
}

// ListRootKeys returns every root key, oldest first.
func (s *Service) ListRootKeys(ctx context.Context) ([]*RootKey, error) {
	return s.store.ListRootKeys(ctx)
}

// DeleteRootKey removes a root key.
func (s *Service) DeleteRootKey(ctx context.Context, id string) error {
	defer s.cache.invalidateAll()
	if err := s.store.DeleteRootKey(ctx, id); err != nil {
		return err
	}
	s.audit(ctx, AuditEvent{Action: AuditRootKeyDelete, TargetID: id})
	return nil
}

// InvalidateKey drops a key from this node's cache. Another node (or a
// process sharing the database) calls it after changing the key.
func (s *Service) InvalidateKey(id string) { s.cache.invalidateKey(id) }

// InvalidateAll drops every cached credential and tenant: the safety net
// when changes may have been missed.
func (s *Service) InvalidateAll() { s.cache.invalidateAll() }
