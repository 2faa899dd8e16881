package latchkey

import (
	"context"
	"crypto/rand"
	"net/mail"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/apikey"
	"github.com/latchkey/latchkey/password"
)

// ---- Tenants ----------------------------------------------------------

// CreateTenant creates a tenant; an empty id is generated.
func (s *Service) CreateTenant(ctx context.Context, id, name string) (*Tenant, error) {
	if id == "" {
		id = NewID("ten")
	}
	if err := validateID("id", id); err != nil {
		return nil, err
	}
	name, err := validateName("name", name)
	if err != nil {
		return nil, err
	}
	t := &Tenant{ID: id, Name: name, CreatedAt: s.Now()}
	if err := s.store.CreateTenant(ctx, t); err != nil {
		return nil, err
	}
	s.audit(ctx, AuditEvent{Action: AuditTenantCreate, TargetID: t.ID, TenantID: t.ID, Detail: map[string]any{"name": t.Name}})
	return t, nil
}

// Tenant returns one tenant.
func (s *Service) Tenant(ctx context.Context, id string) (*Tenant, error) {
	return s.store.Tenant(ctx, id)
}

// ListTenants returns a page of tenants in ID order.
func (s *Service) ListTenants(ctx context.Context, p Page) ([]*Tenant, error) {
	if err := validatePage(&p); err != nil {
		return nil, err
	}
	return s.store.ListTenants(ctx, p)
}

// RenameTenant changes a tenant's name.
func (s *Service) RenameTenant(ctx context.Context, id, name string) (*Tenant, error) {
	name, err := validateName("name", name)
	if err != nil {
		return nil, err
	}
	defer s.cache.invalidateAll()
	t, err := s.store.UpdateTenant(ctx, id, func(t *Tenant) error { t.Name = name; return nil })
	if err != nil {
		return nil, err
	}
	s.audit(ctx, AuditEvent{Action: AuditTenantUpdate, TargetID: t.ID, TenantID: t.ID, Detail: map[string]any{
		"fields": []string{"name"}, "name": t.Name,
	}})
	return t, nil
}

// DeleteTenant removes a tenant, its memberships and key links.
func (s *Service) DeleteTenant(ctx context.Context, id string) error {
	defer s.cache.invalidateAll() // tenant links of keys change too
	if err := s.store.DeleteTenant(ctx, id); err != nil {
		return err
	}
	s.audit(ctx, AuditEvent{Action: AuditTenantDelete, TargetID: id, TenantID: id})
	return nil
}

func validatePage(p *Page) error {
	if p.Limit == 0 {
		p.Limit = 100
	}
	if p.Limit < 0 || p.Limit > 1000 {
		return Invalid("limit must be between 1 and 1000")
	}
	return nil
}

// ---- Users ------------------------------------------------------------

// NewUser is the input for creating a user.
type NewUser struct {
	ID        string // generated when empty
	Email     string // optional; required with Password
	Password  string // optional; enables dashboard sign-in
	IsAdmin   bool
	TenantIDs []string
}

// CreateUser creates a user with optional login and memberships.
func (s *Service) CreateUser(ctx context.Context, in NewUser) (*User, error) {
	u := &User{ID: in.ID, IsAdmin: in.IsAdmin, CreatedAt: s.Now()}
	if u.ID == "" {
		u.ID = NewID("user")
	}
	if err := validateID("id", u.ID); err != nil {
		return nil, err
	}
	var err error
	if u.Email, err = normalizeEmail(in.Email); err != nil {
		return nil, err
	}
	if in.Password != "" {
		if u.Email == "" {
			return nil, Invalid("email is required to set a password")
		}
		if u.PasswordHash, err = password.Hash(in.Password); err != nil {
			return nil, Invalid("password: %s", err.Error())
		}
	}
	for _, tid := range in.TenantIDs {
		if _, err := s.store.Tenant(ctx, tid); err != nil {
			if ErrorCode(err) == CodeNotFound {
				return nil, Invalid("tenantIds: tenant %q does not exist", truncate(tid))
			}
			return nil, err
		}
		if !slices.Contains(u.TenantIDs, tid) {
			u.TenantIDs = append(u.TenantIDs, tid)
		}
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	// The password itself is never recorded, only whether there is one.
	s.audit(ctx, AuditEvent{Action: AuditUserCreate, TargetID: u.ID, Detail: map[string]any{
		"email": u.Email, "isAdmin": u.IsAdmin, "hasPassword": u.PasswordHash != "",
		"tenantIds": slices.Clone(u.TenantIDs),
	}})
	return u, nil
}

func normalizeEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return "", nil
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || len(email) > 254 {
		return "", Invalid("email %q is not a valid address", truncate(email))
	}
	return strings.ToLower(email), nil
}

// User returns one user.
func (s *Service) User(ctx context.Context, id string) (*User, error) { return s.store.User(ctx, id) }

// EnsureUser returns the user with id, creating it on first use (a root key
// acting for x-user-id).
func (s *Service) EnsureUser(ctx context.Context, id string) (*User, error) {
	if err := validateID("x-user-id", id); err != nil {
		return nil, err
	}
	u, err := s.store.User(ctx, id)
	if ErrorCode(err) != CodeNotFound {
		return u, err
	}
	u, err = s.CreateUser(ctx, NewUser{ID: id})
	if ErrorCode(err) == CodeConflict { // created concurrently
		return s.store.User(ctx, id)
	}
	return u, err
}

// ListUsers returns a page of users in ID order.
func (s *Service) ListUsers(ctx context.Context, p Page) ([]*User, error) {
	if err := validatePage(&p); err != nil {
		return nil, err
	}
	return s.store.ListUsers(ctx, p)
}

// UserPatch changes some fields of a user; nil fields are left alone.
type UserPatch struct {
	Email    *string
	Password *string
	IsAdmin  *bool
	Disabled *bool
}

// UpdateUser applies a patch.
func (s *Service) UpdateUser(ctx context.Context, id string, p UserPatch) (*User, error) {
	var email, hash string
	var err error
	if p.Email != nil {
		if email, err = normalizeEmail(*p.Email); err != nil {
			return nil, err
		}
	}
	if p.Password != nil {
		if hash, err = password.Hash(*p.Password); err != nil {
			return nil, Invalid("password: %s", err.Error())
		}
	}
	u, err := s.store.UpdateUser(ctx, id, func(u *User) error {
		if p.Email != nil {
			u.Email = email
		}
		if p.Password != nil {
			if u.Email == "" {
				return Invalid("email is required to set a password")
			}
			u.PasswordHash = hash
		}
		if p.IsAdmin != nil {
			u.IsAdmin = *p.IsAdmin
		}
		if p.Disabled != nil {
			u.Disabled = *p.Disabled
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.audit(ctx, AuditEvent{Action: AuditUserUpdate, TargetID: u.ID, Detail: p.auditDetail()})
	// Disabling a user or changing its password signs it out everywhere.
	if u.Disabled || p.Password != nil {
		if err := s.DeleteUserSessions(ctx, u.ID); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// auditDetail names the fields a patch sets, with the new values of the
// flags; a new password is named, never shown.
func (p UserPatch) auditDetail() map[string]any {
	d := map[string]any{}
	fields := []string{}
	if p.Email != nil {
		fields = append(fields, "email")
	}
	if p.Password != nil {
		fields = append(fields, "password")
	}
	if p.IsAdmin != nil {
		fields = append(fields, "isAdmin")
		d["isAdmin"] = *p.IsAdmin
	}
	if p.Disabled != nil {
		fields = append(fields, "disabled")
		d["disabled"] = *p.Disabled
	}
	d["fields"] = fields
	return d
}

// DeleteUser removes a user with its memberships and keys.
func (s *Service) DeleteUser(ctx context.Context, id string) error {
	defer s.cache.invalidateAll() // the user's keys go too
	if err := s.store.DeleteUser(ctx, id); err != nil {
		return err
	}
	s.audit(ctx, AuditEvent{Action: AuditUserDelete, TargetID: id})
	return nil
}

// AddMembership makes a user a member of a tenant.
func (s *Service) AddMembership(ctx context.Context, userID, tenantID string) error {
	if err := s.store.AddMembership(ctx, userID, tenantID); err != nil {
		return err
	}
	s.audit(ctx, AuditEvent{Action: AuditMembershipAdd, TargetID: userID, TenantID: tenantID})
	return nil
}

// RemoveMembership ends a membership and unlinks the tenant from the user's keys.
func (s *Service) RemoveMembership(ctx context.Context, userID, tenantID string) error {
	defer s.cache.invalidateAll() // the tenant is unlinked from the user's keys
	if err := s.store.RemoveMembership(ctx, userID, tenantID); err != nil {
		return err
	}
	s.audit(ctx, AuditEvent{Action: AuditMembershipRemove, TargetID: userID, TenantID: tenantID})
	return nil
}

// CheckPassword returns the user with email if pw is right. Any failure is
// the same error so sign-in does not reveal which emails exist.
func (s *Service) CheckPassword(ctx context.Context, email, pw string) (*User, error) {
	bad := Errorf(CodeInvalidAPIKey, "Invalid email or password.")
	u, err := s.store.UserByEmail(ctx, strings.TrimSpace(email))
	if err != nil {
		if ErrorCode(err) != CodeNotFound {
			return nil, err
		}
		// Spend the same time as a real check.
		password.Check(dummyHash, pw)
		return nil, bad
	}
	if u.PasswordHash == "" || u.Disabled {
		password.Check(dummyHash, pw)
		return nil, bad
	}
	ok, err := password.Check(u.PasswordHash, pw)
	if err != nil || !ok {
		return nil, bad
	}
	return u, nil
}

var dummyHash, _ = password.Hash("latchkey-timing-equaliser")

// ---- Bootstrap --------------------------------------------------------

// Bootstrap is what a first start creates.
type Bootstrap struct {
	RootKey       string // "" when LATCHKEY_ROOT_KEY provides one
	AdminEmail    string
	AdminPassword string
}

// AdminEmail is the login of the admin created at first start.
const AdminEmail = "admin@localhost"

// BootstrapIfEmpty creates, on a database with no users and no root keys
// but envRootKey's, an admin user with a random password and (unless
// envRootKey is set) a root key with scope "*". It returns nil on any later
// start. envRootKey, when set, is ensured to exist either way.
//
// envRootKey's own key does not count: automation may create it with the
// CLI before the first start (export LATCHKEY_ROOT_KEY=$(latchkey
// root-keys create ...)), and that start must still give a dashboard login.
func (s *Service) BootstrapIfEmpty(ctx context.Context, envRootKey string) (*Bootstrap, error) {
	var envHash [32]byte
	if envRootKey != "" {
		if err := ValidateRootKeySecret(envRootKey); err != nil {
			return nil, err
		}
		parsed, _ := apikey.Parse(envRootKey)
		envHash = parsed.Hash()
	}
	roots, err := s.store.ListRootKeys(ctx)
	if err != nil {
		return nil, err
	}
	otherRoots := slices.DeleteFunc(roots, func(rk *RootKey) bool { return envRootKey != "" && rk.Hash == envHash })
	users, err := s.store.ListUsers(ctx, Page{Limit: 1})
	if err != nil {
		return nil, err
	}
	var b *Bootstrap
	if len(otherRoots) == 0 && len(users) == 0 {
		b = &Bootstrap{AdminEmail: AdminEmail, AdminPassword: strings.ReplaceAll(rand.Text(), "=", "")}
		if _, err := s.CreateUser(ctx, NewUser{ID: "admin", Email: AdminEmail, Password: b.AdminPassword, IsAdmin: true}); err != nil {
			return nil, err
		}
		if envRootKey == "" {
			if _, b.RootKey, err = s.CreateRootKey(ctx, "bootstrap", []string{ScopeAll}); err != nil {
				return nil, err
			}
		}
	}
	if envRootKey != "" {
		if err := s.EnsureRootKey(ctx, envRootKey); err != nil {
			return nil, err
		}
	}
	return b, nil
}
