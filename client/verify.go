package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// VerifyKey asks Latchkey whether key (an API key or OAuth access token)
// is valid for permission ("" for none) and tenantID ("" for the key's
// first tenant). It needs a root key with "keys:verify". A refused key is
// not an error: the answer has Valid false and Code saying why, and Err
// turns it into the *Error Latchkey would answer the key's holder with.
// A successful verification counts as a use of the key and against its
// rate limit.
func (c *Client) VerifyKey(ctx context.Context, key, permission, tenantID string) (*Verification, error) {
	return c.verify(ctx, key, permission, tenantID, "")
}

func (c *Client) verify(ctx context.Context, key, permission, tenantID, traceparent string) (*Verification, error) {
	if strings.TrimSpace(key) == "" {
		return nil, errors.New("latchkey: empty key")
	}
	req := c.admin(http.MethodPost, "/api/v1/keys/verify")
	req.body = struct {
		Key        string `json:"key"`
		Permission string `json:"permission,omitempty"`
		TenantID   string `json:"tenantId,omitempty"`
	}{key, permission, tenantID}
	if traceparent != "" {
		req.header = http.Header{"Traceparent": {traceparent}}
	}
	var v Verification
	h, err := c.do(ctx, req, &v)
	if err != nil {
		return nil, err
	}
	if v.Valid != (v.Code == CodeValid) {
		// Not an answer Latchkey gives: refuse rather than guess.
		return nil, fmt.Errorf("latchkey: verify answered valid=%t with code %q", v.Valid, v.Code)
	}
	v.TraceID = h.Get("X-Trace-Id")
	v.permission = permission
	return &v, nil
}

// Err returns nil for a valid key, else the *Error Latchkey answers a
// refused key with: its status (401, 403, 429), code and default message,
// and on a 429 when to retry.
func (v *Verification) Err() error {
	if v.Valid {
		return nil
	}
	return v.error()
}

func (v *Verification) error() *Error {
	e := &Error{StatusCode: codeStatus(v.Code), Code: v.Code, Message: codeMessage(v.Code, v.permission), TraceID: v.TraceID}
	if v.Code == CodeRateLimited && v.RateLimit != nil {
		e.RetryAfter = v.RateLimit.Reset // when a retry can pass
	}
	return e
}

// WhoAmI describes apiKey (an API key or OAuth access token) as Latchkey
// sees it, acting for tenantID ("" for the key's first tenant). The call
// authenticates with apiKey itself, not the root key, and counts as a use.
func (c *Client) WhoAmI(ctx context.Context, apiKey, tenantID string) (*Identity, error) {
	if strings.TrimSpace(apiKey) == "" {
		return nil, errors.New("latchkey: empty key")
	}
	req := request{method: http.MethodGet, path: "/api/v1/users/me", bearer: apiKey}
	if tenantID != "" {
		req.header = http.Header{"X-Tenant-Id": {tenantID}}
	}
	var id Identity
	h, err := c.do(ctx, req, &id)
	if err != nil {
		return nil, err
	}
	id.RateLimit = rateLimitFromHeaders(h)
	return &id, nil
}
