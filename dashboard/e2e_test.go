package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBrowser drives the dashboard in real headless Chromium
// (dashboard/e2e/dashboard.spec.mjs, with playwright-core) against the
// real binary: built from ./cmd/latchkey, set up with its own CLI, serving
// on a random port. Without Chromium or Node it is skipped, except in CI
// (CI=true), where it fails: scripts/test-deps.sh installs both.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	node, nodeErr := exec.LookPath("node")
	npm, npmErr := exec.LookPath("npm")
	_, chromeErr := os.Stat(chromium)
	if nodeErr != nil || npmErr != nil || chromeErr != nil {
		msg := "the browser test needs node, npm and " + chromium + " (run scripts/test-deps.sh)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	e2eDir, err := filepath.Abs("e2e")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e2eDir, "node_modules", "playwright-core")); err != nil {
		run(t, e2eDir, nil, "", npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	}

	// The real binary, set up through its own CLI.
	dir := t.TempDir()
	bin := filepath.Join(dir, "latchkey")
	run(t, "..", nil, "", "go", "build", "-o", bin, "./cmd/latchkey")
	env := []string{"LATCHKEY_DATABASE_URL=sqlite:" + filepath.Join(dir, "latchkey.db"), "LATCHKEY_KEY_PREFIX=acme"}
	const adminPW, userPW = "e2e admin password 1", "e2e second user pw 2"
	run(t, dir, env, "", bin, "tenants", "create", "--id", "acme", "--name", "Acme Inc.")
	run(t, dir, env, "", bin, "tenants", "create", "--id", "globex", "--name", "Globex Corporation")
	for _, p := range [][]string{
		{"messages:send", "Send messages"}, {"messages:read", "Read messages and delivery reports"},
		{"numbers:write", "Buy and release phone numbers"}, {"webhooks:manage", "Configure webhooks"},
	} {
		run(t, dir, env, "", bin, "permissions", "create", p[0], "--description", p[1])
	}
	run(t, dir, env, adminPW+"\n", bin, "users", "create", "--id", "ada", "--email", "ada@acme.example",
		"--password-stdin", "--admin", "--tenant", "acme", "--tenant", "globex")
	run(t, dir, env, userPW+"\n", bin, "users", "create", "--id", "bob", "--email", "bob@acme.example",
		"--password-stdin", "--tenant", "acme")

	base := startServer(t, dir, bin, env)

	shots := os.Getenv("SCREENSHOT_DIR")
	if shots == "" {
		shots = filepath.Join(e2eDir, "screenshots")
	}
	t.Logf("screenshots: %s", shots)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "dashboard.spec.mjs")
	cmd.Dir = e2eDir
	cmd.Env = append(os.Environ(),
		"LATCHKEY_URL="+base,
		"ADMIN_EMAIL=ada@acme.example", "ADMIN_PASSWORD="+adminPW,
		"USER2_EMAIL=bob@acme.example", "USER2_PASSWORD="+userPW,
		"SCREENSHOT_DIR="+shots, "CHROMIUM="+chromium,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("dashboard.spec.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("browser test failed: %v", err)
	}
}

// TestServeMountsDashboard checks, without a browser, that the real binary
// serves the dashboard and that its sessions reach the JSON API.
func TestServeMountsDashboard(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "latchkey")
	run(t, "..", nil, "", "go", "build", "-o", bin, "./cmd/latchkey")
	env := []string{"LATCHKEY_DATABASE_URL=sqlite:" + filepath.Join(dir, "latchkey.db")}
	base := startServer(t, dir, bin, env)
	for path, want := range map[string]string{
		"/login":                   "text/html",
		"/static/app.css":          "text/css",
		"/api/v1/auth/api-keys":    "application/json", // 401, JSON as ever
		"/api/v1/no-such-endpoint": "application/json",
	} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, want) {
			t.Errorf("GET %s: %d %s, want %s", path, res.StatusCode, ct, want)
		}
	}
}

// run runs a command and fails t if it fails.
func run(t *testing.T, dir string, env []string, stdin, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// startServer runs `latchkey serve` on a random port until the test ends
// and returns its base URL.
func startServer(t *testing.T, dir, bin string, env []string) string {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append(env, "LATCHKEY_ADDR=127.0.0.1:0")...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
				addr <- rec.Addr
				break
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	select {
	case a := <-addr:
		return "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("latchkey serve did not start within 30s")
		return ""
	}
}
