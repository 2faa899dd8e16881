package server

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/latchkey/latchkey"
)

// keyJSON is the key object of SPEC §7.
type keyJSON struct {
	ID           string         `json:"id"`
	Name         string         `json:"name"`
	Key          string         `json:"key"`
	Environment  string         `json:"environment"`
	Permissions  []string       `json:"permissions"`
	TenantIDs    []string       `json:"tenantIds"`
	OwnerID      string         `json:"ownerId"`
	IsActive     bool           `json:"isActive"`
	ExpiresAt    *string        `json:"expiresAt"`
	RevokedAt    *string        `json:"revokedAt"`
	CreatedAt    string         `json:"createdAt"`
	LastUsedAt   *string        `json:"lastUsedAt"`
	RequestCount int64          `json:"requestCount"`
	RateLimit    *rateLimitJSON `json:"rateLimit"`
	Meta         map[string]any `json:"meta"`
	RotatedFrom  string         `json:"rotatedFrom,omitempty"`
}

type rateLimitJSON struct {
	Limit  int    `json:"limit"`
	Window string `json:"window"`
}

// newKeyJSON presents k; secret is the full key, "" to show it masked.
func newKeyJSON(k *latchkey.Key, secret string) keyJSON {
	j := keyJSON{
		ID:           k.ID,
		Name:         k.Name,
		Key:          k.Masked,
		Environment:  k.Environment,
		Permissions:  nonNil(k.Permissions),
		TenantIDs:    nonNil(k.TenantIDs),
		OwnerID:      k.OwnerID,
		IsActive:     k.IsActive,
		ExpiresAt:    timePtr(k.ExpiresAt),
		RevokedAt:    timePtr(k.RevokedAt),
		CreatedAt:    formatTime(k.CreatedAt),
		LastUsedAt:   timePtr(k.LastUsedAt),
		RequestCount: k.RequestCount,
		Meta:         k.Meta,
		RotatedFrom:  k.RotatedFrom,
	}
	if secret != "" {
		j.Key = secret
	}
	if j.Meta == nil {
		j.Meta = map[string]any{}
	}
	if k.RateLimit != nil {
		j.RateLimit = &rateLimitJSON{Limit: k.RateLimit.Limit, Window: latchkey.FormatDuration(k.RateLimit.Window)}
	}
	return j
}

// MaskedKeyJSON is the key object of SPEC §7 with the key masked: what the
// API shows outside create and rotate, and what the CLI prints.
func MaskedKeyJSON(k *latchkey.Key) any { return newKeyJSON(k, "") }

// formatTime renders times as RFC 3339 in UTC, to the second.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func timePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := formatTime(*t)
	return &s
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// createKeyRequest is the body of the create-key endpoints.
type createKeyRequest struct {
	Name        string            `json:"name"`
	Environment string            `json:"environment"`
	Permissions []string          `json:"permissions"`
	TenantIDs   []string          `json:"tenantIds"`
	ExpiresAt   *string           `json:"expiresAt"`
	ExpiresIn   *string           `json:"expiresIn"`
	RateLimit   *rateLimitRequest `json:"rateLimit"`
	Meta        map[string]any    `json:"meta"`
}

type rateLimitRequest struct {
	Limit  int    `json:"limit"`
	Window string `json:"window"`
}

// newKey converts a create request; now is the service clock, for expiresIn.
func (req createKeyRequest) newKey(now time.Time) (latchkey.NewKey, error) {
	in := latchkey.NewKey{
		Name:        req.Name,
		Environment: req.Environment,
		Permissions: req.Permissions,
		TenantIDs:   req.TenantIDs,
		Meta:        req.Meta,
	}
	switch {
	case req.ExpiresAt != nil && req.ExpiresIn != nil:
		return in, latchkey.Invalid("set either expiresAt or expiresIn, not both")
	case req.ExpiresAt != nil:
		t, err := parseTime("expiresAt", *req.ExpiresAt)
		if err != nil {
			return in, err
		}
		in.ExpiresAt = &t
	case req.ExpiresIn != nil:
		d, err := latchkey.ParseDuration(*req.ExpiresIn)
		if err != nil {
			return in, fieldError("expiresIn", err)
		}
		if d < time.Second {
			// Expiries are kept in whole seconds.
			return in, latchkey.Invalid("expiresIn must be at least 1s, e.g. \"30d\"")
		}
		t := now.Add(d)
		in.ExpiresAt = &t
	}
	if req.RateLimit != nil {
		rl, err := req.RateLimit.rateLimit()
		if err != nil {
			return in, err
		}
		in.RateLimit = rl
	}
	return in, nil
}

func (req rateLimitRequest) rateLimit() (*latchkey.RateLimit, error) {
	if req.Window == "" {
		return nil, latchkey.Invalid("rateLimit.window is required, e.g. \"1m\"")
	}
	d, err := latchkey.ParseDuration(req.Window)
	if err != nil {
		return nil, fieldError("rateLimit.window", err)
	}
	return &latchkey.RateLimit{Limit: req.Limit, Window: d}, nil
}

// parseTime reads an RFC 3339 time from field.
func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, latchkey.Invalid("%s must be an RFC 3339 time such as \"2030-01-01T00:00:00Z\"", field)
	}
	return t, nil
}

// fieldError prefixes a validation error's message with the field it is about.
func fieldError(field string, err error) error {
	if e, ok := err.(*latchkey.Error); ok {
		return latchkey.Invalid("%s: %s", field, e.Message)
	}
	return err
}

// patchKeyRequest is the body of the update-key endpoints: absent fields
// are left alone, null clears expiresAt and rateLimit (and empties
// permissions, tenantIds and meta).
type patchKeyRequest struct {
	Name        optional[string]           `json:"name"`
	Permissions optional[[]string]         `json:"permissions"`
	TenantIDs   optional[[]string]         `json:"tenantIds"`
	ExpiresAt   optional[string]           `json:"expiresAt"`
	RateLimit   optional[rateLimitRequest] `json:"rateLimit"`
	Meta        optional[map[string]any]   `json:"meta"`
}

func (req patchKeyRequest) patch() (latchkey.KeyPatch, error) {
	var p latchkey.KeyPatch
	var err error
	if p.Name, err = req.Name.get("name"); err != nil {
		return p, err
	}
	if req.Permissions.Set {
		perms := nonNil(req.Permissions.Value)
		p.Permissions = &perms
	}
	if req.TenantIDs.Set {
		ids := nonNil(req.TenantIDs.Value)
		p.TenantIDs = &ids
	}
	if req.ExpiresAt.Set {
		p.SetExpiresAt = true
		if !req.ExpiresAt.Null {
			t, err := parseTime("expiresAt", req.ExpiresAt.Value)
			if err != nil {
				return p, err
			}
			p.ExpiresAt = &t
		}
	}
	if req.RateLimit.Set {
		p.SetRateLimit = true
		if !req.RateLimit.Null {
			if p.RateLimit, err = req.RateLimit.Value.rateLimit(); err != nil {
				return p, err
			}
		}
	}
	if req.Meta.Set {
		meta := req.Meta.Value
		if meta == nil {
			meta = map[string]any{}
		}
		p.Meta = &meta
	}
	return p, nil
}

type rotateKeyRequest struct {
	GracePeriod string `json:"gracePeriod"`
}

type messageJSON struct {
	Message string `json:"message"`
}

// ownerFunc authenticates a request to a key endpoint and returns whose
// keys it may touch: a user ID, or "" for an administrator (any key); and
// the request with the caller as the actor of its changes.
type ownerFunc func(info *requestInfo, r *http.Request) (string, *http.Request, error)

// selfOwner is the self-service API's owner: the acting user.
func selfOwner(svc *latchkey.Service, cfg Config) ownerFunc {
	return func(info *requestInfo, r *http.Request) (string, *http.Request, error) {
		u, r, err := actingUser(svc, cfg, info, r)
		if err != nil {
			return "", nil, err
		}
		return u.ID, r, nil
	}
}

// adminOwner lets an admin root key touch every key.
func adminOwner(svc *latchkey.Service) ownerFunc {
	return func(info *requestInfo, r *http.Request) (string, *http.Request, error) {
		r, err := adminAuth(svc, info, r)
		return "", r, err
	}
}

// pathUserOwner lets an admin root key act for the user named in the path.
func pathUserOwner(svc *latchkey.Service) ownerFunc {
	return func(info *requestInfo, r *http.Request) (string, *http.Request, error) {
		r, err := adminAuth(svc, info, r)
		if err != nil {
			return "", nil, err
		}
		return r.PathValue("id"), r, nil
	}
}

// keyNotFound makes every missing key the same NOT_FOUND, whether it does
// not exist or belongs to someone else.
func keyNotFound(err error) error {
	if latchkey.ErrorCode(err) == latchkey.CodeNotFound {
		return latchkey.ErrKeyNotFound
	}
	return err
}

// noStore marks a response that carries a secret as uncacheable.
func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

func handleCreateKey(svc *latchkey.Service, rs *responder, owner ownerFunc, base string) http.Handler {
	return rs.handle(func(w http.ResponseWriter, r *http.Request) error {
		ownerID, r, err := owner(infoOf(w), r)
		if err != nil {
			return err
		}
		req, err := decode[createKeyRequest](r)
		if err != nil {
			return err
		}
		in, err := req.newKey(svc.Now())
		if err != nil {
			return err
		}
		k, secret, err := svc.CreateKey(r.Context(), ownerID, in)
		if err != nil {
			return err
		}
		noStore(w)
		w.Header().Set("Location", base+"/"+url.PathEscape(k.ID))
		encode(w, http.StatusCreated, newKeyJSON(k, secret))
		return nil
	})
}

// handleListKeys lists keys newest first. With adminFilters the ownerId and
// tenantId query parameters select keys; otherwise the owner's keys only.
func handleListKeys(svc *latchkey.Service, rs *responder, owner ownerFunc, base string, adminFilters bool) http.Handler {
	return rs.handle(func(w http.ResponseWriter, r *http.Request) error {
		ownerID, r, err := owner(infoOf(w), r)
		if err != nil {
			return err
		}
		q := r.URL.Query()
		limit, err := queryLimit(q, 50, 100)
		if err != nil {
			return err
		}
		f := latchkey.KeyFilter{OwnerID: ownerID, Environment: q.Get("environment"), Limit: limit}
		filters := []string{"environment"}
		if adminFilters {
			f.OwnerID, f.TenantID = q.Get("ownerId"), q.Get("tenantId")
			filters = append(filters, "ownerId", "tenantId")
		}
		keys, next, err := svc.ListKeys(r.Context(), f, q.Get("cursor"))
		if err != nil {
			return err
		}
		if next != "" {
			nq := url.Values{"cursor": {next}, "limit": {strconv.Itoa(limit)}}
			for _, name := range filters {
				if v := q.Get(name); v != "" {
					nq.Set(name, v)
				}
			}
			w.Header().Set("X-Next-Cursor", next)
			w.Header().Set("Link", "<"+base+"?"+nq.Encode()+`>; rel="next"`)
		}
		out := make([]keyJSON, len(keys))
		for i, k := range keys {
			out[i] = newKeyJSON(k, "")
		}
		encode(w, http.StatusOK, out)
		return nil
	})
}

// queryLimit reads ?limit=, def when absent, else 1..max.
func queryLimit(q url.Values, def, max int) (int, error) {
	s := q.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, latchkey.Invalid("limit must be an integer between 1 and %d", max)
	}
	return n, nil
}

func handleGetKey(svc *latchkey.Service, rs *responder, owner ownerFunc) http.Handler {
	return handleKeyAction(rs, owner, func(r *http.Request, ownerID, id string) (*latchkey.Key, error) {
		return svc.GetKey(r.Context(), ownerID, id)
	})
}

func handleUpdateKey(svc *latchkey.Service, rs *responder, owner ownerFunc) http.Handler {
	return handleKeyAction(rs, owner, func(r *http.Request, ownerID, id string) (*latchkey.Key, error) {
		req, err := decode[patchKeyRequest](r)
		if err != nil {
			return nil, err
		}
		p, err := req.patch()
		if err != nil {
			return nil, err
		}
		return svc.UpdateKey(r.Context(), ownerID, id, p)
	})
}

func handleToggleKey(svc *latchkey.Service, rs *responder, owner ownerFunc) http.Handler {
	return handleKeyAction(rs, owner, func(r *http.Request, ownerID, id string) (*latchkey.Key, error) {
		return svc.ToggleKey(r.Context(), ownerID, id)
	})
}

func handleRevokeKey(svc *latchkey.Service, rs *responder, owner ownerFunc) http.Handler {
	return handleKeyAction(rs, owner, func(r *http.Request, ownerID, id string) (*latchkey.Key, error) {
		return svc.RevokeKey(r.Context(), ownerID, id)
	})
}

// handleKeyAction serves the endpoints that act on one key and answer with
// it (masked).
func handleKeyAction(rs *responder, owner ownerFunc, action func(r *http.Request, ownerID, id string) (*latchkey.Key, error)) http.Handler {
	return rs.handle(func(w http.ResponseWriter, r *http.Request) error {
		ownerID, r, err := owner(infoOf(w), r)
		if err != nil {
			return err
		}
		k, err := action(r, ownerID, r.PathValue("id"))
		if err != nil {
			return keyNotFound(err)
		}
		encode(w, http.StatusOK, newKeyJSON(k, ""))
		return nil
	})
}

func handleRotateKey(svc *latchkey.Service, rs *responder, owner ownerFunc, base string) http.Handler {
	return rs.handle(func(w http.ResponseWriter, r *http.Request) error {
		ownerID, r, err := owner(infoOf(w), r)
		if err != nil {
			return err
		}
		req, err := decodeOptional[rotateKeyRequest](r)
		if err != nil {
			return err
		}
		var grace time.Duration
		if req.GracePeriod != "" {
			if grace, err = latchkey.ParseDuration(req.GracePeriod); err != nil {
				return fieldError("gracePeriod", err)
			}
		}
		k, secret, err := svc.RotateKey(r.Context(), ownerID, r.PathValue("id"), grace)
		if err != nil {
			return keyNotFound(err)
		}
		noStore(w)
		w.Header().Set("Location", base+"/"+url.PathEscape(k.ID))
		encode(w, http.StatusCreated, newKeyJSON(k, secret))
		return nil
	})
}

func handleDeleteKey(svc *latchkey.Service, rs *responder, owner ownerFunc) http.Handler {
	return rs.handle(func(w http.ResponseWriter, r *http.Request) error {
		ownerID, r, err := owner(infoOf(w), r)
		if err != nil {
			return err
		}
		if err := svc.DeleteKey(r.Context(), ownerID, r.PathValue("id")); err != nil {
			return keyNotFound(err)
		}
		encode(w, http.StatusOK, messageJSON{Message: "API key deleted successfully"})
		return nil
	})
}
