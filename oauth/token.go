package oauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/latchkey/latchkey"
)

// tokenType is the JWS "typ" of an access token (RFC 9068 §2.1).
const tokenType = "at+jwt"

// maxTokenLen bounds what is even parsed: Latchkey's tokens are well under
// 2 KiB.
const maxTokenLen = 8 << 10

// privateClaims are the claims beside the registered ones. tenant_id is
// always present (SPEC §10 lists it): null for a client without a tenant.
type privateClaims struct {
	ClientID string     `json:"client_id"`
	Scope    string     `json:"scope"`
	TenantID nullString `json:"tenant_id"`
}

// nullString is a string that is JSON null when empty.
type nullString string

func (s nullString) MarshalJSON() ([]byte, error) {
	if s == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(s))
}

func (s *nullString) UnmarshalJSON(b []byte) error {
	var v *string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = ""
	if v != nil {
		*s = nullString(*v)
	}
	return nil
}

// accessToken is a token whose signature and claims have been checked.
type accessToken struct {
	jwt.Claims
	privateClaims
	scopes []string
}

func (t *accessToken) expiresAt() time.Time { return t.Expiry.Time() }

// issue signs an access token for client c with scopes.
func (s *Server) issue(ctx context.Context, c *latchkey.OAuthClient, scopes []string) (string, error) {
	kid, priv, err := s.keys.signer(ctx)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType(tokenType))
	if err != nil {
		return "", err
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	now := s.now()
	return jwt.Signed(signer).Claims(jwt.Claims{
		Issuer:   s.issuer,
		Subject:  c.ID,
		Audience: jwt.Audience{s.issuer},
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(s.ttl)),
		ID:       base64.RawURLEncoding.EncodeToString(jti[:]),
	}).Claims(privateClaims{
		ClientID: c.ID,
		Scope:    strings.Join(scopes, " "),
		TenantID: nullString(c.TenantID),
	}).Serialize()
}

// parse checks a token's form, header, signature and registered claims:
// everything that needs no database but the signing keys. Any failure is
// ErrInvalidKey, or UNAVAILABLE when the keys cannot be read.
func (s *Server) parse(ctx context.Context, raw string) (*accessToken, error) {
	if len(raw) > maxTokenLen || strings.Count(raw, ".") != 2 {
		return nil, latchkey.ErrInvalidKey
	}
	// Only ES256 parses: "none", HS256 (with the public key as the HMAC
	// secret) and every other algorithm fail here.
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil || len(tok.Headers) != 1 {
		return nil, latchkey.ErrInvalidKey
	}
	h := tok.Headers[0]
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(typ, tokenType) && !strings.EqualFold(typ, "application/"+tokenType) {
		return nil, latchkey.ErrInvalidKey
	}
	if h.KeyID == "" || len(h.KeyID) > 128 {
		return nil, latchkey.ErrInvalidKey
	}
	// The key comes from our own key set by kid only; a "jwk" or "x5c"
	// embedded in the header is never trusted.
	pub, err := s.keys.publicKey(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	var t accessToken
	if err := tok.Claims(pub, &t.Claims, &t.privateClaims); err != nil {
		return nil, latchkey.ErrInvalidKey
	}
	if t.Expiry == nil || t.IssuedAt == nil || t.ID == "" || t.ClientID == "" || t.Subject != t.ClientID {
		return nil, latchkey.ErrInvalidKey
	}
	err = t.Claims.ValidateWithLeeway(jwt.Expected{
		Issuer:      s.issuer,
		AnyAudience: jwt.Audience{s.issuer},
		Time:        s.now(),
	}, Leeway)
	if err != nil {
		return nil, latchkey.ErrInvalidKey
	}
	t.scopes = strings.Fields(t.Scope)
	return &t, nil
}

// verify is parse plus the checks that need the database (answered from
// the Service's credential cache once seen): the token is not revoked, and
// its client still exists, is enabled and still holds the scopes (those it
// lost since are dropped). It returns the client too.
func (s *Server) verify(ctx context.Context, raw string) (*accessToken, *latchkey.OAuthClient, error) {
	t, err := s.parse(ctx, raw)
	if err != nil {
		return nil, nil, err
	}
	revoked, err := s.svc.TokenRevoked(ctx, t.ID)
	if err != nil {
		return nil, nil, unavailable(err)
	}
	if revoked {
		return nil, nil, latchkey.ErrInvalidKey
	}
	c, err := s.svc.OAuthClient(ctx, t.ClientID)
	switch {
	case latchkey.ErrorCode(err) == latchkey.CodeNotFound:
		return nil, nil, latchkey.ErrInvalidKey
	case err != nil:
		return nil, nil, unavailable(err)
	case c.Disabled || c.TenantID != string(t.TenantID):
		return nil, nil, latchkey.ErrInvalidKey
	}
	t.scopes = latchkey.GrantedScopes(c.Scopes, t.scopes)
	return t, c, nil
}

// VerifyToken implements latchkey.TokenVerifier.
func (s *Server) VerifyToken(ctx context.Context, raw string) (*latchkey.TokenClaims, error) {
	t, c, err := s.verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	return &latchkey.TokenClaims{
		ClientID:   c.ID,
		ClientName: c.Name,
		Scopes:     slices.Clip(t.scopes),
		TenantID:   string(t.TenantID),
		ExpiresAt:  t.expiresAt().UTC(),
	}, nil
}

// revoke puts a token on the deny-list until it expires, and prunes the
// entries of tokens that have expired since.
func (s *Server) revoke(ctx context.Context, t *accessToken) error {
	now := s.now()
	err := s.svc.RevokeToken(ctx, &latchkey.RevokedToken{
		JTI: t.ID, ClientID: t.ClientID, RevokedAt: now.UTC().Truncate(time.Microsecond),
		// Kept through the leeway during which parse still accepts it.
		ExpiresAt: t.expiresAt().Add(Leeway).UTC(),
	})
	if err != nil {
		return err
	}
	_, err = s.store.PruneRevokedTokens(ctx, now)
	return err
}
