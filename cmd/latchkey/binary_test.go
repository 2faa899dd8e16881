package main

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds the real binary into dir.
func buildBinary(dir string) (string, error) {
	exe := filepath.Join(dir, "latchkey")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", "-X main.version=v0.0.0-test", "-o", exe, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", errors.New(err.Error() + ": " + string(out))
	}
	return exe, nil
}

// processEnv is the environment for the binary: the test's own, without
// any LATCHKEY_ setting that could leak in, plus e.
func processEnv(e env) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LATCHKEY_") {
			out = append(out, kv)
		}
	}
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	exe, err := buildBinary(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e, _ := newEnv(t)

	t.Run("version from -ldflags", func(t *testing.T) {
		out, err := exec.Command(exe, "version").Output()
		if err != nil || string(out) != "v0.0.0-test\n" {
			t.Errorf("version: %q, %v", out, err)
		}
	})

	t.Run("unknown command exits 1", func(t *testing.T) {
		cmd := exec.Command(exe, "frobnicate")
		cmd.Env = processEnv(e)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "unknown command") {
			t.Errorf("err %v, output %s", err, out)
		}
	})

	t.Run("secret command prints only the secret", func(t *testing.T) {
		cmd := exec.Command(exe, "root-keys", "create", "--name", "bin")
		cmd.Env = processEnv(e)
		out, err := cmd.Output() // stdout only
		if err != nil {
			t.Fatal(err)
		}
		secretOnly(t, string(out))
	})

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run("exits 0 on "+sig.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, exe, "serve", "--addr", "127.0.0.1:0")
			cmd.Env = processEnv(e)
			cmd.Dir = t.TempDir()
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			addrc := make(chan string, 1)
			var logs strings.Builder
			var mu sync.Mutex
			scanDone := make(chan struct{})
			go func() {
				defer close(scanDone)
				sc := bufio.NewScanner(stderr)
				for sc.Scan() {
					mu.Lock()
					logs.WriteString(sc.Text() + "\n")
					mu.Unlock()
					if a := listeningAddr(sc.Text()); a != "" {
						addrc <- a
					}
				}
			}()
			var addr string
			select {
			case addr = <-addrc:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatal("no listening line within 30s")
			}
			resp, err := http.Get("http://" + addr + "/healthz")
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("healthz: %v %v", resp, err)
			}
			resp.Body.Close()

			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			<-scanDone
			err = cmd.Wait()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Fatalf("exit after %v: %v\nstderr:\n%s", sig, err, logs.String())
			}
			if cmd.ProcessState.ExitCode() != 0 {
				t.Errorf("exit code %d; want 0", cmd.ProcessState.ExitCode())
			}
			if !strings.Contains(logs.String(), `"msg":"stopped"`) {
				t.Errorf("no graceful stop logged:\n%s", logs.String())
			}
		})
	}
}
