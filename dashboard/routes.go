package dashboard

import "net/http"

// routes lists every page of the dashboard.
func (d *Dashboard) routes() {
	m := d.mux
	m.Handle("/static/", d.handleStatic())
	m.HandleFunc("GET /{$}", d.handleHome)

	m.HandleFunc("GET /login", d.handleSignInForm)
	m.HandleFunc("POST /login", d.handleSignIn)
	m.Handle("GET /logout", d.signedIn(false, d.handleSignOutForm))
	m.HandleFunc("POST /logout", d.handleSignOut)

	// Settings > API Keys: the signed-in user's own keys.
	m.Handle("GET /settings/{$}", http.RedirectHandler("/settings/api-keys", http.StatusSeeOther))
	m.Handle("GET /settings/api-keys", d.signedIn(false, d.handleListKeys))
	m.Handle("GET /settings/api-keys/new", d.signedIn(false, d.handleNewKeyForm))
	m.Handle("POST /settings/api-keys", d.signedIn(false, d.handleCreateKey))
	m.Handle("POST /settings/api-keys/{id}/toggle", d.signedIn(false, d.handleToggleKey))
	// Each destructive action has a confirmation page at the same address
	// (GET), which posts to it; with JavaScript it opens in a dialog.
	m.Handle("GET /settings/api-keys/{id}/{action}", d.signedIn(false, d.handleConfirmKeyAction))
	m.Handle("POST /settings/api-keys/{id}/revoke", d.signedIn(false, d.handleRevokeKey))
	m.Handle("POST /settings/api-keys/{id}/rotate", d.signedIn(false, d.handleRotateKey))
	m.Handle("POST /settings/api-keys/{id}/delete", d.signedIn(false, d.handleDeleteKey))

	// Admin area: users with IsAdmin only.
	admin := func(h handler) http.Handler { return d.signedIn(true, h) }
	m.Handle("GET /admin/{$}", admin(d.handleAdminOverview))
	m.Handle("GET /admin/tenants", admin(d.handleTenants))
	m.Handle("POST /admin/tenants", admin(d.handleCreateTenant))
	m.Handle("GET /admin/tenants/{id}/delete", admin(d.handleConfirmDeleteTenant))
	m.Handle("POST /admin/tenants/{id}/delete", admin(d.handleDeleteTenant))

	m.Handle("GET /admin/users", admin(d.handleUsers))
	m.Handle("POST /admin/users", admin(d.handleCreateUser))
	m.Handle("GET /admin/users/{id}", admin(d.handleUser))
	m.Handle("POST /admin/users/{id}", admin(d.handleUpdateUser))
	m.Handle("POST /admin/users/{id}/memberships", admin(d.handleAddMembership))
	m.Handle("POST /admin/users/{id}/memberships/{tenant}/delete", admin(d.handleRemoveMembership))
	m.Handle("GET /admin/users/{id}/delete", admin(d.handleConfirmDeleteUser))
	m.Handle("POST /admin/users/{id}/delete", admin(d.handleDeleteUser))

	m.Handle("GET /admin/permissions", admin(d.handlePermissions))
	m.Handle("POST /admin/permissions", admin(d.handleCreatePermission))
	m.Handle("GET /admin/permissions/{name}/delete", admin(d.handleConfirmDeletePermission))
	m.Handle("POST /admin/permissions/{name}/delete", admin(d.handleDeletePermission))

	m.Handle("GET /admin/root-keys", admin(d.handleRootKeys))
	m.Handle("POST /admin/root-keys", admin(d.handleCreateRootKey))
	m.Handle("GET /admin/root-keys/{id}/delete", admin(d.handleConfirmDeleteRootKey))
	m.Handle("POST /admin/root-keys/{id}/delete", admin(d.handleDeleteRootKey))

	m.Handle("GET /admin/oauth-clients", admin(d.handleOAuthClients))
	m.Handle("POST /admin/oauth-clients", admin(d.handleCreateOAuthClient))
	m.Handle("POST /admin/oauth-clients/{id}/toggle", admin(d.handleToggleOAuthClient))
	m.Handle("GET /admin/oauth-clients/{id}/{action}", admin(d.handleConfirmOAuthClient))
	m.Handle("POST /admin/oauth-clients/{id}/rotate", admin(d.handleRotateOAuthClient))
	m.Handle("POST /admin/oauth-clients/{id}/delete", admin(d.handleDeleteOAuthClient))

	m.Handle("GET /admin/usage", admin(d.handleUsage))
	m.Handle("GET /admin/audit-log", admin(d.handleAuditLog))
}
