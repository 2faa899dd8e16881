package oauth

import (
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

const formType = "application/x-www-form-urlencoded"

func TestStatusOfEveryErrorCode(t *testing.T) {
	// RFC 6749 §5.2: 400 unless specified; invalid_client may be 401 and
	// is, always, with a Basic challenge.
	for code, want := range map[string]int{
		errInvalidRequest:       400,
		errInvalidClient:        401,
		errInvalidGrant:         400, // no grant in client credentials can be invalid: never sent, mapped for completeness
		errUnauthorizedClient:   400,
		errUnsupportedGrantType: 400,
		errInvalidScope:         400,
		errUnsupportedTokenType: 400,
		errInsufficientScope:    403,
		errSlowDown:             429,
		errServerError:          500,
		errUnavailable:          503,
	} {
		if got := statusOf(code); got != want {
			t.Errorf("statusOf(%s) = %d, want %d", code, got, want)
		}
	}
}

func TestParseTokenRequest(t *testing.T) {
	basicAuth := func(user, pass string) []string {
		return []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
	}
	cases := []struct {
		name    string
		ct      string
		auth    []string
		body    string
		id      string
		secret  string
		isBasic bool
		scopes  []string
		code    string
	}{
		{name: "post", ct: formType, body: "grant_type=client_credentials&client_id=c&client_secret=s", id: "c", secret: "s"},
		{name: "basic", ct: formType, auth: basicAuth("c", "s"), body: "grant_type=client_credentials", id: "c", secret: "s", isBasic: true},
		{name: "basic with matching client_id", ct: formType, auth: basicAuth("c", "s"), body: "grant_type=client_credentials&client_id=c", id: "c", secret: "s", isBasic: true},
		{name: "basic is form-decoded", ct: formType, auth: basicAuth("a%2Bb+c", "x%3Ay%25"), body: "grant_type=client_credentials", id: "a+b c", secret: "x:y%", isBasic: true},
		{name: "basic scheme is case-insensitive", ct: formType, auth: []string{"bAsIc " + base64.StdEncoding.EncodeToString([]byte("c:s"))}, body: "grant_type=client_credentials", id: "c", secret: "s", isBasic: true},
		{name: "colon in secret", ct: formType, auth: basicAuth("c", "s:t"), body: "grant_type=client_credentials", id: "c", secret: "s:t", isBasic: true},
		{name: "charset utf-8", ct: formType + "; charset=UTF-8", body: "grant_type=client_credentials&client_id=c&client_secret=s", id: "c", secret: "s"},
		{name: "scopes split, deduplicated, extra spaces ignored", ct: formType, body: "grant_type=client_credentials&client_id=c&client_secret=s&scope=+a:b++c:d+a:b+", id: "c", secret: "s", scopes: []string{"a:b", "c:d"}},
		{name: "empty scope is omitted", ct: formType, body: "grant_type=client_credentials&client_id=c&client_secret=s&scope=", id: "c", secret: "s"},
		{name: "unknown parameters are ignored", ct: formType, body: "grant_type=client_credentials&client_id=c&client_secret=s&audience=x", id: "c", secret: "s"},

		{name: "text/plain", ct: "text/plain", body: "grant_type=client_credentials", code: errInvalidRequest},
		{name: "bad media type", ct: "application/x-www-form-urlencoded; charset", body: "grant_type=client_credentials", code: errInvalidRequest},
		{name: "no grant type", ct: formType, body: "client_id=c&client_secret=s", code: errInvalidRequest},
		{name: "duplicate", ct: formType, body: "grant_type=client_credentials&grant_type=client_credentials", code: errInvalidRequest},
		{name: "other grant", ct: formType, body: "grant_type=password", code: errUnsupportedGrantType},
		{name: "basic empty user", ct: formType, auth: basicAuth("", "s"), body: "grant_type=client_credentials", code: errInvalidClient},
		{name: "basic and post", ct: formType, auth: basicAuth("c", "s"), body: "grant_type=client_credentials&client_secret=s", code: errInvalidRequest},
		{name: "bearer", ct: formType, auth: []string{"Bearer x"}, body: "grant_type=client_credentials", code: errInvalidClient},
		{name: "bad scope", ct: formType, body: "grant_type=client_credentials&client_id=c&client_secret=s&scope=%22", code: errInvalidScope},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, oerr := parseTokenRequest(c.ct, c.auth, []byte(c.body))
			if c.code != "" {
				if oerr == nil || oerr.code != c.code {
					t.Fatalf("error = %v, want %s", oerr, c.code)
				}
				return
			}
			if oerr != nil {
				t.Fatalf("error = %v", oerr)
			}
			if req.clientID != c.id || req.clientSecret != c.secret || req.basic != c.isBasic || !slices.Equal(req.scopes, c.scopes) {
				t.Fatalf("got %+v", req)
			}
		})
	}
}

func TestCleanDescriptions(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                   "plain",
		`q"uote\back`:             "q?uote?back",
		"new\nline\ttab":          "new?line?tab",
		"é":                       "??",
		strings.Repeat("x", 100):  strings.Repeat("x", 64) + "...",
		"scope 'a' is not valid.": "scope 'a' is not valid.",
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseTokenRequest feeds hostile content types, Authorization headers
// and bodies to the token request parser: it must never panic, and what it
// accepts or refuses must make sense.
func FuzzParseTokenRequest(f *testing.F) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	f.Add(formType, "", "grant_type=client_credentials&client_id=c&client_secret=s&scope=a+b")
	f.Add(formType, "Basic "+b64("c:s"), "grant_type=client_credentials")
	f.Add(formType, "Basic "+b64("c%3A:s%zz"), "grant_type=client_credentials")
	f.Add(formType+"; charset=utf-8", "Basic "+b64("c:s"), "grant_type=client_credentials&client_id=c")
	f.Add("multipart/form-data", "Bearer x", "grant_type=client_credentials;x=y")
	f.Add(formType, "Basic", "grant_type=client_credentials&grant_type=x&%ff=%fe")
	f.Add(formType, "Basic "+b64(":"), "scope=%22&grant_type=client_credentials&client_id=&client_secret=s")
	f.Fuzz(func(t *testing.T, contentType, authorization, body string) {
		var auth []string
		if authorization != "" {
			auth = []string{authorization}
		}
		req, oerr := parseTokenRequest(contentType, auth, []byte(body))
		if oerr != nil {
			if req != nil && oerr.code != errInvalidClient && oerr.code != errInvalidScope {
				t.Fatalf("a request came back with %s", oerr.code)
			}
			switch oerr.code {
			case errInvalidRequest, errInvalidClient, errUnsupportedGrantType, errInvalidScope:
			default:
				t.Fatalf("unexpected error code %q", oerr.code)
			}
			for _, c := range []byte(clean(oerr.description)) {
				if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
					t.Fatalf("description %q has a disallowed character", oerr.description)
				}
			}
			return
		}
		vals, err := url.ParseQuery(body)
		if err != nil || vals.Get("grant_type") != "client_credentials" || len(vals["grant_type"]) != 1 {
			t.Fatalf("accepted a body without exactly one grant_type=client_credentials: %q", body)
		}
		if req.clientID == "" || req.clientSecret == "" {
			t.Fatalf("accepted without credentials: %+v", req)
		}
		if req.basic == (auth == nil) {
			t.Fatalf("basic = %v with Authorization %q", req.basic, authorization)
		}
		if req.basic && vals.Has("client_secret") && vals.Get("client_secret") != "" {
			t.Fatal("accepted two authentication methods")
		}
		if !utf8.ValidString(req.clientID) || !utf8.ValidString(req.clientSecret) {
			t.Fatal("accepted invalid UTF-8 credentials")
		}
		for _, sc := range req.scopes {
			if sc == "" || strings.ContainsAny(sc, " \"\\") {
				t.Fatalf("accepted scope %q", sc)
			}
		}
	})
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "latchkey.db.kek")
	k1, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, err := LoadOrCreateKeyFile(path)
	if err != nil || string(k1) != string(k2) || len(k1) != KeySize {
		t.Fatalf("second load: %x %v, want %x", k2, err, k1)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKeyFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key file: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "bad"), []byte("not hex"), 0o600)
	if _, err := LoadOrCreateKeyFile(filepath.Join(dir, "bad")); err == nil {
		t.Fatal("accepted a malformed key file")
	}

	// Concurrent first starts agree on one key and leave no temp files.
	fresh := filepath.Join(dir, "fresh.kek")
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := LoadOrCreateKeyFile(fresh)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys {
		if string(k) != string(keys[0]) {
			t.Fatal("concurrent creators got different keys")
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
}

func TestSealer(t *testing.T) {
	kek := make([]byte, KeySize)
	s, err := newSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.seal("kid1", []byte("private"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "private") {
		t.Fatal("sealed value contains the plaintext")
	}
	if out, err := s.open("kid1", sealed); err != nil || string(out) != "private" {
		t.Fatalf("open: %q %v", out, err)
	}
	if _, err := s.open("kid2", sealed); err == nil {
		t.Fatal("a sealed key opened under another kid")
	}
	other := make([]byte, KeySize)
	other[0] = 1
	s2, _ := newSealer(other)
	if _, err := s2.open("kid1", sealed); err == nil {
		t.Fatal("a sealed key opened with another key-encryption key")
	}
	for _, bad := range [][]byte{nil, {1}, append([]byte{2}, sealed[1:]...)} {
		if _, err := s.open("kid1", bad); err == nil {
			t.Fatalf("opened %x", bad)
		}
	}
}
