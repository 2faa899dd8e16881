package server

import (
	"net/http"
	"net/url"

	"github.com/latchkey/latchkey"
)

// The permission catalog (SPEC §3, §7): admin only. Names travel in a path
// segment as they are ("messages:send"); a wildcard's "*" may be sent as is
// or percent-encoded.

type permissionJSON struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	CreatedAt   string `json:"createdAt"`
}

func newPermissionJSON(p *latchkey.Permission) permissionJSON {
	return permissionJSON{Name: p.Name, Description: p.Description, CreatedAt: formatTime(p.CreatedAt)}
}

type createPermissionRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

func handleCreatePermission(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[createPermissionRequest](r)
		if err != nil {
			return err
		}
		p, err := svc.CreatePermission(r.Context(), req.Name, req.Description)
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/api/v1/admin/permissions/"+url.PathEscape(p.Name))
		encode(w, http.StatusCreated, newPermissionJSON(p))
		return nil
	})
}

func handleListPermissions(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		ps, err := svc.ListPermissions(r.Context())
		if err != nil {
			return err
		}
		out := make([]permissionJSON, len(ps))
		for i, p := range ps {
			out[i] = newPermissionJSON(p)
		}
		encode(w, http.StatusOK, out)
		return nil
	})
}

func handleDeletePermission(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		if err := svc.DeletePermission(r.Context(), r.PathValue("name")); err != nil {
			return err
		}
		encode(w, http.StatusOK, messageJSON{Message: "Permission deleted successfully"})
		return nil
	})
}
