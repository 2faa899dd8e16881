package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/sqlite"
)

// openService opens the test database directly, to check what commands did.
func openService(t *testing.T, path string) *latchkey.Service {
	t.Helper()
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return latchkey.NewService(db, latchkey.ServiceConfig{})
}

// listedKey is the SPEC §7 key object as `keys list --json` prints it.
type listedKey struct {
	ID           string         `json:"id"`
	Name         string         `json:"name"`
	Key          string         `json:"key"`
	Environment  string         `json:"environment"`
	Permissions  []string       `json:"permissions"`
	TenantIDs    []string       `json:"tenantIds"`
	OwnerID      string         `json:"ownerId"`
	IsActive     bool           `json:"isActive"`
	ExpiresAt    *string        `json:"expiresAt"`
	RevokedAt    *string        `json:"revokedAt"`
	CreatedAt    string         `json:"createdAt"`
	LastUsedAt   *string        `json:"lastUsedAt"`
	RequestCount int64          `json:"requestCount"`
	RateLimit    map[string]any `json:"rateLimit"`
	Meta         map[string]any `json:"meta"`
}

// listKeys returns a user's keys through `keys list --json`.
func listKeys(t *testing.T, e env, user string) []listedKey {
	t.Helper()
	r := mustRun(t, e, "", "keys", "list", "--user", user, "--json")
	var keys []listedKey
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	for dec.More() {
		var k listedKey
		if err := dec.Decode(&k); err != nil {
			t.Fatalf("keys list --json: %v\n%s", err, r.stdout)
		}
		keys = append(keys, k)
	}
	return keys
}

func TestMigrateCreatesTheDatabase(t *testing.T) {
	e, path := newEnv(t)
	r := mustRun(t, e, "", "migrate")
	if r.stdout != "" {
		t.Errorf("stdout = %q; want nothing", r.stdout)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}
	mustRun(t, e, "", "migrate") // idempotent
}

func TestRootKeysCreate(t *testing.T) {
	e, path := newEnv(t)
	t.Run("prints only the key, with scope * by default", func(t *testing.T) {
		r := mustRun(t, e, "", "root-keys", "create", "--name", "ci")
		key := secretOnly(t, r.stdout)
		if !strings.HasPrefix(key, "lk_root_") {
			t.Errorf("key %q; want an lk_root_ key", key)
		}
		if strings.Contains(r.stderr, key) {
			t.Errorf("stderr repeats the key: %s", r.stderr)
		}
		rk, err := openService(t, path).AuthenticateRoot(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		if !rk.HasScope(latchkey.ScopeAdmin) || rk.Name != "ci" {
			t.Errorf("root key %+v; want name ci with scope *", rk)
		}
	})
	t.Run("with scopes", func(t *testing.T) {
		r := mustRun(t, e, "", "root-keys", "create", "--name", "verifier", "--scopes", "keys:verify")
		rk, err := openService(t, path).AuthenticateRoot(context.Background(), secretOnly(t, r.stdout))
		if err != nil {
			t.Fatal(err)
		}
		if !rk.HasScope(latchkey.ScopeVerify) || rk.HasScope(latchkey.ScopeAdmin) {
			t.Errorf("scopes = %v; want only keys:verify", rk.Scopes)
		}
	})
	t.Run("key prefix from the environment", func(t *testing.T) {
		r := mustRun(t, e.with("LATCHKEY_KEY_PREFIX", "acme"), "", "root-keys", "create", "--name", "x")
		if key := secretOnly(t, r.stdout); !strings.HasPrefix(key, "acme_root_") {
			t.Errorf("key %q; want prefix acme", key)
		}
	})
	t.Run("missing name", func(t *testing.T) {
		r := mustFail(t, e, "", "--name is required", "root-keys", "create")
		if r.stdout != "" {
			t.Errorf("stdout = %q on failure", r.stdout)
		}
	})
	t.Run("unknown scope", func(t *testing.T) {
		mustFail(t, e, "", `"keys:fly" is not one of`, "root-keys", "create", "--name", "x", "--scopes", "keys:fly")
	})
	t.Run("bad key prefix", func(t *testing.T) {
		mustFail(t, e.with("LATCHKEY_KEY_PREFIX", "Bad!"), "", "not a valid key prefix", "root-keys", "create", "--name", "x")
	})
}

func TestTenantsCreate(t *testing.T) {
	e, path := newEnv(t)
	r := mustRun(t, e, "", "tenants", "create", "--id", "123", "--name", "Acme")
	if r.stdout != "123\n" {
		t.Errorf("stdout = %q; want the tenant ID", r.stdout)
	}
	tn, err := openService(t, path).Tenant(context.Background(), "123")
	if err != nil || tn.Name != "Acme" {
		t.Fatalf("tenant = %+v, %v", tn, err)
	}

	r = mustRun(t, e, "", "tenants", "create", "--name", "Generated")
	if id := strings.TrimSpace(r.stdout); id == "" || strings.Contains(id, "\n") {
		t.Errorf("stdout = %q; want a generated ID", r.stdout)
	}

	mustFail(t, e, "", "--name is required", "tenants", "create", "--id", "9")
	mustFail(t, e, "", "already exists", "tenants", "create", "--id", "123", "--name", "Again")
	mustFail(t, e, "", "id must be", "tenants", "create", "--id", "has space", "--name", "x")
	mustFail(t, e, "", "unexpected argument", "tenants", "create", "--name", "x", "stray")
}

func TestUsersCreate(t *testing.T) {
	e, path := newEnv(t)
	mustRun(t, e, "", "tenants", "create", "--id", "t1", "--name", "One")
	mustRun(t, e, "", "tenants", "create", "--id", "t2", "--name", "Two")

	t.Run("with login and tenants", func(t *testing.T) {
		r := mustRun(t, e, "correct horse battery\n", "users", "create", "--id", "user-123",
			"--email", "Ann@Example.com", "--password-stdin", "--tenant", "t1", "--tenant", "t2")
		if r.stdout != "user-123\n" {
			t.Errorf("stdout = %q; want the user ID", r.stdout)
		}
		if strings.Contains(r.stdout+r.stderr, "correct horse") {
			t.Error("the password was printed")
		}
		svc := openService(t, path)
		u, err := svc.CheckPassword(context.Background(), "ann@example.com", "correct horse battery")
		if err != nil {
			t.Fatalf("sign in with the password from stdin, newline trimmed: %v", err)
		}
		if u.ID != "user-123" || strings.Join(u.TenantIDs, ",") != "t1,t2" {
			t.Errorf("user = %+v", u)
		}
	})
	t.Run("CRLF is trimmed too", func(t *testing.T) {
		mustRun(t, e, "windows-pass\r\n", "users", "create", "--id", "win", "--email", "w@example.com", "--password-stdin")
		if _, err := openService(t, path).CheckPassword(context.Background(), "w@example.com", "windows-pass"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("only the first line is the password", func(t *testing.T) {
		mustRun(t, e, "first-line-pass\nignored\n", "users", "create", "--id", "lines", "--email", "l@example.com", "--password-stdin")
		if _, err := openService(t, path).CheckPassword(context.Background(), "l@example.com", "first-line-pass"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("too long a password", func(t *testing.T) {
		mustFail(t, e, strings.Repeat("p", 300), "at most 256 characters", "users", "create", "--id", "long", "--email", "long@example.com", "--password-stdin")
	})
	t.Run("comma-separated tenants", func(t *testing.T) {
		mustRun(t, e, "", "users", "create", "--id", "u-comma", "--tenant", "t2,t1")
		u, err := openService(t, path).User(context.Background(), "u-comma")
		if err != nil || strings.Join(u.TenantIDs, ",") != "t2,t1" {
			t.Fatalf("user = %+v, %v", u, err)
		}
	})
	t.Run("without login", func(t *testing.T) {
		r := mustRun(t, e, "", "users", "create", "--id", "bot")
		if r.stdout != "bot\n" {
			t.Errorf("stdout = %q", r.stdout)
		}
	})
	t.Run("generated ID", func(t *testing.T) {
		r := mustRun(t, e, "", "users", "create")
		if !strings.HasPrefix(r.stdout, "user_") {
			t.Errorf("stdout = %q; want a generated user ID", r.stdout)
		}
	})
	t.Run("unknown tenant", func(t *testing.T) {
		mustFail(t, e, "", `tenant "nope" does not exist`, "users", "create", "--id", "u2", "--tenant", "nope")
	})
	t.Run("duplicate ID", func(t *testing.T) {
		mustFail(t, e, "", "exists", "users", "create", "--id", "bot")
	})
	t.Run("password without email", func(t *testing.T) {
		mustFail(t, e, "secret-password\n", "--password-stdin needs --email", "users", "create", "--id", "u3", "--password-stdin")
	})
	t.Run("empty password", func(t *testing.T) {
		mustFail(t, e, "\n", "no password", "users", "create", "--id", "u4", "--email", "u4@example.com", "--password-stdin")
	})
	t.Run("short password", func(t *testing.T) {
		r := mustFail(t, e, "tiny\n", "password must be", "users", "create", "--id", "u5", "--email", "u5@example.com", "--password-stdin")
		if strings.Contains(r.err.Error()+r.stderr+r.stdout, "tiny") {
			t.Error("the password was echoed")
		}
	})
	t.Run("bad email", func(t *testing.T) {
		mustFail(t, e, "", "not a valid address", "users", "create", "--id", "u6", "--email", "not-an-email")
	})
}

func TestKeysCreate(t *testing.T) {
	e, _ := newEnv(t)
	mustRun(t, e, "", "tenants", "create", "--id", "123", "--name", "Acme")
	mustRun(t, e, "", "tenants", "create", "--id", "456", "--name", "Other")
	mustRun(t, e, "", "users", "create", "--id", "user-123", "--tenant", "123")

	t.Run("defaults", func(t *testing.T) {
		r := mustRun(t, e, "", "keys", "create", "--user", "user-123", "--name", "My App")
		key := secretOnly(t, r.stdout)
		if !strings.HasPrefix(key, "lk_live_") {
			t.Errorf("key %q; want a live key", key)
		}
		if strings.Contains(r.stderr, key) {
			t.Errorf("stderr repeats the key: %s", r.stderr)
		}
	})
	t.Run("test key with permissions and tenant", func(t *testing.T) {
		r := mustRun(t, e, "", "keys", "create", "--user", "user-123", "--name", "Sandbox",
			"--env", "test", "--permissions", "messages:send, messages:read", "--tenant", "123")
		key := secretOnly(t, r.stdout)
		if !strings.HasPrefix(key, "lk_test_") {
			t.Errorf("key %q; want a test key", key)
		}
		keys := listKeys(t, e, "user-123")
		k := keys[0] // newest first
		if k.Name != "Sandbox" || k.Environment != "test" ||
			strings.Join(k.Permissions, ",") != "messages:send,messages:read" ||
			strings.Join(k.TenantIDs, ",") != "123" {
			t.Errorf("listed key = %+v", k)
		}
	})
	t.Run("flag overrides environment", func(t *testing.T) {
		r := mustRun(t, e.with("LATCHKEY_KEY_PREFIX", "fromenv"), "", "keys", "create",
			"--user", "user-123", "--name", "x", "--key-prefix", "fromflag")
		if key := secretOnly(t, r.stdout); !strings.HasPrefix(key, "fromflag_live_") {
			t.Errorf("key %q; want the flag's prefix", key)
		}
	})
	t.Run("settings before the command", func(t *testing.T) {
		r := mustRun(t, e, "", "--key-prefix", "early", "keys", "create", "--user", "user-123", "--name", "x")
		if key := secretOnly(t, r.stdout); !strings.HasPrefix(key, "early_live_") {
			t.Errorf("key %q; want the flag's prefix", key)
		}
	})

	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"missing user", []string{"--name", "x"}, "--user is required"},
		{"missing name", []string{"--user", "user-123"}, "--name is required"},
		{"user not found", []string{"--user", "nobody", "--name", "x"}, "not found"},
		{"bad environment", []string{"--user", "user-123", "--name", "x", "--env", "prod"}, `environment must be "live" or "test"`},
		{"tenant the user is not in", []string{"--user", "user-123", "--name", "x", "--tenant", "456"}, `not a member of tenant "456"`},
		{"bad permission", []string{"--user", "user-123", "--name", "x", "--permissions", "a b"}, "not a valid permission"},
		{"unknown flag", []string{"--user", "user-123", "--name", "x", "--bogus"}, "flag provided but not defined: -bogus"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := mustFail(t, e, "", tt.want, append([]string{"keys", "create"}, tt.args...)...)
			if r.stdout != "" {
				t.Errorf("stdout = %q on failure", r.stdout)
			}
		})
	}
	t.Run("bad key prefix", func(t *testing.T) {
		mustFail(t, e.with("LATCHKEY_KEY_PREFIX", "toolongprefix1"), "", "not a valid key prefix",
			"keys", "create", "--user", "user-123", "--name", "x")
	})
	t.Run("bad environment variable", func(t *testing.T) {
		mustFail(t, e.with("LATCHKEY_DATABASE_URL", "mysql://db/x"), "", "must be sqlite:PATH or postgres://",
			"keys", "create", "--user", "user-123", "--name", "x")
	})
}

func TestKeysList(t *testing.T) {
	e, _ := newEnv(t)
	mustRun(t, e, "", "users", "create", "--id", "u1")
	mustRun(t, e, "", "users", "create", "--id", "u2")

	r := mustRun(t, e, "", "keys", "list", "--user", "u1")
	if r.stdout != "" || !strings.Contains(r.stderr, "no keys") {
		t.Errorf("empty list: stdout %q, stderr %q", r.stdout, r.stderr)
	}

	first := secretOnly(t, mustRun(t, e, "", "keys", "create", "--user", "u1", "--name", "First").stdout)
	second := secretOnly(t, mustRun(t, e, "", "keys", "create", "--user", "u1", "--name", "Second", "--env", "test").stdout)
	other := secretOnly(t, mustRun(t, e, "", "keys", "create", "--user", "u2", "--name", "Other").stdout)

	t.Run("table", func(t *testing.T) {
		r := mustRun(t, e, "", "keys", "list", "--user", "u1")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID ") {
			t.Fatalf("table:\n%s", r.stdout)
		}
		if !strings.Contains(lines[1], "Second") || !strings.Contains(lines[2], "First") {
			t.Errorf("want newest first:\n%s", r.stdout)
		}
		for _, secret := range []string{first, second} {
			if strings.Contains(r.stdout, secret) {
				t.Errorf("table shows a full key:\n%s", r.stdout)
			}
			if masked := secret[:strings.LastIndex(secret, "_")+9] + "..."; !strings.Contains(r.stdout, masked) {
				t.Errorf("table lacks the masked key %s:\n%s", masked, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "Other") {
			t.Errorf("table shows another user's key:\n%s", r.stdout)
		}
	})
	t.Run("json lines", func(t *testing.T) {
		keys := listKeys(t, e, "u1")
		if len(keys) != 2 || keys[0].Name != "Second" || keys[1].Name != "First" {
			t.Fatalf("keys = %+v", keys)
		}
		if keys[1].Key != first[:16]+"..." || keys[1].OwnerID != "u1" || !keys[1].IsActive || keys[1].RequestCount != 0 {
			t.Errorf("key = %+v", keys[1])
		}
		if keys[0].Permissions == nil || keys[0].TenantIDs == nil || keys[0].Meta == nil {
			t.Errorf("empty lists must be [] and {}, not null: %+v", keys[0])
		}
		_ = other
	})
	t.Run("unknown user", func(t *testing.T) {
		mustFail(t, e, "", "not found", "keys", "list", "--user", "ghost")
	})
	t.Run("missing user", func(t *testing.T) {
		mustFail(t, e, "", "--user is required", "keys", "list")
	})
}

func TestKeysRevoke(t *testing.T) {
	e, path := newEnv(t)
	mustRun(t, e, "", "users", "create", "--id", "u1")
	secret := secretOnly(t, mustRun(t, e, "", "keys", "create", "--user", "u1", "--name", "k").stdout)
	id := listKeys(t, e, "u1")[0].ID

	r := mustRun(t, e, "", "keys", "revoke", id)
	if r.stdout != "" || !strings.Contains(r.stderr, "revoked key "+id) {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
	if _, err := openService(t, path).AuthenticateKey(context.Background(), secret); latchkey.ErrorCode(err) != latchkey.CodeKeyRevoked {
		t.Errorf("authenticate revoked key: %v; want KEY_REVOKED", err)
	}
	if k := listKeys(t, e, "u1")[0]; k.RevokedAt == nil || k.IsActive {
		t.Errorf("listed key = %+v; want revoked", k)
	}
	table := mustRun(t, e, "", "keys", "list", "--user", "u1").stdout
	if !strings.Contains(table, "revoked") {
		t.Errorf("table does not show the revocation:\n%s", table)
	}

	mustRun(t, e, "", "keys", "revoke", id, "--database-url", e["LATCHKEY_DATABASE_URL"]) // again, flags after the ID: a no-op
	mustFail(t, e, "", "API key not found", "keys", "revoke", "key_nope")
	mustFail(t, e, "", "exactly one key ID", "keys", "revoke")
	mustFail(t, e, "", "exactly one key ID", "keys", "revoke", id, id)
}

func TestVersion(t *testing.T) {
	r := mustRun(t, env{}, "", "version")
	if v := strings.TrimSpace(r.stdout); v == "" || strings.Contains(v, "\n") {
		t.Errorf("stdout = %q; want one line", r.stdout)
	}

	old := version
	version = "v1.2.3"
	defer func() { version = old }()
	if r := mustRun(t, env{}, "", "version"); r.stdout != "v1.2.3\n" {
		t.Errorf("stdout = %q; want the -ldflags version", r.stdout)
	}
}

func TestUsage(t *testing.T) {
	t.Run("no arguments", func(t *testing.T) {
		r := mustFail(t, env{}, "", "no command")
		if !strings.Contains(r.stderr, "Usage: latchkey") || r.stdout != "" {
			t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
		}
	})
	t.Run("help", func(t *testing.T) {
		for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
			r := mustRun(t, env{}, "", args...)
			if !strings.Contains(r.stderr, "keys create --user ID --name N") || !strings.Contains(r.stderr, "LATCHKEY_TRUSTED_PROXIES") || r.stdout != "" {
				t.Errorf("%v: stdout %q, stderr %q", args, r.stdout, r.stderr)
			}
		}
	})
	t.Run("help for a command", func(t *testing.T) {
		for _, args := range [][]string{{"help", "keys", "create"}, {"keys", "create", "-h"}} {
			r := mustRun(t, env{}, "", args...)
			if !strings.Contains(r.stderr, "--permissions") || !strings.Contains(r.stderr, "--tenant") {
				t.Errorf("%v: stderr %q", args, r.stderr)
			}
		}
	})
	t.Run("unknown command", func(t *testing.T) {
		r := mustFail(t, env{}, "", `unknown command "frobnicate"`, "frobnicate")
		if !strings.Contains(r.stderr, "Usage: latchkey") {
			t.Errorf("stderr %q", r.stderr)
		}
	})
	t.Run("group without subcommand", func(t *testing.T) {
		mustFail(t, env{}, "", `"keys" needs a subcommand`, "keys")
		mustFail(t, env{}, "", `unknown command "keys delete"`, "keys", "delete", "x")
	})
}
