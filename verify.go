package latchkey

import (
	"context"
	"strings"
	"time"
)

// Credential kinds reported in Identity.Credential.
const (
	CredentialAPIKey     = "api_key"
	CredentialOAuthToken = "oauth_token"
)

// Identity is who a verified request acts for: the one answer every
// integration (whoami, verify API, forward auth, proxy, middleware) shares.
type Identity struct {
	Credential  string // CredentialAPIKey or CredentialOAuthToken
	KeyID       string // the key's ID, or the OAuth client ID for tokens
	KeyName     string
	OwnerID     string // the key's owner, or the OAuth client ID for tokens
	Environment string // "live" or "test"
	Permissions []string
	Tenant      *Tenant // nil when the credential has no tenant
	ExpiresAt   *time.Time
	RateLimit   *RateLimit   // the credential's own limit, nil when none
	Limit       *LimitStatus // the rate-limit state after this request, nil when unlimited

	usage *usageCell // where a use of the verified key is counted; nil for tokens
}

// TokenClaims is what a valid access token asserts.
type TokenClaims struct {
	ClientID   string
	ClientName string
	Scopes     []string
	TenantID   string // "" when the client has no tenant
	ExpiresAt  time.Time
}

// TokenVerifier checks OAuth access tokens. It returns ErrInvalidKey for any
// token that is malformed, badly signed, expired, revoked or not ours, and
// UNAVAILABLE when it cannot tell.
type TokenVerifier interface {
	VerifyToken(ctx context.Context, raw string) (*TokenClaims, error)
}

// SetTokenVerifier makes Verify accept OAuth access tokens beside API keys.
func (s *Service) SetTokenVerifier(v TokenVerifier) { s.tokens = v }

// VerifyRequest is one presented credential and what the caller requires.
type VerifyRequest struct {
	Credential    string   // the raw key or token
	TenantID      string   // X-TENANT-ID: a selector among the credential's tenants
	Permissions   []string // all are required
	Environment   string   // when set, the credential must be of this environment
	RequireTenant bool     // a credential linked to no tenant is refused
	// Client, when set, gives the address failed authentications are
	// limited by. Verify asks for it only when that limit applies (a
	// failure, or a key not in the cache), so the cached hot path never
	// resolves it.
	Client ClientAddr
	// DryRun answers as Verify would without counting anything: no use,
	// no rate-limit hit, no failed authentication. For nginx's second call
	// that only fetches the error of a check that already failed.
	DryRun bool
}

// ClientAddr gives the address of the client a request comes from,
// resolved through the proxies the caller trusts.
type ClientAddr interface{ ClientIP() string }

// ClientIP is a ClientAddr already resolved.
type ClientIP string

func (ip ClientIP) ClientIP() string { return string(ip) }

// clientIP is c's address, "" for none.
func clientIP(c ClientAddr) string {
	if c == nil {
		return ""
	}
	return c.ClientIP()
}

// Verify authenticates a credential, resolves its tenant, checks what the
// request requires and applies the credential's rate limit. A successful
// verification of an API key counts as a use. Identity.Limit reports the
// rate-limit state; a refusal is RATE_LIMITED with RetryAfter set.
func (s *Service) Verify(ctx context.Context, req VerifyRequest) (*Identity, error) {
	id := new(Identity)
	if err := s.VerifyInto(ctx, req, id); err != nil {
		return nil, err
	}
	return id, nil
}

// VerifyInto is Verify writing the identity into *id, storage the caller
// already has (the forward-auth path keeps it in its per-request state),
// so that a verification costs no allocation. On an error, *id is
// unspecified.
func (s *Service) VerifyInto(ctx context.Context, req VerifyRequest, id *Identity) (err error) {
	if s.onVerify != nil && !req.DryRun {
		defer func() { s.onVerify(VerifyResult(err)) }()
	}
	if req.Credential == "" {
		return ErrMissingKey
	}
	// One clock reading for the whole verification.
	now := s.now()
	if err := s.authenticate(ctx, req, now, id); err != nil {
		if ErrorCode(err) == CodeInvalidAPIKey {
			if req.DryRun {
				return s.checkFailures(ctx, clientIP(req.Client), err)
			}
			return s.recordFailure(ctx, clientIP(req.Client), err)
		}
		return err
	}
	if err := s.limit(ctx, id, req.DryRun, now); err != nil {
		return err
	}
	if id.Credential == CredentialAPIKey && !req.DryRun {
		if id.usage != nil {
			s.usage.record(id.usage, now)
		} else {
			s.usage.Record(id.KeyID, now)
		}
	}
	return nil
}

// VerifyResult names the outcome of a verification: "VALID" for err nil,
// else the error code (SPEC §5), as the verify API reports it.
func VerifyResult(err error) string {
	if err == nil {
		return "VALID"
	}
	return ErrorCode(err)
}

// authenticate is Verify without rate limits and usage: it writes the
// credential's identity into *id.
func (s *Service) authenticate(ctx context.Context, req VerifyRequest, now time.Time, id *Identity) error {
	var tenantIDs []string
	if s.tokens != nil && looksLikeJWT(req.Credential) {
		claims, err := s.tokens.VerifyToken(ctx, req.Credential)
		if err != nil {
			return err
		}
		*id = Identity{
			Credential:  CredentialOAuthToken,
			KeyID:       claims.ClientID,
			KeyName:     claims.ClientName,
			OwnerID:     claims.ClientID,
			Environment: "live",
			Permissions: claims.Scopes,
			ExpiresAt:   &claims.ExpiresAt,
		}
		if claims.TenantID != "" {
			tenantIDs = []string{claims.TenantID}
		}
	} else {
		k, err := s.authenticateKey(ctx, req.Credential, req.Client, now)
		if err != nil {
			return err
		}
		*id = Identity{
			Credential:  CredentialAPIKey,
			KeyID:       k.ID,
			KeyName:     k.Name,
			OwnerID:     k.OwnerID,
			Environment: k.Environment,
			Permissions: k.Permissions,
			ExpiresAt:   k.ExpiresAt,
			RateLimit:   k.RateLimit,
			usage:       k.usage,
		}
		tenantIDs = k.TenantIDs
	}
	tenant, err := s.resolveTenant(ctx, tenantIDs, req.TenantID, now)
	if err != nil {
		return err
	}
	if tenant == nil && req.RequireTenant {
		return ErrNoTenant
	}
	id.Tenant = tenant
	for _, p := range req.Permissions {
		if !Grants(id.Permissions, p) {
			return MissingPermission(p)
		}
	}
	if req.Environment != "" && id.Environment != req.Environment {
		return Errorf(CodeForbidden, "This endpoint requires a %s key.", req.Environment)
	}
	return nil
}

// limit applies the credential's own rate limit, or the default one.
func (s *Service) limit(ctx context.Context, id *Identity, dryRun bool, now time.Time) error {
	rl := id.RateLimit
	if rl == nil {
		rl = s.limits.DefaultKey
	}
	if rl == nil || s.limiter == nil {
		return nil
	}
	bucket := "key:" + id.KeyID
	if id.Credential == CredentialOAuthToken {
		bucket = "client:" + id.KeyID
	}
	allow := s.limiter.Allow
	if dryRun {
		allow = s.limiter.Peek
	}
	st, err := allow(ctx, bucket, *rl, now)
	if err != nil { // a failing limiter admits: limits must never take the API down
		return nil
	}
	id.Limit = &st
	if !st.Allowed {
		return RateLimited(st)
	}
	return nil
}

// Allow counts one request against a named bucket and returns its state,
// or RATE_LIMITED when the request does not fit. A limiter that fails
// admits: rate limiting must never take the API down with it.
//
// The status is the zero LimitStatus (Limit 0: nothing to report) when no
// limiter is configured or the limiter failed.
func (s *Service) Allow(ctx context.Context, bucket string, rl RateLimit) (LimitStatus, error) {
	if s.limiter == nil {
		return LimitStatus{Allowed: true}, nil
	}
	st, err := s.limiter.Allow(ctx, bucket, rl, s.now())
	if err != nil {
		return LimitStatus{Allowed: true}, nil
	}
	if !st.Allowed {
		return st, RateLimited(st)
	}
	return st, nil
}

// checkFailures refuses a client address that has failed authentication
// too often. It runs before a lookup that would reach the database, so a
// flood of made-up keys from one address costs no more than the limit.
// It returns ok when the address may go on.
func (s *Service) checkFailures(ctx context.Context, ip string, ok error) error {
	if ip == "" || s.limiter == nil {
		return ok
	}
	st, err := s.limiter.Peek(ctx, "fail:"+ip, s.limits.FailedAuth, s.now())
	if err == nil && !st.Allowed {
		return RateLimited(st)
	}
	return ok
}

// recordFailure counts a failed authentication from a client address and
// returns the error to answer with: failure itself, or RATE_LIMITED once
// the address is over its limit.
func (s *Service) recordFailure(ctx context.Context, ip string, failure error) error {
	if ip == "" || s.limiter == nil {
		return failure
	}
	st, err := s.limiter.Allow(ctx, "fail:"+ip, s.limits.FailedAuth, s.now())
	if err == nil && !st.Allowed {
		return RateLimited(st)
	}
	return failure
}

// CheckFailedAuth and RecordFailedAuth apply the per-address limit on
// failed authentications to credentials checked outside Verify (root keys,
// dashboard sign-in).
func (s *Service) CheckFailedAuth(ctx context.Context, ip string) error {
	return s.checkFailures(ctx, ip, nil)
}

// RecordFailedAuth counts one failed authentication from ip and returns
// the error to answer with (failure, or RATE_LIMITED).
func (s *Service) RecordFailedAuth(ctx context.Context, ip string, failure error) error {
	return s.recordFailure(ctx, ip, failure)
}

// IsAccessToken reports, without I/O, whether a credential is shaped like an
// OAuth access token this service could check.
func (s *Service) IsAccessToken(cred string) bool { return s.tokens != nil && looksLikeJWT(cred) }

// AuthenticateToken checks an OAuth access token on its own, counting
// nothing: for endpoints that only need to know whether it is real.
func (s *Service) AuthenticateToken(ctx context.Context, raw string) (*TokenClaims, error) {
	if !s.IsAccessToken(raw) {
		return nil, ErrInvalidKey
	}
	return s.tokens.VerifyToken(ctx, raw)
}

// looksLikeJWT tells a compact JWS (three dot-separated parts) from an API
// key, which never contains a dot.
func looksLikeJWT(s string) bool { return strings.Count(s, ".") == 2 }
