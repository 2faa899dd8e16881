package client

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The self-service key API (SPEC §7): the keys of the client's user
// (WithUser, ForUser), authenticated by a root key with "keys:manage".
// Another user's key is NOT_FOUND, exactly like a key that does not exist.

const selfKeys = "/api/v1/auth/api-keys"

// errNoID is returned before any request when an ID argument is empty.
var errNoID = errors.New("latchkey: empty ID")

// CreateKey creates a key. The answer's Key field holds the full secret:
// it is shown only this once.
func (c *Client) CreateKey(ctx context.Context, in KeyCreate) (*Key, error) {
	req := c.selfService(http.MethodPost, selfKeys)
	req.body = in
	var k Key
	if _, err := c.do(ctx, req, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// ListKeys returns one page of the user's keys, newest first, with masked
// secrets. Pass the page's NextCursor as opts.Cursor for the next page, or
// use AllKeys.
func (c *Client) ListKeys(ctx context.Context, opts ListKeysOptions) (*Page[*Key], error) {
	req := c.selfService(http.MethodGet, selfKeys)
	req.query = url.Values{}
	if opts.Environment != "" {
		req.query.Set("environment", opts.Environment)
	}
	if opts.Limit != 0 {
		req.query.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Cursor != "" {
		req.query.Set("cursor", opts.Cursor)
	}
	var keys []*Key
	h, err := c.do(ctx, req, &keys)
	if err != nil {
		return nil, err
	}
	return &Page[*Key]{Items: keys, NextCursor: h.Get("X-Next-Cursor")}, nil
}

// AllKeys iterates over all the user's keys, newest first, fetching pages
// of opts.Limit as it goes. It stops after yielding an error.
//
//	for k, err := range lk.AllKeys(ctx, client.ListKeysOptions{}) {
//		if err != nil { … }
//	}
func (c *Client) AllKeys(ctx context.Context, opts ListKeysOptions) iter.Seq2[*Key, error] {
	return func(yield func(*Key, error) bool) {
		for {
			page, err := c.ListKeys(ctx, opts)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, k := range page.Items {
				if !yield(k, nil) {
					return
				}
			}
			if page.NextCursor == "" || page.NextCursor == opts.Cursor {
				return
			}
			opts.Cursor = page.NextCursor
		}
	}
}

// GetKey returns one of the user's keys, masked.
func (c *Client) GetKey(ctx context.Context, id string) (*Key, error) {
	return c.keyAction(ctx, http.MethodGet, "", id, nil)
}

// UpdateKey changes what p sets and returns the key.
func (c *Client) UpdateKey(ctx context.Context, id string, p KeyPatch) (*Key, error) {
	return c.keyAction(ctx, http.MethodPatch, "", id, p)
}

// ToggleKey disables an active key or enables a disabled one. Enabling a
// revoked key is a CONFLICT.
func (c *Client) ToggleKey(ctx context.Context, id string) (*Key, error) {
	return c.keyAction(ctx, http.MethodPatch, "/toggle", id, nil)
}

// RevokeKey revokes a key for good.
func (c *Client) RevokeKey(ctx context.Context, id string) (*Key, error) {
	return c.keyAction(ctx, http.MethodPost, "/revoke", id, nil)
}

// RotateKey replaces a key by a new one with the same settings, returned
// with its full secret (shown only this once) and RotatedFrom set. The old
// key keeps working for grace (0: it stops at once).
func (c *Client) RotateKey(ctx context.Context, id string, grace time.Duration) (*Key, error) {
	return c.keyAction(ctx, http.MethodPost, "/rotate", id, rotateRequest{GracePeriod: formatDuration(grace)})
}

type rotateRequest struct {
	GracePeriod string `json:"gracePeriod"`
}

// DeleteKey deletes a key; it is then INVALID_API_KEY everywhere.
func (c *Client) DeleteKey(ctx context.Context, id string) error {
	if id == "" {
		return errNoID
	}
	_, err := c.do(ctx, c.selfService(http.MethodDelete, selfKeys+pathEscape(id)), nil)
	return err
}

func (c *Client) keyAction(ctx context.Context, method, suffix, id string, body any) (*Key, error) {
	if id == "" {
		return nil, errNoID
	}
	req := c.selfService(method, selfKeys+pathEscape(id)+suffix)
	req.body = body
	var k Key
	if _, err := c.do(ctx, req, &k); err != nil {
		return nil, err
	}
	return &k, nil
}
