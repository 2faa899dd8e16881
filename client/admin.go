package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// The admin API (SPEC §7): tenants, users and memberships, authenticated by
// a root key with the "admin" (or "*") scope.

// CreateTenant creates a tenant; an empty id lets Latchkey choose one.
func (c *Client) CreateTenant(ctx context.Context, id, name string) (*Tenant, error) {
	req := c.admin(http.MethodPost, "/api/v1/admin/tenants")
	req.body = struct {
		ID   string `json:"id,omitempty"`
		Name string `json:"name"`
	}{id, name}
	var t Tenant
	if _, err := c.do(ctx, req, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ListTenants returns one page of tenants in ID order.
func (c *Client) ListTenants(ctx context.Context, opts ListOptions) (*Page[*Tenant], error) {
	return list[*Tenant](ctx, c, "/api/v1/admin/tenants", opts)
}

// GetTenant returns a tenant.
func (c *Client) GetTenant(ctx context.Context, id string) (*Tenant, error) {
	if id == "" {
		return nil, errNoID
	}
	var t Tenant
	if _, err := c.do(ctx, c.admin(http.MethodGet, "/api/v1/admin/tenants"+pathEscape(id)), &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// DeleteTenant deletes a tenant.
func (c *Client) DeleteTenant(ctx context.Context, id string) error {
	if id == "" {
		return errNoID
	}
	_, err := c.do(ctx, c.admin(http.MethodDelete, "/api/v1/admin/tenants"+pathEscape(id)), nil)
	return err
}

// CreateUser creates a user.
func (c *Client) CreateUser(ctx context.Context, in UserCreate) (*User, error) {
	req := c.admin(http.MethodPost, "/api/v1/admin/users")
	req.body = in
	var u User
	if _, err := c.do(ctx, req, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// ListUsers returns one page of users in ID order.
func (c *Client) ListUsers(ctx context.Context, opts ListOptions) (*Page[*User], error) {
	return list[*User](ctx, c, "/api/v1/admin/users", opts)
}

// GetUser returns a user.
func (c *Client) GetUser(ctx context.Context, id string) (*User, error) {
	return c.userAction(ctx, http.MethodGet, pathEscape(id), id)
}

// DeleteUser deletes a user and their keys.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	if id == "" {
		return errNoID
	}
	_, err := c.do(ctx, c.admin(http.MethodDelete, "/api/v1/admin/users"+pathEscape(id)), nil)
	return err
}

// AddMembership makes a user a member of a tenant and returns the user.
func (c *Client) AddMembership(ctx context.Context, userID, tenantID string) (*User, error) {
	if tenantID == "" {
		return nil, errNoID
	}
	return c.userAction(ctx, http.MethodPut, pathEscape(userID, "tenants", tenantID), userID)
}

// RemoveMembership ends a user's membership of a tenant and returns the user.
func (c *Client) RemoveMembership(ctx context.Context, userID, tenantID string) (*User, error) {
	if tenantID == "" {
		return nil, errNoID
	}
	return c.userAction(ctx, http.MethodDelete, pathEscape(userID, "tenants", tenantID), userID)
}

func (c *Client) userAction(ctx context.Context, method, path, id string) (*User, error) {
	if id == "" {
		return nil, errNoID
	}
	var u User
	if _, err := c.do(ctx, c.admin(method, "/api/v1/admin/users"+path), &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// list fetches one page of an ID-ordered admin list.
func list[T any](ctx context.Context, c *Client, path string, opts ListOptions) (*Page[T], error) {
	req := c.admin(http.MethodGet, path)
	req.query = url.Values{}
	if opts.Limit != 0 {
		req.query.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Cursor != "" {
		req.query.Set("after", opts.Cursor)
	}
	var items []T
	h, err := c.do(ctx, req, &items)
	if err != nil {
		return nil, err
	}
	return &Page[T]{Items: items, NextCursor: h.Get("X-Next-Cursor")}, nil
}
