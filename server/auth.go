package server

import (
	"net/http"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apikey"
	"github.com/latchkey/latchkey/clientaddr"
)

// credential returns the key or token the request presents (SPEC §6):
// "Authorization: Bearer <x>" (scheme case-insensitive) or "X-API-KEY: <x>".
// An Authorization header with another scheme is not a credential. Two
// different values, in any combination of these headers, are ambiguous;
// the same value twice is fine. "" means no credential.
func credential(r *http.Request) (string, error) {
	// Canonical names, looked up directly: Header.Values would
	// canonicalize "X-API-KEY" into a new string on every request.
	return credentialIn(r.Header["Authorization"], r.Header["X-Api-Key"])
}

// credentialIn is credential for the values of the Authorization and
// X-API-KEY headers.
func credentialIn(authorization, apiKey []string) (string, error) {
	var found string
	add := func(v string) error {
		v = strings.TrimSpace(v)
		switch {
		case v == "":
		case found == "":
			found = v
		case found != v:
			return latchkey.ErrAmbiguous
		}
		return nil
	}
	for _, h := range authorization {
		scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			continue
		}
		if err := add(rest); err != nil {
			return "", err
		}
	}
	for _, h := range apiKey {
		if err := add(h); err != nil {
			return "", err
		}
	}
	return found, nil
}

// headerValue is h.Get(name) for a name already in canonical form: it
// skips the validation and canonicalization Get does on every call, which
// showed in the forward-auth profile.
func headerValue(h http.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// isRootKey reports whether a credential is shaped like a root key, so the
// right verifier (and the right error) can be chosen without I/O.
func isRootKey(cred string) bool {
	k, err := apikey.Parse(cred)
	return err == nil && k.Environment == apikey.Root
}

// isCustomerKey reports whether a credential is shaped like a live or test key.
func isCustomerKey(cred string) bool {
	k, err := apikey.Parse(cred)
	return err == nil && (k.Environment == apikey.Live || k.Environment == apikey.Test)
}

func forbidden(msg string) error {
	return &latchkey.Error{Code: latchkey.CodeForbidden, Message: msg}
}

// rootKey authenticates a root key holding scope. A customer key is
// refused with FORBIDDEN (with customerMsg) once it is known to be a real
// key, so a bogus key is always INVALID_API_KEY.
func rootKey(svc *latchkey.Service, info *requestInfo, r *http.Request, scope, customerMsg string) (*latchkey.RootKey, error) {
	cred, err := credential(r)
	if err != nil {
		return nil, err
	}
	if cred == "" {
		return nil, latchkey.ErrMissingKey
	}
	if isCustomerKey(cred) || svc.IsAccessToken(cred) {
		return nil, refuseCustomerKey(svc, r, cred, customerMsg)
	}
	rk, err := authenticateRoot(svc, info, r, cred)
	if err != nil {
		return nil, err
	}
	if !rk.HasScope(scope) {
		return nil, forbidden("This root key lacks the '" + scope + "' scope.")
	}
	return rk, nil
}

// authenticateRoot checks a root key, counting a bad one against the
// client's address (SPEC §9: failed authentications are limited per client
// address) and refusing an address over its limit before any lookup.
func authenticateRoot(svc *latchkey.Service, info *requestInfo, r *http.Request, cred string) (*latchkey.RootKey, error) {
	ip := info.ClientIP()
	if err := svc.CheckFailedAuth(r.Context(), ip); err != nil {
		return nil, err
	}
	rk, err := svc.AuthenticateRoot(r.Context(), cred)
	if latchkey.ErrorCode(err) == latchkey.CodeInvalidAPIKey {
		return nil, svc.RecordFailedAuth(r.Context(), ip, err)
	}
	return rk, err
}

// refuseCustomerKey answers a customer key presented where only root keys
// or users are accepted: INVALID_API_KEY (or UNAVAILABLE) when the key is
// not real, else FORBIDDEN.
//
// OAuth access tokens are answered the same way: they are accepted wherever
// API keys are (SPEC §6), and API keys do not manage keys.
func refuseCustomerKey(svc *latchkey.Service, r *http.Request, cred, msg string) error {
	var err error
	if svc.IsAccessToken(cred) {
		_, err = svc.AuthenticateToken(r.Context(), cred)
	} else {
		_, err = svc.AuthenticateKey(r.Context(), cred)
	}
	switch latchkey.ErrorCode(err) {
	case latchkey.CodeInvalidAPIKey, latchkey.CodeUnavailable, latchkey.CodeInternal:
		return err
	}
	return forbidden(msg)
}

const (
	msgKeysNotForCustomerKeys  = "API keys cannot manage keys; use a root key with x-user-id or the dashboard"
	msgAdminNotForCustomerKeys = "API keys cannot use the admin API; use a root key with the 'admin' scope"
)

// adminAuth authenticates the admin API caller, a root key with "admin" or
// "*", and returns r with that root key as the actor of its changes.
func adminAuth(svc *latchkey.Service, info *requestInfo, r *http.Request) (*http.Request, error) {
	rk, err := rootKey(svc, info, r, latchkey.ScopeAdmin, msgAdminNotForCustomerKeys)
	if err != nil {
		return nil, err
	}
	return withActor(info, r, latchkey.Actor{Kind: latchkey.ActorRootKey, ID: rk.ID}), nil
}

// withActor returns r with a as the actor of the changes it makes, and the
// request's trace ID, for the audit log.
func withActor(info *requestInfo, r *http.Request, a latchkey.Actor) *http.Request {
	ctx := latchkey.WithActor(r.Context(), a)
	return r.WithContext(latchkey.WithTraceID(ctx, info.traceID))
}

// viaTrustedProxy is the Actor.Via of a user vouched for by a trusted proxy.
const viaTrustedProxy = "trusted_proxy"

// actingUser resolves the user the self-service API acts for (SPEC §6),
// trying in order: a dashboard session, a root key with "keys:manage" plus
// x-user-id, and (when trusted) a bare x-user-id from a trusted proxy.
// Users named by x-user-id are created on first use.
//
// Each user's management requests are rate limited (latchkey.Limits.Management).
// The returned request carries the user as the actor of its changes.
func actingUser(svc *latchkey.Service, cfg Config, info *requestInfo, r *http.Request) (*latchkey.User, *http.Request, error) {
	u, via, err := resolveUser(svc, cfg, info, r)
	if err != nil {
		return nil, nil, err
	}
	st, err := svc.Allow(r.Context(), "user:"+u.ID, svc.ManagementLimit())
	if st.Limit > 0 {
		info.limit = &st
	}
	if err != nil {
		return nil, nil, err
	}
	return u, withActor(info, r, latchkey.Actor{Kind: latchkey.ActorUser, ID: u.ID, Via: via}), nil
}

// resolveUser returns the acting user and, when another credential acts
// for it, what vouched for it (see latchkey.Actor.Via).
func resolveUser(svc *latchkey.Service, cfg Config, info *requestInfo, r *http.Request) (*latchkey.User, string, error) {
	if u, ok, err := sessionUser(cfg, r); ok || err != nil {
		return u, "", err
	}
	cred, err := credential(r)
	if err != nil {
		return nil, "", err
	}
	// Two different users named (a client's header beside the one a proxy
	// adds) would leave it to chance whom the request acts for.
	userID, err := agreedHeader(r.Header, "X-User-Id")
	if err != nil {
		return nil, "", err
	}
	// Who creates the user on first use: the root key, or the user itself
	// when a trusted proxy vouches for it.
	var creator latchkey.Actor
	switch {
	case cred != "":
		if isCustomerKey(cred) || svc.IsAccessToken(cred) {
			return nil, "", refuseCustomerKey(svc, r, cred, msgKeysNotForCustomerKeys)
		}
		rk, err := authenticateRoot(svc, info, r, cred)
		if err != nil {
			return nil, "", err
		}
		if !rk.HasScope(latchkey.ScopeManage) {
			return nil, "", forbidden("This root key lacks the '" + latchkey.ScopeManage + "' scope.")
		}
		creator = latchkey.Actor{Kind: latchkey.ActorRootKey, ID: rk.ID}
	case cfg.TrustUserHeader && clientaddr.TrustedPeer(r.RemoteAddr, cfg.TrustedProxies):
		// The proxy in front vouches for x-user-id.
		creator = latchkey.Actor{Kind: latchkey.ActorUser, ID: userID, Via: viaTrustedProxy}
	default:
		return nil, "", latchkey.ErrMissingKey
	}
	if userID == "" {
		return nil, "", latchkey.ErrUserRequired
	}
	u, err := svc.EnsureUser(withActor(info, r, creator).Context(), userID)
	if err != nil {
		return nil, "", err
	}
	if u.Disabled {
		return nil, "", forbidden("This user is disabled.")
	}
	via := creator.ID
	if creator.Kind == latchkey.ActorUser {
		via = creator.Via
	}
	return u, via, nil
}

// sessionUser resolves a dashboard session, first in SPEC §6's order: the
// dashboard checks the cookie and, on unsafe methods, the X-CSRF-Token
// header and the request's origin. ok is false when the request carries no
// live session (or there is no dashboard).
func sessionUser(cfg Config, r *http.Request) (u *latchkey.User, ok bool, err error) {
	if cfg.Dashboard == nil {
		return nil, false, nil
	}
	return cfg.Dashboard.SessionUser(r)
}
