package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/oauth"
)

// keyFilePath is where the key-encryption key of the OAuth signing keys
// lives by default: a 0600 file beside the SQLite database, so that a copy
// of the database alone (a dump, a backup) holds no usable private key.
// Back it up with the database; without it the signing keys must be rotated.
func keyFilePath(cfg *config) string { return cfg.Database.Path + ".kek" }

// errNoSecretKey explains why PostgreSQL needs LATCHKEY_SECRET_KEY_FILE.
var errNoSecretKey = errors.New("LATCHKEY_SECRET_KEY_FILE (--secret-key-file) is required with a PostgreSQL database: " +
	"every node must open the OAuth signing keys with the same key, kept outside the database. " +
	"Create it once with `(umask 077; openssl rand -hex 32 > latchkey.key)` and give every node a copy (mode 0600)")

// loadKeyEncryptionKey returns the key that seals the OAuth signing keys:
// LATCHKEY_SECRET_KEY_FILE when set, which every node of a cluster shares;
// otherwise, with SQLite only, the .kek file beside the database, created
// on first use.
func loadKeyEncryptionKey(cfg *config) ([]byte, error) {
	switch {
	case cfg.SecretKeyFile != "":
		kek, err := oauth.LoadKeyFile(cfg.SecretKeyFile)
		if err != nil {
			return nil, fmt.Errorf("LATCHKEY_SECRET_KEY_FILE: %w", err)
		}
		return kek, nil
	case cfg.Database.Driver != "sqlite":
		return nil, errNoSecretKey
	}
	return oauth.LoadOrCreateKeyFile(keyFilePath(cfg))
}

// oauthConfig is the oauth.Config of the configured deployment.
func oauthConfig(cfg *config) (oauth.Config, error) {
	kek, err := loadKeyEncryptionKey(cfg)
	if err != nil {
		return oauth.Config{}, err
	}
	return oauth.Config{
		Issuer:           cfg.Issuer,
		TokenTTL:         cfg.TokenTTL,
		KeyEncryptionKey: kek,
		TrustedProxies:   cfg.TrustedProxies,
	}, nil
}

// newOAuthServer starts serve's OAuth authorization server and makes svc
// accept its access tokens wherever keys are accepted. The default issuer
// names the address actually listened on, so that port 0 works.
func newOAuthServer(ctx context.Context, cfg *config, svc *latchkey.Service, store latchkey.Store, ln net.Listener, log *slog.Logger) (*oauth.Server, error) {
	ocfg, err := oauthConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("OAuth: %w", err)
	}
	if cfg.Issuer == defaultIssuer(cfg.Addr) {
		ocfg.Issuer = defaultIssuer(ln.Addr().String())
	}
	ocfg.Logger = log
	s, err := oauth.New(ctx, svc, store, ocfg)
	if err != nil {
		return nil, fmt.Errorf("OAuth: %w", err)
	}
	svc.SetTokenVerifier(s)
	return s, nil
}

func runOAuthClientsCreate(ctx context.Context, c *cli, fs *flag.FlagSet, args []string) error {
	name := fs.String("name", "", "a label for the client (required)")
	scopes := fs.String("scopes", "", "comma-separated scopes its tokens may carry (required), e.g. messages:send,messages:read")
	tenant := fs.String("tenant", "", "the tenant its tokens act for (optional)")
	if done, err := parseNoArgs(fs, args); err != nil || done {
		return err
	}
	if err := required(fs, "name", "scopes"); err != nil {
		return err
	}
	return c.withService(func(svc *latchkey.Service) error {
		client, secret, err := svc.CreateOAuthClient(ctx, latchkey.NewOAuthClient{
			Name: *name, Scopes: splitList(*scopes), TenantID: *tenant,
		})
		if err != nil {
			return err
		}
		note := fmt.Sprintf("created OAuth client %s with scopes %s", client.ID, strings.Join(client.Scopes, ","))
		if client.TenantID != "" {
			note += " for tenant " + client.TenantID
		}
		fmt.Fprintln(c.stderr, note+"; the secret is shown only once")
		id, _ := json.Marshal(client.ID)
		sec, _ := json.Marshal(secret)
		_, err = fmt.Fprintf(c.stdout, "{\"clientId\": %s, \"clientSecret\": %s}\n", id, sec)
		return err
	})
}

func runSigningKeysRotate(ctx context.Context, c *cli, fs *flag.FlagSet, args []string) error {
	if done, err := parseNoArgs(fs, args); err != nil || done {
		return err
	}
	cfg, err := loadConfig(c.flags, c.getenv)
	if err != nil {
		return err
	}
	ocfg, err := oauthConfig(cfg)
	if err != nil {
		return err
	}
	store, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	kid, err := oauth.RotateSigningKey(ctx, store, ocfg)
	if err != nil {
		return err
	}
	// The oauth package rotates on the store directly; the Service records it.
	latchkey.NewService(store, latchkey.ServiceConfig{KeyPrefix: cfg.KeyPrefix}).
		RecordAudit(ctx, latchkey.AuditSigningKeyRotate, kid, nil)
	fmt.Fprintf(c.stderr, "new OAuth signing key %s is published and signs in %s; the previous one signs until then and stays in the JWK Set until its tokens expire (%s)\n",
		kid, latchkey.FormatDuration(oauth.PublishLead), latchkey.FormatDuration(oauth.PublishLead+cfg.TokenTTL+oauth.Leeway))
	_, err = fmt.Fprintln(c.stdout, kid)
	return err
}
