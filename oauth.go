package latchkey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"hash/crc32"
	"slices"
	"strings"
	"time"
)

// OAuthClient is a machine client of the OAuth 2.0 client credentials grant
// (SPEC §10): a client_id and client_secret with the scopes its access
// tokens may carry and, optionally, the one tenant they act for.
type OAuthClient struct {
	ID         string   // the client_id, "client_…"
	Name       string   // a label for admins
	SecretHash [32]byte // SHA-256 of the client secret; the secret itself is never stored
	Scopes     []string // permissions its tokens may hold; a token request may ask for fewer
	TenantID   string   // "" when the client acts for no tenant
	Disabled   bool     // a disabled client gets no tokens and its tokens stop verifying
	CreatedAt  time.Time
}

// SigningKey is a key that signs OAuth access tokens (ES256). The private
// half is stored only encrypted: the oauth package seals it with a
// key-encryption key that never enters the database.
type SigningKey struct {
	ID         string // the JWS "kid"
	Algorithm  string // "ES256"
	PublicKey  []byte // PKIX DER
	PrivateKey []byte // sealed (encrypted) PKCS #8 DER; opaque to stores
	CreatedAt  time.Time
	// RetiredAt is when a newer key took over signing; nil for the active
	// key. A retired key stays published until the tokens it signed expire.
	RetiredAt *time.Time
}

// RevokedToken is a deny-list entry for an access token revoked before it
// expired. It is needed only until ExpiresAt, after which the token is
// refused anyway, so stores may prune it then.
type RevokedToken struct {
	JTI       string
	ClientID  string
	ExpiresAt time.Time
	RevokedAt time.Time
}

// OAuthStore persists OAuth clients, token signing keys and revoked tokens.
type OAuthStore interface {
	// CreateOAuthClient stores c; CONFLICT if its ID is taken, NOT_FOUND if
	// c.TenantID names no tenant. Deleting the tenant deletes the client.
	CreateOAuthClient(ctx context.Context, c *OAuthClient) error
	OAuthClient(ctx context.Context, id string) (*OAuthClient, error)
	ListOAuthClients(ctx context.Context, p Page) ([]*OAuthClient, error) // ascending ID
	// UpdateOAuthClient reads the client, applies fn and writes back Name,
	// SecretHash, Scopes and Disabled in one transaction; an error from fn
	// aborts it and is returned as is.
	UpdateOAuthClient(ctx context.Context, id string, fn func(*OAuthClient) error) (*OAuthClient, error)
	DeleteOAuthClient(ctx context.Context, id string) error

	// InitSigningKey stores k as the active signing key unless one exists
	// already, and returns the active key: several processes starting on an
	// empty database agree on one key.
	InitSigningKey(ctx context.Context, k *SigningKey) (*SigningKey, error)
	// RotateSigningKey, in one transaction, retires the active key (if any)
	// at k.CreatedAt and stores k as the active key.
	RotateSigningKey(ctx context.Context, k *SigningKey) error
	// SigningKeys returns every stored signing key: the active one first,
	// then the retired ones, most recently retired first.
	SigningKeys(ctx context.Context) ([]*SigningKey, error)
	// DeleteSigningKeys removes the keys retired before t; it never removes
	// the active key. It returns how many it removed.
	DeleteSigningKeys(ctx context.Context, retiredBefore time.Time) (int, error)

	// RevokeToken adds t to the deny-list; revoking a token twice keeps the
	// first entry.
	RevokeToken(ctx context.Context, t *RevokedToken) error
	TokenRevoked(ctx context.Context, jti string) (bool, error)
	// PruneRevokedTokens removes the entries of tokens that expired before
	// t and returns how many it removed.
	PruneRevokedTokens(ctx context.Context, expiredBefore time.Time) (int, error)
}

// ErrInvalidClient is the answer to any failed client authentication:
// unknown client, wrong or malformed secret. It never says which.
var ErrInvalidClient = &Error{Code: CodeInvalidAPIKey, Message: "Client authentication failed"}

// Client secrets look like "{prefix}_secret_{body}", with the body built as
// an API key's (SPEC §4): 26 random base62 characters and a 6-character
// base62 CRC-32 of everything before it, so secret scanners can recognise
// them (`\b[a-z0-9]{1,12}_secret_[0-9A-Za-z]{32}\b`) and a mistyped secret
// is refused without touching the database.
const (
	secretEnvironment = "secret"
	secretRandomLen   = 26
	secretCheckLen    = 6
	base62            = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	// MaxClientSecretLen bounds a well-formed client secret.
	MaxClientSecretLen = 12 + 1 + len(secretEnvironment) + 1 + secretRandomLen + secretCheckLen
)

// newClientSecret returns a fresh client secret for prefix.
func newClientSecret(prefix string) (string, error) {
	var body [secretRandomLen]byte
	var buf [64]byte
	for n := 0; n < secretRandomLen; {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", err
		}
		for _, b := range buf {
			if b >= 248 { // 4*62: rejecting the tail keeps every digit equally likely
				continue
			}
			body[n] = base62[b%62]
			if n++; n == secretRandomLen {
				break
			}
		}
	}
	head := prefix + "_" + secretEnvironment + "_" + string(body[:])
	return head + secretChecksum(head), nil
}

func secretChecksum(s string) string {
	v := crc32.ChecksumIEEE([]byte(s))
	var out [secretCheckLen]byte
	for i := secretCheckLen - 1; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return string(out[:])
}

// WellFormedClientSecret reports whether s has the client secret format and
// a valid checksum. It touches nothing but s.
func WellFormedClientSecret(s string) bool {
	if len(s) > MaxClientSecretLen {
		return false
	}
	prefix, rest, ok := strings.Cut(s, "_")
	if !ok || len(prefix) == 0 || len(prefix) > 12 {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	body, ok := strings.CutPrefix(rest, secretEnvironment+"_")
	if !ok || len(body) != secretRandomLen+secretCheckLen {
		return false
	}
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(base62, body[i]) < 0 {
			return false
		}
	}
	return secretChecksum(s[:len(s)-secretCheckLen]) == body[secretRandomLen:]
}

// HashClientSecret is the only form in which client secrets are stored.
// The secret carries about 155 random bits, so a fast hash suffices: there
// is nothing to brute-force that a slow hash would protect.
func HashClientSecret(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// NewOAuthClient is the input for creating an OAuth client.
type NewOAuthClient struct {
	Name     string
	Scopes   []string // at least one
	TenantID string   // optional; must exist
}

// OAuthClientPatch changes some fields of a client; nil fields are left alone.
type OAuthClientPatch struct {
	Name     *string
	Scopes   *[]string
	Disabled *bool
}

func normalizeScopes(scopes []string) ([]string, error) {
	out, err := normalizePermissions("scopes", scopes)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, Invalid("scopes: at least one scope is required")
	}
	return out, nil
}

// CreateOAuthClient registers a client and returns it with its secret,
// which is never available again.
func (s *Service) CreateOAuthClient(ctx context.Context, in NewOAuthClient) (*OAuthClient, string, error) {
	name, err := validateName("name", in.Name)
	if err != nil {
		return nil, "", err
	}
	scopes, err := normalizeScopes(in.Scopes)
	if err != nil {
		return nil, "", err
	}
	if in.TenantID != "" {
		if err := validateID("tenantId", in.TenantID); err != nil {
			return nil, "", err
		}
	}
	secret, err := newClientSecret(s.prefix)
	if err != nil {
		return nil, "", err
	}
	c := &OAuthClient{
		ID:         NewID("client"),
		Name:       name,
		SecretHash: HashClientSecret(secret),
		Scopes:     scopes,
		TenantID:   in.TenantID,
		CreatedAt:  s.Now(),
	}
	if err := s.store.CreateOAuthClient(ctx, c); err != nil {
		if ErrorCode(err) == CodeNotFound {
			return nil, "", Invalid("tenantId: tenant %q does not exist", truncate(in.TenantID))
		}
		return nil, "", err
	}
	s.audit(ctx, AuditEvent{Action: AuditOAuthClientCreate, TargetID: c.ID, TenantID: c.TenantID, Detail: map[string]any{
		"name": c.Name, "scopes": slices.Clone(c.Scopes),
	}})
	return c, secret, nil
}

// OAuthClient returns one client. Every access token verification asks
// for its client, so clients are served from the credential cache; the
// returned client is shared with it and must not be modified.
func (s *Service) OAuthClient(ctx context.Context, id string) (*OAuthClient, error) {
	if c := s.cache.oauthClient(id); c != nil && s.feed.cacheTrusted(s.now()) {
		return c, nil
	}
	gen := s.cache.generation()
	c, err := s.store.OAuthClient(ctx, id)
	if err != nil {
		return nil, err
	}
	s.cache.putOAuthClient(c, gen)
	return c, nil
}

// ListOAuthClients returns a page of clients in ID order.
func (s *Service) ListOAuthClients(ctx context.Context, p Page) ([]*OAuthClient, error) {
	if err := validatePage(&p); err != nil {
		return nil, err
	}
	return s.store.ListOAuthClients(ctx, p)
}

// UpdateOAuthClient applies a patch. Narrower scopes and disabling take
// effect on tokens already issued, at their next verification.
func (s *Service) UpdateOAuthClient(ctx context.Context, id string, p OAuthClientPatch) (*OAuthClient, error) {
	var name string
	var scopes []string
	var err error
	if p.Name != nil {
		if name, err = validateName("name", *p.Name); err != nil {
			return nil, err
		}
	}
	if p.Scopes != nil {
		if scopes, err = normalizeScopes(*p.Scopes); err != nil {
			return nil, err
		}
	}
	defer s.cache.invalidateOAuthClient(id)
	c, err := s.store.UpdateOAuthClient(ctx, id, func(c *OAuthClient) error {
		if p.Name != nil {
			c.Name = name
		}
		if p.Scopes != nil {
			c.Scopes = scopes
		}
		if p.Disabled != nil {
			c.Disabled = *p.Disabled
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	d := map[string]any{}
	fields := []string{}
	if p.Name != nil {
		fields = append(fields, "name")
	}
	if p.Scopes != nil {
		fields = append(fields, "scopes")
		d["scopes"] = slices.Clone(c.Scopes)
	}
	if p.Disabled != nil {
		fields = append(fields, "disabled")
		d["disabled"] = c.Disabled
	}
	d["fields"] = fields
	s.audit(ctx, AuditEvent{Action: AuditOAuthClientUpdate, TargetID: c.ID, TenantID: c.TenantID, Detail: d})
	return c, nil
}

// RotateOAuthClientSecret gives a client a new secret, returned once; the
// old secret stops working at once. Tokens already issued stay valid until
// they expire (disable or delete the client to stop them too).
func (s *Service) RotateOAuthClientSecret(ctx context.Context, id string) (*OAuthClient, string, error) {
	secret, err := newClientSecret(s.prefix)
	if err != nil {
		return nil, "", err
	}
	defer s.cache.invalidateOAuthClient(id)
	c, err := s.store.UpdateOAuthClient(ctx, id, func(c *OAuthClient) error {
		c.SecretHash = HashClientSecret(secret)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	s.audit(ctx, AuditEvent{Action: AuditOAuthClientRotate, TargetID: c.ID, TenantID: c.TenantID})
	return c, secret, nil
}

// DeleteOAuthClient removes a client; its tokens stop verifying at once.
func (s *Service) DeleteOAuthClient(ctx context.Context, id string) error {
	defer s.cache.invalidateOAuthClient(id)
	if err := s.store.DeleteOAuthClient(ctx, id); err != nil {
		return err
	}
	s.audit(ctx, AuditEvent{Action: AuditOAuthClientDelete, TargetID: id})
	return nil
}

// AuthenticateOAuthClient checks a client_id and client_secret. Every
// failure is ErrInvalidClient, except UNAVAILABLE when the database cannot
// answer. A disabled client authenticates: whether it may have a token is
// the caller's decision.
// It reads the store, not the cache: it runs once per token, not per
// request, and a rotated secret must stop working at once on every node.
func (s *Service) AuthenticateOAuthClient(ctx context.Context, id, secret string) (*OAuthClient, error) {
	if !ValidID(id) || !WellFormedClientSecret(secret) {
		return nil, ErrInvalidClient
	}
	c, err := s.store.OAuthClient(ctx, id)
	if err != nil {
		return nil, lookupError(err, ErrInvalidClient)
	}
	h := HashClientSecret(secret)
	if subtle.ConstantTimeCompare(c.SecretHash[:], h[:]) != 1 {
		return nil, ErrInvalidClient
	}
	return c, nil
}

// RevokeToken puts an access token on the deny-list. It holds on this node
// from the moment it returns, and on the others once the change feed tells
// them.
func (s *Service) RevokeToken(ctx context.Context, t *RevokedToken) error {
	defer s.cache.invalidateToken(t.JTI)
	return s.store.RevokeToken(ctx, t)
}

// TokenRevoked reports whether the access token with this jti is on the
// deny-list. Every verification of a token asks, so the answer "not
// revoked" is served from the credential cache.
func (s *Service) TokenRevoked(ctx context.Context, jti string) (bool, error) {
	if s.cache.tokenNotRevoked(jti) && s.feed.cacheTrusted(s.now()) {
		return false, nil
	}
	gen := s.cache.generation()
	revoked, err := s.store.TokenRevoked(ctx, jti)
	if err != nil {
		return false, err
	}
	if !revoked {
		s.cache.putTokenNotRevoked(jti, gen)
	}
	return revoked, nil
}

// GrantedScopes returns the scopes of requested that granted covers, in
// order and without repeats: a client allowed "messages:*" may ask for
// "messages:send".
func GrantedScopes(granted, requested []string) []string {
	out := make([]string, 0, len(requested))
	for _, r := range requested {
		if Grants(granted, r) && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}
