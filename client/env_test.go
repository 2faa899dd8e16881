package client_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/client"
	"github.com/latchkey/latchkey/server"
	"github.com/latchkey/latchkey/sqlite"
)

// latchkeyServer is a real Latchkey (service, HTTP API, SQLite store)
// running in-process.
type latchkeyServer struct {
	svc  *latchkey.Service
	srv  *httptest.Server
	root string // root key with scope "*"
	stop func()
}

// startLatchkey starts a Latchkey with its database in dir. It takes no
// *testing.T so that examples can use it too.
func startLatchkey(dir string, sc latchkey.ServiceConfig) (*latchkeyServer, error) {
	db, err := sqlite.Open(filepath.Join(dir, "latchkey.db"))
	if err != nil {
		return nil, err
	}
	sc.KeyPrefix = "tb"
	svc := latchkey.NewService(db, sc)
	srv := httptest.NewServer(server.New(svc, server.Config{Ready: db.Ping}))
	_, root, err := svc.CreateRootKey(context.Background(), "test", []string{latchkey.ScopeAll})
	if err != nil {
		srv.Close()
		db.Close()
		return nil, err
	}
	return &latchkeyServer{svc: svc, srv: srv, root: root, stop: func() { srv.Close(); db.Close() }}, nil
}

// testEnv is a running Latchkey and clients of it.
type testEnv struct {
	t *testing.T
	*latchkeyServer
	admin *client.Client // "*" root key, no user
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	return newTestEnvWith(t, latchkey.ServiceConfig{})
}

func newTestEnvWith(t *testing.T, sc latchkey.ServiceConfig) *testEnv {
	t.Helper()
	ls, err := startLatchkey(t.TempDir(), sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ls.stop)
	return &testEnv{t: t, latchkeyServer: ls, admin: client.New(ls.srv.URL, client.WithRootKey(ls.root))}
}

// as is a client acting for user id through the "*" root key.
func (e *testEnv) as(id string) *client.Client { return e.admin.ForUser(id) }

// rootKey creates a root key with scopes.
func (e *testEnv) rootKey(scopes ...string) string {
	e.t.Helper()
	_, secret, err := e.svc.CreateRootKey(context.Background(), "scoped", scopes)
	if err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// verifier is a client with a verify-only root key, as a backend would hold.
func (e *testEnv) verifier() *client.Client {
	return client.New(e.srv.URL, client.WithRootKey(e.rootKey(latchkey.ScopeVerify)))
}

// key creates a key for user through the API and returns it with its secret.
func (e *testEnv) key(user string, in client.KeyCreate) *client.Key {
	e.t.Helper()
	if in.Name == "" {
		in.Name = "test key"
	}
	k, err := e.as(user).CreateKey(context.Background(), in)
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

// wantError fails unless err is an *Error with status and code.
func wantError(t *testing.T, err error, status int, code string) *client.Error {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *client.Error %d %s", err, err, status, code)
	}
	if e.StatusCode != status || e.Code != code {
		t.Fatalf("err = %v, want %d %s", err, status, code)
	}
	if e.Message == "" || e.TraceID == "" {
		t.Fatalf("err = %+v: message and traceId must be set", e)
	}
	return e
}

// tempDir is a directory removed by cleanup, for examples (no *testing.T).
func tempDir() (string, func()) {
	dir, err := os.MkdirTemp("", "latchkey-example-")
	if err != nil {
		panic(err)
	}
	return dir, func() { os.RemoveAll(dir) }
}
