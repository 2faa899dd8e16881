package server

import (
	"net/http"

	"github.com/latchkey/latchkey"
)

// addRoutes lists every route of the management API.
func addRoutes(mux *http.ServeMux, svc *latchkey.Service, cfg Config, rs *responder) {
	if cfg.Dashboard != nil {
		for _, pattern := range cfg.Dashboard.Patterns() {
			mux.Handle(pattern, cfg.Dashboard)
		}
	}
	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(rs, cfg.Ready))

	mux.Handle("GET /api/v1/users/me", handleWhoAmI(svc, rs, cfg.RequireTenant))
	mux.Handle("POST /api/v1/keys/verify", handleVerifyKey(svc, rs, cfg.RequireTenant))
	// Forward auth: every method; the request being authorized is described
	// by X-Forwarded-* / X-Original-* headers.
	mux.Handle("/auth/check", handleCheck(&authorizer{svc: svc, table: cfg.routeTable(), requireTenant: cfg.RequireTenant, trustedProxies: cfg.TrustedProxies}, rs))

	// Self-service: the acting user's own keys (SPEC §6, §7).
	const self = "/api/v1/auth/api-keys"
	user := selfOwner(svc, cfg)
	mux.Handle("POST "+self, handleCreateKey(svc, rs, user, self))
	mux.Handle("GET "+self, handleListKeys(svc, rs, user, self, false))
	mux.Handle("GET "+self+"/{id}", handleGetKey(svc, rs, user))
	mux.Handle("PATCH "+self+"/{id}", handleUpdateKey(svc, rs, user))
	mux.Handle("DELETE "+self+"/{id}", handleDeleteKey(svc, rs, user))
	mux.Handle("PATCH "+self+"/{id}/toggle", handleToggleKey(svc, rs, user))
	mux.Handle("POST "+self+"/{id}/revoke", handleRevokeKey(svc, rs, user))
	mux.Handle("POST "+self+"/{id}/rotate", handleRotateKey(svc, rs, user, self))

	// Admin: a root key with the "admin" scope.
	mux.Handle("POST /api/v1/admin/tenants", handleCreateTenant(svc, rs))
	mux.Handle("GET /api/v1/admin/tenants", handleListTenants(svc, rs))
	mux.Handle("GET /api/v1/admin/tenants/{id}", handleGetTenant(svc, rs))
	mux.Handle("PATCH /api/v1/admin/tenants/{id}", handleUpdateTenant(svc, rs))
	mux.Handle("DELETE /api/v1/admin/tenants/{id}", handleDeleteTenant(svc, rs))

	mux.Handle("POST /api/v1/admin/users", handleCreateUser(svc, rs))
	mux.Handle("GET /api/v1/admin/users", handleListUsers(svc, rs))
	mux.Handle("GET /api/v1/admin/users/{id}", handleGetUser(svc, rs))
	mux.Handle("PATCH /api/v1/admin/users/{id}", handleUpdateUser(svc, rs))
	mux.Handle("DELETE /api/v1/admin/users/{id}", handleDeleteUser(svc, rs))
	mux.Handle("PUT /api/v1/admin/users/{id}/tenants/{tenantId}", handleMembership(svc, rs, true))
	mux.Handle("DELETE /api/v1/admin/users/{id}/tenants/{tenantId}", handleMembership(svc, rs, false))

	const keys = "/api/v1/admin/keys"
	admin := adminOwner(svc)
	mux.Handle("POST /api/v1/admin/users/{id}/keys", handleCreateKey(svc, rs, pathUserOwner(svc), keys))
	mux.Handle("GET "+keys, handleListKeys(svc, rs, admin, keys, true))
	mux.Handle("GET "+keys+"/{id}", handleGetKey(svc, rs, admin))
	mux.Handle("PATCH "+keys+"/{id}", handleUpdateKey(svc, rs, admin))
	mux.Handle("DELETE "+keys+"/{id}", handleDeleteKey(svc, rs, admin))
	mux.Handle("PATCH "+keys+"/{id}/toggle", handleToggleKey(svc, rs, admin))
	mux.Handle("POST "+keys+"/{id}/revoke", handleRevokeKey(svc, rs, admin))
	mux.Handle("POST "+keys+"/{id}/rotate", handleRotateKey(svc, rs, admin, keys))

	mux.Handle("POST /api/v1/admin/root-keys", handleCreateRootKey(svc, rs))
	mux.Handle("GET /api/v1/admin/root-keys", handleListRootKeys(svc, rs))
	mux.Handle("DELETE /api/v1/admin/root-keys/{id}", handleDeleteRootKey(svc, rs))

	mux.Handle("POST /api/v1/admin/permissions", handleCreatePermission(svc, rs))
	mux.Handle("GET /api/v1/admin/permissions", handleListPermissions(svc, rs))
	mux.Handle("DELETE /api/v1/admin/permissions/{name}", handleDeletePermission(svc, rs))

	const clients = "/api/v1/admin/oauth-clients"
	mux.Handle("POST "+clients, handleCreateOAuthClient(svc, rs))
	mux.Handle("GET "+clients, handleListOAuthClients(svc, rs))
	mux.Handle("GET "+clients+"/{id}", handleGetOAuthClient(svc, rs))
	mux.Handle("PATCH "+clients+"/{id}", handleUpdateOAuthClient(svc, rs))
	mux.Handle("DELETE "+clients+"/{id}", handleDeleteOAuthClient(svc, rs))
	mux.Handle("POST "+clients+"/{id}/rotate-secret", handleRotateOAuthClientSecret(svc, rs))

	// OAuth 2.0 (SPEC §10). No method in the patterns: the endpoints answer
	// a wrong method themselves, with an RFC 6749 body and not ours.
	if o := cfg.OAuth; o != nil {
		mux.Handle("/oauth/token", o.TokenHandler())
		mux.Handle("/oauth/introspect", o.IntrospectHandler())
		mux.Handle("/oauth/revoke", o.RevokeHandler())
		mux.Handle("/.well-known/jwks.json", o.JWKSHandler())
		mux.Handle("/.well-known/oauth-authorization-server", o.MetadataHandler())
	}
}
