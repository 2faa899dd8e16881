package server

import (
	"net/http"
	"net/url"

	"github.com/latchkey/latchkey"
)

// The admin API for OAuth clients (SPEC §10). The client secret is in the
// create and rotate-secret responses only; it is never stored or shown
// again.

type oauthClientJSON struct {
	ClientID     string   `json:"clientId"`
	ClientSecret string   `json:"clientSecret,omitempty"`
	Name         string   `json:"name"`
	Scopes       []string `json:"scopes"`
	TenantID     *string  `json:"tenantId"`
	Disabled     bool     `json:"disabled"`
	CreatedAt    string   `json:"createdAt"`
}

func newOAuthClientJSON(c *latchkey.OAuthClient, secret string) oauthClientJSON {
	j := oauthClientJSON{
		ClientID: c.ID, ClientSecret: secret, Name: c.Name, Scopes: nonNil(c.Scopes),
		Disabled: c.Disabled, CreatedAt: formatTime(c.CreatedAt),
	}
	if c.TenantID != "" {
		j.TenantID = &c.TenantID
	}
	return j
}

type createOAuthClientRequest struct {
	Name     string   `json:"name"`
	Scopes   []string `json:"scopes"`
	TenantID string   `json:"tenantId"`
}

type patchOAuthClientRequest struct {
	Name     optional[string]   `json:"name"`
	Scopes   optional[[]string] `json:"scopes"`
	Disabled optional[bool]     `json:"disabled"`
}

const oauthClientsPath = "/api/v1/admin/oauth-clients"

func handleCreateOAuthClient(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[createOAuthClientRequest](r)
		if err != nil {
			return err
		}
		c, secret, err := svc.CreateOAuthClient(r.Context(), latchkey.NewOAuthClient{
			Name: req.Name, Scopes: req.Scopes, TenantID: req.TenantID,
		})
		if err != nil {
			return err
		}
		noStore(w)
		w.Header().Set("Location", oauthClientsPath+"/"+url.PathEscape(c.ID))
		encode(w, http.StatusCreated, newOAuthClientJSON(c, secret))
		return nil
	})
}

func handleListOAuthClients(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		p, err := pageQuery(r)
		if err != nil {
			return err
		}
		clients, err := svc.ListOAuthClients(r.Context(), p)
		if err != nil {
			return err
		}
		out := make([]oauthClientJSON, len(clients))
		for i, c := range clients {
			out[i] = newOAuthClientJSON(c, "")
		}
		if len(clients) > 0 {
			setNextPage(w, oauthClientsPath, p, len(clients), clients[len(clients)-1].ID)
		}
		encode(w, http.StatusOK, out)
		return nil
	})
}

func handleGetOAuthClient(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		c, err := svc.OAuthClient(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, newOAuthClientJSON(c, ""))
		return nil
	})
}

func handleUpdateOAuthClient(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[patchOAuthClientRequest](r)
		if err != nil {
			return err
		}
		var p latchkey.OAuthClientPatch
		if p.Name, err = req.Name.get("name"); err != nil {
			return err
		}
		if p.Scopes, err = req.Scopes.get("scopes"); err != nil {
			return err
		}
		if p.Disabled, err = req.Disabled.get("disabled"); err != nil {
			return err
		}
		c, err := svc.UpdateOAuthClient(r.Context(), r.PathValue("id"), p)
		if err != nil {
			return err
		}
		encode(w, http.StatusOK, newOAuthClientJSON(c, ""))
		return nil
	})
}

func handleRotateOAuthClientSecret(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		c, secret, err := svc.RotateOAuthClientSecret(r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		noStore(w)
		encode(w, http.StatusOK, newOAuthClientJSON(c, secret))
		return nil
	})
}

func handleDeleteOAuthClient(svc *latchkey.Service, rs *responder) http.Handler {
	return adminHandler(svc, rs, func(w http.ResponseWriter, r *http.Request) error {
		if err := svc.DeleteOAuthClient(r.Context(), r.PathValue("id")); err != nil {
			return err
		}
		encode(w, http.StatusOK, messageJSON{Message: "OAuth client deleted successfully"})
		return nil
	})
}
