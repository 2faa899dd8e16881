package server

import (
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/clientaddr"
	"github.com/latchkey/latchkey/routes"
)

// Forward auth (SPEC §7, §8): nginx auth_request, Traefik ForwardAuth and
// Caddy forward_auth ask /auth/check about the request they are holding.
// The reverse proxy makes the same decision with the same code.

// Identity headers sent to the upstream (and returned by /auth/check).
const (
	HeaderKeyID       = "X-Latchkey-Key-Id"
	HeaderOwnerID     = "X-Latchkey-Owner-Id"
	HeaderTenantID    = "X-Latchkey-Tenant-Id"
	HeaderEnvironment = "X-Latchkey-Environment"
	HeaderPermissions = "X-Latchkey-Permissions"
)

// headerReplay marks nginx's second call to /auth/check, made only to fetch
// the error of a check that failed (see the documented nginx setup). If the
// credential passes this time (a limit window reset in between), answering
// 200 would make nginx send an empty 200 to its client instead of proxying,
// so the replay answers 503 with Retry-After: the client simply retries.
const headerReplay = "X-Latchkey-Replay"

// authorizer decides whether a request may pass: the routes table picks the
// rule, svc.Verify checks the credential against it.
type authorizer struct {
	svc            *latchkey.Service
	table          *routes.Table
	requireTenant  bool
	trustedProxies []netip.Prefix // whose nginx replay header (headerReplay) is believed
}

var errDenied = &latchkey.Error{Code: latchkey.CodeForbidden, Message: "Access to this endpoint is denied."}

var errAmbiguousPath = latchkey.Invalid("request path must not contain dot segments, empty segments or backslashes, plain or percent-encoded")

// authHeaders are the request headers authorization reads, gathered in
// one pass over the header map (readAuthHeaders): a forward-auth check asks
// for up to nine names, most of them absent, and a lookup each cost more
// than the pass.
type authHeaders struct {
	authorization, apiKey, tenant, replay []string
	// The request a forward-auth caller holds (forwardedRequest).
	forwardedMethod, originalMethod, forwardedHost, forwardedURI, originalURI []string
}

// readAuthHeaders gathers h's authHeaders. net/http canonicalizes the
// names it receives, so they are compared as such.
func readAuthHeaders(h http.Header) authHeaders {
	var a authHeaders
	for name, v := range h {
		switch name {
		case "Authorization":
			a.authorization = v
		case "X-Api-Key":
			a.apiKey = v
		case "X-Tenant-Id":
			a.tenant = v
		case headerReplay:
			a.replay = v
		case "X-Forwarded-Method":
			a.forwardedMethod = v
		case "X-Original-Method":
			a.originalMethod = v
		case "X-Forwarded-Host":
			a.forwardedHost = v
		case "X-Forwarded-Uri":
			a.forwardedURI = v
		case "X-Original-Uri":
			a.originalURI = v
		}
	}
	return a
}

// replay reports whether r is nginx's replay of a failed check: marked
// (headerReplay) by a trusted proxy.
func (a *authorizer) replay(r *http.Request, h *authHeaders) bool {
	return len(h.replay) > 0 && h.replay[0] != "" && clientaddr.TrustedPeer(r.RemoteAddr, a.trustedProxies)
}

// authorize returns the identity a request acts for (kept in info), or nil
// for a public route. h holds r's credential and tenant headers; method,
// host and u describe the request being authorized (r itself, or the one
// a forward auth caller holds); info's client address is whom its
// failures are counted against.
func (a *authorizer) authorize(r *http.Request, h *authHeaders, info *requestInfo, method, host string, u *url.URL) (*latchkey.Identity, error) {
	if ambiguousPath(u) {
		return nil, errAmbiguousPath
	}
	rule := a.table.Match(method, host, u)
	switch rule.Access {
	case routes.Public:
		return nil, nil
	case routes.Deny:
		return nil, errDenied
	}
	cred, err := credentialIn(h.authorization, h.apiKey)
	if err != nil {
		return nil, err
	}
	tenantID, err := agreed("X-Tenant-Id", h.tenant)
	if err != nil {
		return nil, err
	}
	err = a.svc.VerifyInto(r.Context(), latchkey.VerifyRequest{
		Credential:    cred,
		TenantID:      tenantID,
		Permissions:   rule.Permissions,
		Environment:   rule.Environment,
		RequireTenant: a.requireTenant || rule.RequireTenant,
		Client:        info,
		// nginx's replay only fetches the answer to a check already
		// counted; it must not count the request, its failure or its use again.
		DryRun: a.replay(r, h),
	}, &info.identity)
	if err != nil {
		return nil, err
	}
	return &info.identity, nil
}

// ambiguousPath reports whether servers could disagree about which
// resource u's path names: dot segments, empty segments ("//") or
// backslashes, plain or percent-encoded. The routes table matches a path
// the way ServeMux does, and an upstream that decodes "%2e%2e%2f" or
// merges slashes differently could otherwise be reached past a rule.
func ambiguousPath(u *url.URL) bool {
	// Without a RawPath, u.Path is already the decoded form of the path
	// as sent; with one, the path held an encoded "/" (or unusual
	// escapes), and decoding what was sent again shows it.
	dec := u.Path
	if u.RawPath != "" {
		var err error
		if dec, err = url.PathUnescape(u.EscapedPath()); err != nil {
			return true
		}
	}
	if !strings.HasPrefix(dec, "/") || strings.IndexByte(dec, '\\') >= 0 || strings.IndexByte(dec, 0) >= 0 {
		return true
	}
	// No segment may be "." or "..", and none but the last may be empty.
	rest := dec[1:]
	for {
		seg, after, more := strings.Cut(rest, "/")
		if seg == "." || seg == ".." || (seg == "" && more) {
			return true
		}
		if !more {
			return false
		}
		rest = after
	}
}

// setIdentity writes the identity headers of SPEC §7, their values kept in
// *values (storage the caller lends, so they need no allocation of their
// own). The names are canonical, so they are assigned directly: Header.Set
// would validate and canonicalize each one on every request.
func setIdentity(h http.Header, id *latchkey.Identity, values *[5]string) {
	v := values[:]
	v[0], v[1], v[2], v[3] = id.KeyID, id.OwnerID, id.Environment, strings.Join(id.Permissions, ",")
	h[HeaderKeyID] = v[0:1:1]
	h[HeaderOwnerID] = v[1:2:2]
	h[HeaderEnvironment] = v[2:3:3]
	h[HeaderPermissions] = v[3:4:4]
	if id.Tenant != nil {
		v[4] = id.Tenant.ID
		h[HeaderTenantID] = v[4:5:5]
	}
}

// setRateLimit writes the RateLimit-* headers of an authenticated response
// (nothing for a credential without a limit), under their canonical names.
func setRateLimit(h http.Header, st *latchkey.LimitStatus) {
	if st == nil {
		return
	}
	v := []string{
		strconv.Itoa(st.Limit),
		strconv.Itoa(st.Remaining),
		strconv.FormatInt(ceilSeconds(st.Reset), 10),
	}
	h["Ratelimit-Limit"] = v[0:1:1]
	h["Ratelimit-Remaining"] = v[1:2:2]
	h["Ratelimit-Reset"] = v[2:3:3]
}

// forwardedRequest reads the request a forward-auth caller holds from
// X-Forwarded-Method / X-Original-Method, X-Forwarded-Uri / X-Original-URI
// and X-Forwarded-Host, each falling back to the check request's own.
//
// A proxy sets one header of each pair and overwrites what its client sent
// under that name, but a client could add the other name. So every value
// present under either name must agree: a client that adds
// "X-Forwarded-Uri: /public" to a proxy that sets X-Original-URI gets 400,
// never the public route's answer.
func forwardedRequest(r *http.Request, h *authHeaders) (method, host string, u *url.URL, err error) {
	method, err = agreed("X-Forwarded-Method / X-Original-Method", h.forwardedMethod, h.originalMethod)
	if err != nil {
		return "", "", nil, err
	}
	if method == "" {
		method = r.Method
	}
	if !validMethod(method) {
		return "", "", nil, latchkey.Invalid("X-Forwarded-Method is not an HTTP method")
	}
	if host, err = agreed("X-Forwarded-Host", h.forwardedHost); err != nil {
		return "", "", nil, err
	}
	if host == "" {
		host = r.Host
	}
	uri, err := agreed("X-Forwarded-Uri / X-Original-Uri", h.forwardedURI, h.originalURI)
	if err != nil {
		return "", "", nil, err
	}
	if uri == "" {
		return method, host, r.URL, nil
	}
	u, err = parseForwardedURI(uri)
	return method, host, u, err
}

// agreedHeader returns the one value that every occurrence of the named
// header carries (spaces trimmed), "" when none is present, or
// VALIDATION_FAILED when they disagree. The name must be canonical
// (net/http canonicalizes received ones): it is looked up directly.
func agreedHeader(h http.Header, name string) (string, error) {
	return agreed(name, h[name])
}

// agreed is agreedHeader for the values of one or more headers, named in
// the error by names.
func agreed(names string, values ...[]string) (string, error) {
	var found string
	for _, vs := range values {
		for _, v := range vs {
			v = strings.TrimSpace(v)
			switch {
			case v == "" || v == found:
			case found == "":
				found = v
			default:
				return "", latchkey.Invalid("conflicting values for %s", names)
			}
		}
	}
	return found, nil
}

// parseForwardedURI parses an origin-form request URI ("/path?query"), as
// nginx's $request_uri, Traefik and Caddy send it.
func parseForwardedURI(uri string) (*url.URL, error) {
	if !strings.HasPrefix(uri, "/") || strings.HasPrefix(uri, "//") {
		return nil, latchkey.Invalid("X-Forwarded-Uri must be a request URI starting with a single /")
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, latchkey.Invalid("X-Forwarded-Uri is not a valid request URI")
	}
	return u, nil
}

// validMethod reports whether m is an HTTP token (RFC 9110).
func validMethod(m string) bool {
	if m == "" || len(m) > 32 {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// handleCheck answers forward auth: 200 with an empty body and the identity
// headers (none for a public route), or the error with its real status.
func handleCheck(a *authorizer, rs *responder) http.Handler {
	return rs.handle(func(w http.ResponseWriter, r *http.Request) error {
		info := infoOf(w)
		info.routine = true // see requestInfo.routine
		w.Header()["Cache-Control"] = noStoreValue
		h := readAuthHeaders(r.Header)
		method, host, u, err := forwardedRequest(r, &h)
		if err != nil {
			return err
		}
		id, err := a.authorize(r, &h, info, method, host, u)
		if err != nil {
			return err
		}
		if a.replay(r, &h) {
			w.Header().Set("Retry-After", "1")
			return &latchkey.Error{Code: latchkey.CodeUnavailable, Message: "Authorization changed while the request was being processed; please retry."}
		}
		if id != nil {
			setIdentity(w.Header(), id, &info.identityValues)
			setRateLimit(w.Header(), id.Limit)
		}
		w.WriteHeader(http.StatusOK)
		return nil
	})
}
