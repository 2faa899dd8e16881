package server

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/latchkey/latchkey"
)

// The admin API (SPEC §7): tenants, users and memberships, root keys. Every
// handler first requires a root key with the "admin" (or "*") scope. The
// admin key endpoints reuse the key handlers with adminOwner.

type tenantJSON struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	CreatedAt string `json:"createdAt"`
}

func newTenantJSON(t *latchkey.Tenant) tenantJSON {
	return tenantJSON{ID: t.ID, Name: t.Name, CreatedAt: formatTime(t.CreatedAt)}
}

// userJSON never carries the password hash.
type userJSON struct {
	ID        string   `json:"id"`
	Email     *string  `json:"email"`
	IsAdmin   bool     `json:"isAdmin"`
	Disabled  bool     `json:"disabled"`
	TenantIDs []string `json:"tenantIds"`
	CreatedAt string   `json:"createdAt"`
}

func newUserJSON(u *latchkey.User) userJSON {
	j := userJSON{
		ID: u.ID, IsAdmin: u.IsAdmin, Disabled: u.Disabled,
		TenantIDs: nonNil(u.TenantIDs), CreatedAt: formatTime(u.CreatedAt),
	}
	if u.Email != "" {
		j.Email = &u.Email
	}
	return j
}

type rootKeyJSON struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Key       string   `json:"key"`
	Scopes    []string `json:"scopes"`
	CreatedAt string   `json:"createdAt"`
}

func newRootKeyJSON(k *latchkey.RootKey, secret string) rootKeyJSON {
	j := rootKeyJSON{ID: k.ID, Name: k.Name, Key: k.Masked, Scopes: nonNil(k.Scopes), CreatedAt: formatTime(k.CreatedAt)}
	if secret != "" {
		j.Key = secret
	}
	return j
}

// adminHandler wraps an admin endpoint: it authenticates the root key
// before running fn, with the root key as the actor of fn's changes.
func adminHandler(svc *latchkey.Service, rs *responder, fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return rs.handle(func(w http.ResponseWriter, r *http.Request) error {
		r, err := adminAuth(svc, infoOf(w), r)
		if err != nil {
			return err
		}
		return fn(w, r)
	})
}

// pageQuery reads ?limit= (1..1000, default 100) and ?after= for the
// ID-ordered admin lists.
func pageQuery(r *http.Request) (latchkey.Page, error) {
	q := r.URL.Query()
	limit, err := queryLimit(q, 100, 1000)
	return latchkey.Page{Limit: limit, After: q.Get("after")}, err
}

// setNextPage links the next page of an ID-ordered list when this one is full.
func setNextPage(w http.ResponseWriter, base string, p latchkey.Page, n int, lastID string) {
	if n < p.Limit {
		return
	}
	q := url.Values{"after": {lastID}, "limit": {strconv.Itoa(p.Limit)}}
	w.Header().Set("X-Next-Cursor", lastID)
	w.Header().Set("Link", "<"+base+"?"+q.Encode()+`>; rel="next"`)
}

// ---- Tenants ----------------------------------------------------------

type createTenantRequest struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type patchTenantRequest struct {
	Name optional[string] `json:"name"`
}

func handleCreateTenant(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[createTenantRequest](r)
		if err != nil {
			return err
		}
		t, err := svc.CreateTenant(r.Context(), req.ID, req.Name)
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/api/v1/admin/tenants/"+url.PathEscape(t.ID))
		encode(w, http.StatusCreated, newTenantJSON(t))
		return nil
	})
}

func handleListTenants(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		p, err := pageQuery(r)
		if err != nil {
			return err
		}
		tenants, err := svc.ListTenants(r.Context(), p)
		if err != nil {
			return err
		}
		out := make([]tenantJSON, len(tenants))
		for i, t := range tenants {
			out[i] = newTenantJSON(t)
		}
		if len(tenants) > 0 {
			setNextPage(w, "/api/v1/admin/tenants", p, len(tenants), tenants[len(tenants)-1].ID)
		}
		encode(w, http.StatusOK, out)
		return nil
	})
}

func handleGetTenant(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		t, err := svc.Tenant(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, newTenantJSON(t))
		return nil
	})
}

func handleUpdateTenant(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[patchTenantRequest](r)
		if err != nil {
			return err
		}
		name, err := req.Name.get("name")
		if err != nil {
			return err
		}
		var t *latchkey.Tenant
		if name != nil {
			t, err = svc.RenameTenant(r.Context(), r.PathValue("id"), *name)
		} else {
			t, err = svc.Tenant(r.Context(), r.PathValue("id"))
		}
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, newTenantJSON(t))
		return nil
	})
}

func handleDeleteTenant(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		if err := svc.DeleteTenant(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		encode(w, http.StatusOK, messageJSON{Message: "Tenant deleted successfully"})
		return nil
	})
}

// ---- Users ------------------------------------------------------------

type createUserRequest struct {
	ID        string   `json:"id"`
	Email     string   `json:"email"`
	Password  string   `json:"password"`
	IsAdmin   bool     `json:"isAdmin"`
	TenantIDs []string `json:"tenantIds"`
}

// patchUserRequest: null email removes the login address.
type patchUserRequest struct {
	Email    optional[string] `json:"email"`
	Password optional[string] `json:"password"`
	IsAdmin  optional[bool]   `json:"isAdmin"`
	Disabled optional[bool]   `json:"disabled"`
}

func (req patchUserRequest) patch() (latchkey.UserPatch, error) {
	var p latchkey.UserPatch
	var err error
	if req.Email.Set {
		email := req.Email.Value // "" when null: no email
		p.Email = &email
	}
	if p.Password, err = req.Password.get("password"); err != nil {
		return p, err
	}
	if p.IsAdmin, err = req.IsAdmin.get("isAdmin"); err != nil {
		return p, err
	}
	if p.Disabled, err = req.Disabled.get("disabled"); err != nil {
		return p, err
	}
	return p, nil
}

func handleCreateUser(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[createUserRequest](r)
		if err != nil {
			return err
		}
		u, err := svc.CreateUser(r.Context(), latchkey.NewUser{
			ID: req.ID, Email: req.Email, Password: req.Password,
			IsAdmin: req.IsAdmin, TenantIDs: req.TenantIDs,
		})
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/api/v1/admin/users/"+url.PathEscape(u.ID))
		encode(w, http.StatusCreated, newUserJSON(u))
		return nil
	})
}

func handleListUsers(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		p, err := pageQuery(r)
		if err != nil {
			return err
		}
		users, err := svc.ListUsers(r.Context(), p)
		if err != nil {
			return err
		}
		out := make([]userJSON, len(users))
		for i, u := range users {
			out[i] = newUserJSON(u)
		}
		if len(users) > 0 {
			setNextPage(w, "/api/v1/admin/users", p, len(users), users[len(users)-1].ID)
		}
		encode(w, http.StatusOK, out)
		return nil
	})
}

func handleGetUser(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		u, err := svc.User(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, newUserJSON(u))
		return nil
	})
}

func handleUpdateUser(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[patchUserRequest](r)
		if err != nil {
			return err
		}
		p, err := req.patch()
		if err != nil {
			return err
		}
		u, err := svc.UpdateUser(r.Context(), r.PathValue("id"), p)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, newUserJSON(u))
		return nil
	})
}

func handleDeleteUser(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		if err := svc.DeleteUser(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		encode(w, http.StatusOK, messageJSON{Message: "User deleted successfully"})
		return nil
	})
}

// handleMembership adds (add) or removes a user's membership of a tenant
// and answers with the updated user.
func handleMembership(svc *latchkey.Service, rs *responder, add bool) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		userID, tenantID := r.PathValue("id"), r.PathValue("tenantId")
		var err error
		if add {
			err = svc.AddMembership(r.Context(), userID, tenantID)
		} else {
			err = svc.RemoveMembership(r.Context(), userID, tenantID)
		}
		if err != nil {
			return err
		}
		u, err := svc.User(r.Context(), userID)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, newUserJSON(u))
		return nil
	})
}

// ---- Root keys --------------------------------------------------------

type createRootKeyRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

func handleCreateRootKey(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[createRootKeyRequest](r)
		if err != nil {
			return err
		}
		k, secret, err := svc.CreateRootKey(r.Context(), req.Name, req.Scopes)
		if err != nil {
			return err
		}
		noStore(w)
		encode(w, http.StatusCreated, newRootKeyJSON(k, secret))
		return nil
	})
}

func handleListRootKeys(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		keys, err := svc.ListRootKeys(r.Context())
		if err != nil {
			return err
		}
		out := make([]rootKeyJSON, len(keys))
		for i, k := range keys {
			out[i] = newRootKeyJSON(k, "")
		}
		encode(w, http.StatusOK, out)
		return nil
	})
}

func handleDeleteRootKey(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		if err := svc.DeleteRootKey(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		encode(w, http.StatusOK, messageJSON{Message: "Root key deleted successfully"})
		return nil
	})
}
