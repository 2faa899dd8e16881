// Package oauth is Latchkey's OAuth 2.0 authorization server for the client
// credentials grant (SPEC §10): the token endpoint (RFC 6749 §4.4), access
// tokens as ES256-signed JWTs (RFC 9068), the JWK Set, server metadata
// (RFC 8414), introspection (RFC 7662) and revocation (RFC 7009).
//
// Its *Server is also a latchkey.TokenVerifier, so the access tokens it
// issues are accepted wherever API keys are.
//
// Decisions the standards leave open:
//   - "aud" is the issuer: the tokens are for the APIs behind this Latchkey
//     deployment as a whole. Resource servers check aud == iss.
//   - "tenant_id" is omitted when the client has no tenant.
//   - Signing keys are P-256; the kid is the key's RFC 7638 thumbprint. The
//     private half is stored sealed (AES-256-GCM) with a key-encryption key
//     kept outside the database (see LoadOrCreateKeyFile).
//   - A new signing key is in the JWK Set for PublishLead (61 s) before
//     any node signs with it, so no verifier meets a kid its JWK Set lacks;
//     the key it replaces signs until then. A retired key stays in the JWK
//     Set for PublishLead plus the token lifetime plus the verification
//     leeway after its retirement, then disappears.
//   - Failed client authentications are limited per client address (10 a
//     minute by default); past the limit the endpoints answer 429 with an
//     RFC 6749-shaped body, {"error": "slow_down", ...}, and Retry-After,
//     without checking the credentials.
//   - Revocation of an access token puts its jti on a deny-list until the
//     token's expiry; the list is pruned at every revocation.
package oauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
)

// Defaults.
const (
	DefaultTokenTTL = time.Hour
	// Leeway is the clock skew tolerated on exp and iat.
	Leeway = 30 * time.Second
	// MaxTokenTTL bounds the token lifetime: revocation state and retired
	// keys are kept for as long as a token may live.
	MaxTokenTTL = 24 * time.Hour
)

// Config configures a Server.
type Config struct {
	// Issuer is the "iss" of every token and the base URL of the endpoints
	// in the server metadata: an absolute http(s) URL with no query or
	// fragment, e.g. "https://auth.example.com".
	Issuer string
	// TokenTTL is the access-token lifetime; DefaultTokenTTL when zero.
	TokenTTL time.Duration
	// KeyEncryptionKey seals the signing keys' private halves; KeySize
	// bytes, e.g. from LoadOrCreateKeyFile.
	KeyEncryptionKey []byte
	// TrustedProxies are peers whose X-Forwarded-For names the client
	// address that failed client authentications are counted against, by
	// the service's limit on failed authentications (Limits.FailedAuth):
	// one budget per address for keys, tokens and client secrets alike.
	TrustedProxies []netip.Prefix
	// Logger receives the causes of server-side failures; never secrets or
	// tokens. nil discards.
	Logger *slog.Logger
	// Now is the clock; the service's when nil.
	Now func() time.Time
}

// Server issues and checks access tokens and serves the OAuth endpoints.
type Server struct {
	svc     *latchkey.Service
	store   latchkey.OAuthStore
	issuer  string
	ttl     time.Duration
	now     func() time.Time
	log     *slog.Logger
	keys    *keyring
	trusted []netip.Prefix
}

var _ latchkey.TokenVerifier = (*Server)(nil)

// New returns a Server over svc and store (the same database). It creates
// the first signing key if there is none and checks that the active key
// opens with the key-encryption key.
func New(ctx context.Context, svc *latchkey.Service, store latchkey.OAuthStore, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults(svc)
	if err != nil {
		return nil, err
	}
	kr, err := newKeyring(store, cfg.KeyEncryptionKey, cfg.TokenTTL, cfg.Now)
	if err != nil {
		return nil, err
	}
	if err := kr.init(ctx); err != nil {
		return nil, err
	}
	return &Server{
		svc: svc, store: store, issuer: cfg.Issuer, ttl: cfg.TokenTTL, now: cfg.Now,
		log: cfg.Logger, keys: kr, trusted: cfg.TrustedProxies,
	}, nil
}

func (cfg Config) withDefaults(svc *latchkey.Service) (Config, error) {
	if err := ValidateIssuer(cfg.Issuer); err != nil {
		return cfg, err
	}
	cfg.Issuer = strings.TrimSuffix(cfg.Issuer, "/")
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.TokenTTL < time.Second || cfg.TokenTTL > MaxTokenTTL || cfg.TokenTTL%time.Second != 0 {
		return cfg, fmt.Errorf("oauth: token lifetime must be whole seconds between 1s and %s", MaxTokenTTL)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = svc.Now
	}
	return cfg, nil
}

// ValidateIssuer checks an issuer identifier (RFC 8414 §2): an absolute
// http or https URL without query, fragment or credentials.
func ValidateIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("oauth: issuer must be an absolute http:// or https:// URL")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return errors.New("oauth: issuer must not have a query, fragment or credentials")
	}
	return nil
}

// RotateSigningKey makes a new signing key the active one. The previous
// key keeps verifying, and stays in the JWK Set, until every token it
// signed has expired. It returns the new key's kid.
func (s *Server) RotateSigningKey(ctx context.Context) (string, error) {
	k, err := s.keys.rotate(ctx)
	if err != nil {
		return "", err
	}
	return k.ID, nil
}

// RotateSigningKey rotates the signing key of the database behind store
// without a running Server, as `latchkey signing-keys rotate` does. Unlike
// New it does not need the current key to open, so it is also the way out
// when the key-encryption key was lost. Only KeyEncryptionKey, TokenTTL
// and Now of cfg are used.
func RotateSigningKey(ctx context.Context, store latchkey.OAuthStore, cfg Config) (string, error) {
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	kr, err := newKeyring(store, cfg.KeyEncryptionKey, cfg.TokenTTL, cfg.Now)
	if err != nil {
		return "", err
	}
	k, err := kr.rotate(ctx)
	if err != nil {
		return "", err
	}
	return k.ID, nil
}
