package oauth

import (
	"encoding/base64"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey"
)

// Error codes of RFC 6749 §5.2, RFC 7009 §2.2.1 and Latchkey's own
// extensions for limits and outages.
const (
	errInvalidRequest       = "invalid_request"
	errInvalidClient        = "invalid_client"
	errInvalidGrant         = "invalid_grant"
	errUnauthorizedClient   = "unauthorized_client"
	errUnsupportedGrantType = "unsupported_grant_type"
	errInvalidScope         = "invalid_scope"
	errUnsupportedTokenType = "unsupported_token_type"
	errInsufficientScope    = "insufficient_scope"
	errSlowDown             = "slow_down"
	errServerError          = "server_error"
	errUnavailable          = "temporarily_unavailable"
)

// statusOf is the HTTP status of each error code: 400 unless RFC 6749 or
// HTTP says otherwise.
func statusOf(code string) int {
	switch code {
	case errInvalidClient:
		return http.StatusUnauthorized
	case errInsufficientScope:
		return http.StatusForbidden
	case errSlowDown:
		return http.StatusTooManyRequests
	case errServerError:
		return http.StatusInternalServerError
	case errUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// oauthError is an error response of an OAuth endpoint.
type oauthError struct {
	code        string
	description string
	retryAfter  time.Duration // sets Retry-After when > 0
	allow       string        // sets Allow (405)
	status      int           // overrides statusOf(code) when set
	cause       error         // logged, never sent
}

func (e *oauthError) Error() string { return e.code + ": " + e.description }

func oauthErr(code, description string) *oauthError {
	return &oauthError{code: code, description: description}
}

// errBodyTooLarge answers a body over maxBodyBytes: 413, as every endpoint
// of Latchkey's does (SPEC §5), with the RFC 6749 body of these endpoints.
var errBodyTooLarge = &oauthError{code: errInvalidRequest, description: "the request body must be at most 1 MiB",
	status: http.StatusRequestEntityTooLarge}

// Limits on request parameters. Latchkey's own values are far shorter.
const (
	maxBodyBytes  = 1 << 20
	maxParams     = 32
	maxParamBytes = 16 << 10
	maxScopes     = latchkey.MaxPermissions
)

// form is the parameters of a form-encoded request, each given once.
// Parameters sent without a value are treated as omitted (RFC 6749 §3.1).
type form map[string]string

// parseForm reads an application/x-www-form-urlencoded body (RFC 6749
// §3.2, RFC 7662 §2.1, RFC 7009 §2.1). Any other content type, a repeated
// parameter, bad encoding or oversized input is invalid_request.
func parseForm(contentType string, body []byte) (form, *oauthError) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, oauthErr(errInvalidRequest, "the request body must be application/x-www-form-urlencoded")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, oauthErr(errInvalidRequest, "the request body must be UTF-8")
	}
	if len(body) > maxBodyBytes {
		return nil, errBodyTooLarge
	}
	values, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, oauthErr(errInvalidRequest, "the request body is not valid form encoding")
	}
	if len(values) > maxParams {
		return nil, oauthErr(errInvalidRequest, "too many parameters")
	}
	f := form{}
	for name, vs := range values {
		if len(vs) > 1 {
			return nil, oauthErr(errInvalidRequest, "parameter '"+clean(name)+"' is repeated")
		}
		if len(name) > maxParamBytes || len(vs[0]) > maxParamBytes {
			return nil, oauthErr(errInvalidRequest, "a parameter is too long")
		}
		if !utf8.ValidString(name) || !utf8.ValidString(vs[0]) {
			return nil, oauthErr(errInvalidRequest, "parameters must be valid UTF-8")
		}
		if vs[0] != "" {
			f[name] = vs[0]
		}
	}
	return f, nil
}

// credentials is how a caller authenticated: a client by HTTP Basic
// (client_secret_basic) or by body parameters (client_secret_post), or,
// where allowed, a root key as a Bearer token.
type credentials struct {
	clientID, clientSecret string
	basic                  bool   // the Authorization header was used: 401s carry a Basic challenge
	bearer                 string // a Bearer credential, when allowed
}

// readCredentials finds the caller's credentials in the Authorization
// header and the form. Using two methods at once is invalid_request; no
// credentials, or a malformed or unsupported Authorization header, is
// invalid_client.
func readCredentials(authorization []string, f form, allowBearer bool) (credentials, *oauthError) {
	var c credentials
	if len(authorization) > 1 {
		return c, oauthErr(errInvalidRequest, "the Authorization header is repeated")
	}
	if len(authorization) == 1 {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(authorization[0]), " ")
		rest = strings.TrimSpace(rest)
		switch {
		case strings.EqualFold(scheme, "Basic"):
			id, secret, ok := parseBasic(rest)
			if !ok {
				return c, &oauthError{code: errInvalidClient, description: "malformed HTTP Basic credentials"}
			}
			c = credentials{clientID: id, clientSecret: secret, basic: true}
		case allowBearer && strings.EqualFold(scheme, "Bearer") && rest != "":
			c.bearer = rest
		default:
			c.basic = true // answer with the scheme that is supported
			return c, oauthErr(errInvalidClient, "unsupported client authentication method; use HTTP Basic or client_secret_post")
		}
	}
	id, hasID := f["client_id"]
	secret, hasSecret := f["client_secret"]
	switch {
	case c.basic && hasSecret:
		return c, oauthErr(errInvalidRequest, "use one client authentication method: HTTP Basic or client_secret in the body, not both")
	case c.basic && hasID && id != c.clientID:
		return c, oauthErr(errInvalidRequest, "client_id in the body differs from the one in the Authorization header")
	case c.bearer != "" && (hasID || hasSecret):
		return c, oauthErr(errInvalidRequest, "use one authentication method: a Bearer root key or client credentials, not both")
	case c.basic || c.bearer != "":
		return c, nil
	case hasSecret && !hasID:
		return c, oauthErr(errInvalidRequest, "client_secret needs client_id")
	case !hasID:
		return c, oauthErr(errInvalidClient, "client authentication is required")
	case !hasSecret:
		return c, oauthErr(errInvalidClient, "client_secret is required; public clients are not supported")
	}
	return credentials{clientID: id, clientSecret: secret}, nil
}

// parseBasic decodes HTTP Basic credentials whose user name and password
// are the form-encoded client_id and client_secret (RFC 6749 §2.3.1).
func parseBasic(token string) (id, secret string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		return "", "", false
	}
	user, pass, found := strings.Cut(string(raw), ":")
	if !found {
		return "", "", false
	}
	if id, err = url.QueryUnescape(user); err != nil {
		return "", "", false
	}
	if secret, err = url.QueryUnescape(pass); err != nil {
		return "", "", false
	}
	if id == "" || !utf8.ValidString(id) || !utf8.ValidString(secret) {
		return "", "", false
	}
	return id, secret, true
}

// tokenRequest is a well-formed client credentials token request.
type tokenRequest struct {
	credentials
	scopes []string // nil when scope was omitted: every scope of the client
}

// parseTokenRequest checks everything about a token request that needs no
// database (RFC 6749 §4.4.2).
func parseTokenRequest(contentType string, authorization []string, body []byte) (*tokenRequest, *oauthError) {
	f, oerr := parseForm(contentType, body)
	if oerr != nil {
		return nil, oerr
	}
	switch gt, ok := f["grant_type"]; {
	case !ok:
		return nil, oauthErr(errInvalidRequest, "grant_type is required")
	case gt != "client_credentials":
		return nil, oauthErr(errUnsupportedGrantType, "only grant_type=client_credentials is supported")
	}
	creds, oerr := readCredentials(authorization, f, false)
	if oerr != nil {
		if oerr.code != errInvalidClient {
			return nil, oerr // a malformed request: nothing in it is usable
		}
		// Which credentials failed (Basic or not) decides WWW-Authenticate.
		return &tokenRequest{credentials: creds}, oerr
	}
	req := &tokenRequest{credentials: creds}
	if s, ok := f["scope"]; ok {
		if req.scopes, oerr = parseScope(s); oerr != nil {
			return req, oerr
		}
	}
	return req, nil
}

// parseScope splits a scope parameter (RFC 6749 §3.3) into distinct
// scopes, each a well-formed Latchkey permission.
func parseScope(s string) ([]string, *oauthError) {
	var out []string
	for _, sc := range strings.Split(s, " ") {
		if sc == "" {
			continue
		}
		if !latchkey.ValidPermission(sc) {
			return nil, oauthErr(errInvalidScope, "scope '"+clean(sc)+"' is not a valid scope")
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
		if len(out) > maxScopes {
			return nil, oauthErr(errInvalidScope, "too many scopes")
		}
	}
	return out, nil
}

// clean makes client-sent text safe inside error_description, which allows
// only printable ASCII other than '"' and '\' (RFC 6749 §5.2), and short.
func clean(s string) string {
	const max = 64
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			c = '?'
		}
		b.WriteByte(c)
	}
	if len(s) > max {
		b.WriteString("...")
	}
	return b.String()
}
