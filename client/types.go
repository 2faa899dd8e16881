package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Key is an API key (SPEC §7).
type Key struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Key is the full secret in the answers of CreateKey and RotateKey,
	// which are the only chance to see it; elsewhere it is masked
	// ("tb_live_a1b2c3d4...").
	Key          string         `json:"key"`
	Environment  string         `json:"environment"` // "live" or "test"
	Permissions  []string       `json:"permissions"`
	TenantIDs    []string       `json:"tenantIds"` // in the order they were linked
	OwnerID      string         `json:"ownerId"`
	IsActive     bool           `json:"isActive"`
	ExpiresAt    *time.Time     `json:"expiresAt"`
	RevokedAt    *time.Time     `json:"revokedAt"`
	CreatedAt    time.Time      `json:"createdAt"`
	LastUsedAt   *time.Time     `json:"lastUsedAt"`
	RequestCount int64          `json:"requestCount"`
	RateLimit    *RateLimit     `json:"rateLimit"`
	Meta         map[string]any `json:"meta"`
	RotatedFrom  string         `json:"rotatedFrom,omitempty"` // the key a rotation replaced
}

// LogValue shows the key masked when k is logged through log/slog.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", k.ID),
		slog.String("name", k.Name),
		slog.String("key", Mask(k.Key)),
		slog.String("environment", k.Environment),
		slog.String("ownerId", k.OwnerID),
	)
}

// Mask renders a key the way Latchkey shows it outside create and rotate:
// prefix, environment and the first 8 body characters, then "...". A masked
// key stays as it is; anything else not shaped like a key (SPEC §4) becomes
// "[redacted]".
func Mask(key string) string {
	prefix, rest, _ := strings.Cut(key, "_")
	env, body, _ := strings.Cut(rest, "_")
	if len(prefix) < 1 || len(prefix) > 12 || strings.Trim(prefix, "abcdefghijklmnopqrstuvwxyz0123456789") != "" ||
		(env != "live" && env != "test" && env != "root") {
		return "[redacted]"
	}
	head, masked := strings.CutSuffix(body, "...")
	if masked && len(head) == 8 && base62(head) {
		return key // already masked
	}
	if len(body) != 32 || !base62(body) {
		return "[redacted]"
	}
	return prefix + "_" + env + "_" + body[:8] + "..."
}

func base62(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// RateLimit admits at most Limit requests in any Window.
type RateLimit struct {
	Limit  int
	Window time.Duration // whole seconds; Latchkey accepts 1s to 30d
}

type rateLimitJSON struct {
	Limit  int    `json:"limit"`
	Window string `json:"window"`
}

func (rl RateLimit) MarshalJSON() ([]byte, error) {
	return json.Marshal(rateLimitJSON{Limit: rl.Limit, Window: formatDuration(rl.Window)})
}

func (rl *RateLimit) UnmarshalJSON(b []byte) error {
	var j rateLimitJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	d, err := parseDuration(j.Window)
	if err != nil {
		return fmt.Errorf("rateLimit.window: %w", err)
	}
	*rl = RateLimit{Limit: j.Limit, Window: d}
	return nil
}

// KeyCreate is what CreateKey sends. Only Name is required.
type KeyCreate struct {
	Name        string
	Environment string   // "live" (the default) or "test"
	Permissions []string // e.g. "messages:send", "messages:*", "*"
	TenantIDs   []string // tenants of the acting user only
	// Set at most one of ExpiresAt and ExpiresIn; neither means the key
	// does not expire.
	ExpiresAt *time.Time
	ExpiresIn time.Duration
	RateLimit *RateLimit
	Meta      map[string]any
}

func (k KeyCreate) MarshalJSON() ([]byte, error) {
	type wire struct {
		Name        string         `json:"name"`
		Environment string         `json:"environment,omitempty"`
		Permissions []string       `json:"permissions,omitempty"`
		TenantIDs   []string       `json:"tenantIds,omitempty"`
		ExpiresAt   string         `json:"expiresAt,omitempty"`
		ExpiresIn   string         `json:"expiresIn,omitempty"`
		RateLimit   *RateLimit     `json:"rateLimit,omitempty"`
		Meta        map[string]any `json:"meta,omitempty"`
	}
	w := wire{Name: k.Name, Environment: k.Environment, Permissions: k.Permissions,
		TenantIDs: k.TenantIDs, RateLimit: k.RateLimit, Meta: k.Meta}
	if k.ExpiresAt != nil {
		w.ExpiresAt = formatTime(*k.ExpiresAt)
	}
	if k.ExpiresIn != 0 {
		w.ExpiresIn = formatDuration(k.ExpiresIn)
	}
	return json.Marshal(w)
}

// KeyPatch is what UpdateKey changes; the zero value changes nothing.
//
// For the slices and Meta, nil leaves the field alone and a non-nil empty
// value empties it. ExpiresAt and RateLimit are set when non-nil and
// removed (sent as null) with ClearExpiresAt and ClearRateLimit.
type KeyPatch struct {
	Name           *string
	Permissions    []string
	TenantIDs      []string
	Meta           map[string]any
	ExpiresAt      *time.Time
	ClearExpiresAt bool // the key no longer expires
	RateLimit      *RateLimit
	ClearRateLimit bool // the key is no longer rate limited
}

func (p KeyPatch) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	if p.Name != nil {
		m["name"] = *p.Name
	}
	if p.Permissions != nil {
		m["permissions"] = p.Permissions
	}
	if p.TenantIDs != nil {
		m["tenantIds"] = p.TenantIDs
	}
	if p.Meta != nil {
		m["meta"] = p.Meta
	}
	switch {
	case p.ExpiresAt != nil && p.ClearExpiresAt:
		return nil, errors.New("KeyPatch: set ExpiresAt or ClearExpiresAt, not both")
	case p.ExpiresAt != nil:
		m["expiresAt"] = formatTime(*p.ExpiresAt)
	case p.ClearExpiresAt:
		m["expiresAt"] = nil
	}
	switch {
	case p.RateLimit != nil && p.ClearRateLimit:
		return nil, errors.New("KeyPatch: set RateLimit or ClearRateLimit, not both")
	case p.RateLimit != nil:
		m["rateLimit"] = *p.RateLimit
	case p.ClearRateLimit:
		m["rateLimit"] = nil
	}
	return json.Marshal(m)
}

// ListKeysOptions selects a page of keys, newest first.
type ListKeysOptions struct {
	Environment string // "live" or "test"; "" for both
	Limit       int    // 1..100; 0 for the server's default (50)
	Cursor      string // NextCursor of the previous page
}

// Page is one page of a list. NextCursor is "" on the last page.
type Page[T any] struct {
	Items      []T
	NextCursor string
}

// Tenant is a customer organisation.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// User owns keys and belongs to tenants.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"` // "" when the user has no login
	IsAdmin   bool      `json:"isAdmin"`
	Disabled  bool      `json:"disabled"`
	TenantIDs []string  `json:"tenantIds"`
	CreatedAt time.Time `json:"createdAt"`
}

// UserCreate is what CreateUser sends. An empty ID lets Latchkey choose
// one; Email and Password give the user a dashboard login.
type UserCreate struct {
	ID        string   `json:"id,omitempty"`
	Email     string   `json:"email,omitempty"`
	Password  string   `json:"password,omitempty"`
	IsAdmin   bool     `json:"isAdmin,omitempty"`
	TenantIDs []string `json:"tenantIds,omitempty"`
}

// ListOptions selects a page of an ID-ordered admin list.
type ListOptions struct {
	Limit  int    // 1..1000; 0 for the server's default (100)
	Cursor string // NextCursor of the previous page
}

// Identity is the answer of WhoAmI (GET /api/v1/users/me): who owns the
// credential and which tenant the request acts for.
type Identity struct {
	Credential string      `json:"credential"` // "api_key" or "oauth_token"
	User       UserRef     `json:"user"`
	Tenant     *TenantRef  `json:"tenant"` // nil when the key is linked to no tenant
	Key        IdentityKey `json:"key"`
	// RateLimit is the key's limiter state after this request, from the
	// RateLimit-* headers; nil when the key is not rate limited.
	RateLimit *RateLimitStatus `json:"-"`
}

// UserRef names a user.
type UserRef struct {
	ID string `json:"id"`
}

// TenantRef names a tenant.
type TenantRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// IdentityKey describes the key (or OAuth client) of an Identity.
type IdentityKey struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Environment string   `json:"environment"`
	Permissions []string `json:"permissions"`
}

// RateLimitStatus is a key's limiter state after a request.
type RateLimitStatus struct {
	Limit     int
	Remaining int
	Reset     time.Duration // until the window frees a request, in whole seconds
}

// Verification is the verify API's answer, and what the middleware puts in
// the request context. A refused key has Valid false and Code saying why;
// every other field is then empty.
type Verification struct {
	Valid       bool
	Code        string // CodeValid, or an error code such as CodeKeyRevoked
	KeyID       string
	OwnerID     string
	TenantID    string // "" when the key is linked to no tenant
	Environment string
	Permissions []string
	ExpiresAt   *time.Time
	RateLimit   *RateLimitStatus // nil when the key is not rate limited
	TraceID     string           // of the verify call

	permission string // the one asked for, named by Err
}

// HasPermission reports whether the verified key grants p, with Latchkey's
// wildcards: "*" grants everything and "messages:*" every "messages:…".
// Use it for checks finer than the middleware's Permission.
func (v *Verification) HasPermission(p string) bool {
	if v == nil || !v.Valid {
		return false
	}
	for _, g := range v.Permissions {
		if g == p || g == "*" || (strings.HasSuffix(g, ":*") && strings.HasPrefix(p, g[:len(g)-1])) {
			return true
		}
	}
	return false
}

type verificationJSON struct {
	Valid       bool     `json:"valid"`
	Code        string   `json:"code"`
	KeyID       *string  `json:"keyId"`
	OwnerID     *string  `json:"ownerId"`
	TenantID    *string  `json:"tenantId"`
	Environment *string  `json:"environment"`
	Permissions []string `json:"permissions"`
	ExpiresAt   *string  `json:"expiresAt"`
	RateLimit   *struct {
		Limit     int   `json:"limit"`
		Remaining int   `json:"remaining"`
		Reset     int64 `json:"reset"`
	} `json:"ratelimit"`
}

func (v *Verification) UnmarshalJSON(b []byte) error {
	var j verificationJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*v = Verification{Valid: j.Valid, Code: j.Code, KeyID: deref(j.KeyID), OwnerID: deref(j.OwnerID),
		TenantID: deref(j.TenantID), Environment: deref(j.Environment), Permissions: j.Permissions}
	if j.ExpiresAt != nil {
		t, err := time.Parse(time.RFC3339, *j.ExpiresAt)
		if err != nil {
			return fmt.Errorf("expiresAt: %w", err)
		}
		v.ExpiresAt = &t
	}
	if rl := j.RateLimit; rl != nil {
		v.RateLimit = &RateLimitStatus{Limit: rl.Limit, Remaining: rl.Remaining, Reset: time.Duration(rl.Reset) * time.Second}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Bounds of the durations a time.Duration can hold, in the units the
// server writes them in.
const (
	day        = 24 * time.Hour
	maxDays    = int64(math.MaxInt64 / day)
	maxSeconds = int64(math.MaxInt64 / time.Second)
)

// formatDuration writes d the way Latchkey reads it: "30d", "1h", "90s".
func formatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%day == 0:
		return strconv.FormatInt(int64(d/day), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

// parseDuration reads Latchkey's durations: Go's, plus whole days ("30d").
func parseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		if err != nil || days < 0 || days > maxDays {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(days) * day, nil
	}
	return time.ParseDuration(s)
}

// rateLimitFromHeaders reads RateLimit-Limit, -Remaining and -Reset; nil
// when they are absent or not counts.
func rateLimitFromHeaders(h http.Header) *RateLimitStatus {
	limit, err1 := strconv.Atoi(h.Get("RateLimit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("RateLimit-Remaining"))
	reset, err3 := strconv.ParseInt(h.Get("RateLimit-Reset"), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || limit < 0 || remaining < 0 || reset < 0 || reset > maxSeconds {
		return nil
	}
	return &RateLimitStatus{Limit: limit, Remaining: remaining, Reset: time.Duration(reset) * time.Second}
}
