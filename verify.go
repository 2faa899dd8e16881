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
	RateLimit   *RateLimit
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
}

// Verify authenticates a credential, resolves its tenant and checks what the
// request requires. A successful verification of an API key counts as a use.
func (s *Service) Verify(ctx context.Context, req VerifyRequest) (*Identity, error) {
	if req.Credential == "" {
		return nil, ErrMissingKey
	}
	var id *Identity
	var tenantIDs []string
	if s.tokens != nil && looksLikeJWT(req.Credential) {
		claims, err := s.tokens.VerifyToken(ctx, req.Credential)
		if err != nil {
			return nil, err
		}
		id = &Identity{
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
		k, err := s.AuthenticateKey(ctx, req.Credential)
		if err != nil {
			return nil, err
		}
		id = &Identity{
			Credential:  CredentialAPIKey,
			KeyID:       k.ID,
			KeyName:     k.Name,
			OwnerID:     k.OwnerID,
			Environment: k.Environment,
			Permissions: k.Permissions,
			ExpiresAt:   k.ExpiresAt,
			RateLimit:   k.RateLimit,
		}
		tenantIDs = k.TenantIDs
	}
	tenant, err := s.ResolveTenant(ctx, tenantIDs, req.TenantID)
	if err != nil {
		return nil, err
	}
	if tenant == nil && req.RequireTenant {
		return nil, ErrNoTenant
	}
	id.Tenant = tenant
	for _, p := range req.Permissions {
		if !Grants(id.Permissions, p) {
			return nil, MissingPermission(p)
		}
	}
	if req.Environment != "" && id.Environment != req.Environment {
		return nil, Errorf(CodeForbidden, "This endpoint requires a %s key.", req.Environment)
	}
	if id.Credential == CredentialAPIKey {
		s.usage.Record(id.KeyID, s.now())
	}
	return id, nil
}

// looksLikeJWT tells a compact JWS (three dot-separated parts) from an API
// key, which never contains a dot.
func looksLikeJWT(s string) bool { return strings.Count(s, ".") == 2 }
