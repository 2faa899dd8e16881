package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/password"
	"github.com/latchkey/latchkey/postgres"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/sqlite"
)

// openTimeout bounds opening a PostgreSQL database, migrations included.
const openTimeout = time.Minute

// openStore opens the configured database, applying pending migrations.
func openStore(cfg *config) (latchkey.Store, error) {
	switch cfg.Database.Driver {
	case "sqlite":
		db, err := sqlite.Open(cfg.Database.Path)
		if err != nil {
			return nil, fmt.Errorf("open database sqlite:%s: %w", cfg.Database.Path, err)
		}
		return db, nil
	case "postgres":
		// Bounded: an unreachable server fails each connection attempt
		// within the store's connect timeout, and a migration another
		// node holds the lock for is waited on, not forever.
		ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
		defer cancel()
		db, err := postgres.Open(ctx, cfg.Database.URL)
		if err != nil {
			return nil, fmt.Errorf("open database %s: %w", cfg.Database, err)
		}
		return db, nil
	}
	return nil, fmt.Errorf("unsupported database driver %q", cfg.Database.Driver)
}

// withService loads the configuration, opens the store and runs fn on a
// Service over it, closing the store afterwards.
func (c *cli) withService(fn func(svc *latchkey.Service) error) (err error) {
	cfg, err := loadConfig(c.flags, c.getenv)
	if err != nil {
		return err
	}
	store, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close database: %w", cerr)
		}
	}()
	return fn(latchkey.NewService(store, latchkey.ServiceConfig{KeyPrefix: cfg.KeyPrefix}))
}

// parseNoArgs parses a command that takes only flags.
func parseNoArgs(fs *flag.FlagSet, args []string) (done bool, err error) {
	pos, done, err := parse(fs, args)
	if err != nil || done {
		return done, err
	}
	if len(pos) > 0 {
		return false, fmt.Errorf("%s: unexpected argument %q", strings.TrimPrefix(fs.Name(), "latchkey "), clip(pos[0]))
	}
	return false, nil
}

// required reports the first of the named flags that is empty.
func required(fs *flag.FlagSet, names ...string) error {
	for _, n := range names {
		if fs.Lookup(n).Value.String() == "" {
			name := strings.TrimPrefix(fs.Name(), "latchkey ")
			return fmt.Errorf("%s: --%s is required (see 'latchkey help %s')", name, n, name)
		}
	}
	return nil
}

// listFlag is a repeatable flag that also splits on commas:
// --tenant a --tenant b, or --tenant a,b.
type listFlag []string

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *listFlag) Set(v string) error {
	*l = append(*l, splitList(v)...)
	return nil
}

// splitList splits "a, b,,c" into [a b c].
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func runMigrate(ctx context.Context, c *cli, fs *flag.FlagSet, args []string) error {
	if done, err := parseNoArgs(fs, args); err != nil || done {
		return err
	}
	// Opening the store applies every pending migration.
	return c.withService(func(*latchkey.Service) error {
		fmt.Fprintln(c.stderr, "database schema is up to date")
		return nil
	})
}

func runRootKeysCreate(ctx context.Context, c *cli, fs *flag.FlagSet, args []string) error {
	name := fs.String("name", "", "a label `N` for the key (required)")
	scopes := fs.String("scopes", latchkey.ScopeAll, "comma-separated `scopes`: "+strings.Join(latchkey.Scopes, ", "))
	if done, err := parseNoArgs(fs, args); err != nil || done {
		return err
	}
	if err := required(fs, "name"); err != nil {
		return err
	}
	return c.withService(func(svc *latchkey.Service) error {
		rk, secret, err := svc.CreateRootKey(ctx, *name, splitList(*scopes))
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "created root key %s (%s) with scopes %s; it is shown only once\n",
			rk.ID, rk.Masked, strings.Join(rk.Scopes, ","))
		_, err = fmt.Fprintln(c.stdout, secret)
		return err
	})
}

func runTenantsCreate(ctx context.Context, c *cli, fs *flag.FlagSet, args []string) error {
	id := fs.String("id", "", "the tenant's `ID` (generated when omitted)")
	name := fs.String("name", "", "the tenant's name `N` (required)")
	if done, err := parseNoArgs(fs, args); err != nil || done {
		return err
	}
	if err := required(fs, "name"); err != nil {
		return err
	}
	return c.withService(func(svc *latchkey.Service) error {
		t, err := svc.CreateTenant(ctx, *id, *name)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "created tenant %s (%s)\n", t.ID, t.Name)
		_, err = fmt.Fprintln(c.stdout, t.ID)
		return err
	})
}

func runUsersCreate(ctx context.Context, c *cli, fs *flag.FlagSet, args []string) error {
	id := fs.String("id", "", "the user's `ID` (generated when omitted)")
	email := fs.String("email", "", "dashboard login `email`")
	pwStdin := fs.Bool("password-stdin", false, "read the dashboard password from standard input (needs --email)")
	admin := fs.Bool("admin", false, "make the user a dashboard administrator")
	var tenants listFlag
	fs.Var(&tenants, "tenant", "make the user a member of tenant `ID` (repeatable)")
	if done, err := parseNoArgs(fs, args); err != nil || done {
		return err
	}
	var pw string
	if *pwStdin {
		if *email == "" {
			return errors.New("users create: --password-stdin needs --email")
		}
		var err error
		if pw, err = readPassword(c.stdin); err != nil {
			return err
		}
	}
	return c.withService(func(svc *latchkey.Service) error {
		u, err := svc.CreateUser(ctx, latchkey.NewUser{
			ID: *id, Email: *email, Password: pw, IsAdmin: *admin, TenantIDs: tenants,
		})
		if err != nil {
			return err
		}
		note := "created user " + u.ID
		if u.Email != "" {
			note += " <" + u.Email + ">"
		}
		if len(u.TenantIDs) > 0 {
			note += " in tenants " + strings.Join(u.TenantIDs, ",")
		}
		fmt.Fprintln(c.stderr, note)
		_, err = fmt.Fprintln(c.stdout, u.ID)
		return err
	})
}

// readPassword reads the first line of r: the password without its line
// ending. Reading one line (not to EOF) lets a person type it and press
// Enter as well as a script pipe it in.
func readPassword(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("--password-stdin: no standard input")
	}
	// Read a little more than the longest password so a too-long one is
	// reported rather than silently cut.
	line, err := bufio.NewReader(io.LimitReader(r, password.MaxLen+3)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("--password-stdin: %w", err)
	}
	pw := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	switch {
	case pw == "":
		return "", errors.New("--password-stdin: no password on standard input")
	case len(pw) > password.MaxLen:
		return "", fmt.Errorf("--password-stdin: password must be at most %d characters", password.MaxLen)
	}
	return pw, nil
}

func runKeysCreate(ctx context.Context, c *cli, fs *flag.FlagSet, args []string) error {
	user := fs.String("user", "", "`ID` of the user who owns the key (required)")
	name := fs.String("name", "", "a label `N` for the key (required)")
	env := fs.String("env", "live", "environment: `live|test`")
	perms := fs.String("permissions", "", "comma-separated `permissions`, e.g. messages:send,messages:read")
	var tenants listFlag
	fs.Var(&tenants, "tenant", "link the key to tenant `ID`, one of the user's (repeatable; the first is the default)")
	if done, err := parseNoArgs(fs, args); err != nil || done {
		return err
	}
	if err := required(fs, "user", "name"); err != nil {
		return err
	}
	return c.withService(func(svc *latchkey.Service) error {
		k, secret, err := svc.CreateKey(ctx, *user, latchkey.NewKey{
			Name: *name, Environment: *env, Permissions: splitList(*perms), TenantIDs: tenants,
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "created %s key %s (%s) for user %s; it is shown only once\n",
			k.Environment, k.ID, k.Masked, k.OwnerID)
		_, err = fmt.Fprintln(c.stdout, secret)
		return err
	})
}

func runKeysList(ctx context.Context, c *cli, fs *flag.FlagSet, args []string) error {
	user := fs.String("user", "", "`ID` of the user whose keys to list (required)")
	asJSON := fs.Bool("json", false, "print one JSON object per line instead of a table")
	if done, err := parseNoArgs(fs, args); err != nil || done {
		return err
	}
	if err := required(fs, "user"); err != nil {
		return err
	}
	return c.withService(func(svc *latchkey.Service) error {
		// An unknown user is an error, not an empty list.
		if _, err := svc.User(ctx, *user); err != nil {
			return err
		}
		var keys []*latchkey.Key
		cursor := ""
		for {
			page, next, err := svc.ListKeys(ctx, latchkey.KeyFilter{OwnerID: *user, Limit: 100}, cursor)
			if err != nil {
				return err
			}
			keys = append(keys, page...)
			if next == "" {
				break
			}
			cursor = next
		}
		if *asJSON {
			return writeKeysJSON(c.stdout, keys)
		}
		if len(keys) == 0 {
			fmt.Fprintf(c.stderr, "user %s has no keys\n", *user)
			return nil
		}
		return writeKeysTable(c.stdout, keys, time.Now())
	})
}

func writeKeysTable(w io.Writer, keys []*latchkey.Key, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tKEY\tENV\tSTATUS\tPERMISSIONS\tTENANTS\tREQUESTS\tLAST USED\tCREATED")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n",
			k.ID, tableCell(k.Name), k.Masked, k.Environment, keyStatus(k, now),
			orDash(strings.Join(k.Permissions, ",")), orDash(strings.Join(k.TenantIDs, ",")),
			k.RequestCount, formatTime(k.LastUsedAt), k.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// tableCell keeps a name from breaking the table's columns.
func tableCell(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' {
			return ' '
		}
		return r
	}, s)
}

func keyStatus(k *latchkey.Key, now time.Time) string {
	switch latchkey.KeyState(k, now) {
	case latchkey.ErrKeyRevoked:
		return "revoked"
	case latchkey.ErrKeyDisabled:
		return "disabled"
	case latchkey.ErrKeyExpired:
		return "expired"
	}
	return "active"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func formatTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// writeKeysJSON prints one SPEC §7 key object (masked) per line, exactly as
// the API presents keys.
func writeKeysJSON(w io.Writer, keys []*latchkey.Key) error {
	enc := json.NewEncoder(w)
	for _, k := range keys {
		if err := enc.Encode(server.MaskedKeyJSON(k)); err != nil {
			return err
		}
	}
	return nil
}

func runKeysRevoke(ctx context.Context, c *cli, fs *flag.FlagSet, args []string) error {
	pos, done, err := parse(fs, args)
	if err != nil || done {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errors.New("keys revoke: give exactly one key ID")
	}
	return c.withService(func(svc *latchkey.Service) error {
		// Owner "" acts as an administrator: any user's key.
		k, err := svc.RevokeKey(ctx, "", pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "revoked key %s (%s) of user %s at %s\n",
			k.ID, k.Masked, k.OwnerID, k.RevokedAt.UTC().Format(time.RFC3339))
		return nil
	})
}

func runVersion(ctx context.Context, c *cli, fs *flag.FlagSet, args []string) error {
	if done, err := parseNoArgs(fs, args); err != nil || done {
		return err
	}
	_, err := fmt.Fprintln(c.stdout, versionString())
	return err
}
