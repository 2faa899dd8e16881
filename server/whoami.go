package server

import (
	"context"
	"errors"
	"net/http"

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

// handleWhoAmI answers GET /api/v1/users/me for an API key or access
// token: who owns it, which tenant the request acts for, and what it may
// do. It goes through svc.Verify, the pipeline every verification shares,
// so a successful answer counts as a use of the key.
//
// A root key is refused with 403 FORBIDDEN: it is a real credential, but it
// belongs to no user, so there is no "me" to describe.
func handleWhoAmI(svc *latchkey.Service, rs *responder, requireTenant bool) http.Handler {
	return rs.handle(func(w http.ResponseWriter, r *http.Request) error {
		cred, err := credential(r)
		if err != nil {
			return err
		}
		if isRootKey(cred) {
			if _, err := svc.AuthenticateRoot(r.Context(), cred); err != nil {
				return err
			}
			return forbidden("Root keys belong to no user; call this endpoint with an API key")
		}
		tenantID, err := agreedHeader(r.Header, "X-Tenant-Id")
		if err != nil {
			return err
		}
		id, err := svc.Verify(r.Context(), latchkey.VerifyRequest{
			Credential:    cred,
			TenantID:      tenantID,
			RequireTenant: requireTenant,
			Client:        infoOf(w),
		})
		if err != nil {
			return err
		}
		setRateLimit(w.Header(), id.Limit)
		out := whoamiJSON{
			Credential: id.Credential,
			User:       idJSON{ID: id.OwnerID},
			Key: whoamiKeyJSON{
				ID: id.KeyID, Name: id.KeyName, Environment: id.Environment,
				Permissions: nonNil(id.Permissions),
			},
		}
		if id.Tenant != nil {
			out.Tenant = &tenantRefJSON{ID: id.Tenant.ID, Name: id.Tenant.Name}
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
// ready (the database ping, or shutdown) says no.
func handleReadyz(rs *responder, ready func(ctx context.Context) error) http.Handler {
	return rs.handle(func(w http.ResponseWriter, r *http.Request) error {
		if ready != nil {
			if err := ready(r.Context()); err != nil {
				var e *latchkey.Error
				if errors.As(err, &e) {
					return e // e.g. UNAVAILABLE while shutting down
				}
				return &latchkey.Error{Code: latchkey.CodeUnavailable, Message: "Database unreachable", Err: err}
			}
		}
		encode(w, http.StatusOK, statusJSON{Status: "ok"})
		return nil
	})
}
