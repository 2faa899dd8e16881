package main

import (
	"flag"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/apikey"
)

// loadFrom resolves the configuration from an environment and flags, the
// way every command does.
func loadFrom(t *testing.T, e env, flags ...string) (*config, error) {
	t.Helper()
	sf := settingFlags{}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sf.register(fs)
	if err := fs.Parse(flags); err != nil {
		t.Fatalf("parse %v: %v", flags, err)
	}
	return loadConfig(sf, e.getenv)
}

func TestSettingsCoverTheSpecTable(t *testing.T) {
	// SPEC §2: every variable of the table, and its same-named flag.
	want := []string{
		"LATCHKEY_ADDR", "LATCHKEY_DATABASE_URL", "LATCHKEY_REDIS_URL", "LATCHKEY_KEY_PREFIX",
		"LATCHKEY_ROOT_KEY", "LATCHKEY_PROXY_ADDR", "LATCHKEY_UPSTREAM", "LATCHKEY_TEST_UPSTREAM",
		"LATCHKEY_ROUTES", "LATCHKEY_ERROR_TEMPLATE", "LATCHKEY_REQUIRE_TENANT",
		"LATCHKEY_TRUST_USER_HEADER", "LATCHKEY_TRUSTED_PROXIES", "LATCHKEY_ISSUER", "LATCHKEY_TOKEN_TTL",
	}
	for _, envName := range want {
		i := slices.IndexFunc(settings, func(s setting) bool { return s.env == envName })
		if i < 0 {
			t.Errorf("no setting %s", envName)
			continue
		}
		wantFlag := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(envName, "LATCHKEY_")), "_", "-")
		if settings[i].flag != wantFlag {
			t.Errorf("%s: flag --%s; want --%s", envName, settings[i].flag, wantFlag)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := loadFrom(t, env{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:8080" {
		t.Errorf("Addr = %q", cfg.Addr)
	}
	if cfg.Database != (database{Driver: "sqlite", Path: "latchkey.db"}) {
		t.Errorf("Database = %+v", cfg.Database)
	}
	if cfg.KeyPrefix != "lk" {
		t.Errorf("KeyPrefix = %q", cfg.KeyPrefix)
	}
	if cfg.RequireTenant || cfg.TrustUserHeader {
		t.Errorf("booleans default to true: %+v", cfg)
	}
	wantProxies := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	if !slices.Equal(cfg.TrustedProxies, wantProxies) {
		t.Errorf("TrustedProxies = %v", cfg.TrustedProxies)
	}
	if cfg.Issuer != "http://127.0.0.1:8080" {
		t.Errorf("Issuer = %q", cfg.Issuer)
	}
	if cfg.TokenTTL != time.Hour {
		t.Errorf("TokenTTL = %v", cfg.TokenTTL)
	}
	if cfg.RootKey != "" || cfg.Upstream != nil || cfg.TestUpstream != nil || len(cfg.Inactive) != 0 {
		t.Errorf("unset settings have values: %+v", cfg)
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	routes := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routes, []byte("default: authenticated\n"), 0o600)
	root, _ := apikey.Generate("ops", apikey.Root)
	cfg, err := loadFrom(t, env{
		"LATCHKEY_ADDR":              "0.0.0.0:9000",
		"LATCHKEY_DATABASE_URL":      "sqlite:/var/lib/latchkey/lk.db",
		"LATCHKEY_REDIS_URL":         "redis://:secret@localhost:6379/0",
		"LATCHKEY_KEY_PREFIX":        "tb",
		"LATCHKEY_ROOT_KEY":          root.String(),
		"LATCHKEY_PROXY_ADDR":        ":9001",
		"LATCHKEY_UPSTREAM":          "http://api.internal:8000",
		"LATCHKEY_ROUTES":            routes,
		"LATCHKEY_REQUIRE_TENANT":    "true",
		"LATCHKEY_TRUST_USER_HEADER": "1",
		"LATCHKEY_TRUSTED_PROXIES":   "10.0.0.0/8, 192.168.1.7",
		"LATCHKEY_TOKEN_TTL":         "15m",
		"LATCHKEY_AUDIT_RETENTION":   "90d",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "0.0.0.0:9000" || cfg.Database.Path != "/var/lib/latchkey/lk.db" || cfg.KeyPrefix != "tb" ||
		cfg.RootKey != root.String() || cfg.ProxyAddr != ":9001" || cfg.RoutesFile != routes ||
		!cfg.RequireTenant || !cfg.TrustUserHeader || cfg.TokenTTL != 15*time.Minute ||
		cfg.AuditRetention != 90*24*time.Hour {
		t.Errorf("config = %+v", cfg)
	}
	if cfg.Upstream.String() != "http://api.internal:8000" || cfg.TestUpstream.String() != cfg.Upstream.String() {
		t.Errorf("upstreams = %v, %v; the test upstream defaults to the upstream", cfg.Upstream, cfg.TestUpstream)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32")}; !slices.Equal(cfg.TrustedProxies, want) {
		t.Errorf("TrustedProxies = %v; want %v", cfg.TrustedProxies, want)
	}
	if cfg.Issuer != "http://localhost:9000" {
		t.Errorf("Issuer = %q; want the address, naming localhost for 0.0.0.0", cfg.Issuer)
	}
	if cfg.RedisURL != "redis://:secret@localhost:6379/0" {
		t.Errorf("RedisURL not kept")
	}
	if len(cfg.Inactive) != 0 {
		t.Errorf("Inactive = %v; every setting given is in use", cfg.Inactive)
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	e := env{
		"LATCHKEY_ADDR":           "127.0.0.1:1",
		"LATCHKEY_KEY_PREFIX":     "env",
		"LATCHKEY_REQUIRE_TENANT": "true",
		"LATCHKEY_TOKEN_TTL":      "not-a-duration", // a flag replaces a bad value too
	}
	cfg, err := loadFrom(t, e, "--addr", "127.0.0.1:2", "--key-prefix=flag", "--require-tenant=false", "--token-ttl", "2h", "--trust-user-header")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:2" || cfg.KeyPrefix != "flag" || cfg.RequireTenant || cfg.TokenTTL != 2*time.Hour {
		t.Errorf("config = %+v; want the flags' values", cfg)
	}
	if !cfg.TrustUserHeader {
		t.Error("a bare boolean flag means true")
	}
}

func TestConfigRejectsBadValues(t *testing.T) {
	dir := t.TempDir()
	malformedRoot := "lk_root_" + strings.Repeat("A", 32) // bad checksum
	live, _ := apikey.Generate("lk", apikey.Live)
	tests := []struct {
		name string
		env  env
		want string
		// secret must not appear in the error.
		secret string
	}{
		{"key prefix with upper case", env{"LATCHKEY_KEY_PREFIX": "LK"}, "LATCHKEY_KEY_PREFIX: \"LK\" is not a valid key prefix", ""},
		{"key prefix too long", env{"LATCHKEY_KEY_PREFIX": "abcdefghijklm"}, "not a valid key prefix", ""},
		{"key prefix with underscore", env{"LATCHKEY_KEY_PREFIX": "a_b"}, "not a valid key prefix", ""},
		{"address without port", env{"LATCHKEY_ADDR": "localhost"}, "LATCHKEY_ADDR", ""},
		{"address with bad port", env{"LATCHKEY_ADDR": "127.0.0.1:http99"}, "port must be a number", ""},
		{"postgres URL that does not parse", env{"LATCHKEY_DATABASE_URL": "postgres://u:hunter22@db:port/latchkey"}, "not a valid postgres://", "hunter22"},
		{"secret key file missing", env{"LATCHKEY_SECRET_KEY_FILE": filepath.Join(dir, "nope.key")}, "LATCHKEY_SECRET_KEY_FILE: cannot read", ""},
		{"sqlite double slash", env{"LATCHKEY_DATABASE_URL": "sqlite://x.db"}, "not sqlite://", ""},
		{"sqlite without path", env{"LATCHKEY_DATABASE_URL": "sqlite:"}, "needs a file path", ""},
		{"unknown database", env{"LATCHKEY_DATABASE_URL": "mysql://u:hunter22@db"}, "must be sqlite:PATH or postgres://", "hunter22"},
		{"redis URL", env{"LATCHKEY_REDIS_URL": "http://:hunter22@cache"}, "LATCHKEY_REDIS_URL", "hunter22"},
		{"malformed root key", env{"LATCHKEY_ROOT_KEY": malformedRoot}, "LATCHKEY_ROOT_KEY: not a well-formed root key", malformedRoot},
		{"live key as root key", env{"LATCHKEY_ROOT_KEY": live.String()}, "not a well-formed root key", live.String()},
		{"boolean yes", env{"LATCHKEY_REQUIRE_TENANT": "yes"}, "LATCHKEY_REQUIRE_TENANT: \"yes\" must be true or false", ""},
		{"boolean typo", env{"LATCHKEY_TRUST_USER_HEADER": "ture"}, "LATCHKEY_TRUST_USER_HEADER", ""},
		{"bad CIDR", env{"LATCHKEY_TRUSTED_PROXIES": "10.0.0.0/33"}, "is not a CIDR", ""},
		{"bad token TTL", env{"LATCHKEY_TOKEN_TTL": "forever"}, "LATCHKEY_TOKEN_TTL", ""},
		{"zero token TTL", env{"LATCHKEY_TOKEN_TTL": "0s"}, "positive duration", ""},
		{"upstream not a URL", env{"LATCHKEY_UPSTREAM": "api.internal"}, "LATCHKEY_UPSTREAM", ""},
		{"test upstream not http", env{"LATCHKEY_TEST_UPSTREAM": "ftp://x"}, "LATCHKEY_TEST_UPSTREAM", ""},
		{"proxy without upstream", env{"LATCHKEY_PROXY_ADDR": ":9001"}, "needs LATCHKEY_UPSTREAM", ""},
		{"proxy on the main address", env{"LATCHKEY_PROXY_ADDR": "127.0.0.1:8080", "LATCHKEY_UPSTREAM": "http://x"}, "must differ", ""},
		{"routes file missing", env{"LATCHKEY_ROUTES": filepath.Join(dir, "nope.yaml")}, "LATCHKEY_ROUTES: cannot read", ""},
		{"error template is a directory", env{"LATCHKEY_ERROR_TEMPLATE": dir}, "is a directory", ""},
		{"issuer with query", env{"LATCHKEY_ISSUER": "https://auth.example.com?x=1"}, "LATCHKEY_ISSUER", ""},
		{"audit retention without a unit", env{"LATCHKEY_AUDIT_RETENTION": "90"}, "LATCHKEY_AUDIT_RETENTION: \"90\" must be a duration of a day or more", ""},
		{"audit retention under a day", env{"LATCHKEY_AUDIT_RETENTION": "30m"}, "a day or more", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadFrom(t, tt.env)
			if err == nil {
				t.Fatalf("accepted; want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q; want it to contain %q", err, tt.want)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q repeats the secret value", err)
			}
		})
	}
}

func TestConfigReportsEveryProblemAtOnce(t *testing.T) {
	_, err := loadFrom(t, env{"LATCHKEY_KEY_PREFIX": "BAD", "LATCHKEY_TOKEN_TTL": "x"})
	if err == nil || !strings.Contains(err.Error(), "LATCHKEY_KEY_PREFIX") || !strings.Contains(err.Error(), "LATCHKEY_TOKEN_TTL") {
		t.Fatalf("error %v; want both settings named", err)
	}
}

func TestConfigErrorNamesTheFlagItCameFrom(t *testing.T) {
	_, err := loadFrom(t, env{}, "--key-prefix", "BAD")
	if err == nil || !strings.Contains(err.Error(), "--key-prefix") {
		t.Fatalf("error %v; want it to name --key-prefix", err)
	}
}

func TestRateLimitSettings(t *testing.T) {
	cfg, err := loadConfig(settingFlags{"failed-auth-limit": "5/30s"}, env{"LATCHKEY_DEFAULT_RATE_LIMIT": "1000/1m"}.getenv)
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.Limits.DefaultKey; d == nil || d.Limit != 1000 || d.Window != time.Minute {
		t.Fatalf("default key limit = %+v", d)
	}
	if f := cfg.Limits.FailedAuth; f.Limit != 5 || f.Window != 30*time.Second {
		t.Fatalf("failed-auth limit = %+v", f)
	}
	if m := cfg.Limits.Management; m.Limit != 600 || m.Window != time.Minute {
		t.Fatalf("management limit default = %+v", m)
	}
	for _, bad := range []string{"1000", "x/1m", "10/soon", "0/1m", "5/1ms", "-1/1m", "10/1m/2"} {
		if _, err := loadConfig(settingFlags{"default-rate-limit": bad}, env{}.getenv); err == nil || !strings.Contains(err.Error(), "--default-rate-limit") {
			t.Errorf("--default-rate-limit %q: %v", bad, err)
		}
	}
}
