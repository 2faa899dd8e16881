package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls Latchkey's HTTP API. It is safe for concurrent use.
type Client struct {
	base      string // no trailing slash
	rootKey   string
	userID    string
	hc        *http.Client
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithRootKey sets the root key the client authenticates with: scope
// "admin" (or "*") for the admin calls, "keys:verify" for VerifyKey and the
// middleware, "keys:manage" for the self-service key calls.
func WithRootKey(rootKey string) Option { return func(c *Client) { c.rootKey = rootKey } }

// WithUser sets the user the self-service key calls act for (x-user-id).
// ForUser derives a client for another user.
func WithUser(userID string) Option { return func(c *Client) { c.userID = userID } }

// WithHTTPClient sets the HTTP client; the default one keeps up to 64 idle
// connections to Latchkey and times calls out after 30 seconds.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithUserAgent sets the User-Agent header of every call.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// DefaultUserAgent is the User-Agent when WithUserAgent is not given.
const DefaultUserAgent = "latchkey-go-client"

// New returns a client of the Latchkey server at baseURL, e.g.
// "http://127.0.0.1:8080".
func New(baseURL string, opts ...Option) *Client {
	c := &Client{base: strings.TrimRight(baseURL, "/"), userAgent: DefaultUserAgent}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient()
	}
	return c
}

// ForUser returns a copy of c whose self-service key calls act for userID;
// it shares c's connections.
func (c *Client) ForUser(userID string) *Client {
	cp := *c
	cp.userID = userID
	return &cp
}

// defaultHTTPClient is http.DefaultTransport with more idle connections per
// host: every request through the middleware is a call to the same
// Latchkey, and the default of 2 would open a connection per call under load.
func defaultHTTPClient() *http.Client {
	t, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return &http.Client{Timeout: 30 * time.Second}
	}
	t = t.Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// maxResponseBytes bounds what is read of any answer.
const maxResponseBytes = 16 << 20

// request is one API call.
type request struct {
	method string
	path   string // escaped
	query  url.Values
	body   any // marshalled as JSON when non-nil
	bearer string
	header http.Header // extra headers
}

// do sends req and decodes a 2xx answer's body into out (when non-nil). An
// error status is returned as *Error; anything else that goes wrong is a
// wrapped error naming the method and path, never a credential.
func (c *Client) do(ctx context.Context, req request, out any) (http.Header, error) {
	u := c.base + req.path
	if len(req.query) > 0 {
		u += "?" + req.query.Encode()
	}
	var body io.Reader
	if req.body != nil {
		b, err := json.Marshal(req.body)
		if err != nil {
			return nil, fmt.Errorf("latchkey: %s %s: encoding request: %w", req.method, req.path, err)
		}
		body = bytes.NewReader(b)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("latchkey: %s %s: %w", req.method, req.path, err)
	}
	for name, vs := range req.header {
		hreq.Header[name] = vs
	}
	hreq.Header.Set("Accept", "application/json")
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if req.bearer != "" {
		hreq.Header.Set("Authorization", "Bearer "+req.bearer)
	}
	if c.userAgent != "" {
		hreq.Header.Set("User-Agent", c.userAgent)
	}
	res, err := c.hc.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("latchkey: %s %s: %w", req.method, req.path, unwrapURLError(err))
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("latchkey: %s %s: reading answer: %w", req.method, req.path, err)
	}
	if res.StatusCode >= 300 {
		return res.Header, parseError(res, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("latchkey: %s %s: decoding answer: %w", req.method, req.path, err)
		}
	}
	return res.Header, nil
}

// unwrapURLError drops *url.Error's "Get \"http://…\":" prefix, which the
// wrapping message says better, keeping the cause for errors.Is.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// selfService is a call of the self-service key API: the root key acting
// for the client's user.
func (c *Client) selfService(method, path string) request {
	r := request{method: method, path: path, bearer: c.rootKey}
	if c.userID != "" {
		r.header = http.Header{"X-User-Id": {c.userID}}
	}
	return r
}

// admin is a call of the admin or verify API: the root key alone.
func (c *Client) admin(method, path string) request {
	return request{method: method, path: path, bearer: c.rootKey}
}

func pathEscape(segments ...string) string {
	var b strings.Builder
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}
