package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// keyRE is SPEC §4's secret-scanner regexp, anchored to a whole line.
var keyRE = regexp.MustCompile(`^[a-z0-9]{1,12}_(live|test|root)_[0-9A-Za-z]{32}$`)

// env is a fake process environment.
type env map[string]string

func (e env) getenv(k string) string { return e[k] }

// with returns a copy of e with more variables.
func (e env) with(kv ...string) env {
	out := env{}
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// newEnv returns an environment whose database is a fresh SQLite file, and
// that file's path.
func newEnv(t *testing.T) (env, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	return env{"LATCHKEY_DATABASE_URL": "sqlite:" + path}, path
}

// result is what one run of the CLI produced.
type result struct {
	stdout, stderr string
	err            error
}

// cli runs the command line args (without the program name) in-process.
func runCLI(t *testing.T, e env, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, append([]string{"latchkey"}, args...), e.getenv, strings.NewReader(stdin), &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// mustRun runs args and fails the test if the command fails.
func mustRun(t *testing.T, e env, stdin string, args ...string) result {
	t.Helper()
	r := runCLI(t, e, stdin, args...)
	if r.err != nil {
		t.Fatalf("latchkey %s: %v\nstderr:\n%s", strings.Join(args, " "), r.err, r.stderr)
	}
	return r
}

// mustFail runs args, expects an error containing want, and returns it.
func mustFail(t *testing.T, e env, stdin, want string, args ...string) result {
	t.Helper()
	r := runCLI(t, e, stdin, args...)
	if r.err == nil {
		t.Fatalf("latchkey %s succeeded; want an error containing %q\nstdout: %s", strings.Join(args, " "), want, r.stdout)
	}
	if !strings.Contains(r.err.Error(), want) {
		t.Fatalf("latchkey %s: error %q; want it to contain %q", strings.Join(args, " "), r.err, want)
	}
	return r
}

// secretOnly checks that stdout is exactly one key line and returns the key.
func secretOnly(t *testing.T, stdout string) string {
	t.Helper()
	if !strings.HasSuffix(stdout, "\n") || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("stdout = %q; want exactly one line", stdout)
	}
	key := strings.TrimSuffix(stdout, "\n")
	if !keyRE.MatchString(key) {
		t.Fatalf("stdout = %q; want a key matching %s", stdout, keyRE)
	}
	return key
}
