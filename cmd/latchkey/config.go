package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apikey"
	"github.com/latchkey/latchkey/oauth"
	"github.com/latchkey/latchkey/postgres"
)

// setting is one configuration value (SPEC §2): an environment variable and
// the flag of the same name. A flag wins over the environment, which wins
// over the default.
type setting struct {
	env    string
	flag   string
	def    string // shown in help; "" when unset or computed
	usage  string
	isBool bool
	// active is false for settings that are parsed and validated (so a typo
	// fails at start-up) but that no feature of this build uses yet; serve
	// warns when one is set.
	active bool
}

var settings = []setting{
	{env: "LATCHKEY_ADDR", flag: "addr", def: "127.0.0.1:8080", active: true,
		usage: "listen address of the management API, verify, forward auth and dashboard"},
	{env: "LATCHKEY_DATABASE_URL", flag: "database-url", def: "sqlite:latchkey.db", active: true,
		usage: "database: sqlite:PATH or postgres://…"},
	{env: "LATCHKEY_REDIS_URL", flag: "redis-url", active: true,
		usage: "Redis for rate limits shared across nodes (redis://[:PASSWORD@]HOST:PORT[/DB])"},
	{env: "LATCHKEY_SECRET_KEY_FILE", flag: "secret-key-file", active: true,
		usage: "file of 64 hex digits, the key that encrypts OAuth signing keys; required with PostgreSQL, the same file on every node (default with SQLite: the database path + .kek, created on first start)"},
	{env: "LATCHKEY_KEY_PREFIX", flag: "key-prefix", def: "lk", active: true,
		usage: "prefix of issued keys, [a-z0-9]{1,12}"},
	{env: "LATCHKEY_ROOT_KEY", flag: "root-key", active: true,
		usage: "a root key (scope *) with exactly this value exists; prefer the variable, flags show in ps"},
	{env: "LATCHKEY_PROXY_ADDR", flag: "proxy-addr", active: true,
		usage: "listen address of the reverse proxy"},
	{env: "LATCHKEY_UPSTREAM", flag: "upstream", active: true,
		usage: "URL the proxy forwards live-key requests to"},
	{env: "LATCHKEY_TEST_UPSTREAM", flag: "test-upstream", active: true,
		usage: "URL the proxy forwards test-key requests to (default: the upstream)"},
	{env: "LATCHKEY_ROUTES", flag: "routes", active: true,
		usage: "routes file for forward auth and the proxy"},
	{env: "LATCHKEY_ERROR_TEMPLATE", flag: "error-template", active: true,
		usage: "text/template file that renders error bodies"},
	{env: "LATCHKEY_REQUIRE_TENANT", flag: "require-tenant", def: "false", isBool: true, active: true,
		usage: "refuse keys linked to no tenant (403 API_KEY_NO_TENANT)"},
	{env: "LATCHKEY_TRUST_USER_HEADER", flag: "trust-user-header", def: "false", isBool: true, active: true,
		usage: "accept a bare x-user-id from trusted proxies"},
	{env: "LATCHKEY_TRUSTED_PROXIES", flag: "trusted-proxies", def: "127.0.0.1/32,::1/128", active: true,
		usage: "comma-separated CIDRs whose X-Forwarded-For and x-user-id are believed"},
	{env: "LATCHKEY_ISSUER", flag: "issuer", active: true,
		usage: "OAuth iss (default: http://<addr>)"},
	{env: "LATCHKEY_TOKEN_TTL", flag: "token-ttl", def: "1h", active: true,
		usage: "OAuth access-token lifetime"},
	// Beyond SPEC §2's table: the limits a deployment may want to tune.
	{env: "LATCHKEY_DEFAULT_RATE_LIMIT", flag: "default-rate-limit", active: true,
		usage: "rate limit for keys and OAuth clients without their own, LIMIT/WINDOW such as 1000/1m (default: none)"},
	{env: "LATCHKEY_FAILED_AUTH_LIMIT", flag: "failed-auth-limit", def: "60/1m", active: true,
		usage: "failed authentications allowed per client address, LIMIT/WINDOW"},
	{env: "LATCHKEY_MANAGEMENT_RATE_LIMIT", flag: "management-rate-limit", def: "600/1m", active: true,
		usage: "management API requests allowed per user, LIMIT/WINDOW"},
	{env: "LATCHKEY_AUDIT_RETENTION", flag: "audit-retention", active: true,
		usage: "delete audit events older than this, such as 365d (default: keep them forever)"},
}

// config is the validated configuration.
type config struct {
	Addr            string
	Database        database
	SecretKeyFile   string // "" for the .kek file beside a SQLite database
	RedisURL        string
	KeyPrefix       string
	RootKey         string
	ProxyAddr       string
	Upstream        *url.URL
	TestUpstream    *url.URL
	RoutesFile      string
	ErrorTemplate   string
	RequireTenant   bool
	TrustUserHeader bool
	TrustedProxies  []netip.Prefix
	Issuer          string
	TokenTTL        time.Duration
	Limits          latchkey.Limits
	AuditRetention  time.Duration // 0: keep audit events forever

	// Inactive lists the set settings that this build does not use yet.
	Inactive []string
}

// database is a parsed LATCHKEY_DATABASE_URL.
type database struct {
	Driver string // "sqlite" or "postgres"
	Path   string // sqlite: the file
	URL    string // postgres: the URL, which may hold a password: never show it
}

// String names the database for logs and errors, without any password or
// query parameter (where a password may also be).
func (d database) String() string {
	if d.Driver != "postgres" {
		return d.Driver + ":" + d.Path
	}
	u, err := url.Parse(d.URL)
	if err != nil {
		return "postgres://…"
	}
	shown := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if u.User != nil {
		shown.User = url.User(u.User.Username())
	}
	return shown.String()
}

// settingFlags holds the settings given as flags, by flag name. Several
// flag sets (before and after the command name) write into one map, so a
// later flag overrides an earlier one.
type settingFlags map[string]string

// register adds every setting as a flag of fs.
func (sf settingFlags) register(fs *flag.FlagSet) {
	for _, s := range settings {
		help := s.usage + " (env " + s.env
		if s.def != "" {
			help += ", default " + s.def
		}
		help += ")"
		fs.Var(&settingFlag{vals: sf, name: s.flag, isBool: s.isBool}, s.flag, help)
	}
}

// settingFlag records the raw value; validation happens in loadConfig, with
// the environment, so both sources get the same checks and messages.
type settingFlag struct {
	vals   settingFlags
	name   string
	isBool bool
}

func (f *settingFlag) String() string {
	if f == nil || f.vals == nil {
		return ""
	}
	return f.vals[f.name]
}

func (f *settingFlag) Set(v string) error { f.vals[f.name] = v; return nil }

// IsBoolFlag lets "--require-tenant" stand for "--require-tenant=true".
func (f *settingFlag) IsBoolFlag() bool { return f.isBool }

// source is where a setting's value came from, for error messages.
type source struct {
	value string
	name  string // "--addr", "LATCHKEY_ADDR" or "default"
	set   bool   // given by flag or environment
}

func (sf settingFlags) lookup(getenv func(string) string, s setting) source {
	if v, ok := sf[s.flag]; ok {
		return source{value: v, name: "--" + s.flag, set: true}
	}
	if v := getenv(s.env); v != "" {
		return source{value: v, name: s.env, set: true}
	}
	return source{value: s.def, name: s.env}
}

// loadConfig resolves and validates every setting, reporting all problems
// at once. Values that may hold credentials (root key, Redis and database
// URLs) are never repeated in an error.
func loadConfig(sf settingFlags, getenv func(string) string) (*config, error) {
	src := make(map[string]source, len(settings))
	cfg := &config{}
	for _, s := range settings {
		v := sf.lookup(getenv, s)
		src[s.env] = v
		if v.set && !s.active {
			cfg.Inactive = append(cfg.Inactive, s.env)
		}
	}
	var errs []error
	bad := func(s source, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", s.name, fmt.Sprintf(format, args...)))
	}

	if s := src["LATCHKEY_ADDR"]; validAddr(s.value) != nil {
		bad(s, "%q is not a listen address (host:port, e.g. 127.0.0.1:8080): %v", clip(s.value), validAddr(s.value))
	} else {
		cfg.Addr = s.value
	}

	db, err := parseDatabaseURL(src["LATCHKEY_DATABASE_URL"].value)
	if err != nil {
		bad(src["LATCHKEY_DATABASE_URL"], "%v", err)
	}
	cfg.Database = db

	if s := src["LATCHKEY_SECRET_KEY_FILE"]; s.value != "" {
		if err := readableFile(s.value); err != nil {
			bad(s, "%v", err)
		}
		cfg.SecretKeyFile = s.value
	}

	if s := src["LATCHKEY_REDIS_URL"]; s.value != "" {
		u, err := url.Parse(s.value)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			bad(s, "must be a redis://HOST:PORT or rediss://HOST:PORT URL (value not shown: it may hold a password)")
		} else {
			cfg.RedisURL = s.value
		}
	}

	if s := src["LATCHKEY_KEY_PREFIX"]; !apikey.ValidPrefix(s.value) {
		bad(s, "%q is not a valid key prefix: use 1 to 12 characters of a-z and 0-9", clip(s.value))
	} else {
		cfg.KeyPrefix = s.value
	}

	if s := src["LATCHKEY_ROOT_KEY"]; s.value != "" {
		if latchkey.ValidateRootKeySecret(s.value) != nil {
			bad(s, "not a well-formed root key ({prefix}_root_ then 32 base62 characters with a valid checksum; value not shown); create one with `latchkey root-keys create`")
		} else {
			cfg.RootKey = s.value
		}
	}

	if s := src["LATCHKEY_PROXY_ADDR"]; s.value != "" {
		if err := validAddr(s.value); err != nil {
			bad(s, "%q is not a listen address (host:port): %v", clip(s.value), err)
		} else if s.value == cfg.Addr && !strings.HasSuffix(s.value, ":0") { // port 0: each picks its own
			bad(s, "must differ from LATCHKEY_ADDR")
		} else {
			cfg.ProxyAddr = s.value
		}
	}

	if s := src["LATCHKEY_UPSTREAM"]; s.value != "" {
		u, err := parseHTTPURL(s.value)
		if err != nil {
			bad(s, "%v", err)
		}
		cfg.Upstream = u
	}
	if s := src["LATCHKEY_TEST_UPSTREAM"]; s.value != "" {
		u, err := parseHTTPURL(s.value)
		if err != nil {
			bad(s, "%v", err)
		}
		cfg.TestUpstream = u
	} else {
		cfg.TestUpstream = cfg.Upstream
	}
	if cfg.ProxyAddr != "" && cfg.Upstream == nil && src["LATCHKEY_UPSTREAM"].value == "" {
		bad(src["LATCHKEY_PROXY_ADDR"], "the reverse proxy needs LATCHKEY_UPSTREAM (--upstream)")
	}

	if s := src["LATCHKEY_ROUTES"]; s.value != "" {
		if err := readableFile(s.value); err != nil {
			bad(s, "%v", err)
		}
		cfg.RoutesFile = s.value
	}

	if s := src["LATCHKEY_ERROR_TEMPLATE"]; s.value != "" {
		if err := readableFile(s.value); err != nil {
			bad(s, "%v", err)
		}
		cfg.ErrorTemplate = s.value
	}

	for _, b := range []struct {
		env string
		dst *bool
	}{
		{"LATCHKEY_REQUIRE_TENANT", &cfg.RequireTenant},
		{"LATCHKEY_TRUST_USER_HEADER", &cfg.TrustUserHeader},
	} {
		s := src[b.env]
		v, err := parseBool(s.value)
		if err != nil {
			bad(s, "%q must be true or false", clip(s.value))
		}
		*b.dst = v
	}

	if cfg.TrustedProxies, err = parsePrefixes(src["LATCHKEY_TRUSTED_PROXIES"].value); err != nil {
		bad(src["LATCHKEY_TRUSTED_PROXIES"], "%v", err)
	}

	if s := src["LATCHKEY_ISSUER"]; s.value != "" {
		if err := validIssuer(s.value); err != nil {
			bad(s, "%v", err)
		}
		cfg.Issuer = s.value
	} else if cfg.Addr != "" {
		cfg.Issuer = defaultIssuer(cfg.Addr)
	}

	if cfg.TokenTTL, err = latchkey.ParseDuration(src["LATCHKEY_TOKEN_TTL"].value); err != nil || cfg.TokenTTL <= 0 {
		bad(src["LATCHKEY_TOKEN_TTL"], "%q must be a positive duration such as 15m or 1h", clip(src["LATCHKEY_TOKEN_TTL"].value))
	} else if cfg.TokenTTL < time.Second || cfg.TokenTTL > oauth.MaxTokenTTL || cfg.TokenTTL%time.Second != 0 {
		bad(src["LATCHKEY_TOKEN_TTL"], "%q must be whole seconds between 1s and 24h", clip(src["LATCHKEY_TOKEN_TTL"].value))
	}

	if s := src["LATCHKEY_DEFAULT_RATE_LIMIT"]; s.value != "" {
		rl, err := parseRateLimit(s.value)
		if err != nil {
			bad(s, "%v", err)
		}
		cfg.Limits.DefaultKey = &rl
	}
	for _, l := range []struct {
		env string
		dst *latchkey.RateLimit
	}{
		{"LATCHKEY_FAILED_AUTH_LIMIT", &cfg.Limits.FailedAuth},
		{"LATCHKEY_MANAGEMENT_RATE_LIMIT", &cfg.Limits.Management},
	} {
		var err error
		if *l.dst, err = parseRateLimit(src[l.env].value); err != nil {
			bad(src[l.env], "%v", err)
		}
	}

	if s := src["LATCHKEY_AUDIT_RETENTION"]; s.value != "" {
		if cfg.AuditRetention, err = latchkey.ParseDuration(s.value); err != nil || cfg.AuditRetention < 24*time.Hour {
			bad(s, "%q must be a duration of a day or more, such as 90d", clip(s.value))
		}
	}

	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid configuration:\n  %w", joinIndented(errs))
	}
	return cfg, nil
}

// parseRateLimit reads LIMIT/WINDOW, such as 100/1m.
func parseRateLimit(v string) (latchkey.RateLimit, error) {
	n, w, ok := strings.Cut(v, "/")
	limit, err := strconv.Atoi(n)
	if !ok || err != nil {
		return latchkey.RateLimit{}, fmt.Errorf("%q must be LIMIT/WINDOW, such as 100/1m", clip(v))
	}
	window, err := latchkey.ParseDuration(w)
	if err != nil {
		return latchkey.RateLimit{}, fmt.Errorf("%q must be LIMIT/WINDOW, such as 100/1m", clip(v))
	}
	rl := latchkey.RateLimit{Limit: limit, Window: window}
	if err := latchkey.ValidateRateLimit(rl); err != nil {
		return latchkey.RateLimit{}, fmt.Errorf("%q: %s", clip(v), strings.TrimPrefix(err.(*latchkey.Error).Message, "rateLimit."))
	}
	return rl, nil
}

// joinIndented is errors.Join with each error on its own indented line.
func joinIndented(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}

func validAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return errors.New("port must be a number from 0 to 65535")
	}
	return nil
}

func parseDatabaseURL(raw string) (database, error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if err := postgres.ValidateURL(raw); err != nil {
			return database{}, err
		}
		return database{Driver: "postgres", URL: raw}, nil
	case strings.HasPrefix(raw, "sqlite://"):
		return database{}, errors.New("write sqlite:PATH (e.g. sqlite:latchkey.db or sqlite:/var/lib/latchkey/latchkey.db), not sqlite://")
	case strings.HasPrefix(raw, "sqlite:"):
		path := strings.TrimPrefix(raw, "sqlite:")
		if path == "" {
			return database{}, errors.New("sqlite: needs a file path, e.g. sqlite:latchkey.db")
		}
		return database{Driver: "sqlite", Path: path}, nil
	}
	// The value may be a DSN with a password: do not repeat it.
	return database{}, errors.New("must be sqlite:PATH or postgres://… (value not shown)")
}

func parseHTTPURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q must be an absolute http:// or https:// URL", clip(raw))
	}
	if u.User != nil {
		return nil, errors.New("must not contain credentials")
	}
	return u, nil
}

func validIssuer(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q must be an absolute http:// or https:// URL", clip(raw))
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must not have a query, fragment or credentials (RFC 8414)", clip(raw))
	}
	return nil
}

// defaultIssuer is http://<addr>, naming localhost when addr listens on
// every interface.
func defaultIssuer(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func readableFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read %q: %v", clip(path), errors.Unwrap(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%q is a directory, not a file", clip(path))
	}
	return nil
}

// parseBool accepts only what strconv.ParseBool does, so "yes" or a typo
// is an error rather than false.
func parseBool(s string) (bool, error) { return strconv.ParseBool(s) }

// parsePrefixes reads comma-separated CIDRs; a bare address means just that
// address.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	out := []netip.Prefix{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := netip.ParsePrefix(part); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or ::1/128", clip(part))
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// clip shortens a value before it is repeated in an error message.
func clip(s string) string { return latchkey.Truncate(s, 80) }
