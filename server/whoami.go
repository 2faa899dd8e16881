package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/latchkey/latchkey"
)

type whoamiJSON struct {
	Credential string         `json:"credential"`
	User       idJSON         `json:"user"`
	Tenant     *tenantRefJSON `json:"tenant"`
	Key        whoamiKeyJSON  `json:"key"`
}

type idJSON struct {
	ID string `json:"id"`
}

type tenantRefJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type whoamiKeyJSON struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Environment string   `json:"environment"`
	Permissions []string `json:"permissions"`
}

// handleWhoAmI answers GET /api/v1/users/me for an API key: who owns it,
// which tenant the request acts for, and what it may do. A successful
// answer counts as a use of the key.
//
// A root key is refused with 403 FORBIDDEN: it is a real credential, but it
// belongs to no user, so there is no "me" to describe. (OAuth access tokens
// will be accepted here too once the oauth package lands.)
func handleWhoAmI(svc *latchkey.Service, rs *responder, requireTenant bool) http.Handler {
	return rs.handle(func(w http.ResponseWriter, r *http.Request) error {
		cred, err := credential(r)
		if err != nil {
			return err
		}
		if cred == "" {
			return latchkey.ErrMissingKey
		}
		if isRootKey(cred) {
			if _, err := svc.AuthenticateRoot(r.Context(), cred); err != nil {
				return err
			}
			return forbidden("Root keys belong to no user; call this endpoint with an API key")
		}
		k, err := svc.AuthenticateKey(r.Context(), cred)
		if err != nil {
			return err
		}
		t, err := svc.ResolveTenant(r.Context(), k.TenantIDs, strings.TrimSpace(r.Header.Get("X-Tenant-Id")))
		if err != nil {
			return err
		}
		if t == nil && requireTenant {
			return latchkey.ErrNoTenant
		}
		svc.Usage().Record(k.ID, svc.Now())
		out := whoamiJSON{
			Credential: "api_key",
			User:       idJSON{ID: k.OwnerID},
			Key: whoamiKeyJSON{
				ID: k.ID, Name: k.Name, Environment: k.Environment,
				Permissions: nonNil(k.Permissions),
			},
		}
		if t != nil {
			out.Tenant = &tenantRefJSON{ID: t.ID, Name: t.Name}
		}
		encode(w, http.StatusOK, out)
		return nil
	})
}

type statusJSON struct {
	Status string `json:"status"`
}

// handleHealthz reports that the process is up.
func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusOK, statusJSON{Status: "ok"})
	})
}

// handleReadyz reports whether the server can serve: 503 UNAVAILABLE when
// ready (the database ping) fails.
func handleReadyz(rs *responder, ready func(ctx context.Context) error) http.Handler {
	return rs.handle(func(w http.ResponseWriter, r *http.Request) error {
		if ready != nil {
			if err := ready(r.Context()); err != nil {
				return &latchkey.Error{Code: latchkey.CodeUnavailable, Message: "Database unreachable", Err: err}
			}
		}
		encode(w, http.StatusOK, statusJSON{Status: "ok"})
		return nil
	})
}
