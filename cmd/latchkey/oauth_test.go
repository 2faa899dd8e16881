package main

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

var clientLineRE = regexp.MustCompile(`^\{"clientId": "client_[a-z2-7]{24}", "clientSecret": "[a-z0-9]{1,12}_secret_[0-9A-Za-z]{32}"\}\n$`)

// createClient runs `oauth-clients create` and returns the client's ID and
// secret, checking that stdout is exactly the documented JSON line.
func createClient(t *testing.T, e env, args ...string) (string, string) {
	t.Helper()
	r := mustRun(t, e, "", append([]string{"oauth-clients", "create"}, args...)...)
	if !clientLineRE.MatchString(r.stdout) {
		t.Fatalf("stdout = %q; want exactly {\"clientId\": …, \"clientSecret\": …}", r.stdout)
	}
	var out struct{ ClientID, ClientSecret string }
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.stderr, out.ClientSecret) || !strings.Contains(r.stderr, out.ClientID) {
		t.Errorf("stderr = %q; want a note naming the client and not its secret", r.stderr)
	}
	return out.ClientID, out.ClientSecret
}

func TestOAuthClientsCreate(t *testing.T) {
	e, dbPath := newEnv(t)
	createClient(t, e, "--name", "worker", "--scopes", "messages:send,messages:read")
	mustRun(t, e, "", "tenants", "create", "--id", "t1", "--name", "Acme")
	createClient(t, e, "--name", "tenant worker", "--scopes", "a", "--tenant", "t1")

	mustFail(t, e, "", "--scopes is required", "oauth-clients", "create", "--name", "x")
	mustFail(t, e, "", "--name is required", "oauth-clients", "create", "--scopes", "a")
	r := mustFail(t, e, "", `tenant "nope" does not exist`, "oauth-clients", "create", "--name", "x", "--scopes", "a", "--tenant", "nope")
	if r.stdout != "" {
		t.Errorf("a failed create printed %q", r.stdout)
	}
	mustFail(t, e, "", "not a valid permission", "oauth-clients", "create", "--name", "x", "--scopes", "a b")

	// The key-encryption key is not needed to create clients: no file yet.
	if _, err := os.Stat(dbPath + ".kek"); err == nil {
		t.Errorf("oauth-clients create made a key-encryption key file")
	}
}

func TestSigningKeysRotate(t *testing.T) {
	e, dbPath := newEnv(t)
	r := mustRun(t, e, "", "signing-keys", "rotate")
	kid := strings.TrimSuffix(r.stdout, "\n")
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(kid) || strings.Count(r.stdout, "\n") != 1 {
		t.Fatalf("stdout = %q; want the new kid alone", r.stdout)
	}
	fi, err := os.Stat(dbPath + ".kek")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key-encryption key file: %v %v", fi, err)
	}
	r2 := mustRun(t, e, "", "signing-keys", "rotate")
	if r2.stdout == r.stdout {
		t.Fatal("two rotations gave the same kid")
	}
}
