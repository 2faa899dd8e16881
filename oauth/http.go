package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apikey"
	"github.com/latchkey/latchkey/clientaddr"
)

// Endpoint paths, relative to the issuer.
const (
	TokenPath      = "/oauth/token"
	IntrospectPath = "/oauth/introspect"
	RevokePath     = "/oauth/revoke"
	JWKSPath       = "/.well-known/jwks.json"
	MetadataPath   = "/.well-known/oauth-authorization-server"
)

// realm is the HTTP Basic challenge of invalid_client answers.
const realm = `Basic realm="latchkey"`

// TokenHandler serves POST /oauth/token: the client credentials grant.
func (s *Server) TokenHandler() http.Handler {
	return s.clientEndpoint(func(w http.ResponseWriter, r *http.Request, body []byte) *oauthError {
		req, oerr := parseTokenRequest(r.Header.Get("Content-Type"), r.Header.Values("Authorization"), body)
		if oerr != nil {
			return s.authFailure(r, oerr)
		}
		c, oerr := s.authenticateClient(r, req.credentials)
		if oerr != nil {
			return oerr
		}
		if c.Disabled {
			return oauthErr(errUnauthorizedClient, "this client is disabled")
		}
		scopes := c.Scopes
		if req.scopes != nil {
			for _, sc := range req.scopes {
				if !latchkey.Grants(c.Scopes, sc) {
					return oauthErr(errInvalidScope, "scope '"+clean(sc)+"' is not allowed for this client")
				}
			}
			scopes = req.scopes
		}
		token, err := s.issue(r.Context(), c, scopes)
		if err != nil {
			return internal(err)
		}
		writeJSON(w, http.StatusOK, tokenResponse{
			AccessToken: token,
			TokenType:   "bearer",
			ExpiresIn:   int64(s.ttl.Seconds()),
			Scope:       strings.Join(scopes, " "),
		})
		return nil
	})
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope"`
}

// IntrospectHandler serves POST /oauth/introspect (RFC 7662). The caller is
// a client, which learns only about its own tokens, or a root key with the
// keys:verify scope (as a Bearer token), which learns about any token.
func (s *Server) IntrospectHandler() http.Handler {
	return s.clientEndpoint(func(w http.ResponseWriter, r *http.Request, body []byte) *oauthError {
		token, caller, oerr := s.tokenCall(r, body, latchkey.ScopeVerify)
		if oerr != nil {
			return oerr
		}
		t, _, err := s.verify(r.Context(), token)
		if latchkey.ErrorCode(err) == latchkey.CodeUnavailable {
			return unavailableErr(err)
		}
		if err != nil || (caller != nil && t.ClientID != caller.ID) {
			writeJSON(w, http.StatusOK, introspection{Active: false})
			return nil
		}
		exp, iat := t.Expiry.Time().Unix(), t.IssuedAt.Time().Unix()
		writeJSON(w, http.StatusOK, introspection{
			Active:    true,
			Scope:     strings.Join(t.scopes, " "),
			ClientID:  t.ClientID,
			TokenType: "bearer",
			Exp:       &exp,
			Iat:       &iat,
			Sub:       t.Subject,
			Aud:       s.issuer,
			Iss:       t.Issuer,
			Jti:       t.ID,
			TenantID:  string(t.TenantID),
		})
		return nil
	})
}

type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Exp       *int64 `json:"exp,omitempty"`
	Iat       *int64 `json:"iat,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Aud       string `json:"aud,omitempty"`
	Iss       string `json:"iss,omitempty"`
	Jti       string `json:"jti,omitempty"`
	TenantID  string `json:"tenant_id,omitempty"`
}

// RevokeHandler serves POST /oauth/revoke (RFC 7009). A client revokes its
// own tokens; revoking anything else (another client's token, an expired
// or invalid one) changes nothing and answers 200 all the same. A root key
// with the admin scope may revoke any token. Latchkey rejects a revoked
// token everywhere from then on.
func (s *Server) RevokeHandler() http.Handler {
	return s.clientEndpoint(func(w http.ResponseWriter, r *http.Request, body []byte) *oauthError {
		token, caller, oerr := s.tokenCall(r, body, latchkey.ScopeAdmin)
		if oerr != nil {
			return oerr
		}
		if _, err := apikey.Parse(token); err == nil {
			return oauthErr(errUnsupportedTokenType, "API keys are revoked through the management API, not here")
		}
		t, err := s.parse(r.Context(), token)
		switch {
		case latchkey.ErrorCode(err) == latchkey.CodeUnavailable:
			return unavailableErr(err)
		case err == nil && (caller == nil || t.ClientID == caller.ID):
			if err := s.revoke(r.Context(), t); err != nil {
				return unavailableErr(err)
			}
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return nil
	})
}

// tokenCall authenticates the caller of introspection or revocation and
// returns the token parameter and the calling client (nil for a root key
// with rootScope).
func (s *Server) tokenCall(r *http.Request, body []byte, rootScope string) (string, *latchkey.OAuthClient, *oauthError) {
	f, oerr := parseForm(r.Header.Get("Content-Type"), body)
	if oerr != nil {
		return "", nil, oerr
	}
	creds, oerr := readCredentials(r.Header.Values("Authorization"), f, true)
	if oerr != nil {
		return "", nil, s.authFailure(r, oerr)
	}
	var caller *latchkey.OAuthClient
	if creds.bearer != "" {
		rk, err := s.svc.AuthenticateRoot(r.Context(), creds.bearer)
		switch {
		case latchkey.ErrorCode(err) == latchkey.CodeUnavailable:
			return "", nil, unavailableErr(err)
		case err != nil:
			return "", nil, s.authFailure(r, oauthErr(errInvalidClient, "invalid root key"))
		case !rk.HasScope(rootScope):
			return "", nil, oauthErr(errInsufficientScope, "this root key lacks the '"+rootScope+"' scope")
		}
	} else {
		if caller, oerr = s.authenticateClient(r, creds); oerr != nil {
			return "", nil, oerr
		}
	}
	token, ok := f["token"]
	if !ok {
		return "", nil, oauthErr(errInvalidRequest, "token is required")
	}
	return token, caller, nil
}

// authenticateClient checks client credentials, counting failures.
func (s *Server) authenticateClient(r *http.Request, c credentials) (*latchkey.OAuthClient, *oauthError) {
	client, err := s.svc.AuthenticateOAuthClient(r.Context(), c.clientID, c.clientSecret)
	switch {
	case err == nil:
		return client, nil
	case latchkey.ErrorCode(err) == latchkey.CodeUnavailable:
		return nil, unavailableErr(err)
	}
	return nil, s.authFailure(r, oauthErr(errInvalidClient, "Client authentication failed"))
}

// authFailure counts an invalid_client answer against the client address.
// The answer stays invalid_client: the limit refuses the next attempt.
func (s *Server) authFailure(r *http.Request, e *oauthError) *oauthError {
	if e.code == errInvalidClient {
		_ = s.svc.RecordFailedAuth(r.Context(), clientaddr.Of(r, s.trusted), nil)
	}
	return e
}

// clientEndpoint wraps the POST endpoints that authenticate clients: the
// method check, the failure limit and the bounded body read come first,
// and every error is an RFC 6749 §5.2 body.
func (s *Server) clientEndpoint(fn func(w http.ResponseWriter, r *http.Request, body []byte) *oauthError) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		oerr := func() *oauthError {
			if r.Method != http.MethodPost {
				return &oauthError{code: errInvalidRequest, description: "use POST",
					status: http.StatusMethodNotAllowed, allow: http.MethodPost}
			}
			if err := s.svc.CheckFailedAuth(r.Context(), clientaddr.Of(r, s.trusted)); err != nil {
				return limitedErr(err)
			}
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					return errBodyTooLarge
				}
				return oauthErr(errInvalidRequest, "the request body could not be read")
			}
			return fn(w, r, body)
		}()
		if oerr != nil {
			s.writeError(w, r, oerr)
		}
	})
}

func internal(err error) *oauthError {
	return &oauthError{code: errServerError, description: "internal server error", cause: err}
}

// limitedErr answers a client address over its limit on failed
// authentications (latchkey.Limits.FailedAuth).
func limitedErr(err error) *oauthError {
	wait := time.Second
	var le *latchkey.Error
	if errors.As(err, &le) && le.RetryAfter > 0 {
		wait = le.RetryAfter
	}
	return &oauthError{code: errSlowDown, retryAfter: wait,
		description: "too many failed client authentications from this address; retry later"}
}

func unavailableErr(err error) *oauthError {
	return &oauthError{code: errUnavailable, description: "the service is unavailable; retry later", cause: err}
}

type errorBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeError writes an RFC 6749 §5.2 error response.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, e *oauthError) {
	status := e.status
	if status == 0 {
		status = statusOf(e.code)
	}
	if e.cause != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "oauth request failed",
			slog.String("path", r.URL.Path), slog.String("error", e.code), slog.String("cause", e.cause.Error()))
	}
	h := w.Header()
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", realm)
	}
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(e.retryAfter.Seconds())), 10))
	}
	if e.allow != "" {
		h.Set("Allow", e.allow)
	}
	writeJSON(w, status, errorBody{Error: e.code, Description: clean(e.description)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// JWKSHandler serves GET /.well-known/jwks.json: the public signing keys,
// the active one and those retired less than a token lifetime ago.
func (s *Server) JWKSHandler() http.Handler {
	return s.getEndpoint(func(ctx context.Context) (any, error) {
		return s.keys.jwks(ctx)
	}, "public, max-age="+strconv.Itoa(int(jwksMaxAge.Seconds())))
}

// MetadataHandler serves GET /.well-known/oauth-authorization-server
// (RFC 8414).
func (s *Server) MetadataHandler() http.Handler {
	basicAndPost := []string{"client_secret_basic", "client_secret_post"}
	m := metadata{
		Issuer:                   s.issuer,
		TokenEndpoint:            s.issuer + TokenPath,
		JWKSURI:                  s.issuer + JWKSPath,
		IntrospectionEndpoint:    s.issuer + IntrospectPath,
		RevocationEndpoint:       s.issuer + RevokePath,
		GrantTypesSupported:      []string{"client_credentials"},
		ResponseTypesSupported:   []string{},
		TokenEndpointAuthMethods: basicAndPost,
		IntrospectionAuthMethods: basicAndPost,
		RevocationAuthMethods:    basicAndPost,
		AccessTokenSigningAlgs:   []string{algorithm},
	}
	return s.getEndpoint(func(context.Context) (any, error) { return m, nil }, "public, max-age=300")
}

type metadata struct {
	Issuer                   string   `json:"issuer"`
	TokenEndpoint            string   `json:"token_endpoint"`
	JWKSURI                  string   `json:"jwks_uri"`
	IntrospectionEndpoint    string   `json:"introspection_endpoint"`
	RevocationEndpoint       string   `json:"revocation_endpoint"`
	GrantTypesSupported      []string `json:"grant_types_supported"`
	ResponseTypesSupported   []string `json:"response_types_supported"`
	TokenEndpointAuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	IntrospectionAuthMethods []string `json:"introspection_endpoint_auth_methods_supported"`
	RevocationAuthMethods    []string `json:"revocation_endpoint_auth_methods_supported"`
	// RFC 9068 §5 suggests publishing the access tokens' algorithm.
	AccessTokenSigningAlgs []string `json:"access_token_signing_alg_values_supported"`
}

// getEndpoint serves a public GET (and HEAD) document.
func (s *Server) getEndpoint(get func(ctx context.Context) (any, error), cacheControl string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.writeError(w, r, &oauthError{code: errInvalidRequest, description: "use GET",
				status: http.StatusMethodNotAllowed, allow: "GET, HEAD"})
			return
		}
		v, err := get(r.Context())
		if err != nil {
			w.Header().Set("Cache-Control", "no-store")
			s.writeError(w, r, unavailableErr(err))
			return
		}
		w.Header().Set("Cache-Control", cacheControl)
		writeJSON(w, http.StatusOK, v)
	})
}
