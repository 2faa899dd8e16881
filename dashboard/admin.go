package dashboard

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/latchkey/latchkey"
)

// adminPageSize is how many rows an admin list shows per page.
const adminPageSize = 50

// adminFlashes are the success messages admin actions send back in ?done=.
var adminFlashes = map[string]string{
	"tenant-created":   "Tenant created.",
	"tenant-deleted":   "Tenant deleted, with its memberships and key links.",
	"user-created":     "User created.",
	"user-deleted":     "User deleted, with their keys and sessions.",
	"user-updated":     "User updated.",
	"password-set":     "Password changed. The user's sessions have been signed out.",
	"membership-added": "Membership added.",
	"membership-gone":  "Membership removed; the tenant is unlinked from the user's keys.",
	"root-deleted":     "Root key deleted. It stops working at once.",
	"permission-added": "Permission added to the catalog.",
	"permission-gone":  "Permission removed from the catalog.",
	"client-updated":   "OAuth client updated.",
	"client-deleted":   "OAuth client deleted. Its tokens stop verifying at once.",
}

func adminFlash(r *http.Request) string { return adminFlashes[r.URL.Query().Get("done")] }

func redirectDone(w http.ResponseWriter, r *http.Request, target, done string) {
	http.Redirect(w, r, withDone(target, done), http.StatusSeeOther)
}

// nextPage returns the URL of the page after a full page of IDs.
func nextPage(base string, n int, lastID string) string {
	if n < adminPageSize {
		return ""
	}
	return base + "?after=" + url.QueryEscape(lastID)
}

// allTenants returns up to 1000 tenants, for pickers.
func (d *Dashboard) allTenants(ctx context.Context) ([]*latchkey.Tenant, error) {
	return d.svc.ListTenants(ctx, latchkey.Page{Limit: 1000})
}

// showAdminConfirm renders a confirmation page in the admin area.
func (d *Dashboard) showAdminConfirm(w http.ResponseWriter, r *http.Request, s *session, c confirm) {
	c.Action = r.URL.Path
	d.render(w, r, http.StatusOK, "confirm", page{Title: c.Heading, Section: "admin", Session: s,
		Data: struct {
			confirm
			Graces []option
		}{c, nil}})
}

// ---- Overview and usage -----------------------------------------------

type usageRow struct {
	Key     *latchkey.Key
	Status  statusView
	Tenants string
}

type tenantUsage struct {
	ID, Name string
	Keys     int
	Requests int64
}

type usageData struct {
	Tenants, Users, Keys, ActiveKeys int
	Requests                         int64
	Top                              []usageRow
	ByTenant                         []tenantUsage
	Truncated                        bool
}

// usageScan bounds how many keys the usage page reads.
const usageScan = 5000

func (d *Dashboard) handleAdminOverview(w http.ResponseWriter, r *http.Request, s *session) error {
	return d.handleUsage(w, r, s)
}

func (d *Dashboard) handleUsage(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	tenants, err := d.allTenants(ctx)
	if err != nil {
		return err
	}
	users, err := d.svc.ListUsers(ctx, latchkey.Page{Limit: 1000})
	if err != nil {
		return err
	}
	data := usageData{Tenants: len(tenants), Users: len(users)}
	byTenant := map[string]*tenantUsage{}
	for _, t := range tenants {
		byTenant[t.ID] = &tenantUsage{ID: t.ID, Name: t.Name}
	}
	var keys []*latchkey.Key
	cursor := ""
	for {
		page, next, err := d.svc.ListKeys(ctx, latchkey.KeyFilter{Limit: 100}, cursor)
		if err != nil {
			return err
		}
		keys = append(keys, page...)
		if next == "" {
			break
		}
		if len(keys) >= usageScan {
			data.Truncated = true
			break
		}
		cursor = next
	}
	for _, k := range keys {
		data.Keys++
		data.Requests += k.RequestCount
		if keyStatus(k).Class == "ok" || keyStatus(k).Class == "warn" {
			data.ActiveKeys++
		}
		for _, id := range k.TenantIDs {
			if tu := byTenant[id]; tu != nil {
				tu.Keys++
				tu.Requests += k.RequestCount
			}
		}
	}
	slices.SortStableFunc(keys, func(a, b *latchkey.Key) int { return cmp.Compare(b.RequestCount, a.RequestCount) })
	for _, k := range keys[:min(len(keys), 20)] {
		data.Top = append(data.Top, usageRow{Key: k, Status: keyStatus(k), Tenants: strings.Join(tenantNames(tenants, k.TenantIDs), ", ")})
	}
	for _, tu := range byTenant {
		data.ByTenant = append(data.ByTenant, *tu)
	}
	slices.SortFunc(data.ByTenant, func(a, b tenantUsage) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), strings.Compare(a.ID, b.ID))
	})
	d.render(w, r, http.StatusOK, "admin_usage", page{Title: "Usage", Section: "admin-usage", Session: s, Data: data})
	return nil
}

// ---- Tenants ----------------------------------------------------------

type tenantsData struct {
	Tenants []*latchkey.Tenant
	Next    string
	Form    struct{ ID, Name string }
}

func (d *Dashboard) handleTenants(w http.ResponseWriter, r *http.Request, s *session) error {
	return d.showTenants(w, r, s, http.StatusOK, page{Flash: adminFlash(r)}, "", "")
}

func (d *Dashboard) showTenants(w http.ResponseWriter, r *http.Request, s *session, status int, p page, id, name string) error {
	after := r.URL.Query().Get("after")
	ts, err := d.svc.ListTenants(r.Context(), latchkey.Page{Limit: adminPageSize, After: after})
	if err != nil {
		return err
	}
	data := tenantsData{Tenants: ts}
	data.Form.ID, data.Form.Name = id, name
	if len(ts) > 0 {
		data.Next = nextPage("/admin/tenants", len(ts), ts[len(ts)-1].ID)
	}
	p.Title, p.Section, p.Session, p.Data = "Tenants", "admin-tenants", s, data
	d.render(w, r, status, "admin_tenants", p)
	return nil
}

func (d *Dashboard) handleCreateTenant(w http.ResponseWriter, r *http.Request, s *session) error {
	id, name := strings.TrimSpace(r.PostFormValue("id")), r.PostFormValue("name")
	if _, err := d.svc.CreateTenant(r.Context(), id, name); err != nil {
		if statusOf(err) >= 500 {
			return err
		}
		return d.showTenants(w, r, s, statusOf(err), page{Error: d.userMessage(r.Context(), err)}, id, name)
	}
	redirectDone(w, r, "/admin/tenants", "tenant-created")
	return nil
}

func (d *Dashboard) handleConfirmDeleteTenant(w http.ResponseWriter, r *http.Request, s *session) error {
	t, err := d.svc.Tenant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	d.showAdminConfirm(w, r, s, confirm{
		Heading: "Delete this tenant?", Subject: t.Name + " · " + t.ID, Button: "Delete tenant",
		Message: "Its memberships and every key's link to it are removed. The users and their keys stay.",
		Cancel:  "/admin/tenants",
	})
	return nil
}

func (d *Dashboard) handleDeleteTenant(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.svc.DeleteTenant(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	redirectDone(w, r, "/admin/tenants", "tenant-deleted")
	return nil
}

// ---- Users ------------------------------------------------------------

type userForm struct {
	ID, Email string
	IsAdmin   bool
	TenantIDs []string
}

type usersData struct {
	Users   []*latchkey.User
	Next    string
	Tenants []*latchkey.Tenant
	Form    userForm
}

func (d *Dashboard) handleUsers(w http.ResponseWriter, r *http.Request, s *session) error {
	return d.showUsers(w, r, s, http.StatusOK, page{Flash: adminFlash(r)}, userForm{})
}

func (d *Dashboard) showUsers(w http.ResponseWriter, r *http.Request, s *session, status int, p page, f userForm) error {
	us, err := d.svc.ListUsers(r.Context(), latchkey.Page{Limit: adminPageSize, After: r.URL.Query().Get("after")})
	if err != nil {
		return err
	}
	tenants, err := d.allTenants(r.Context())
	if err != nil {
		return err
	}
	data := usersData{Users: us, Tenants: tenants, Form: f}
	if len(us) > 0 {
		data.Next = nextPage("/admin/users", len(us), us[len(us)-1].ID)
	}
	p.Title, p.Section, p.Session, p.Data = "Users", "admin-users", s, data
	d.render(w, r, status, "admin_users", p)
	return nil
}

func (d *Dashboard) handleCreateUser(w http.ResponseWriter, r *http.Request, s *session) error {
	f := userForm{
		ID:        strings.TrimSpace(r.PostFormValue("id")),
		Email:     strings.TrimSpace(r.PostFormValue("email")),
		IsAdmin:   r.PostFormValue("is_admin") == "on",
		TenantIDs: r.PostForm["tenant"],
	}
	u, err := d.svc.CreateUser(r.Context(), latchkey.NewUser{
		ID: f.ID, Email: f.Email, Password: r.PostFormValue("password"), IsAdmin: f.IsAdmin, TenantIDs: f.TenantIDs,
	})
	if err != nil {
		if statusOf(err) >= 500 {
			return err
		}
		return d.showUsers(w, r, s, statusOf(err), page{Error: d.userMessage(r.Context(), err)}, f)
	}
	redirectDone(w, r, "/admin/users/"+url.PathEscape(u.ID), "user-created")
	return nil
}

type userData struct {
	User        *latchkey.User
	Self        bool
	Memberships []*latchkey.Tenant
	Others      []*latchkey.Tenant // tenants the user could join
	Keys        []keyRow
	MoreKeys    bool
}

func (d *Dashboard) handleUser(w http.ResponseWriter, r *http.Request, s *session) error {
	return d.showUser(w, r, s, http.StatusOK, page{Flash: adminFlash(r)})
}

func (d *Dashboard) showUser(w http.ResponseWriter, r *http.Request, s *session, status int, p page) error {
	ctx := r.Context()
	u, err := d.svc.User(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	all, err := d.allTenants(ctx)
	if err != nil {
		return err
	}
	data := userData{User: u, Self: u.ID == s.User.ID}
	for _, t := range all {
		if slices.Contains(u.TenantIDs, t.ID) {
			data.Memberships = append(data.Memberships, t)
		} else {
			data.Others = append(data.Others, t)
		}
	}
	keys, next, err := d.svc.ListKeys(ctx, latchkey.KeyFilter{OwnerID: u.ID, Limit: 20}, "")
	if err != nil {
		return err
	}
	for _, k := range keys {
		data.Keys = append(data.Keys, newKeyRow(k, all))
	}
	data.MoreKeys = next != ""
	p.Title, p.Section, p.Session, p.Data = u.ID, "admin-users", s, data
	d.render(w, r, status, "admin_user", p)
	return nil
}

func (d *Dashboard) handleUpdateUser(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	self := id == s.User.ID
	var p latchkey.UserPatch
	done := "user-updated"
	yes, no := true, false
	switch r.PostFormValue("op") {
	case "make-admin":
		p.IsAdmin = &yes
	case "remove-admin":
		if self {
			return d.showUser(w, r, s, http.StatusBadRequest, page{Error: "You cannot remove your own admin rights: ask another admin."})
		}
		p.IsAdmin = &no
	case "disable":
		if self {
			return d.showUser(w, r, s, http.StatusBadRequest, page{Error: "You cannot disable your own account."})
		}
		p.Disabled = &yes
	case "enable":
		p.Disabled = &no
	case "email":
		email := r.PostFormValue("email")
		p.Email = &email
	case "password":
		pw := r.PostFormValue("password")
		if pw == "" {
			return d.showUser(w, r, s, http.StatusBadRequest, page{Error: "Enter the new password."})
		}
		p.Password = &pw
		done = "password-set"
	default:
		return latchkey.Invalid("unknown action")
	}
	if _, err := d.svc.UpdateUser(r.Context(), id, p); err != nil {
		if statusOf(err) >= 500 || latchkey.ErrorCode(err) == latchkey.CodeNotFound {
			return err
		}
		return d.showUser(w, r, s, statusOf(err), page{Error: d.userMessage(r.Context(), err)})
	}
	if self && p.Password != nil {
		// Changing your own password ended your session too.
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil
	}
	redirectDone(w, r, "/admin/users/"+url.PathEscape(id), done)
	return nil
}

func (d *Dashboard) handleAddMembership(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	if err := d.svc.AddMembership(r.Context(), id, r.PostFormValue("tenant")); err != nil {
		if latchkey.ErrorCode(err) == latchkey.CodeNotFound {
			return d.showUser(w, r, s, http.StatusBadRequest, page{Error: "Choose a tenant to add."})
		}
		return err
	}
	redirectDone(w, r, "/admin/users/"+url.PathEscape(id), "membership-added")
	return nil
}

func (d *Dashboard) handleRemoveMembership(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	if err := d.svc.RemoveMembership(r.Context(), id, r.PathValue("tenant")); err != nil {
		return err
	}
	redirectDone(w, r, "/admin/users/"+url.PathEscape(id), "membership-gone")
	return nil
}

func (d *Dashboard) handleConfirmDeleteUser(w http.ResponseWriter, r *http.Request, s *session) error {
	u, err := d.svc.User(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if u.ID == s.User.ID {
		return latchkey.Invalid("you cannot delete your own account")
	}
	subject := u.ID
	if u.Email != "" {
		subject += " · " + u.Email
	}
	d.showAdminConfirm(w, r, s, confirm{
		Heading: "Delete this user?", Subject: subject, Button: "Delete user",
		Message: "The user, their memberships and all their API keys are deleted, and they are signed out everywhere. Requests with their keys are refused at once.",
		Cancel:  "/admin/users/" + url.PathEscape(u.ID),
	})
	return nil
}

func (d *Dashboard) handleDeleteUser(w http.ResponseWriter, r *http.Request, s *session) error {
	id := r.PathValue("id")
	if id == s.User.ID {
		return latchkey.Invalid("you cannot delete your own account")
	}
	if err := d.svc.DeleteUser(r.Context(), id); err != nil {
		return err
	}
	redirectDone(w, r, "/admin/users", "user-deleted")
	return nil
}

// ---- Permissions ------------------------------------------------------

type permissionsData struct {
	Catalog []*latchkey.Permission
	Form    struct{ Name, Description string }
}

func (d *Dashboard) handlePermissions(w http.ResponseWriter, r *http.Request, s *session) error {
	return d.showPermissions(w, r, s, http.StatusOK, page{Flash: adminFlash(r)}, "", "")
}

func (d *Dashboard) showPermissions(w http.ResponseWriter, r *http.Request, s *session, status int, p page, name, desc string) error {
	ps, err := d.svc.ListPermissions(r.Context())
	if err != nil {
		return err
	}
	data := permissionsData{Catalog: ps}
	data.Form.Name, data.Form.Description = name, desc
	p.Title, p.Section, p.Session, p.Data = "Permissions", "admin-permissions", s, data
	d.render(w, r, status, "admin_permissions", p)
	return nil
}

func (d *Dashboard) handleCreatePermission(w http.ResponseWriter, r *http.Request, s *session) error {
	name, desc := strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("description")
	if _, err := d.svc.CreatePermission(r.Context(), name, desc); err != nil {
		if statusOf(err) >= 500 {
			return err
		}
		return d.showPermissions(w, r, s, statusOf(err), page{Error: d.userMessage(r.Context(), err)}, name, desc)
	}
	redirectDone(w, r, "/admin/permissions", "permission-added")
	return nil
}

func (d *Dashboard) handleConfirmDeletePermission(w http.ResponseWriter, r *http.Request, s *session) error {
	name := r.PathValue("name")
	d.showAdminConfirm(w, r, s, confirm{
		Heading: "Remove this permission from the catalog?", Subject: name, Button: "Remove permission",
		Message: "Keys that hold it keep it, but new keys and updates can no longer grant it.",
		Cancel:  "/admin/permissions",
	})
	return nil
}

func (d *Dashboard) handleDeletePermission(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.svc.DeletePermission(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	redirectDone(w, r, "/admin/permissions", "permission-gone")
	return nil
}

// ---- Root keys --------------------------------------------------------

type rootKeysData struct {
	Keys   []*latchkey.RootKey
	Scopes []string
	Form   struct {
		Name   string
		Scopes []string
	}
}

func (d *Dashboard) handleRootKeys(w http.ResponseWriter, r *http.Request, s *session) error {
	return d.showRootKeys(w, r, s, http.StatusOK, page{Flash: adminFlash(r)}, "", nil)
}

func (d *Dashboard) showRootKeys(w http.ResponseWriter, r *http.Request, s *session, status int, p page, name string, scopes []string) error {
	keys, err := d.svc.ListRootKeys(r.Context())
	if err != nil {
		return err
	}
	data := rootKeysData{Keys: keys, Scopes: latchkey.Scopes}
	data.Form.Name, data.Form.Scopes = name, scopes
	p.Title, p.Section, p.Session, p.Data = "Root keys", "admin-root", s, data
	d.render(w, r, status, "admin_rootkeys", p)
	return nil
}

func (d *Dashboard) handleCreateRootKey(w http.ResponseWriter, r *http.Request, s *session) error {
	name, scopes := r.PostFormValue("name"), r.PostForm["scope"]
	k, raw, err := d.svc.CreateRootKey(r.Context(), name, scopes)
	if err != nil {
		if statusOf(err) >= 500 {
			return err
		}
		return d.showRootKeys(w, r, s, statusOf(err), page{Error: d.userMessage(r.Context(), err)}, name, scopes)
	}
	noStore(w)
	return d.showRootKeys(w, r, s, http.StatusCreated, page{
		Flash: "Root key “" + k.Name + "” created.",
		Reveal: &reveal{
			Heading: "Your new root key",
			Intro:   "“" + k.Name + "” with scopes " + strings.Join(k.Scopes, ", "),
			Secrets: []secret{{Label: "Root key", Value: raw, ID: "new-secret"}},
			Done:    "/admin/root-keys",
		},
	}, "", nil)
}

func (d *Dashboard) rootKey(ctx context.Context, id string) (*latchkey.RootKey, error) {
	keys, err := d.svc.ListRootKeys(ctx)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.ID == id {
			return k, nil
		}
	}
	return nil, latchkey.NotFound("root key")
}

func (d *Dashboard) handleConfirmDeleteRootKey(w http.ResponseWriter, r *http.Request, s *session) error {
	k, err := d.rootKey(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	d.showAdminConfirm(w, r, s, confirm{
		Heading: "Delete this root key?", Subject: k.Name + " · " + k.Masked, Button: "Delete root key",
		Message: "Automation that uses it is refused from the next request on.",
		Cancel:  "/admin/root-keys",
	})
	return nil
}

func (d *Dashboard) handleDeleteRootKey(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.svc.DeleteRootKey(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	redirectDone(w, r, "/admin/root-keys", "root-deleted")
	return nil
}

// ---- OAuth clients ----------------------------------------------------

type oauthData struct {
	Clients []*latchkey.OAuthClient
	Next    string
	Tenants []*latchkey.Tenant
	Names   map[string]string // tenant ID → name
	Form    struct{ Name, Scopes, TenantID string }
}

func (d *Dashboard) handleOAuthClients(w http.ResponseWriter, r *http.Request, s *session) error {
	return d.showOAuthClients(w, r, s, http.StatusOK, page{Flash: adminFlash(r)}, "", "", "")
}

func (d *Dashboard) showOAuthClients(w http.ResponseWriter, r *http.Request, s *session, status int, p page, name, scopes, tenant string) error {
	cs, err := d.svc.ListOAuthClients(r.Context(), latchkey.Page{Limit: adminPageSize, After: r.URL.Query().Get("after")})
	if err != nil {
		return err
	}
	tenants, err := d.allTenants(r.Context())
	if err != nil {
		return err
	}
	data := oauthData{Clients: cs, Tenants: tenants, Names: map[string]string{}}
	for _, t := range tenants {
		data.Names[t.ID] = t.Name
	}
	data.Form.Name, data.Form.Scopes, data.Form.TenantID = name, scopes, tenant
	if len(cs) > 0 {
		data.Next = nextPage("/admin/oauth-clients", len(cs), cs[len(cs)-1].ID)
	}
	p.Title, p.Section, p.Session, p.Data = "OAuth clients", "admin-oauth", s, data
	d.render(w, r, status, "admin_oauth", p)
	return nil
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(c rune) bool { return c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t' })
}

func (d *Dashboard) handleCreateOAuthClient(w http.ResponseWriter, r *http.Request, s *session) error {
	name, scopes, tenant := r.PostFormValue("name"), r.PostFormValue("scopes"), r.PostFormValue("tenant")
	c, raw, err := d.svc.CreateOAuthClient(r.Context(), latchkey.NewOAuthClient{Name: name, Scopes: splitList(scopes), TenantID: tenant})
	if err != nil {
		if statusOf(err) >= 500 {
			return err
		}
		return d.showOAuthClients(w, r, s, statusOf(err), page{Error: d.userMessage(r.Context(), err)}, name, scopes, tenant)
	}
	return d.revealClient(w, r, s, "OAuth client “"+c.Name+"” created.", "Your new OAuth client", c, raw)
}

func (d *Dashboard) revealClient(w http.ResponseWriter, r *http.Request, s *session, flash, heading string, c *latchkey.OAuthClient, raw string) error {
	noStore(w)
	r2 := r.Clone(r.Context())
	r2.URL = &url.URL{Path: "/admin/oauth-clients"}
	return d.showOAuthClients(w, r2, s, http.StatusCreated, page{
		Flash: flash,
		Reveal: &reveal{
			Heading: heading,
			Intro:   "“" + c.Name + "” · scopes " + strings.Join(c.Scopes, " "),
			Secrets: []secret{
				{Label: "Client ID", Value: c.ID, ID: "client-id"},
				{Label: "Client secret", Value: raw, ID: "new-secret"},
			},
			Done: "/admin/oauth-clients",
		},
	}, "", "", "")
}

func (d *Dashboard) handleToggleOAuthClient(w http.ResponseWriter, r *http.Request, s *session) error {
	c, err := d.svc.OAuthClient(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	disabled := !c.Disabled
	if _, err := d.svc.UpdateOAuthClient(r.Context(), c.ID, latchkey.OAuthClientPatch{Disabled: &disabled}); err != nil {
		return err
	}
	redirectDone(w, r, "/admin/oauth-clients", "client-updated")
	return nil
}

func (d *Dashboard) handleConfirmOAuthClient(w http.ResponseWriter, r *http.Request, s *session) error {
	c, err := d.svc.OAuthClient(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	cf := confirm{Subject: c.Name + " · " + c.ID, Cancel: "/admin/oauth-clients"}
	switch r.PathValue("action") {
	case "rotate":
		cf.Heading, cf.Button = "Rotate this client's secret?", "Rotate secret"
		cf.Message = "The current secret stops working at once; tokens already issued stay valid until they expire."
	case "delete":
		cf.Heading, cf.Button = "Delete this OAuth client?", "Delete client"
		cf.Message = "It can no longer get tokens, and the tokens it has stop verifying at once."
	default:
		return latchkey.NotFound("page")
	}
	d.showAdminConfirm(w, r, s, cf)
	return nil
}

func (d *Dashboard) handleRotateOAuthClient(w http.ResponseWriter, r *http.Request, s *session) error {
	c, raw, err := d.svc.RotateOAuthClientSecret(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return d.revealClient(w, r, s, "Secret of “"+c.Name+"” rotated.", "The new client secret", c, raw)
}

func (d *Dashboard) handleDeleteOAuthClient(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := d.svc.DeleteOAuthClient(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	redirectDone(w, r, "/admin/oauth-clients", "client-deleted")
	return nil
}
