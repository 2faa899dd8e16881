package main

import (
	"bytes"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/apikey"
)

// SPEC §13: no secret in plaintext in the database or in any log line.
func TestNoSecretInDatabaseOrLogs(t *testing.T) {
	e, path := newEnv(t)
	secrets := map[string]string{} // secret → what it is
	var logs []string              // every stderr, in order

	// First start: the bootstrap root key and admin password.
	s := startServer(t, e)
	out := s.stderr.String()
	rk0 := bootstrapRootRE.FindStringSubmatch(out)
	pw0 := bootstrapPasswordRE.FindStringSubmatch(out)
	if rk0 == nil || pw0 == nil {
		t.Fatalf("no bootstrap block:\n%s", out)
	}
	secrets[rk0[1]] = "bootstrap root key"
	secrets[pw0[1]] = "bootstrap admin password"
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	logs = append(logs, s.stderr.String())

	// Second start with LATCHKEY_ROOT_KEY; keys created and used over HTTP,
	// and the CLI working on the same file meanwhile.
	envRoot, _ := apikey.Generate("lk", apikey.Root)
	secrets[envRoot.String()] = "LATCHKEY_ROOT_KEY"
	e2 := e.with("LATCHKEY_ROOT_KEY", envRoot.String())
	s = startServer(t, e2)
	_, apiKey := createKey(t, s.url, envRoot.String(), "user-api")
	secrets[apiKey] = "key created over HTTP"
	for range 3 {
		if status, body := request(t, "GET", s.url+"/api/v1/users/me", map[string]string{"Authorization": "Bearer " + apiKey}, nil); status != http.StatusOK {
			t.Fatalf("whoami: %d %v", status, body)
		}
	}
	// A wrong key in a failing request must not be logged either.
	wrong, _ := apikey.Generate("lk", apikey.Live)
	secrets[wrong.String()] = "unknown key presented"
	request(t, "GET", s.url+"/api/v1/users/me", map[string]string{"X-API-KEY": wrong.String()}, nil)
	// Nor one put where keys are not accepted: the query string and path.
	inQuery, _ := apikey.Generate("lk", apikey.Live)
	secrets[inQuery.String()] = "key in a query string"
	request(t, "GET", s.url+"/api/v1/users/me?api_key="+inQuery.String(), nil, nil)
	inPath, _ := apikey.Generate("lk", apikey.Test)
	secrets[inPath.String()] = "key in a path"
	request(t, "GET", s.url+"/api/v1/auth/api-keys/"+inPath.String(), map[string]string{"Authorization": "Bearer " + apiKey}, nil)

	const userPassword = "s3cret-dashboard-password"
	secrets[userPassword] = "user password"
	cli := []result{
		mustRun(t, e2, "", "tenants", "create", "--id", "t1", "--name", "Acme"),
		mustRun(t, e2, userPassword+"\n", "users", "create", "--id", "ann", "--email", "ann@example.com", "--password-stdin", "--tenant", "t1"),
	}
	r := mustRun(t, e2, "", "root-keys", "create", "--name", "ops")
	secrets[secretOnly(t, r.stdout)] = "root key from the CLI"
	cli = append(cli, r)
	r = mustRun(t, e2, "", "keys", "create", "--user", "ann", "--name", "CLI key", "--tenant", "t1")
	secrets[secretOnly(t, r.stdout)] = "key from the CLI"
	cli = append(cli, r)
	cli = append(cli, mustRun(t, e2, "", "keys", "list", "--user", "ann"), mustRun(t, e2, "", "keys", "list", "--user", "user-api", "--json"))
	for _, r := range cli {
		logs = append(logs, r.stderr)
	}
	for _, r := range cli[len(cli)-2:] { // listings show masked keys only
		for secret, what := range secrets {
			if strings.Contains(r.stdout, secret) {
				t.Errorf("keys list shows the %s", what)
			}
		}
	}

	// While the server runs, recent writes sit in the WAL.
	checkFiles := func(when string) {
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			data, err := os.ReadFile(p)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for secret, what := range secrets {
				if bytes.Contains(data, []byte(secret)) {
					t.Errorf("%s: %s holds the %s in plaintext", when, p, what)
				}
				// The part of a key that its masked form does not show.
				if k, err := apikey.Parse(secret); err == nil && bytes.Contains(data, []byte(k.Body[8:])) {
					t.Errorf("%s: %s holds the hidden part of the %s", when, p, what)
				}
			}
		}
	}
	checkFiles("server running")
	if err := s.stop(t); err != nil {
		t.Fatal(err)
	}
	logs = append(logs, s.stderr.String())
	checkFiles("server stopped")

	// Logs: the single bootstrap block may show its own two secrets;
	// no other line may show any secret.
	blocks := 0
	for _, l := range logs {
		inBlock := false
		for _, line := range strings.Split(l, "\n") {
			if strings.HasPrefix(line, "=====") {
				if !inBlock {
					blocks++
				}
				inBlock = !inBlock
				continue
			}
			for secret, what := range secrets {
				if !strings.Contains(line, secret) {
					continue
				}
				if inBlock && (secret == rk0[1] || secret == pw0[1]) {
					continue
				}
				t.Errorf("stderr line shows the %s: %s", what, line)
			}
		}
	}
	if blocks != 1 {
		t.Errorf("%d bootstrap blocks; want 1", blocks)
	}
}
