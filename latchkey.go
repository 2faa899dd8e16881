// Package latchkey holds Latchkey's domain: tenants, users, API keys, root
// keys, the rules that govern them, and the Store interfaces that adapters
// (sqlite, postgres) implement. It imports only the standard library and the
// stdlib-only apikey package.
package latchkey

import (
	"context"
	"time"
)

// Tenant is a customer organisation.
type Tenant struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// User owns keys and may sign in to the dashboard.
type User struct {
	ID           string
	Email        string // "" when the user has no login
	PasswordHash string // argon2id PHC string; "" when none
	IsAdmin      bool
	Disabled     bool
	TenantIDs    []string // memberships, in the order they were added
	CreatedAt    time.Time
}

// RateLimit admits at most Limit requests in any Window.
type RateLimit struct {
	Limit  int
	Window time.Duration
}

// Key is a customer API key. The secret itself is never stored: only Hash.
type Key struct {
	ID           string
	Hash         [32]byte // SHA-256 of the full key
	Masked       string   // e.g. "lk_live_a1b2c3d4..."
	Name         string
	Environment  string // "live" or "test"
	Permissions  []string
	TenantIDs    []string // in link order
	OwnerID      string
	IsActive     bool
	ExpiresAt    *time.Time
	RevokedAt    *time.Time
	CreatedAt    time.Time
	LastUsedAt   *time.Time
	RequestCount int64
	RateLimit    *RateLimit
	Meta         map[string]any
	RotatedFrom  string // ID of the key this one replaced, or ""

	usage *usageCell // counts this record's uses while it is cached (Service)
}

// RootKey is an administrator credential.
type RootKey struct {
	ID        string
	Name      string
	Hash      [32]byte
	Masked    string
	Scopes    []string
	CreatedAt time.Time
}

// Root key scopes.
const (
	ScopeAll    = "*"           // everything
	ScopeAdmin  = "admin"       // /api/v1/admin/...
	ScopeManage = "keys:manage" // self-service API on behalf of a user (x-user-id)
	ScopeVerify = "keys:verify" // POST /api/v1/keys/verify
)

// Scopes lists every valid root key scope.
var Scopes = []string{ScopeAll, ScopeAdmin, ScopeManage, ScopeVerify}

// Usage is a batch of uses of one key, to be added to its counters.
type Usage struct {
	KeyID      string
	Count      int64
	LastUsedAt time.Time
}

// KeyFilter selects keys for listing, newest first.
type KeyFilter struct {
	OwnerID     string // "" for any owner
	TenantID    string // "" for any tenant
	Environment string // "" for any environment
	Limit       int    // > 0
	// Before, when set, returns only keys strictly older than it in
	// (CreatedAt, ID) descending order: the keyset pagination cursor.
	Before *KeyCursor
}

// KeyCursor is a position in the newest-first key order.
type KeyCursor struct {
	CreatedAt time.Time
	ID        string
}

// Page selects a page of tenants or users in ascending ID order.
type Page struct {
	Limit int    // > 0
	After string // return IDs strictly greater than this; "" from the start
}

// Every Store method returns *Error values for expected failures:
// NOT_FOUND when a named record does not exist, CONFLICT when a unique ID,
// email or key hash already exists. Any other error is internal.
// Times are stored with at least microsecond precision.

// TenantStore persists tenants.
type TenantStore interface {
	CreateTenant(ctx context.Context, t *Tenant) error
	Tenant(ctx context.Context, id string) (*Tenant, error)
	ListTenants(ctx context.Context, p Page) ([]*Tenant, error)
	// UpdateTenant reads the tenant, applies fn and writes it back in one
	// transaction; an error from fn aborts the update and is returned as is.
	UpdateTenant(ctx context.Context, id string, fn func(*Tenant) error) (*Tenant, error)
	// DeleteTenant removes the tenant, its memberships and its key links.
	DeleteTenant(ctx context.Context, id string) error
}

// UserStore persists users and tenant memberships.
type UserStore interface {
	CreateUser(ctx context.Context, u *User) error // also stores u.TenantIDs as memberships
	User(ctx context.Context, id string) (*User, error)
	UserByEmail(ctx context.Context, email string) (*User, error) // case-insensitive
	ListUsers(ctx context.Context, p Page) ([]*User, error)
	// UpdateUser applies fn to Email, PasswordHash, IsAdmin and Disabled in
	// one transaction; memberships change only through Add/RemoveMembership.
	UpdateUser(ctx context.Context, id string, fn func(*User) error) (*User, error)
	// DeleteUser removes the user, its memberships and all its keys.
	DeleteUser(ctx context.Context, id string) error
	// AddMembership is idempotent; NOT_FOUND if the user or tenant does not exist.
	AddMembership(ctx context.Context, userID, tenantID string) error
	// RemoveMembership also unlinks the tenant from the user's keys.
	RemoveMembership(ctx context.Context, userID, tenantID string) error
}

// KeyStore persists API keys.
type KeyStore interface {
	CreateKey(ctx context.Context, k *Key) error
	Key(ctx context.Context, id string) (*Key, error)
	KeyByHash(ctx context.Context, hash [32]byte) (*Key, error)
	ListKeys(ctx context.Context, f KeyFilter) ([]*Key, error)
	// UpdateKey reads the key, applies fn and writes back every mutable field
	// (Name, Permissions, TenantIDs, IsActive, ExpiresAt, RevokedAt,
	// RateLimit, Meta) in one transaction; an error from fn aborts it.
	UpdateKey(ctx context.Context, id string, fn func(*Key) error) (*Key, error)
	// RotateKey, in one transaction, reads the key, calls fn, which mutates
	// the old key and returns its replacement, writes the old key back as
	// UpdateKey does, and creates the replacement.
	RotateKey(ctx context.Context, id string, fn func(old *Key) (*Key, error)) (*Key, error)
	DeleteKey(ctx context.Context, id string) error
	// AddUsage adds each Count to the key's request count and moves its
	// last-used time forward (never back). Unknown key IDs are ignored.
	AddUsage(ctx context.Context, batch []Usage) error
}

// RootKeyStore persists root keys.
type RootKeyStore interface {
	CreateRootKey(ctx context.Context, k *RootKey) error
	RootKeyByHash(ctx context.Context, hash [32]byte) (*RootKey, error)
	ListRootKeys(ctx context.Context) ([]*RootKey, error) // oldest first
	DeleteRootKey(ctx context.Context, id string) error
}

// Store is everything Latchkey persists.
type Store interface {
	TenantStore
	UserStore
	KeyStore
	RootKeyStore
	OAuthStore
	CatalogStore
	SessionStore
	// Ping reports whether the database is reachable.
	Ping(ctx context.Context) error
	Close() error
}
