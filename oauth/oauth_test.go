package oauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/oauth"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func TestThirdPartyClientGetsTokenAndCallsProtectedRoute(t *testing.T) {
	for _, style := range []struct {
		name  string
		style oauth2.AuthStyle
	}{
		{"client_secret_basic", oauth2.AuthStyleInHeader},
		{"client_secret_post", oauth2.AuthStyleInParams},
	} {
		t.Run(style.name, func(t *testing.T) {
			e := newEnv(t)
			id, secret := e.client("Billing worker", "acme", "messages:send", "messages:read", "billing:*")
			cfg := clientcredentials.Config{
				ClientID:     id,
				ClientSecret: secret,
				TokenURL:     e.url + "/oauth/token",
				Scopes:       []string{"messages:send", "billing:read"},
				AuthStyle:    style.style,
			}
			tok, err := cfg.Token(t.Context())
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if tok.Type() != "Bearer" || tok.Expiry.IsZero() {
				t.Errorf("token type %q expiry %v", tok.Type(), tok.Expiry)
			}
			if got := tok.Extra("scope"); got != "messages:send billing:read" {
				t.Errorf("scope = %v, want the requested scopes", got)
			}

			// The client the library builds attaches the token itself.
			res, err := cfg.Client(t.Context()).Get(e.url + "/whoami?permission=messages:send")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var who map[string]any
			json.NewDecoder(res.Body).Decode(&who)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("protected route: %d %v", res.StatusCode, who)
			}
			if who["credential"] != latchkey.CredentialOAuthToken || who["ownerId"] != id ||
				who["keyName"] != "Billing worker" || who["tenant"] != "acme" {
				t.Errorf("identity = %v", who)
			}
			if perms, _ := who["permissions"].([]any); len(perms) != 2 || perms[0] != "messages:send" || perms[1] != "billing:read" {
				t.Errorf("permissions = %v, want the token's scopes", who["permissions"])
			}

			// Scopes act as permissions.
			if res := e.whoami(tok.AccessToken); res.status != http.StatusOK {
				t.Fatalf("whoami: %d", res.status)
			}
			_, err = e.svc.Verify(t.Context(), latchkey.VerifyRequest{Credential: tok.AccessToken, Permissions: []string{"messages:read"}})
			if latchkey.ErrorCode(err) != latchkey.CodeInsufficientPermission {
				t.Errorf("scope not in the token: %v, want INSUFFICIENT_PERMISSIONS", err)
			}
		})
	}
}

func TestTokenResponse(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client("svc", "", "a:read", "b:write")
	res := e.post("/oauth/token", "grant_type=client_credentials", "Authorization", basic(id, secret))
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.raw)
	}
	if res.header.Get("Cache-Control") != "no-store" || res.header.Get("Pragma") != "no-cache" {
		t.Errorf("Cache-Control %q Pragma %q", res.header.Get("Cache-Control"), res.header.Get("Pragma"))
	}
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	if res.str("token_type") != "bearer" || res.body["expires_in"] != float64(3600) || res.str("scope") != "a:read b:write" {
		t.Errorf("body = %s", res.raw)
	}
	if len(res.body) != 4 {
		t.Errorf("body has fields %v, want access_token, token_type, expires_in, scope", res.body)
	}
}

func TestTokenHonoursTTL(t *testing.T) {
	e := newEnv(t, func(c *oauth.Config) { c.TokenTTL = 90 * time.Second })
	id, secret := e.client("svc", "", "a")
	res := e.post("/oauth/token", "grant_type=client_credentials&client_id="+id+"&client_secret="+secret)
	if res.body["expires_in"] != float64(90) {
		t.Fatalf("expires_in = %v, want 90", res.body["expires_in"])
	}
	_, payload := segments(t, res.str("access_token"))
	if payload["exp"].(float64)-payload["iat"].(float64) != 90 {
		t.Errorf("exp - iat = %v, want 90", payload["exp"].(float64)-payload["iat"].(float64))
	}
}

// An independent JOSE stack (golang-jwt with a JWK Set from keyfunc) accepts
// the tokens, using only the published JWK Set, the way a resource server
// of the API provider would.
func TestTokenVerifiesWithIndependentLibrary(t *testing.T) {
	e := newEnv(t)
	withTenant, s1 := e.client("with tenant", "t-42", "messages:send", "messages:read")
	noTenant, s2 := e.client("no tenant", "", "reports:read")

	res, err := http.Get(e.url + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	kf, err := keyfunc.NewJWKSetJSON(raw)
	if err != nil {
		t.Fatalf("keyfunc cannot read the JWK Set %s: %v", raw, err)
	}

	type claims struct {
		jwt.RegisteredClaims
		ClientID string  `json:"client_id"`
		Scope    string  `json:"scope"`
		TenantID *string `json:"tenant_id"`
	}
	parse := func(token string) (*jwt.Token, *claims) {
		t.Helper()
		var c claims
		tok, err := jwt.ParseWithClaims(token, &c, kf.Keyfunc,
			jwt.WithValidMethods([]string{"ES256"}),
			jwt.WithIssuer(e.url),
			jwt.WithAudience(e.url),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt())
		if err != nil {
			t.Fatalf("golang-jwt rejects the token: %v", err)
		}
		return tok, &c
	}

	tok, c := parse(e.token(withTenant, s1, "messages:send"))
	if tok.Header["typ"] != "at+jwt" || tok.Header["alg"] != "ES256" || tok.Header["kid"] == "" {
		t.Errorf("header = %v", tok.Header)
	}
	if c.Subject != withTenant || c.ClientID != withTenant || c.Scope != "messages:send" ||
		c.TenantID == nil || *c.TenantID != "t-42" || c.ID == "" || c.IssuedAt == nil || c.ExpiresAt == nil {
		t.Errorf("claims = %+v", c)
	}
	if got := c.ExpiresAt.Sub(c.IssuedAt.Time); got != time.Hour {
		t.Errorf("lifetime = %v, want 1h", got)
	}

	noTenantToken := e.token(noTenant, s2)
	_, c = parse(noTenantToken)
	if c.TenantID != nil {
		t.Errorf("tenant_id = %q for a client without a tenant, want null", *c.TenantID)
	}
	// Every claim SPEC §10 lists is present, tenant_id as null.
	var payload map[string]any
	if err := json.Unmarshal([]byte(unb64(strings.Split(noTenantToken, ".")[1])), &payload); err != nil {
		t.Fatal(err)
	}
	for _, claim := range []string{"iss", "sub", "client_id", "iat", "exp", "jti", "scope", "tenant_id"} {
		if _, ok := payload[claim]; !ok {
			t.Errorf("claim %s missing from %v", claim, payload)
		}
	}
	if payload["tenant_id"] != nil {
		t.Errorf("tenant_id = %v, want null", payload["tenant_id"])
	}
	if c.Scope != "reports:read" {
		t.Errorf("scope = %q, want all the client's scopes by default", c.Scope)
	}

	// Every token has its own jti.
	_, c1 := parse(e.token(noTenant, s2))
	_, c2 := parse(e.token(noTenant, s2))
	if c1.ID == c2.ID {
		t.Errorf("two tokens share jti %q", c1.ID)
	}
}

func TestDiscoveryDocuments(t *testing.T) {
	e := newEnv(t)
	res := e.get("/.well-known/oauth-authorization-server")
	if res.status != http.StatusOK {
		t.Fatalf("metadata: %d", res.status)
	}
	want := map[string]any{
		"issuer":                 e.url,
		"token_endpoint":         e.url + "/oauth/token",
		"jwks_uri":               e.url + "/.well-known/jwks.json",
		"introspection_endpoint": e.url + "/oauth/introspect",
		"revocation_endpoint":    e.url + "/oauth/revoke",
	}
	for k, v := range want {
		if res.body[k] != v {
			t.Errorf("%s = %v, want %v", k, res.body[k], v)
		}
	}
	lists := map[string][]string{
		"grant_types_supported":                         {"client_credentials"},
		"response_types_supported":                      {},
		"token_endpoint_auth_methods_supported":         {"client_secret_basic", "client_secret_post"},
		"introspection_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post"},
		"revocation_endpoint_auth_methods_supported":    {"client_secret_basic", "client_secret_post"},
	}
	for k, v := range lists {
		got, ok := res.body[k].([]any)
		if !ok || len(got) != len(v) {
			t.Errorf("%s = %v, want %v", k, res.body[k], v)
			continue
		}
		for i := range v {
			if got[i] != v[i] {
				t.Errorf("%s = %v, want %v", k, got, v)
			}
		}
	}

	res = e.get("/.well-known/jwks.json")
	keys, _ := res.body["keys"].([]any)
	if res.status != http.StatusOK || len(keys) != 1 {
		t.Fatalf("jwks: %d %s", res.status, res.raw)
	}
	k := keys[0].(map[string]any)
	for field, v := range map[string]string{"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig"} {
		if k[field] != v {
			t.Errorf("jwk %s = %v, want %s", field, k[field], v)
		}
	}
	if _, ok := k["d"]; ok {
		t.Fatal("the JWK Set publishes a private key")
	}
	if !strings.Contains(res.header.Get("Cache-Control"), "max-age") {
		t.Errorf("jwks Cache-Control %q", res.header.Get("Cache-Control"))
	}

	// Wrong methods answer RFC 6749 bodies, not the mux's text.
	req, _ := http.NewRequest(http.MethodPost, e.url+"/.well-known/jwks.json", nil)
	res = e.do(req)
	if res.status != http.StatusMethodNotAllowed || res.str("error") != "invalid_request" {
		t.Errorf("POST jwks: %d %s", res.status, res.raw)
	}
}

func TestRejectedTokens(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client("svc", "", "a:read")
	kid, priv, _ := oauth.ActiveKey(t, e.oauth)
	now := e.clock.Now()

	claims := func(mod func(map[string]any)) []byte {
		c := map[string]any{
			"iss": e.url, "sub": id, "aud": e.url, "client_id": id,
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "jti": "forged-" + time.Now().String(), "scope": "a:read",
		}
		if mod != nil {
			mod(c)
		}
		b, _ := json.Marshal(c)
		return b
	}
	header := map[jose.HeaderKey]any{"kid": kid, "typ": "at+jwt"}
	sign := func(h map[jose.HeaderKey]any, body []byte) string {
		return oauth.Sign(t, priv, jose.ES256, h, body)
	}

	// The forging helper itself makes acceptable tokens: the cases below
	// fail for the one reason they name.
	if code := e.verifyCode(sign(header, claims(nil))); code != "" {
		t.Fatalf("a well-formed token signed with the real key is refused: %s", code)
	}

	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwksRes := e.get("/.well-known/jwks.json")
	jwksJSON := jwksRes.raw
	pubDER, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	valid := e.token(id, secret)
	head, payload, sig := splitToken(valid)
	revoked := e.token(id, secret)
	if res := e.post("/oauth/revoke", "token="+revoked, "Authorization", basic(id, secret)); res.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.status, res.raw)
	}

	cases := []struct {
		name  string
		token string
	}{
		{"revoked", revoked},
		{"tampered payload", head + "." + b64(strings.Replace(unb64(payload), `"a:read"`, `"*"`, 1)) + "." + sig},
		{"tampered signature", head + "." + payload + "." + flip(sig)},
		{"signature of another token", head + "." + b64(string(claims(nil))) + "." + sig},
		{"unknown kid", oauth.Sign(t, other, jose.ES256, map[jose.HeaderKey]any{"kid": "nope", "typ": "at+jwt"}, claims(nil))},
		{"right kid, wrong key", oauth.Sign(t, other, jose.ES256, header, claims(nil))},
		{"no kid", sign(map[jose.HeaderKey]any{"typ": "at+jwt"}, claims(nil))},
		{"alg none", b64(`{"alg":"none","typ":"at+jwt","kid":"`+kid+`"}`) + "." + b64(string(claims(nil))) + "."},
		{"HS256 keyed with the JWK Set", hs256(t, kid, jwksJSON, claims(nil))},
		{"HS256 keyed with the PEM public key", hs256(t, kid, pubPEM, claims(nil))},
		{"HS256 keyed with the DER public key", hs256(t, kid, pubDER, claims(nil))},
		{"ES384 header", oauth.Sign(t, mustP384(t), jose.ES384, header, claims(nil))},
		{"embedded jwk of the attacker", oauth.Sign(t, other, jose.ES256, map[jose.HeaderKey]any{"typ": "at+jwt", "jwk": jose.JSONWebKey{Key: &other.PublicKey}}, claims(nil))},
		{"wrong issuer", sign(header, claims(func(c map[string]any) { c["iss"] = "https://evil.example" }))},
		{"no issuer", sign(header, claims(func(c map[string]any) { delete(c, "iss") }))},
		{"wrong audience", sign(header, claims(func(c map[string]any) { c["aud"] = "https://api.example" }))},
		{"wrong typ", sign(map[jose.HeaderKey]any{"kid": kid, "typ": "JWT"}, claims(nil))},
		{"no typ", sign(map[jose.HeaderKey]any{"kid": kid}, claims(nil))},
		{"expired", sign(header, claims(func(c map[string]any) {
			c["iat"] = now.Add(-2 * time.Hour).Unix()
			c["exp"] = now.Add(-time.Hour).Unix()
		}))},
		{"no exp", sign(header, claims(func(c map[string]any) { delete(c, "exp") }))},
		{"issued in the future", sign(header, claims(func(c map[string]any) { c["iat"] = now.Add(10 * time.Minute).Unix() }))},
		{"no jti", sign(header, claims(func(c map[string]any) { delete(c, "jti") }))},
		{"sub differs from client_id", sign(header, claims(func(c map[string]any) { c["sub"] = "client_other" }))},
		{"unknown client", sign(header, claims(func(c map[string]any) { c["sub"], c["client_id"] = "client_gone", "client_gone" }))},
		{"tenant the client does not have", sign(header, claims(func(c map[string]any) { c["tenant_id"] = "t1" }))},
		{"scope of the wrong type", sign(header, claims(func(c map[string]any) { c["scope"] = []string{"a:read"} }))},
		{"two dots of garbage", "a.b.c"},
		{"huge", strings.Repeat("a", 5000) + "." + strings.Repeat("b", 5000) + ".c"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if code := e.verifyCode(c.token); code != latchkey.CodeInvalidAPIKey {
				t.Fatalf("Verify = %q, want INVALID_API_KEY", code)
			}
			if res := e.whoami(c.token); res.status != http.StatusUnauthorized {
				t.Fatalf("protected route: %d", res.status)
			}
		})
	}

	t.Run("valid token still verifies", func(t *testing.T) {
		if code := e.verifyCode(valid); code != "" {
			t.Fatalf("Verify = %s", code)
		}
	})
	t.Run("expired by the clock", func(t *testing.T) {
		e.clock.Advance(time.Hour + oauth.Leeway - time.Second)
		if code := e.verifyCode(valid); code != "" {
			t.Fatalf("within the leeway: Verify = %s", code)
		}
		e.clock.Advance(2 * time.Second)
		if code := e.verifyCode(valid); code != latchkey.CodeInvalidAPIKey {
			t.Fatalf("after expiry: Verify = %q, want INVALID_API_KEY", code)
		}
	})
}

func TestClientChangesReachIssuedTokens(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client("svc", "", "a:read", "b:read")
	tok := e.token(id, secret)
	ctx := t.Context()

	// Narrowing the client's scopes narrows its live tokens.
	narrowed := []string{"a:read"}
	if _, err := e.svc.UpdateOAuthClient(ctx, id, latchkey.OAuthClientPatch{Scopes: &narrowed}); err != nil {
		t.Fatal(err)
	}
	id1, err := e.svc.Verify(ctx, latchkey.VerifyRequest{Credential: tok})
	if err != nil || !slices.Equal(id1.Permissions, []string{"a:read"}) {
		t.Fatalf("after narrowing: %v %v", id1, err)
	}

	// Disabling stops tokens and token requests; enabling restores them.
	yes, no := true, false
	if _, err := e.svc.UpdateOAuthClient(ctx, id, latchkey.OAuthClientPatch{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if code := e.verifyCode(tok); code != latchkey.CodeInvalidAPIKey {
		t.Fatalf("disabled client's token: %q", code)
	}
	res := e.post("/oauth/token", "grant_type=client_credentials", "Authorization", basic(id, secret))
	if res.status != http.StatusBadRequest || res.str("error") != "unauthorized_client" {
		t.Fatalf("disabled client's token request: %d %s", res.status, res.raw)
	}
	if _, err := e.svc.UpdateOAuthClient(ctx, id, latchkey.OAuthClientPatch{Disabled: &no}); err != nil {
		t.Fatal(err)
	}
	if code := e.verifyCode(tok); code != "" {
		t.Fatalf("re-enabled client's token: %q", code)
	}

	// Rotating the secret stops the old secret, not the tokens.
	_, newSecret, err := e.svc.RotateOAuthClientSecret(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if res := e.post("/oauth/token", "grant_type=client_credentials", "Authorization", basic(id, secret)); res.status != http.StatusUnauthorized {
		t.Fatalf("old secret after rotation: %d", res.status)
	}
	e.token(id, newSecret)
	if code := e.verifyCode(tok); code != "" {
		t.Fatalf("token after secret rotation: %q", code)
	}

	// Deleting the client invalidates its tokens at once.
	if err := e.svc.DeleteOAuthClient(ctx, id); err != nil {
		t.Fatal(err)
	}
	if code := e.verifyCode(tok); code != latchkey.CodeInvalidAPIKey {
		t.Fatalf("deleted client's token: %q", code)
	}
}

func TestTenantDeletionInvalidatesClientTokens(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client("svc", "t1", "a")
	tok := e.token(id, secret)
	if err := e.svc.DeleteTenant(t.Context(), "t1"); err != nil {
		t.Fatal(err)
	}
	if code := e.verifyCode(tok); code != latchkey.CodeInvalidAPIKey {
		t.Fatalf("token of a deleted tenant's client: %q", code)
	}
}

func TestTokenTenantSelection(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client("svc", "t1", "a")
	e.svc.CreateTenant(t.Context(), "t2", "Other")
	tok := e.token(id, secret)
	ctx := t.Context()
	ident, err := e.svc.Verify(ctx, latchkey.VerifyRequest{Credential: tok, TenantID: "t1"})
	if err != nil || ident.Tenant == nil || ident.Tenant.ID != "t1" {
		t.Fatalf("own tenant: %v %v", ident, err)
	}
	_, err = e.svc.Verify(ctx, latchkey.VerifyRequest{Credential: tok, TenantID: "t2"})
	if latchkey.ErrorCode(err) != latchkey.CodeTenantNotFound {
		t.Fatalf("another tenant: %v, want TENANT_NOT_FOUND", err)
	}
	noTenant, s2 := e.client("svc2", "", "a")
	_, err = e.svc.Verify(ctx, latchkey.VerifyRequest{Credential: e.token(noTenant, s2), RequireTenant: true})
	if latchkey.ErrorCode(err) != latchkey.CodeAPIKeyNoTenant {
		t.Fatalf("no tenant where one is required: %v", err)
	}
}

func TestSigningKeyRotation(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client("svc", "", "a")
	ctx := t.Context()
	kids := func() []string {
		t.Helper()
		res := e.get("/.well-known/jwks.json")
		var out []string
		for _, k := range res.body["keys"].([]any) {
			out = append(out, k.(map[string]any)["kid"].(string))
		}
		return out
	}
	kidOf := func(tok string) string {
		h, _ := segments(t, tok)
		return h["kid"].(string)
	}

	old := e.token(id, secret)
	oldKid := kidOf(old)
	_, oldPriv, _ := oauth.ActiveKey(t, e.oauth)
	if got := kids(); !slices.Equal(got, []string{oldKid}) {
		t.Fatalf("JWKS before rotation = %v", got)
	}

	newKid, err := e.oauth.RotateSigningKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	retiredAt := e.clock.Now()
	// The new key is published at once, and signs only once it has been
	// published for PublishLead: until then the old one signs.
	if got := kids(); !slices.Equal(got, []string{newKid, oldKid}) || newKid == oldKid {
		t.Fatalf("JWKS after rotation = %v, want new then old", got)
	}
	e.clock.Advance(oauth.PublishLead - time.Second)
	if tok := e.token(id, secret); kidOf(tok) != oldKid {
		t.Fatalf("token just before the new key signs has kid %s, want the old key %s", kidOf(tok), oldKid)
	}
	lastOld := e.token(id, secret)
	e.clock.Advance(time.Second)
	fresh := e.token(id, secret)
	if kidOf(fresh) != newKid {
		t.Fatalf("token once the new key was published for PublishLead has kid %s, want %s", kidOf(fresh), newKid)
	}
	for _, tok := range []string{old, lastOld, fresh} {
		if code := e.verifyCode(tok); code != "" {
			t.Fatalf("Verify after rotation = %s", code)
		}
	}

	// The old key is published until every token it signed has expired:
	// the last one, signed PublishLead after its retirement, lives for the
	// token lifetime plus the leeway.
	e.clock.Advance(time.Hour + oauth.Leeway - time.Second)
	if code := e.verifyCode(lastOld); code != "" {
		t.Fatalf("Verify of the old key's last token just before it expires = %s", code)
	}
	if got := kids(); !slices.Equal(got, []string{newKid, oldKid}) {
		t.Fatalf("JWKS just before the old key's last token expires = %v", got)
	}
	e.clock.Advance(2 * time.Second)
	if got := kids(); !slices.Equal(got, []string{newKid}) {
		t.Fatalf("JWKS once the old key's tokens expired = %v, want only the new key", got)
	}
	if !e.clock.Now().After(retiredAt.Add(oauth.PublishLead + time.Hour + oauth.Leeway)) {
		t.Fatal("clock arithmetic")
	}
	if code := e.verifyCode(old); code != latchkey.CodeInvalidAPIKey {
		t.Fatalf("old token after retention: %q", code)
	}
	// Even an unexpired token signed with the unpublished key is refused.
	now := e.clock.Now()
	claims, _ := json.Marshal(map[string]any{
		"iss": e.url, "sub": id, "aud": e.url, "client_id": id, "jti": "late",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": "a",
	})
	late := oauth.Sign(t, oldPriv, jose.ES256, map[jose.HeaderKey]any{"kid": oldKid, "typ": "at+jwt"}, claims)
	if code := e.verifyCode(late); code != latchkey.CodeInvalidAPIKey {
		t.Fatalf("token signed with a key retired beyond retention: %q", code)
	}

	// The next rotation deletes the long-retired key from the database.
	if _, err := e.oauth.RotateSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	stored, err := e.db.SigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range stored {
		if k.ID == oldKid {
			t.Fatal("a key retired beyond its tokens' lifetime is still stored")
		}
	}
	if len(stored) != 2 {
		t.Fatalf("%d keys stored, want the active one and the one just retired", len(stored))
	}
}

// A rotation done elsewhere (the CLI, another node) signs once it has been
// published for PublishLead, on this node as on the one that rotated; this
// node's JWK Set lists the key by then, and its verifier finds the key
// through the unknown kid.
func TestRotationByAnotherProcess(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client("svc", "", "a")
	before := e.token(id, secret) // warms the verifier's key cache and the JWK Set
	if code := e.verifyCode(before); code != "" {
		t.Fatal(code)
	}
	kid, err := oauth.RotateSigningKey(t.Context(), e.db, oauth.Config{KeyEncryptionKey: e.kek, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(oauth.PublishLead)
	after := e.token(id, secret)
	if h, _ := segments(t, after); h["kid"] != kid {
		t.Fatalf("token after an outside rotation has kid %v, want %s", h["kid"], kid)
	}
	// Only the service clock moved, so this node's JWK Set may be as old as
	// its refresh allows: signing made it list the key.
	listed := false
	for _, k := range e.get("/.well-known/jwks.json").body["keys"].([]any) {
		listed = listed || k.(map[string]any)["kid"] == kid
	}
	if !listed {
		t.Fatalf("the JWK Set served right after a token signed with %s does not list it", kid)
	}
	if code := e.verifyCode(after); code != "" {
		t.Fatalf("Verify of a token signed by a key rotated in elsewhere: %s", code)
	}
	if code := e.verifyCode(before); code != "" {
		t.Fatalf("Verify of the token signed before: %s", code)
	}
}

func TestWrongKeyEncryptionKeyFailsAtStartAndRotationRecovers(t *testing.T) {
	e := newEnv(t)
	wrong := make([]byte, oauth.KeySize)
	cfg := oauth.Config{Issuer: e.url, KeyEncryptionKey: wrong}
	_, err := oauth.New(t.Context(), e.svc, e.db, cfg)
	if err == nil || !strings.Contains(err.Error(), "signing-keys rotate") {
		t.Fatalf("New with the wrong key-encryption key: %v", err)
	}
	kid, err := oauth.RotateSigningKey(t.Context(), e.db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := oauth.New(t.Context(), e.svc, e.db, cfg)
	if err != nil {
		t.Fatalf("New after rotating with the new key-encryption key: %v", err)
	}
	// The old key no longer opens, so the new one signs at once rather
	// than after PublishLead.
	if signing, _, _ := oauth.ActiveKey(t, srv); signing != kid {
		t.Fatalf("signing with %s right after the recovery, want the new key %s", signing, kid)
	}
}

func TestConfigValidation(t *testing.T) {
	e := newEnv(t)
	for _, cfg := range []oauth.Config{
		{Issuer: "", KeyEncryptionKey: e.kek},
		{Issuer: "ftp://x", KeyEncryptionKey: e.kek},
		{Issuer: "https://x?q=1", KeyEncryptionKey: e.kek},
		{Issuer: "https://x", KeyEncryptionKey: e.kek[:16]},
		{Issuer: "https://x", KeyEncryptionKey: e.kek, TokenTTL: 500 * time.Millisecond},
		{Issuer: "https://x", KeyEncryptionKey: e.kek, TokenTTL: 48 * time.Hour},
	} {
		if _, err := oauth.New(t.Context(), e.svc, e.db, cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

func TestRevocation(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client("svc", "", "a")
	otherID, otherSecret := e.client("other", "", "a")
	ctx := context.Background()

	t.Run("own token", func(t *testing.T) {
		tok := e.token(id, secret)
		res := e.post("/oauth/revoke", "token="+tok+"&token_type_hint=access_token", "Authorization", basic(id, secret))
		if res.status != http.StatusOK || len(res.raw) != 0 || res.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("revoke: %d %q %v", res.status, res.raw, res.header)
		}
		if code := e.verifyCode(tok); code != latchkey.CodeInvalidAPIKey {
			t.Fatalf("revoked token: %q", code)
		}
		// Twice is fine.
		if res := e.post("/oauth/revoke", "token="+tok+"&client_id="+id+"&client_secret="+secret); res.status != http.StatusOK {
			t.Fatalf("second revoke: %d", res.status)
		}
	})
	t.Run("another client's token is a no-op", func(t *testing.T) {
		tok := e.token(otherID, otherSecret)
		if res := e.post("/oauth/revoke", "token="+tok, "Authorization", basic(id, secret)); res.status != http.StatusOK {
			t.Fatalf("revoke: %d", res.status)
		}
		if code := e.verifyCode(tok); code != "" {
			t.Fatalf("another client revoked the token: %q", code)
		}
	})
	t.Run("garbage and unknown hints answer 200", func(t *testing.T) {
		for _, body := range []string{"token=garbage", "token=a.b.c&token_type_hint=refresh_token"} {
			if res := e.post("/oauth/revoke", body, "Authorization", basic(id, secret)); res.status != http.StatusOK {
				t.Fatalf("%s: %d %s", body, res.status, res.raw)
			}
		}
	})
	t.Run("root key with admin revokes any token", func(t *testing.T) {
		_, root, err := e.svc.CreateRootKey(ctx, "admin", []string{latchkey.ScopeAdmin})
		if err != nil {
			t.Fatal(err)
		}
		tok := e.token(otherID, otherSecret)
		if res := e.post("/oauth/revoke", "token="+tok, "Authorization", "Bearer "+root); res.status != http.StatusOK {
			t.Fatalf("revoke: %d %s", res.status, res.raw)
		}
		if code := e.verifyCode(tok); code != latchkey.CodeInvalidAPIKey {
			t.Fatalf("token revoked by the admin: %q", code)
		}
		_, verifyOnly, err := e.svc.CreateRootKey(ctx, "verify", []string{latchkey.ScopeVerify})
		if err != nil {
			t.Fatal(err)
		}
		res := e.post("/oauth/revoke", "token="+e.token(otherID, otherSecret), "Authorization", "Bearer "+verifyOnly)
		if res.status != http.StatusForbidden || res.str("error") != "insufficient_scope" {
			t.Fatalf("root key without admin: %d %s", res.status, res.raw)
		}
	})
	t.Run("errors", func(t *testing.T) {
		tok := e.token(id, secret)
		for _, c := range []struct {
			body, auth string
			status     int
			code       string
		}{
			{"token=" + tok, "", 401, "invalid_client"},
			{"token=" + tok, basic(id, "lk_secret_wrong"), 401, "invalid_client"},
			{"", basic(id, secret), 400, "invalid_request"},
			{"token=" + tok + "&token=" + tok, basic(id, secret), 400, "invalid_request"},
		} {
			var res response
			if c.auth == "" {
				res = e.post("/oauth/revoke", c.body)
			} else {
				res = e.post("/oauth/revoke", c.body, "Authorization", c.auth)
			}
			if res.status != c.status || res.str("error") != c.code {
				t.Errorf("%q: %d %s, want %d %s", c.body, res.status, res.raw, c.status, c.code)
			}
		}
		if code := e.verifyCode(tok); code != "" {
			t.Fatalf("a failed revocation revoked the token: %s", code)
		}
	})
}

func TestRevokingAnAPIKeyIsUnsupported(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client("svc", "", "a")
	if _, err := e.svc.CreateUser(t.Context(), latchkey.NewUser{ID: "u1"}); err != nil {
		t.Fatal(err)
	}
	_, key, err := e.svc.CreateKey(t.Context(), "u1", latchkey.NewKey{Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	res := e.post("/oauth/revoke", "token="+key, "Authorization", basic(id, secret))
	if res.status != http.StatusBadRequest || res.str("error") != "unsupported_token_type" {
		t.Fatalf("revoke an API key: %d %s", res.status, res.raw)
	}
	if code := e.verifyCode(key); code != "" {
		t.Fatalf("the API key stopped working: %s", code)
	}
}

func TestDenyListIsPruned(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client("svc", "", "a")
	ctx := t.Context()
	jtiOf := func(tok string) string { _, p := segments(t, tok); return p["jti"].(string) }

	first := e.token(id, secret)
	e.post("/oauth/revoke", "token="+first, "Authorization", basic(id, secret))
	if revoked, _ := e.db.TokenRevoked(ctx, jtiOf(first)); !revoked {
		t.Fatal("revoked token is not on the deny-list")
	}

	// Past the first token's expiry (and the leeway), the next revocation
	// drops its entry: it is refused as expired anyway.
	e.clock.Advance(time.Hour + oauth.Leeway + time.Second)
	second := e.token(id, secret)
	e.post("/oauth/revoke", "token="+second, "Authorization", basic(id, secret))
	if revoked, _ := e.db.TokenRevoked(ctx, jtiOf(first)); revoked {
		t.Fatal("an expired token's deny-list entry was not pruned")
	}
	if revoked, _ := e.db.TokenRevoked(ctx, jtiOf(second)); !revoked {
		t.Fatal("the live revoked token fell off the deny-list")
	}
	if code := e.verifyCode(first); code != latchkey.CodeInvalidAPIKey {
		t.Fatalf("pruned token: %q", code)
	}
	if code := e.verifyCode(second); code != latchkey.CodeInvalidAPIKey {
		t.Fatalf("revoked token: %q", code)
	}

	// Revoking an already expired token stores nothing.
	third := e.token(id, secret)
	e.clock.Advance(2 * time.Hour)
	e.post("/oauth/revoke", "token="+third, "Authorization", basic(id, secret))
	if revoked, _ := e.db.TokenRevoked(ctx, jtiOf(third)); revoked {
		t.Fatal("an expired token was added to the deny-list")
	}
}

func TestIntrospection(t *testing.T) {
	e := newEnv(t)
	id, secret := e.client("svc", "t1", "a:read", "b:read")
	otherID, otherSecret := e.client("other", "", "a:read")
	tok := e.token(id, secret, "a:read")
	ctx := t.Context()

	res := e.post("/oauth/introspect", "token="+tok, "Authorization", basic(id, secret))
	if res.status != http.StatusOK || res.body["active"] != true {
		t.Fatalf("introspect own token: %d %s", res.status, res.raw)
	}
	_, payload := segments(t, tok)
	for k, want := range map[string]any{
		"scope": "a:read", "client_id": id, "sub": id, "iss": e.url, "aud": e.url,
		"tenant_id": "t1", "jti": payload["jti"], "exp": payload["exp"], "iat": payload["iat"], "token_type": "bearer",
	} {
		if res.body[k] != want {
			t.Errorf("%s = %v, want %v", k, res.body[k], want)
		}
	}
	if res.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", res.header.Get("Cache-Control"))
	}

	inactive := func(what string, res response) {
		t.Helper()
		if res.status != http.StatusOK || string(res.raw) != "{\"active\":false}\n" {
			t.Errorf("%s: %d %s, want exactly {\"active\":false}", what, res.status, res.raw)
		}
	}
	inactive("another client's token", e.post("/oauth/introspect", "token="+tok, "Authorization", basic(otherID, otherSecret)))
	inactive("garbage", e.post("/oauth/introspect", "token=garbage&client_id="+id+"&client_secret="+secret))

	_, verifier, err := e.svc.CreateRootKey(ctx, "verify", []string{latchkey.ScopeVerify})
	if err != nil {
		t.Fatal(err)
	}
	res = e.post("/oauth/introspect", "token="+tok, "Authorization", "Bearer "+verifier)
	if res.status != http.StatusOK || res.body["active"] != true || res.str("client_id") != id {
		t.Fatalf("introspect with a keys:verify root key: %d %s", res.status, res.raw)
	}
	_, manager, err := e.svc.CreateRootKey(ctx, "manage", []string{latchkey.ScopeManage})
	if err != nil {
		t.Fatal(err)
	}
	res = e.post("/oauth/introspect", "token="+tok, "Authorization", "Bearer "+manager)
	if res.status != http.StatusForbidden || res.str("error") != "insufficient_scope" {
		t.Fatalf("root key without keys:verify: %d %s", res.status, res.raw)
	}
	res = e.post("/oauth/introspect", "token="+tok, "Authorization", "Bearer lk_root_notarealkey")
	if res.status != http.StatusUnauthorized || res.str("error") != "invalid_client" {
		t.Fatalf("bogus root key: %d %s", res.status, res.raw)
	}
	res = e.post("/oauth/introspect", "token="+tok)
	if res.status != http.StatusUnauthorized || res.str("error") != "invalid_client" {
		t.Fatalf("no authentication: %d %s", res.status, res.raw)
	}
	res = e.post("/oauth/introspect", "", "Authorization", basic(id, secret))
	if res.status != http.StatusBadRequest || res.str("error") != "invalid_request" {
		t.Fatalf("no token: %d %s", res.status, res.raw)
	}

	e.post("/oauth/revoke", "token="+tok, "Authorization", basic(id, secret))
	inactive("revoked token", e.post("/oauth/introspect", "token="+tok, "Authorization", basic(id, secret)))
	other := e.token(otherID, otherSecret)
	e.clock.Advance(2 * time.Hour)
	inactive("expired token", e.post("/oauth/introspect", "token="+other, "Authorization", "Bearer "+verifier))
}

func splitToken(tok string) (string, string, string) {
	p := strings.Split(tok, ".")
	return p[0], p[1], p[2]
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func unb64(s string) string {
	b, _ := base64.RawURLEncoding.DecodeString(s)
	return string(b)
}

// flip changes one bit of a base64url signature.
func flip(sig string) string {
	b, _ := base64.RawURLEncoding.DecodeString(sig)
	b[len(b)/2] ^= 1
	return base64.RawURLEncoding.EncodeToString(b)
}

// hs256 makes the classic algorithm-confusion token: HMAC-SHA256 keyed
// with public material, signed by an independent library.
func hs256(t *testing.T, kid string, secret, claims []byte) string {
	t.Helper()
	var mc jwt.MapClaims
	if err := json.Unmarshal(claims, &mc); err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, mc)
	tok.Header["kid"] = kid
	tok.Header["typ"] = "at+jwt"
	s, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustP384(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
