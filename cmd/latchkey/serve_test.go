package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/apikey"
	"github.com/latchkey/latchkey/internal/testlog"
)

// testServer is `latchkey serve` running in-process on a free port.
type testServer struct {
	url    string
	stdout *testlog.Buffer
	stderr *testlog.Buffer
	cancel context.CancelFunc
	done   chan error

	once sync.Once
	err  error
}

// startServer runs `latchkey serve --addr 127.0.0.1:0 args…` and waits
// until /healthz answers. The server is stopped when the test ends.
func startServer(t *testing.T, e env, args ...string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{stdout: &testlog.Buffer{}, stderr: &testlog.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	argv := append([]string{"latchkey", "serve", "--addr", "127.0.0.1:0"}, args...)
	go func() { s.done <- run(ctx, argv, e.getenv, strings.NewReader(""), s.stdout, s.stderr) }()
	t.Cleanup(func() {
		if err := s.stop(t); err != nil {
			t.Errorf("stop: %v", err)
		}
	})

	deadline := time.Now().Add(20 * time.Second)
	var addr string
	for addr == "" {
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("serve exited before listening: %v\nstderr:\n%s", err, s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not log its address in time\nstderr:\n%s", s.stderr)
		}
		addr = listeningAddr(s.stderr.String())
		time.Sleep(10 * time.Millisecond)
	}
	s.url = "http://" + addr
	for {
		resp, err := http.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz not ready: %v\nstderr:\n%s", err, s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop cancels the server's context, as SIGINT/SIGTERM do, and returns
// what run returned. It may be called from any goroutine.
func (s *testServer) stop(*testing.T) error {
	s.once.Do(func() {
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(60 * time.Second):
			s.err = fmt.Errorf("serve did not stop within 60s\nstderr:\n%s", s.stderr)
		}
	})
	return s.err
}

// listeningAddr finds the address in the "listening" log line.
func listeningAddr(logs string) string {
	for _, line := range strings.Split(logs, "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
			return rec.Addr
		}
	}
	return ""
}

// request sends a JSON request and decodes the JSON answer.
func request(t *testing.T, method, url string, header map[string]string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d, body is not a JSON object: %s", method, url, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

// createKey creates a key for user through the self-service API, acting
// with a root key, and returns its ID and secret.
func createKey(t *testing.T, base, rootKey, user string) (id, secret string) {
	t.Helper()
	status, body := request(t, "POST", base+"/api/v1/auth/api-keys",
		map[string]string{"Authorization": "Bearer " + rootKey, "x-user-id": user},
		map[string]any{"name": "E2E key", "permissions": []string{"messages:send"}})
	if status != http.StatusCreated {
		t.Fatalf("create key: %d %v", status, body)
	}
	id, _ = body["id"].(string)
	secret, _ = body["key"].(string)
	if !keyRE.MatchString(secret) {
		t.Fatalf("create key: key %q is not a full key", secret)
	}
	return id, secret
}

var (
	bootstrapRootRE     = regexp.MustCompile(`Root key \(scope \*\):\s+(\S+)`)
	bootstrapPasswordRE = regexp.MustCompile(`password:\s+(\S+)`)
)

func TestServeBootstrapsOnceAndStopsCleanly(t *testing.T) {
	e, path := newEnv(t)
	s := startServer(t, e)
	logs := s.stderr.String()
	if n := strings.Count(logs, "shown only this once"); n != 1 {
		t.Fatalf("bootstrap block printed %d times; want once\n%s", n, logs)
	}
	m := bootstrapRootRE.FindStringSubmatch(logs)
	if m == nil || !keyRE.MatchString(m[1]) {
		t.Fatalf("no bootstrap root key in:\n%s", logs)
	}
	rootKey := m[1]
	pw := bootstrapPasswordRE.FindStringSubmatch(logs)
	if pw == nil || !strings.Contains(logs, "admin@localhost") {
		t.Fatalf("no admin login in:\n%s", logs)
	}
	createKey(t, s.url, rootKey, "user-1")
	if err := s.stop(t); err != nil {
		t.Fatalf("run returned %v after cancel; want nil", err)
	}
	if s.stdout.String() != "" {
		t.Errorf("serve wrote to stdout: %q", s.stdout)
	}
	if !strings.Contains(s.stderr.String(), `"msg":"stopped"`) {
		t.Errorf("no clean stop logged:\n%s", s.stderr)
	}
	if _, err := openService(t, path).CheckPassword(context.Background(), "admin@localhost", pw[1]); err != nil {
		t.Errorf("admin login from the bootstrap block: %v", err)
	}

	again := startServer(t, e)
	if logs := again.stderr.String(); strings.Contains(logs, "shown only this once") || strings.Contains(logs, "_root_") {
		t.Fatalf("second start printed a bootstrap block:\n%s", logs)
	}
	createKey(t, again.url, rootKey, "user-1") // the bootstrap root key still works
	if err := again.stop(t); err != nil {
		t.Fatal(err)
	}
}

func TestServeHonoursRootKeyAndKeepsUsageAcrossRestart(t *testing.T) {
	e, _ := newEnv(t)
	root, _ := apikey.Generate("lk", apikey.Root)
	e = e.with("LATCHKEY_ROOT_KEY", root.String())

	s := startServer(t, e)
	if strings.Contains(s.stderr.String(), root.String()) {
		t.Fatalf("LATCHKEY_ROOT_KEY was printed:\n%s", s.stderr)
	}
	if bootstrapRootRE.MatchString(s.stderr.String()) {
		t.Errorf("a bootstrap root key was created although LATCHKEY_ROOT_KEY is set:\n%s", s.stderr)
	}
	id, key := createKey(t, s.url, root.String(), "user-123")
	const uses = 5
	for range uses {
		status, body := request(t, "GET", s.url+"/api/v1/users/me", map[string]string{"Authorization": "Bearer " + key}, nil)
		if status != http.StatusOK {
			t.Fatalf("whoami: %d %v", status, body)
		}
		if u, _ := body["user"].(map[string]any); u["id"] != "user-123" {
			t.Fatalf("whoami user = %v", body["user"])
		}
	}
	// Stop at once: the counts are still in memory, and must be flushed on
	// the way out.
	if err := s.stop(t); err != nil {
		t.Fatalf("run returned %v; want nil", err)
	}

	s = startServer(t, e)
	status, body := request(t, "GET", s.url+"/api/v1/auth/api-keys/"+id,
		map[string]string{"Authorization": "Bearer " + root.String(), "x-user-id": "user-123"}, nil)
	if status != http.StatusOK {
		t.Fatalf("get key: %d %v", status, body)
	}
	if got := body["requestCount"]; got != float64(uses) {
		t.Errorf("requestCount after restart = %v; want %d", got, uses)
	}
	if body["lastUsedAt"] == nil {
		t.Error("lastUsedAt is null after uses")
	}
	if k, _ := body["key"].(string); strings.Contains(k, key) || !strings.HasSuffix(k, "...") {
		t.Errorf("key field %q; want it masked", k)
	}
}

func TestServeRefusesMalformedRootKey(t *testing.T) {
	e, path := newEnv(t)
	bad := "lk_root_" + strings.Repeat("x", 32) // right shape, wrong checksum
	for _, tt := range []struct {
		name string
		env  env
		args []string
	}{
		{"environment", e.with("LATCHKEY_ROOT_KEY", bad), nil},
		{"flag", e, []string{"--root-key", bad}},
		{"a live key", e.with("LATCHKEY_ROOT_KEY", "lk_live_"+strings.Repeat("0", 32)), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.env, "", append([]string{"serve", "--addr", "127.0.0.1:0"}, tt.args...)...)
			if r.err == nil || !strings.Contains(r.err.Error(), "not a well-formed root key") {
				t.Fatalf("err = %v; want a refusal", r.err)
			}
			if strings.Contains(r.err.Error()+r.stdout+r.stderr, bad) {
				t.Errorf("the value was echoed: %v\n%s", r.err, r.stderr)
			}
			if strings.Contains(r.stderr, "listening") {
				t.Error("the server started")
			}
		})
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("the database was created although the configuration is invalid")
	}
}

func TestServeErrorTemplate(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	e, _ := newEnv(t)

	for _, tt := range []struct{ name, body, want string }{
		{"does not parse", `{"error": {{json .Title}`, "does not parse"},
		{"renders invalid JSON", `{"error": {{.Message}}}`, "invalid JSON"},
		{"calls an unknown field", `{"error": {{json .Nope}}}`, "fails to render"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := write(strings.ReplaceAll(tt.name, " ", "-")+".tmpl", tt.body)
			r := runCLI(t, e.with("LATCHKEY_ERROR_TEMPLATE", p), "", "serve", "--addr", "127.0.0.1:0")
			if r.err == nil || !strings.Contains(r.err.Error(), tt.want) {
				t.Fatalf("err = %v; want a refusal containing %q", r.err, tt.want)
			}
			if strings.Contains(r.stderr, "listening") {
				t.Error("the server started")
			}
		})
	}

	t.Run("a good template renders errors", func(t *testing.T) {
		p := write("good.tmpl", `{"error": {{json .Title}}, "message": {{json .Message}}, "statusCode": {{.Status}}}`)
		s := startServer(t, e, "--error-template", p)
		status, body := request(t, "GET", s.url+"/api/v1/users/me", nil, nil)
		if status != http.StatusUnauthorized || body["error"] != "Unauthorized" || body["statusCode"] != float64(401) {
			t.Errorf("got %d %v; want the template's body", status, body)
		}
	})
}

func TestServeFailsWhenTheAddressIsTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	e, path := newEnv(t)
	r := runCLI(t, e, "", "serve", "--addr", ln.Addr().String())
	if r.err == nil || !strings.Contains(r.err.Error(), "listen") {
		t.Fatalf("err = %v; want a listen error", r.err)
	}
	if strings.Contains(r.stderr, "shown only this once") {
		t.Error("bootstrapped although the server could not start: those secrets are lost")
	}
	// Nothing was bootstrapped, so the next successful start still prints
	// the login.
	s := startServer(t, e)
	if !strings.Contains(s.stderr.String(), "shown only this once") {
		t.Errorf("no bootstrap on the first successful start:\n%s", s.stderr)
	}
	_ = path
}

func TestServeFinishesInFlightRequestsOnShutdown(t *testing.T) {
	e, _ := newEnv(t)
	root, _ := apikey.Generate("lk", apikey.Root)
	e = e.with("LATCHKEY_ROOT_KEY", root.String())
	s := startServer(t, e)

	// A request whose body is still arriving when the signal comes.
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", s.url+"/api/v1/auth/api-keys", pr)
	req.Header.Set("Authorization", "Bearer "+root.String())
	req.Header.Set("x-user-id", "slow-user")
	req.Header.Set("Content-Type", "application/json")
	type answer struct {
		status int
		body   string
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answered <- answer{status: resp.StatusCode, body: string(b)}
	}()
	io.WriteString(pw, `{"name": "slow`)
	time.Sleep(200 * time.Millisecond) // the server is now reading the body

	stopped := make(chan error, 1)
	go func() { stopped <- s.stop(t) }()
	time.Sleep(300 * time.Millisecond) // shutdown has begun
	select {
	case err := <-stopped:
		t.Fatalf("run returned (%v) while a request was in flight", err)
	default:
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(s.url, "http://"), time.Second); err == nil {
		t.Error("still accepting connections after the signal")
	}
	io.WriteString(pw, ` key"}`)
	pw.Close()

	a := <-answered
	if a.err != nil || a.status != http.StatusCreated {
		t.Fatalf("in-flight request: %d %s %v; want 201", a.status, a.body, a.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("run returned %v; want nil", err)
	}
}

// The README's automation flow creates the root key with the CLI before the
// first start: that start must still print the admin login (SPEC §2), and
// no bootstrap root key beside the one given.
func TestServeBootstrapsAfterTheCLICreatedTheRootKey(t *testing.T) {
	e, path := newEnv(t)
	root := secretOnly(t, mustRun(t, e, "", "root-keys", "create", "--name", "automation").stdout)
	s := startServer(t, e.with("LATCHKEY_ROOT_KEY", root))
	logs := s.stderr.String()
	pw := bootstrapPasswordRE.FindStringSubmatch(logs)
	if strings.Count(logs, "shown only this once") != 1 || pw == nil {
		t.Fatalf("no admin login printed:\n%s", logs)
	}
	if bootstrapRootRE.MatchString(logs) || strings.Contains(logs, root) {
		t.Errorf("a bootstrap root key printed, or the given one echoed:\n%s", logs)
	}
	if _, err := openService(t, path).CheckPassword(context.Background(), "admin@localhost", pw[1]); err != nil {
		t.Errorf("admin login from the bootstrap block: %v", err)
	}
	createKey(t, s.url, root, "user-1")

	// Another root key created before the first start means the database
	// is set up already: no bootstrap.
	e2, _ := newEnv(t)
	mustRun(t, e2, "", "root-keys", "create", "--name", "other")
	root2 := secretOnly(t, mustRun(t, e2, "", "root-keys", "create", "--name", "automation").stdout)
	if logs := startServer(t, e2.with("LATCHKEY_ROOT_KEY", root2)).stderr.String(); strings.Contains(logs, "shown only this once") {
		t.Errorf("bootstrapped a database that already had another root key:\n%s", logs)
	}
}
