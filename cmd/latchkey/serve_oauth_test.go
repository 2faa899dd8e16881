package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/apikey"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// The whole flow through `latchkey serve`: clients made by the CLI and the
// admin API get tokens from a real OAuth library, the tokens work on
// Latchkey's own routes, and rotation by the CLI is picked up live.
func TestServeOAuth(t *testing.T) {
	e, _ := newEnv(t)
	rk, _ := apikey.Generate("lk", apikey.Root)
	root := rk.String()
	e = e.with("LATCHKEY_ROOT_KEY", root)
	s := startServer(t, e)
	id, secret := createClient(t, e, "--name", "worker", "--scopes", "messages:send,messages:read")

	status, meta := request(t, "GET", s.url+"/.well-known/oauth-authorization-server", nil, nil)
	if status != http.StatusOK || meta["issuer"] != s.url || meta["token_endpoint"] != s.url+"/oauth/token" {
		t.Fatalf("metadata: %d %v; want the issuer to be the listening address %s", status, meta, s.url)
	}

	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.url + "/oauth/token",
			Scopes: []string{"messages:send"}, AuthStyle: style}
		res, err := cc.Client(t.Context()).Get(s.url + "/api/v1/users/me")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var who struct {
			Credential string
			User       struct{ ID string }
			Key        struct {
				ID, Name, Environment string
				Permissions           []string
			}
		}
		json.Unmarshal(raw, &who)
		if res.StatusCode != http.StatusOK || who.Credential != "oauth_token" || who.User.ID != id ||
			who.Key.Name != "worker" || len(who.Key.Permissions) != 1 || who.Key.Permissions[0] != "messages:send" {
			t.Fatalf("whoami with an access token (auth style %v): %d %s", style, res.StatusCode, raw)
		}
	}

	// The verify API and forward auth take tokens too; scopes are permissions.
	cc0 := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.url + "/oauth/token"}
	tok0, err := cc0.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	status, v := request(t, "POST", s.url+"/api/v1/keys/verify", map[string]string{"Authorization": "Bearer " + root},
		map[string]any{"key": tok0.AccessToken, "permission": "messages:read"})
	if status != http.StatusOK || v["valid"] != true || v["keyId"] != id {
		t.Fatalf("verify API with an access token: %d %v", status, v)
	}
	status, v = request(t, "POST", s.url+"/api/v1/keys/verify", map[string]string{"Authorization": "Bearer " + root},
		map[string]any{"key": tok0.AccessToken, "permission": "billing:read"})
	if status != http.StatusOK || v["valid"] != false || v["code"] != "INSUFFICIENT_PERMISSIONS" {
		t.Fatalf("verify API, permission outside the token's scopes: %d %v", status, v)
	}
	creq, _ := http.NewRequest("GET", s.url+"/auth/check", nil)
	creq.Header.Set("Authorization", "Bearer "+tok0.AccessToken)
	cres, err := http.DefaultClient.Do(creq)
	if err != nil {
		t.Fatal(err)
	}
	cres.Body.Close()
	if cres.StatusCode != http.StatusOK || cres.Header.Get("X-Latchkey-Key-Id") != id || cres.Header.Get("X-Latchkey-Owner-Id") != id {
		t.Fatalf("forward auth with an access token: %d %v", cres.StatusCode, cres.Header)
	}

	// Errors on OAuth endpoints are RFC 6749 bodies even through the server.
	req, _ := http.NewRequest("POST", s.url+"/oauth/token", strings.NewReader(`{"grant_type":"client_credentials"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || !strings.HasPrefix(string(raw), `{"error":"invalid_request"`) {
		t.Errorf("JSON token request: %d %s", res.StatusCode, raw)
	}
	status, body := request(t, "GET", s.url+"/oauth/token", nil, nil)
	if status != http.StatusMethodNotAllowed || body["error"] != "invalid_request" {
		t.Errorf("GET /oauth/token: %d %v", status, body)
	}

	// The admin API manages clients.
	admin := map[string]string{"Authorization": "Bearer " + root}
	status, created := request(t, "POST", s.url+"/api/v1/admin/oauth-clients", admin,
		map[string]any{"name": "api-made", "scopes": []string{"reports:read"}})
	if status != http.StatusCreated || created["clientId"] == nil || created["clientSecret"] == nil || created["tenantId"] != nil {
		t.Fatalf("admin create: %d %v", status, created)
	}
	cid := created["clientId"].(string)
	status, got := request(t, "GET", s.url+"/api/v1/admin/oauth-clients/"+cid, admin, nil)
	if status != http.StatusOK || got["clientSecret"] != nil || got["name"] != "api-made" {
		t.Fatalf("admin get: %d %v", status, got)
	}
	cc := clientcredentials.Config{ClientID: cid, ClientSecret: created["clientSecret"].(string), TokenURL: s.url + "/oauth/token"}
	tok, err := cc.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	me := map[string]string{"Authorization": "Bearer " + tok.AccessToken}
	if status, _ := request(t, "GET", s.url+"/api/v1/users/me", me, nil); status != http.StatusOK {
		t.Fatalf("whoami: %d", status)
	}
	// Tokens are accepted wherever API keys are, and API keys do not manage
	// keys or administer: a real token there is 403, not 401.
	for _, path := range []string{"/api/v1/admin/tenants", "/api/v1/auth/api-keys"} {
		if status, body := request(t, "GET", s.url+path, me, nil); status != http.StatusForbidden {
			t.Fatalf("token on %s: %d %v; want 403", path, status, body)
		}
	}
	status, rotated := request(t, "POST", s.url+"/api/v1/admin/oauth-clients/"+cid+"/rotate-secret", admin, nil)
	if status != http.StatusOK || rotated["clientSecret"] == nil || rotated["clientSecret"] == created["clientSecret"] {
		t.Fatalf("rotate-secret: %d %v", status, rotated)
	}
	if _, err := cc.Token(t.Context()); err == nil {
		t.Fatal("the old secret still gets tokens")
	}
	status, patched := request(t, "PATCH", s.url+"/api/v1/admin/oauth-clients/"+cid, admin, map[string]any{"disabled": true})
	if status != http.StatusOK || patched["disabled"] != true {
		t.Fatalf("disable: %d %v", status, patched)
	}
	if status, _ := request(t, "GET", s.url+"/api/v1/users/me", me, nil); status != http.StatusUnauthorized {
		t.Fatalf("whoami with a disabled client's token: %d", status)
	}
	status, list := requestArray(t, s.url+"/api/v1/admin/oauth-clients", admin)
	if status != http.StatusOK || len(list) != 2 {
		t.Fatalf("admin list: %d %v", status, list)
	}
	if status, _ := request(t, "DELETE", s.url+"/api/v1/admin/oauth-clients/"+cid, admin, nil); status != http.StatusOK {
		t.Fatalf("admin delete: %d", status)
	}
	if status, _ := request(t, "GET", s.url+"/api/v1/admin/oauth-clients/"+cid, admin, nil); status != http.StatusNotFound {
		t.Fatalf("get after delete: %d", status)
	}

	// Rotation by the CLI while serving: the JWK Set lists the new key
	// within a second, first, and the old one still signs (the new one
	// signs from oauth.PublishLead on: see the oauth package's tests).
	kid := strings.TrimSpace(mustRun(t, e, "", "signing-keys", "rotate").stdout)
	var jwks map[string]any
	for range 30 {
		var status int
		status, jwks = request(t, "GET", s.url+"/.well-known/jwks.json", nil, nil)
		if keys, _ := jwks["keys"].([]any); status == http.StatusOK && len(keys) == 2 && keys[0].(map[string]any)["kid"] == kid {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if keys, _ := jwks["keys"].([]any); len(keys) != 2 || keys[0].(map[string]any)["kid"] != kid {
		t.Fatalf("JWKS 3 s after rotation: %v; want the new key %s first, then the old", jwks, kid)
	}
	cc = clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.url + "/oauth/token"}
	tok, err = cc.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if jwtHeader(t, tok.AccessToken)["kid"] == kid {
		t.Fatalf("a token signed with the new key %s right after its rotation", kid)
	}
	if status, _ := request(t, "GET", s.url+"/api/v1/users/me", map[string]string{"Authorization": "Bearer " + tok.AccessToken}, nil); status != http.StatusOK {
		t.Fatalf("whoami with a token signed after the rotation: %d", status)
	}

	if strings.Contains(s.stderr.String(), secret) || strings.Contains(s.stderr.String(), tok.AccessToken) {
		t.Error("a client secret or access token reached the server log")
	}
}

// jwtHeader decodes the header of a compact JWT.
func jwtHeader(t *testing.T, token string) map[string]any {
	t.Helper()
	first, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(first)
	var header map[string]any
	if err == nil {
		err = json.Unmarshal(raw, &header)
	}
	if err != nil {
		t.Fatalf("JWT header of %q: %v", token, err)
	}
	return header
}

func requestArray(t *testing.T, url string, header map[string]string) (int, []any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out []any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}
