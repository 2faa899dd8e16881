package server

import (
	"net/http"

	"github.com/latchkey/latchkey"
)

// checkPath is forward auth's endpoint (SPEC §7), for every method.
const checkPath = "/auth/check"

// addRoutes lists every route of the server. It returns the patterns of
// the API routes, all registered through handle, which openapi.json must
// describe (openapi_test.go); the dashboard's HTML pages are not among them.
func addRoutes(mux *http.ServeMux, svc *latchkey.Service, cfg Config, rs *responder) (api []string) {
	handle := func(pattern string, h http.Handler) {
		mux.Handle(pattern, h)
		api = append(api, pattern)
	}
	if cfg.Dashboard != nil {
		dash := withTraceID(cfg.Dashboard)
		for _, pattern := range cfg.Dashboard.Patterns() {
			mux.Handle(pattern, dash)
		}
	}
	handle("GET /healthz", handleHealthz())
	handle("GET /readyz", handleReadyz(rs, cfg.Ready))
	handle("GET /openapi.json", handleOpenAPI())
	if cfg.Metrics != nil {
		// Prometheus text, not part of the JSON API the document describes.
		mux.Handle("GET /metrics", cfg.Metrics.Handler())
	}

	handle("GET /api/v1/users/me", handleWhoAmI(svc, rs, cfg.RequireTenant))
	handle("POST /api/v1/keys/verify", handleVerifyKey(svc, rs, cfg.RequireTenant))
	// Forward auth: every method; the request being authorized is described
	// by X-Forwarded-* / X-Original-* headers.
	handle(checkPath, handleCheck(&authorizer{svc: svc, table: cfg.routeTable(), requireTenant: cfg.RequireTenant, trustedProxies: cfg.TrustedProxies}, rs))

	// Self-service: the acting user's own keys (SPEC §6, §7).
	const self = "/api/v1/auth/api-keys"
	user := selfOwner(svc, cfg)
	handle("POST "+self, handleCreateKey(svc, rs, user, self))
	handle("GET "+self, handleListKeys(svc, rs, user, self, false))
	handle("GET "+self+"/{id}", handleGetKey(svc, rs, user))
	handle("PATCH "+self+"/{id}", handleUpdateKey(svc, rs, user))
	handle("DELETE "+self+"/{id}", handleDeleteKey(svc, rs, user))
	handle("PATCH "+self+"/{id}/toggle", handleToggleKey(svc, rs, user))
	handle("POST "+self+"/{id}/revoke", handleRevokeKey(svc, rs, user))
	handle("POST "+self+"/{id}/rotate", handleRotateKey(svc, rs, user, self))

	// Admin: a root key with the "admin" scope.
	handle("POST /api/v1/admin/tenants", handleCreateTenant(svc, rs))
	handle("GET /api/v1/admin/tenants", handleListTenants(svc, rs))
	handle("GET /api/v1/admin/tenants/{id}", handleGetTenant(svc, rs))
	handle("PATCH /api/v1/admin/tenants/{id}", handleUpdateTenant(svc, rs))
	handle("DELETE /api/v1/admin/tenants/{id}", handleDeleteTenant(svc, rs))

	handle("POST /api/v1/admin/users", handleCreateUser(svc, rs))
	handle("GET /api/v1/admin/users", handleListUsers(svc, rs))
	handle("GET /api/v1/admin/users/{id}", handleGetUser(svc, rs))
	handle("PATCH /api/v1/admin/users/{id}", handleUpdateUser(svc, rs))
	handle("DELETE /api/v1/admin/users/{id}", handleDeleteUser(svc, rs))
	handle("PUT /api/v1/admin/users/{id}/tenants/{tenantId}", handleMembership(svc, rs, true))
	handle("DELETE /api/v1/admin/users/{id}/tenants/{tenantId}", handleMembership(svc, rs, false))

	const keys = "/api/v1/admin/keys"
	admin := adminOwner(svc)
	handle("POST /api/v1/admin/users/{id}/keys", handleCreateKey(svc, rs, pathUserOwner(svc), keys))
	handle("GET "+keys, handleListKeys(svc, rs, admin, keys, true))
	handle("GET "+keys+"/{id}", handleGetKey(svc, rs, admin))
	handle("PATCH "+keys+"/{id}", handleUpdateKey(svc, rs, admin))
	handle("DELETE "+keys+"/{id}", handleDeleteKey(svc, rs, admin))
	handle("PATCH "+keys+"/{id}/toggle", handleToggleKey(svc, rs, admin))
	handle("POST "+keys+"/{id}/revoke", handleRevokeKey(svc, rs, admin))
	handle("POST "+keys+"/{id}/rotate", handleRotateKey(svc, rs, admin, keys))

	handle("POST /api/v1/admin/root-keys", handleCreateRootKey(svc, rs))
	handle("GET /api/v1/admin/root-keys", handleListRootKeys(svc, rs))
	handle("DELETE /api/v1/admin/root-keys/{id}", handleDeleteRootKey(svc, rs))

	handle("POST /api/v1/admin/permissions", handleCreatePermission(svc, rs))
	handle("GET /api/v1/admin/permissions", handleListPermissions(svc, rs))
	handle("DELETE /api/v1/admin/permissions/{name}", handleDeletePermission(svc, rs))

	const clients = "/api/v1/admin/oauth-clients"
	handle("POST "+clients, handleCreateOAuthClient(svc, rs))
	handle("GET "+clients, handleListOAuthClients(svc, rs))
	handle("GET "+clients+"/{id}", handleGetOAuthClient(svc, rs))
	handle("PATCH "+clients+"/{id}", handleUpdateOAuthClient(svc, rs))
	handle("DELETE "+clients+"/{id}", handleDeleteOAuthClient(svc, rs))
	handle("POST "+clients+"/{id}/rotate-secret", handleRotateOAuthClientSecret(svc, rs))

	handle("GET "+auditLogPath, handleListAuditEvents(svc, rs))
	handle("GET "+auditLogPath+"/{id}", handleGetAuditEvent(svc, rs))

	// OAuth 2.0 (SPEC §10). No method in the patterns: the endpoints answer
	// a wrong method themselves, with an RFC 6749 body and not ours.
	if o := cfg.OAuth; o != nil {
		handle("/oauth/token", o.TokenHandler())
		handle("/oauth/introspect", o.IntrospectHandler())
		handle("/oauth/revoke", o.RevokeHandler())
		handle("/.well-known/jwks.json", o.JWKSHandler())
		handle("/.well-known/oauth-authorization-server", o.MetadataHandler())
	}
	return api
}
