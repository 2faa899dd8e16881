package oauth_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
)

// FuzzVerifyToken: a bearer token is whatever a client sends. Only a token
// this server issued verifies (a mutation can at most re-encode it, with
// the same claims); anything else is INVALID_API_KEY, never a panic or a
// server error.
func FuzzVerifyToken(f *testing.F) {
	e := newEnv(f)
	id, secret := e.client("fuzz", "", "a:b", "c:d")
	issued := e.token(id, secret)
	want, err := e.oauth.VerifyToken(f.Context(), issued)
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(issued, ".")
	if len(parts) != 3 {
		f.Fatalf("issued token %q is not a compact JWS", issued)
	}
	header, payload, signature := parts[0], parts[1], parts[2]
	f.Add(issued)
	f.Add(header + "." + payload + ".")                               // no signature
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + payload + ".") // alg "none"
	f.Add(header + "." + payload + "." + signature[:20])
	f.Add(header + "." + payload + "x." + signature)
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := e.oauth.VerifyToken(t.Context(), raw)
		if err != nil {
			if latchkey.ErrorCode(err) != latchkey.CodeInvalidAPIKey {
				t.Fatalf("VerifyToken(%.60q) = %v, want INVALID_API_KEY", raw, err)
			}
			return
		}
		if got.ClientID != want.ClientID || !got.ExpiresAt.Equal(want.ExpiresAt) || !slices.Equal(got.Scopes, want.Scopes) || got.TenantID != want.TenantID {
			t.Fatalf("%.80q verified as %+v; only %+v was issued", raw, got, want)
		}
	})
}
