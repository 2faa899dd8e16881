package oauth_test

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/oauth"
)

// No client secret, access token or private signing key may be found in
// the database file (SPEC §13) or in the logs, in any common encoding.
func TestNoSecretsAtRestOrInLogs(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	var secrets []string  // printable secrets
	var binaries [][]byte // raw key material

	addKey := func() {
		_, priv, der := oauth.ActiveKey(t, e.oauth)
		d, err := priv.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		binaries = append(binaries, der, d)
		secrets = append(secrets,
			base64.RawURLEncoding.EncodeToString(d), base64.StdEncoding.EncodeToString(der), hex.EncodeToString(d))
	}
	addKey()

	id, secret := e.client("svc", "t1", "a", "b")
	secrets = append(secrets, secret)
	_, rotated, err := e.svc.RotateOAuthClientSecret(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, rotated)
	_, root, err := e.svc.CreateRootKey(ctx, "root", []string{latchkey.ScopeAll})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, root)

	tok := e.token(id, rotated)
	secrets = append(secrets, tok, strings.Split(tok, ".")[2])
	e.post("/oauth/introspect", "token="+tok, "Authorization", "Bearer "+root)
	e.post("/oauth/revoke", "token="+tok, "Authorization", basic(id, rotated))
	// Failures with secrets in every place a client might put them.
	e.post("/oauth/token", "grant_type=client_credentials&client_id="+id+"&client_secret="+secret)
	e.post("/oauth/token", "grant_type=client_credentials", "Authorization", basic(id, secret))
	e.post("/oauth/token", "grant_type=password&password="+rotated, "Authorization", basic(id, rotated))

	if _, err := e.oauth.RotateSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	addKey()
	tok2 := e.token(id, rotated)
	secrets = append(secrets, tok2)

	// Server-side failures are logged with their cause: make some.
	e.db.Close()
	e.post("/oauth/token", "grant_type=client_credentials", "Authorization", basic(id, rotated))
	e.post("/oauth/introspect", "token="+tok2, "Authorization", basic(id, rotated))
	e.post("/oauth/revoke", "token="+tok2, "Authorization", basic(id, rotated))
	e.get("/whoami", "Authorization", "Bearer "+tok2)

	var dump []byte
	files, _ := filepath.Glob(e.dbPath + "*")
	for _, f := range files {
		if strings.HasSuffix(f, ".kek") {
			continue // the key-encryption key lives here, outside the database, on purpose
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dump = append(dump, b...)
	}
	if len(dump) == 0 {
		t.Fatal("no database bytes read")
	}
	kek, err := os.ReadFile(e.dbPath + ".kek")
	if err != nil {
		t.Fatal(err)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "oauth request failed") {
		t.Fatalf("expected failure log lines, got %q", logs)
	}

	for _, s := range secrets {
		if bytes.Contains(dump, []byte(s)) {
			t.Errorf("database holds a secret in plaintext: %.16s...", s)
		}
		if strings.Contains(logs, s) {
			t.Errorf("logs hold a secret: %.16s...", s)
		}
	}
	for _, b := range binaries {
		if bytes.Contains(dump, b) {
			t.Errorf("database holds raw private key material (%d bytes)", len(b))
		}
	}
	for _, k := range [][]byte{kek, e.kek, []byte(hex.EncodeToString(e.kek))} {
		if bytes.Contains(dump, bytes.TrimSpace(k)) {
			t.Error("database holds the key-encryption key")
		}
	}
	// The public keys are there, as they should be: the search works.
	_, priv, _ := oauth.ActiveKey(t, mustReopen(t, e))
	pub, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if !bytes.Contains(dump, pub) {
		t.Error("the public key is not found in the dump: the search is broken")
	}
}

// mustReopen opens a new Server over the same files, which also shows the
// sealed key opens again after a restart.
func mustReopen(t *testing.T, e *env) *oauth.Server {
	t.Helper()
	e2 := *e
	db, err := openDB(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e2.svc = latchkey.NewService(db, latchkey.ServiceConfig{})
	s, err := oauth.New(t.Context(), e2.svc, db, oauth.Config{Issuer: e.url, KeyEncryptionKey: e.kek})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	return s
}
