package latchkey

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Permission is an entry of the permission catalog. When the catalog has
// any entry, keys may only hold permissions it allows (see CheckCatalog).
type Permission struct {
	Name        string
	Description string
	CreatedAt   time.Time
}

// MaxDescriptionLen bounds a permission's description.
const MaxDescriptionLen = 500

// CatalogStore persists the permission catalog.
type CatalogStore interface {
	// CreatePermission stores p; CONFLICT if its name exists.
	CreatePermission(ctx context.Context, p *Permission) error
	// EnsurePermissions stores each permission that does not exist yet and
	// leaves existing ones (and their descriptions) alone.
	EnsurePermissions(ctx context.Context, ps []*Permission) error
	// ListPermissions returns the whole catalog in name order.
	ListPermissions(ctx context.Context) ([]*Permission, error)
	// DeletePermission removes one entry; NOT_FOUND if none. Keys that hold
	// the permission keep it.
	DeletePermission(ctx context.Context, name string) error
}

// CreatePermission adds a permission to the catalog: "*", "prefix:*" or a
// concrete permission such as "messages:send".
func (s *Service) CreatePermission(ctx context.Context, name, description string) (*Permission, error) {
	if !ValidPermission(name) {
		return nil, Invalid("name: %q is not a valid permission (use e.g. \"messages:send\", \"messages:*\" or \"*\")", truncate(name))
	}
	description = strings.TrimSpace(description)
	if len([]rune(description)) > MaxDescriptionLen {
		return nil, Invalid("description must be at most %d characters", MaxDescriptionLen)
	}
	for _, r := range description {
		if r < 0x20 || r == 0x7f {
			return nil, Invalid("description must not contain control characters")
		}
	}
	p := &Permission{Name: name, Description: description, CreatedAt: s.Now()}
	if err := s.store.CreatePermission(ctx, p); err != nil {
		return nil, err
	}
	s.audit(ctx, AuditEvent{Action: AuditPermissionCreate, TargetID: p.Name, Detail: map[string]any{"description": p.Description}})
	return p, nil
}

// EnsurePermissions adds the named permissions to the catalog where they are
// missing, e.g. those a routes file requires.
func (s *Service) EnsurePermissions(ctx context.Context, names []string) error {
	ps := make([]*Permission, 0, len(names))
	now := s.Now()
	for _, n := range names {
		if !ValidPermission(n) {
			return Invalid("%q is not a valid permission", truncate(n))
		}
		ps = append(ps, &Permission{Name: n, CreatedAt: now})
	}
	if len(ps) == 0 {
		return nil
	}
	return s.store.EnsurePermissions(ctx, ps)
}

// ListPermissions returns the catalog in name order.
func (s *Service) ListPermissions(ctx context.Context) ([]*Permission, error) {
	return s.store.ListPermissions(ctx)
}

// DeletePermission removes a permission from the catalog. Keys that hold it
// keep it; new keys and updates can no longer grant it.
func (s *Service) DeletePermission(ctx context.Context, name string) error {
	if err := s.store.DeletePermission(ctx, name); err != nil {
		return err
	}
	s.audit(ctx, AuditEvent{Action: AuditPermissionDelete, TargetID: name})
	return nil
}

// checkCatalog refuses key permissions the catalog does not allow. An empty
// catalog allows every well-formed permission.
func (s *Service) checkCatalog(ctx context.Context, perms []string) error {
	if len(perms) == 0 {
		return nil
	}
	catalog, err := s.store.ListPermissions(ctx)
	if err != nil {
		return err
	}
	names := make([]string, len(catalog))
	for i, p := range catalog {
		names[i] = p.Name
	}
	return CheckCatalog(names, perms)
}

// CheckCatalog reports the first of perms that catalog does not allow, as a
// VALIDATION_FAILED error naming it. With an empty catalog everything is
// allowed. Otherwise a permission is allowed when the catalog holds exactly
// that string; in addition a wildcard "prefix:*" is allowed when the catalog
// holds at least one permission under "prefix:" (it grants only catalog
// permissions, plus any added later under the prefix). "*" is allowed only
// when the catalog itself holds "*": granting everything is a deliberate
// choice of the catalog's owner.
func CheckCatalog(catalog, perms []string) error {
	if len(catalog) == 0 {
		return nil
	}
	for _, p := range perms {
		if slices.Contains(catalog, p) {
			continue
		}
		if prefix, ok := strings.CutSuffix(p, "*"); ok && p != "*" {
			if slices.ContainsFunc(catalog, func(c string) bool { return strings.HasPrefix(c, prefix) }) {
				continue
			}
		}
		return &Error{
			Code:    CodeValidationFailed,
			Message: "permissions: \"" + truncate(p) + "\" is not in the permission catalog",
			Detail:  "add it with POST /api/v1/admin/permissions or `latchkey permissions create`",
		}
	}
	return nil
}
